"""Bad input, failures and timers, end to end."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from assistant.models import CaseStatus
from assistant.networks.mastodon import idempotency_key
from assistant.oncall import page_tag
from assistant.sandbox import ALICE, BOB, CHANNEL, MAX, Sandbox, webhook_body
from assistant.store import keys
from tests.conftest import BACKENDS
from tests.e2e.conftest import SandboxFactory
from tests.e2e.helpers import card_message, open_case, propose, published, react, thread_texts


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Every test here runs on one Redis and on a 3-master Redis Cluster."""
    return str(request.param)


def valid_body(world: Sandbox) -> dict[str, object]:
    return webhook_body(world.mastodon.add_mention("colere@mastodon.social", "bande de connards"))


async def test_ingest_rejects_bad_signatures(world: Sandbox) -> None:
    body = valid_body(world)
    status, answer = await world.ingest(body, signature="")
    assert status == 401 and "missing" in answer["error"]
    status, answer = await world.ingest(body, secret="not-the-secret")
    assert status == 401 and "bad" in answer["error"]
    status, answer = await world.ingest(body, signature="sha256=" + "0" * 64)
    assert status == 401
    assert world.slack.calls_to("chat.postMessage") == []


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.pop("text"), "text"),
        (lambda b: b["author"].pop("handle"), "author.handle"),
        (lambda b: b.update(platform="myspace"), "platform"),
        (lambda b: b.update(created_at="yesterday"), "created_at"),
        (lambda b: b["author"].update(followers=-3), "author.followers"),
        (lambda b: b.update(url="not a url"), "url"),
    ],
)
async def test_ingest_names_the_bad_field(world: Sandbox, mutate: object, field: str) -> None:
    body = valid_body(world)
    mutate(body)  # type: ignore[operator]
    status, answer = await world.ingest(body)
    assert status == 400
    assert answer["field"] == field and answer["error"].startswith(field)


async def test_ingest_rejects_non_json_and_oversized_bodies(world: Sandbox) -> None:
    status, answer = await world.ingest(b"{not json")
    assert status == 400 and "JSON" in answer["error"]
    status, answer = await world.ingest(b"[1, 2]")
    assert status == 400
    huge = valid_body(world)
    huge["text"] = "connard " * 9000  # > 64 KiB
    status, answer = await world.ingest(json.dumps(huge).encode())
    assert status == 413
    # the process is fine afterwards
    async with world.http.get(f"{world.base_url}/healthz") as resp:
        assert resp.status == 200


async def test_slack_requests_must_be_signed_and_fresh(world: Sandbox) -> None:
    body = json.dumps({"type": "event_callback", "event_id": "EvX", "event": {}}).encode()
    unsigned = await world.slack.deliver_raw(body)
    assert unsigned.status == 401
    forged = await world.slack.deliver_raw(
        body, {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=00"}
    )
    assert forged.status == 401
    stale = await world.slack.deliver_raw(body, sign=True, timestamp=int(time.time()) - 600)
    assert stale.status == 401
    challenge = await world.slack.verify_url()
    assert challenge.status == 200


async def test_transient_publish_failures_are_retried_once_published(world: Sandbox) -> None:
    case = await open_case(world)
    ts = await propose(world, case, ALICE, "Ça finira par passer")
    world.mastodon.fail(times=2, status=503, path="/api/v1/statuses")
    world.mastodon.fail_after_commit(times=1, status=502)  # then created, answer lost
    await react(world, BOB, ts)
    await react(world, MAX, ts)
    await published(world, case, timeout=15)
    assert len(world.mastodon.created_statuses) == 1
    posts = world.mastodon.requests_to("POST", "/api/v1/statuses")
    assert [p.status for p in posts][-1] == 502  # the lost answer; the retry found the reply
    assert {p.idempotency_key for p in posts} == {idempotency_key(case.case_id)}


async def test_rate_limited_publish_waits_then_publishes(world: Sandbox) -> None:
    case = await open_case(world)
    ts = await propose(world, case, ALICE, "Patience")
    world.mastodon.rate_limit(times=1, reset_after=1.0, path="/api/v1/statuses")
    await react(world, BOB, ts)
    started = time.monotonic()
    await react(world, MAX, ts)
    await published(world, case, timeout=15)
    assert time.monotonic() - started >= 0.9  # Retry-After was honoured
    assert len(world.mastodon.created_statuses) == 1


async def test_permanent_publish_failure_is_reported_and_pings_oncall(world: Sandbox) -> None:
    # a mention the network does not know: Mastodon answers 404 to the reply
    body = valid_body(world)
    body["id"] = "999999"
    status, answer = await world.ingest(body)
    assert status == 202
    case = await world.card(answer["case"])
    ts = await propose(world, case, ALICE, "Réponse")
    await react(world, BOB, ts)
    await react(world, MAX, ts)

    async def failed() -> bool:
        return (await world.case(case.case_id)).status == CaseStatus.FAILED

    await world.wait_for(failed, 10, "publish failure")
    await world.wait_for(lambda: thread_texts(world, case), 5, "failure note")
    (note,) = thread_texts(world, case)
    assert "<!subteam^SONCALL>" in note and "404" in note
    await world.wait_for(
        lambda: "fail" in json.dumps(card_message(world, case).blocks).lower(), 5, "card"
    )
    assert world.mastodon.created_statuses == []


async def test_slack_rate_limit_on_card_post_is_retried(world: Sandbox) -> None:
    world.slack.rate_limit("chat.postMessage", times=1, retry_after=1)
    case = await open_case(world)
    assert case.card_ts
    posts = world.slack.calls_to("chat.postMessage")
    assert [c.status for c in posts][:2] == [429, 200]


async def test_sla_escalation_once_even_with_replicas(make_world: SandboxFactory) -> None:
    async with make_world(ASSISTANT_SLA_SECONDS=1) as world:
        await world.add_replica(ASSISTANT_SLA_SECONDS=1)
        settled = await open_case(world, "espèce de connard")
        ts = await propose(world, settled, ALICE, "Réponse rapide")
        await react(world, BOB, ts)
        await react(world, MAX, ts)
        await published(world, settled)
        case = await open_case(world, "bande d'abrutis, vous êtes nuls")

        await world.wait_for(lambda: thread_texts(world, case), 5, "escalation")
        await asyncio.sleep(1.5)  # more polls on both replicas: still one escalation
        (note,) = thread_texts(world, case)
        assert "<!subteam^SONCALL>" in note
        assert (await world.case(case.case_id)).escalated_at is not None
        # the case published in time was not escalated
        assert not any("SONCALL" in t for t in thread_texts(world, settled))
        await world.wait_for(
            lambda: "on-call" in json.dumps(card_message(world, case).blocks).lower(), 5, "card"
        )


async def test_oncall_user_is_mentioned_directly(make_world: SandboxFactory) -> None:
    async with make_world(ASSISTANT_SLA_SECONDS=1, ASSISTANT_ONCALL="UOLIVIA") as world:
        case = await open_case(world)
        await world.wait_for(lambda: thread_texts(world, case), 5, "escalation")
        assert "<@UOLIVIA>" in thread_texts(world, case)[0]


async def test_healthz_and_unknown_routes(world: Sandbox) -> None:
    async with world.http.get(f"{world.base_url}/healthz") as resp:
        assert resp.status == 200 and (await resp.json())["ok"] is True
    async with world.http.get(f"{world.base_url}/nope") as resp:
        assert resp.status == 404


async def test_settled_case_refuses_new_proposals(world: Sandbox) -> None:
    case = await open_case(world)
    ts = await propose(world, case, ALICE, "Gagnante")
    await react(world, BOB, ts)
    await react(world, MAX, ts)
    await published(world, case)
    await propose(world, case, BOB, "Trop tard")
    await world.wait_for(lambda: world.slack.ephemerals, 5, "refusal")
    assert "settled" in world.slack.ephemerals[0].text
    assert world.slack.message(CHANNEL, ts).reactions.get("memo")


async def test_poller_turns_mentions_into_cases_one_replica_at_a_time(
    make_world: SandboxFactory,
) -> None:
    async with make_world(MASTODON_POLL_SECONDS=0.1) as world:
        replica = await world.add_replica(MASTODON_POLL_SECONDS=0.1)
        world.mastodon.add_mention(
            "colere@mastodon.social", "bande de connards & <b>voleurs</b>", followers=7
        )
        world.mastodon.add_mention("fan@mastodon.social", "Merci pour le nouveau forfait !")

        async def one_card() -> list[object]:
            return [m for m in world.slack.bot_messages(CHANNEL) if not m.is_reply]

        (card,) = await world.wait_for(one_card, 5, "a card from the poller")
        assert "&amp; &lt;b&gt;voleurs&lt;/b&gt;" in json.dumps(card.blocks)  # type: ignore[attr-defined]
        await asyncio.sleep(0.5)  # several more polls: no second case, cursor kept
        assert len(await one_card()) == 1
        # only the lease holder polls; the other replica's poll does nothing
        pollers = [app.pollers["mastodon"] for app in (world.app, replica)]
        assert len(pollers) == 2
        results = [await p.poll_once() for p in pollers]
        assert results.count(0) == 2  # nothing new for the holder, no lease for the other
        holder = await world.app.store.redis.get(keys.lease("poller:mastodon"))
        assert holder in {p.owner for p in pollers}
        others = [p for p in pollers if p.owner != holder]
        world.mastodon.add_mention("troll@mastodon.social", "espèce de connard")
        assert await others[0].poll_once() == 0


async def test_a_threat_pings_oncall_at_once(world: Sandbox) -> None:
    threat = await open_case(world, "je sais où tu habites, je vais te buter")
    assert threat.assessment.severity == "critical"
    await world.wait_for(lambda: thread_texts(world, threat), 5, "the threat escalation")
    (note,) = thread_texts(world, threat)
    assert "<!subteam^SONCALL>" in note and "threat" in note
    insult = await open_case(world, "bande de connards")  # SLA 1800 s: nobody pinged yet
    await asyncio.sleep(0.6)
    assert thread_texts(world, insult) == []


async def test_brand_allow_and_block_lists_from_settings(make_world: SandboxFactory) -> None:
    async with make_world(
        ASSISTANT_ALLOW_TERMS="Connard Burger", ASSISTANT_BLOCK_TERMS="grosse arnaque"
    ) as world:
        allowed = world.mastodon.add_mention("fan@mastodon.social", "Le Connard Burger est froid")
        status, answer = await world.ingest(webhook_body(allowed))
        assert (status, answer["status"]) == (200, "not_hostile")
        case = await open_case(world, "encore une grosse arnaque ce forfait")
        assert any("grosse arnaque" in e for e in case.assessment.evidence)
        # the evidence is on the card, escaped like everything else
        assert "blocked term" in json.dumps(card_message(world, case).blocks)


async def test_no_second_reply_after_the_idempotency_window(world: Sandbox) -> None:
    """A post whose answer was lost, retried after Mastodon forgot the Idempotency-Key (1 h),
    is found in the thread instead of being posted again."""
    world.mastodon.idempotency_ttl = 0  # as if the retry came more than an hour later
    case = await open_case(world)
    ts = await propose(world, case, ALICE, "Une seule réponse, même tard")
    world.mastodon.fail_after_commit(times=1, status=502)
    await react(world, BOB, ts)
    await react(world, MAX, ts)
    case = await published(world, case, timeout=15)
    (status,) = world.mastodon.created_statuses
    assert case.published_url == status.url
    assert len(world.mastodon.requests_to("POST", "/api/v1/statuses")) == 1


async def test_escalation_is_not_repeated_after_a_crash_mid_post(
    make_world: SandboxFactory,
) -> None:
    async with make_world(ASSISTANT_SLA_SECONDS=1) as world:
        case = await open_case(world)
        assert case.card_ts
        # What a page attempt that crashed after posting (before recording) left behind:
        # the page, its attempt counted, its tagged message in the thread.
        page_id = f"case.{case.case_id}"
        pages = world.app.pages
        await pages.open_page(
            page_id,
            text="🚨 on call",
            channel=CHANNEL,
            thread_ts=case.card_ts,
            case_id=case.case_id,
            critical=False,
            now=time.time(),
        )
        await pages.count_attempt(page_id, 0)
        tag = page_tag(page_id, 0)
        await world.app.slack.post_in_thread(CHANNEL, case.card_ts, "🚨 on call", metadata=tag)

        async def escalated() -> bool:
            page = await pages.get_page(page_id)
            done = (await world.case(case.case_id)).escalated_at is not None
            return done and page is not None and page.step == 1

        await world.wait_for(escalated, 5, "the escalation and its page to be recorded")
        assert thread_texts(world, case) == ["🚨 on call"]  # not posted a second time
        assert any(
            c.params.get("include_all_metadata")
            for c in world.slack.calls_to("conversations.replies")
        )
