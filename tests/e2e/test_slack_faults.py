"""Work before the ack stays bounded; cards are posted exactly once when Slack's answer is lost;
a permanent Slack error pages on-call at once instead of being retried."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from assistant.cases import card_metadata
from assistant.emulators.slack import dm_channel
from assistant.jobs import MAX_ATTEMPTS
from assistant.sandbox import ALICE, CAROL, CHANNEL, MAX, OLIVIA, Sandbox
from assistant.store import keys
from assistant.voting import MAX_PROPOSAL_MENTIONS
from tests.e2e.conftest import SandboxFactory
from tests.e2e.helpers import open_case


def cards(world: Sandbox) -> list[object]:
    return [m for m in world.slack.bot_messages(CHANNEL) if not m.is_reply]


async def test_thousands_of_mentions_do_not_grow_the_work_before_the_ack(world: Sandbox) -> None:
    case = await open_case(world)
    mentions = " ".join(f"<@U{i:08d}>" for i in range(3000))  # nobody Slack knows, even
    before = len(world.slack.calls)
    ts = await world.slack.post_message(
        ALICE, f"Réponse {mentions}", channel=CHANNEL, thread_ts=case.card_ts
    )
    # answered on the first try, with a bounded number of Slack calls before the answer
    assert [a.status for a in ts.delivery.attempts] == [200]
    during = world.slack.calls[before:]
    assert len([c for c in during if c.method == "users.info"]) <= 1  # the author, at most
    await world.wait_for(lambda: world.slack.ephemerals, 5, "the refusal")
    assert f"at most {MAX_PROPOSAL_MENTIONS} people" in world.slack.ephemerals[0].text
    assert await world.app.store.get_proposal(case.case_id, ts) is None


async def test_a_few_mentions_are_resolved_within_the_bound(world: Sandbox) -> None:
    case = await open_case(world)
    unknown = [f"<@U{i:08d}>" for i in range(MAX_PROPOSAL_MENTIONS - 1)]
    before = len(world.slack.calls_to("users.info"))
    ts = await world.slack.post_message(
        ALICE, f"Merci <@UBOB> {' '.join(unknown)}", channel=CHANNEL, thread_ts=case.card_ts
    )
    assert ts.delivery.ok
    assert len(world.slack.calls_to("users.info")) - before <= MAX_PROPOSAL_MENTIONS + 1
    proposal = await world.app.store.get_proposal(case.case_id, ts)
    assert proposal is not None and proposal.text.startswith("Merci @Bob @U00000000 ")


@pytest.mark.parametrize("fault", ["5xx after the post", "connection dropped after the post"])
async def test_a_lost_answer_on_the_card_post_yields_one_card(world: Sandbox, fault: str) -> None:
    if fault.startswith("5xx"):
        world.slack.fail_after_commit("chat.postMessage", status=500)
    else:
        world.slack.drop_after_commit("chat.postMessage")
    case_id, _ = await world.hostile_mention("bande de connards incompétents")
    case = await world.card(case_id)
    posts = world.slack.calls_to("chat.postMessage")
    assert len(posts) == 1 and posts[0].response.get("committed")  # created, answer lost
    assert len(world.slack.calls_to("conversations.history")) == 1  # looked before retrying
    (card,) = cards(world)
    assert card.ts == case.card_ts
    assert card.metadata == card_metadata(case_id)
    assert case.card_attempts == 1
    await asyncio.sleep(0.3)
    assert len(cards(world)) == 1


async def test_the_card_is_posted_when_the_lost_attempt_created_nothing(world: Sandbox) -> None:
    world.slack.fail("chat.postMessage", status=503, error="service_unavailable")
    case_id, _ = await world.hostile_mention("bande de connards incompétents")
    case = await world.card(case_id)
    assert [c.status for c in world.slack.calls_to("chat.postMessage")] == [503, 200]
    assert len(world.slack.calls_to("conversations.history")) == 1
    assert len(cards(world)) == 1 and case.card_attempts == 2


async def test_no_sdk_retry_on_a_server_error(world: Sandbox) -> None:
    """The SDK would retry a 5xx at once, blindly: a second card. Only the job retries."""
    world.slack.fail_after_commit("chat.postMessage", status=500)
    case_id, _ = await world.hostile_mention("bande de connards incompétents")
    await world.card(case_id)
    assert len(world.slack.calls_to("chat.postMessage")) == 1


async def test_a_permanent_error_on_the_card_pages_oncall_instead_of_retrying(
    world: Sandbox,
) -> None:
    world.slack.fail("chat.postMessage", status=200, error="invalid_blocks")
    case_id, _ = await world.hostile_mention("bande de connards incompétents")
    page = await world.wait_for(lambda: cards(world), 5, "the page")
    (message,) = page
    assert "<!subteam^SONCALL>" in message.text and "invalid_blocks" in message.text
    assert case_id in message.text
    await asyncio.sleep(1.2)  # the job's first retry would be due by now
    assert len(world.slack.calls_to("chat.postMessage")) == 2  # the card once, the page
    assert (await world.case(case_id)).card_ts is None
    assert keys.job_id(keys.JOB_POST_CARD, case_id) not in await world.app.store.pending_jobs()
    assert MAX_ATTEMPTS > 2


async def test_bot_removed_from_the_channel_pages_oncall_by_direct_message(
    world: Sandbox,
) -> None:
    world.slack.remove_bot(CHANNEL)
    case_id, _ = await world.hostile_mention("bande de connards incompétents")
    dms = await world.wait_for(lambda: world.slack.direct_messages(OLIVIA), 5, "a DM page")
    assert "not_in_channel" in dms[0].text and case_id in dms[0].text
    assert dms[0].channel == dm_channel(OLIVIA)
    await asyncio.sleep(1.2)
    posts = world.slack.calls_to("chat.postMessage")
    # the card (refused), the page in the channel (refused), the DM to Olivia: nothing more
    assert [(c.params["channel"], c.error) for c in posts] == [
        (CHANNEL, "not_in_channel"),
        (CHANNEL, "not_in_channel"),
        (OLIVIA, None),
    ]


async def test_a_slow_slack_read_before_the_ack_answers_503_in_time(world: Sandbox) -> None:
    """users.info hangs for a voter nobody has seen yet: the event is answered 503 (Slack
    retries it) before Slack's 3 s timeout, and the retry counts the vote."""
    case = await open_case(world)
    ts = await world.slack.post_message(ALICE, "Réponse", channel=CHANNEL, thread_ts=case.card_ts)
    await world.wait_for(lambda: world.slack.message(CHANNEL, ts).reactions, 5, "📝")
    world.slack.slow("users.info", seconds=2)
    vote = await world.slack.add_reaction(CAROL, CHANNEL, ts, "white_check_mark")
    assert [a.status for a in vote.attempts] == [503, 200]  # no timeout; the retry counted
    votes = await world.app.store.redis.hgetall(keys.votes(case.case_id, ts))
    assert any(field.startswith(CAROL) for field in votes)


@pytest.mark.parametrize("fault", ["503", "connection dropped"])
async def test_slack_failing_auth_test_after_a_start_loses_no_event(
    world: Sandbox, fault: str
) -> None:
    """Bolt, left to itself, calls auth.test on the first request after a start; when Slack
    failed that call it acknowledged the event (200) without running any listener (the
    proposal lost), or answered 500 with a traceback. The identity is the one learnt at start."""
    if fault == "503":  # from now on, for the first events the app gets (the card's echo…)
        world.slack.fail("auth.test", times=10, status=503, error="service_unavailable")
    else:
        world.slack.drop_after_commit("auth.test", times=10)
    case = await open_case(world)
    ts = await world.slack.post_message(ALICE, "Réponse", channel=CHANNEL, thread_ts=case.card_ts)
    assert [a.status for a in ts.delivery.attempts] == [200]
    assert await world.app.store.get_proposal(case.case_id, ts) is not None
    assert len(world.slack.calls_to("auth.test")) == 1  # the gateway's, at start


async def test_the_clickers_note_is_sent_after_the_answer_to_slack(world: Sandbox) -> None:
    """An Acknowledge click is answered (the ack recorded) while its response_url has not
    answered yet: the ephemeral note goes after the answer, so a slow response_url cannot
    hold the click past Slack's 3 s (the SDK would wait up to 30 s, and retry)."""
    from aiohttp import web

    from tests.e2e.test_hostile_requests import FORM_TYPE, SLACK, Row, click, send, slack_headers

    release, notes = asyncio.Event(), list[bytes]()

    async def hang(request: web.Request) -> web.Response:
        notes.append(await request.read())
        await release.wait()
        return web.json_response({"ok": True})

    hook = web.Application()
    hook.router.add_post("/hook", hang)
    runner = web.AppRunner(hook)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        case = await open_case(world)
        await world.app.pager.page(CHANNEL, "Réveillez-vous", thread_ts=case.card_ts, key="p-note")
        await world.wait_for(lambda: world.app.pages.get_page("p-note"), 5, "the page")
        body = click("oncall_ack", "p-note", response_url=url)
        answered = send(world, Row(SLACK, body, slack_headers, 0, FORM_TYPE))
        status, _, _ = await asyncio.wait_for(answered, 5)  # never answered before: no fix
        assert status == 200
        page = await world.app.pages.get_page("p-note")
        assert page is not None and page.status == "acked" and page.acked_by == OLIVIA
        await world.wait_for(lambda: notes, 5, "the note, after the answer")
        assert b"You acknowledged" in notes[0]
    finally:
        release.set()
        await runner.cleanup()


def _tagged(event_type: str, **payload: object) -> Callable[[dict[str, Any]], bool]:
    """A chat.postMessage whose metadata is of ``event_type`` (and carries ``payload``)."""

    def match(params: dict[str, Any]) -> bool:
        meta = params.get("metadata")
        if not isinstance(meta, dict) or meta.get("event_type") != event_type:
            return False
        found = meta.get("event_payload") or {}
        return all(found.get(k) == v for k, v in payload.items())

    return match


def _bot_posts(world: Sandbox, event_type: str) -> list[Any]:
    """The bot's live messages (anywhere, threads included) tagged ``event_type``."""
    return [
        m for m in world.slack.bot_messages() if (m.metadata or {}).get("event_type") == event_type
    ]


@pytest.mark.parametrize("fault", ["5xx after the post", "connection dropped after the post"])
async def test_lost_answers_on_the_surge_posts_yield_one_of_each(
    make_world: SandboxFactory, fault: str
) -> None:
    """The surge card, its page (in the card's thread) and its summary: each post is created
    but its answer lost; each job looks before it posts again. One of each."""
    async with make_world(
        ASSISTANT_SURGE_THRESHOLD=3,
        ASSISTANT_SURGE_WINDOW_SECONDS=60,
        ASSISTANT_SURGE_QUIET_SECONDS=1,
        ASSISTANT_SURGE_REACH=10_000_000,
        ASSISTANT_SURGE_REFRESH_SECONDS=0.5,
    ) as world:

        def summary(params: dict[str, Any]) -> bool:
            return str(params.get("text", "")).startswith("✅ Surge over")

        def summaries() -> list[Any]:
            return [m for m in world.slack.bot_messages() if m.text.startswith("✅ Surge over")]

        for when in (_tagged("surge_card"), _tagged("oncall_page"), summary):
            if fault.startswith("5xx"):
                world.slack.fail_after_commit("chat.postMessage", when=when)
            else:
                world.slack.drop_after_commit("chat.postMessage", when=when)
        for i in range(6):
            await world.hostile_mention(f"bande de connards ({i})", acct=f"a{i}@mastodon.social")
        await world.wait_for(summaries, 15, "the summary")
        await asyncio.sleep(1.2)  # any second post would be made by now
        committed = [c for c in world.slack.calls_to("chat.postMessage") if c.status != 200]
        assert len(committed) == 3, committed  # the three answers were lost…
        assert len(_bot_posts(world, "surge_card")) == 1  # …one message each
        assert len(_bot_posts(world, "oncall_page")) == 1
        assert len(summaries()) == 1


@pytest.mark.parametrize("fault", ["5xx after the post", "connection dropped after the post"])
async def test_lost_answers_on_a_page_and_its_next_level_yield_one_of_each(
    make_world: SandboxFactory, fault: str
) -> None:
    """A page posted in the channel (no thread: looked for in the history) and its second
    level's note (in the page's thread): answers lost, one message each."""
    async with make_world(ASSISTANT_ESCALATION_POLICY=f"{OLIVIA} after 1s; {CAROL} after 1s") as w:
        for step in (0, 1):
            when = _tagged("oncall_page", page_id="p-lost", step=step)
            if fault.startswith("5xx"):
                w.slack.fail_after_commit("chat.postMessage", when=when)
            else:
                w.slack.drop_after_commit("chat.postMessage", when=when)
        await w.app.pager.page(CHANNEL, "Réveillez-vous", key="p-lost")

        def notes() -> list[Any]:
            return [m for m in _bot_posts(w, "oncall_page") if m.metadata["event_payload"]]

        await w.wait_for(lambda: len(notes()) >= 2, 10, "the page and its second level")
        await asyncio.sleep(1.2)
        steps = sorted(m.metadata["event_payload"]["step"] for m in notes())
        assert steps == [0, 1], steps
        assert len([c for c in w.slack.calls_to("chat.postMessage") if c.status != 200]) == 2


async def test_a_lost_answer_on_the_outcome_note_yields_one_note(world: Sandbox) -> None:
    """The thread note saying a reply was published: created, answer lost, looked for."""
    world.slack.drop_after_commit("chat.postMessage", when=_tagged("case_outcome"))
    case = await open_case(world)
    ts = await world.slack.post_message(
        ALICE, "Merci, on regarde", channel=CHANNEL, thread_ts=case.card_ts
    )
    await world.wait_for(lambda: world.slack.message(CHANNEL, ts).reactions, 5, "📝")
    for voter in (CAROL, OLIVIA, MAX):  # two approvals, one by a manager
        delivery = await world.slack.add_reaction(voter, CHANNEL, ts, "white_check_mark")
        assert delivery.ok
    await world.wait_for(lambda: _bot_posts(world, "case_outcome"), 10, "the outcome note")
    await asyncio.sleep(1.2)
    assert len(_bot_posts(world, "case_outcome")) == 1
    assert len([c for c in world.slack.calls_to("chat.postMessage") if c.status != 200]) == 1
