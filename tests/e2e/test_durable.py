"""Follow-up steps survive what can happen between two steps: the outcome of a publish and
what follows it (the thread note, on-call, today's figures, reply memory) are one durable
step, done once whatever the retries and re-runs; a job whose Slack call outlasts its lease
is not taken over by another worker (the lease is renewed while it runs)."""

from __future__ import annotations

import time

import pytest

from assistant.emulators.slack import EmulatedMessage
from assistant.models import Case, CaseStatus
from assistant.sandbox import ALICE, BOB, CHANNEL, MAX, Sandbox
from assistant.store import keys
from tests.conftest import BACKENDS
from tests.e2e.conftest import SandboxFactory
from tests.e2e.helpers import open_case, propose, published, react, thread_texts

REPLY = "Merci pour ce retour, on transmet à l'équipe"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """On one Redis (the outcome queues its follow-ups in the same Lua step) and on a
    Cluster (queued right after it, in the job queue's own slot)."""
    return str(request.param)


def cards(world: Sandbox) -> list[EmulatedMessage]:
    return [m for m in world.slack.bot_messages(CHANNEL) if not m.is_reply]


def answered(world: Sandbox, method: str) -> bool:
    return all(call.response for call in world.slack.calls_to(method))


def notes(world: Sandbox, case: Case, needle: str) -> list[str]:
    return [t for t in thread_texts(world, case) if needle in t]


async def run_settled_again(world: Sandbox, case: Case) -> None:
    """What the sweep does after a crash between the outcome and its index entry going: the
    ``settled`` job queued again, after it already ran."""
    member = keys.job_id(keys.JOB_SETTLED, case.case_id)
    await world.app.store.enqueue(keys.JOB_SETTLED, case.case_id, time.time())
    world.app.jobs.wake()

    async def done() -> bool:
        return member not in await world.app.store.pending_jobs()

    await world.wait_for(done, 10, "the settled job to run again")
    await world.slack.drain()


async def test_the_published_note_slack_refuses_is_retried_and_posted_once(
    world: Sandbox,
) -> None:
    case = await open_case(world)
    ts = await propose(world, case, ALICE, REPLY)
    await react(world, BOB, ts)
    # Slack is briefly unavailable when the reply is out: the note is not lost
    world.slack.fail("chat.postMessage", times=2, status=503, error="service_unavailable")
    await react(world, MAX, ts, "+1")
    case = await published(world, case)
    assert case.published_url
    url = case.published_url
    await world.wait_for(lambda: notes(world, case, url), 10, "the thread note")
    tries = [c for c in world.slack.calls_to("chat.postMessage") if url in c.params["text"]]
    assert [c.status for c in tries] == [503, 503, 200]

    await run_settled_again(world, case)
    assert len(notes(world, case, url)) == 1, thread_texts(world, case)
    # today's figures count the reply once, and it is remembered once
    today = await world.app.oncall.today.report(time.time())
    assert today.published == 1 and today.to_publish.count == 1
    assert await world.app.store.memory.size("fr") == 1
    remembered = await world.app.store.memory.get("fr", case.case_id)
    assert remembered is not None and remembered.reply == REPLY


async def test_a_failed_publish_pages_once_whatever_the_reruns(world: Sandbox) -> None:
    case = await open_case(world)
    ts = await propose(world, case, ALICE, REPLY)
    await react(world, BOB, ts)
    world.mastodon.fail(times=1, status=422, path="/api/v1/statuses")  # refused for good
    await react(world, MAX, ts, "+1")

    async def failed() -> Case | None:
        current = await world.case(case.case_id)
        return current if current.status == CaseStatus.FAILED else None

    case = await world.wait_for(failed, 10, "the case failed")
    needle = "Publishing the approved reply failed"
    await world.wait_for(lambda: notes(world, case, needle), 10, "the failure page")
    await run_settled_again(world, case)
    assert len(notes(world, case, needle)) == 1, thread_texts(world, case)
    page = await world.app.pages.get_page(f"publish.{case.case_id}")
    assert page is not None and page.status == "open"
    today = await world.app.oncall.today.report(time.time())
    assert today.published == 0 and today.failed == 1


async def test_a_card_post_slower_than_the_job_lease_is_not_posted_twice(
    make_world: SandboxFactory,
) -> None:
    async with make_world(ASSISTANT_JOB_LEASE_SECONDS=1) as world:
        world.slack.slow("chat.postMessage", seconds=2.5)  # Slack under load: 2.5 leases
        case_id, _ = await world.hostile_mention("bande de connards incompétents")
        case = await world.card(case_id)
        await world.wait_for(lambda: answered(world, "chat.postMessage"), 10, "Slack's answers")
        (card,) = cards(world)
        assert card.ts == case.card_ts
        assert len(world.slack.calls_to("chat.postMessage")) == 1
        assert case.card_attempts == 1
