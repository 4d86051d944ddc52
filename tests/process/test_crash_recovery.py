"""kill -9 between the decision and the publish: the outbox publishes once after restart.

The app runs as ``python -m assistant run`` on the embedded Redis (REDIS_URL unset) with a
2-second job lease. A case is opened, a proposal reaches the quorum, and the app's process
group (or the app alone) is killed with SIGKILL while the publish request is in flight; its
redis-server, in a session of its own, dies with it.
The restarted app must publish from the durable outbox once the lease has run out: one status
on Mastodon, the card showing its link, the votes and the case intact (Redis AOF).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import pytest

from assistant.models import CaseStatus
from assistant.sandbox import ALICE, BOB, CHANNEL, MAX
from assistant.store import keys

from .harness import STATUSES, ProcessWorld, proc_alive, proc_ppid, wait_for

REPLY = "Merci pour ce retour plein de tendresse, on rétablit le réseau au plus vite"
LEASE = "2"


@pytest.mark.parametrize(
    ("fault", "kill"),
    [
        pytest.param("request-in-flight", "group", id="not-created-yet"),
        pytest.param("response-lost", "group", id="created-response-lost"),
        pytest.param("request-in-flight", "app-only", id="not-created-yet-app-pid-only"),
    ],
)
async def test_kill_9_between_decision_and_publish_publishes_exactly_once(
    tmp_path: Path, fault: str, kill: str
) -> None:
    async with ProcessWorld(tmp_path) as world:
        first = await world.start_app(ASSISTANT_JOB_LEASE_SECONDS=LEASE)
        info = await world.redis.info("server")
        redis_pid = int(info["process_id"])
        assert proc_ppid(redis_pid) == first.pid, "the embedded redis-server is the app's child"
        # … in a session of its own (a group-wide Ctrl-C must not stop it before the app has
        # drained), yet it dies with the app (PR_SET_PDEATHSIG): checked after the kill below
        assert os.getsid(redis_pid) == redis_pid, "… in its own session"

        case_id, notification = await world.ingest_hostile()
        card = await world.card(case_id)
        proposal = await world.propose(ALICE, card, REPLY)

        if fault == "request-in-flight":
            # The first publish request hangs before Mastodon creates anything.
            world.mastodon.delay(5, path=STATUSES)
        else:
            # The first request creates the status but its answer is lost (502); the retry
            # (which first looks for our reply in the thread) then hangs: the status exists,
            # the app has never seen it.
            world.mastodon.fail_after_commit()
        await world.react(BOB, proposal, "white_check_mark")
        await world.react(MAX, proposal, "+1")  # a manager: quorum reached → publish job

        if fault == "response-lost":
            await wait_for(
                lambda: [r for r in world.mastodon.requests_to("POST", STATUSES) if r.status],
                10,
                "the first publish answered 502",
            )
            assert world.mastodon.requests_to("POST", STATUSES)[0].status == 502
            world.mastodon.delay(5, path=STATUSES)
            context = f"{STATUSES}/{notification['status']['id']}/context"
            await wait_for(
                lambda: world.mastodon.requests_to("GET", context),
                10,
                "the app retrying the publish (looking for its reply first)",
            )
        else:
            await wait_for(
                lambda: world.mastodon.requests_to("POST", STATUSES), 10, "the publish request"
            )

        # Decided, publish in flight, not recorded: now the crash.
        before = await world.case(case_id)
        assert before.status == CaseStatus.APPROVED
        expected_created = 0 if fault == "request-in-flight" else 1
        assert len(world.mastodon.created_statuses) == expected_created
        if kill == "group":
            first.kill_group()
        else:
            os.kill(first.pid, signal.SIGKILL)
        assert await first.wait_exit() == -signal.SIGKILL
        await world.close_redis()
        # The embedded redis-server died with the app (killed with its group, or told to by
        # PR_SET_PDEATHSIG when only the app was killed): nothing lingers on the data dir.
        await wait_for(lambda: not proc_alive(redis_pid), 5, "the old redis-server to exit")
        assert len(world.mastodon.created_statuses) == expected_created

        second = await world.start_app(ASSISTANT_JOB_LEASE_SECONDS=LEASE)
        new_pid = int((await world.redis.info("server"))["process_id"])
        assert new_pid != redis_pid and proc_ppid(new_pid) == second.pid
        assert not proc_alive(redis_pid)

        async def published_case() -> bool:
            return (await world.case(case_id)).status == CaseStatus.PUBLISHED

        await wait_for(published_case, 15, "the restarted app to publish from the outbox")
        await wait_for(world.publish_requests_answered, 10, "Mastodon to answer every request")

        # Exactly one reply on Mastodon, in reply to the insult, with the approved text.
        assert len(world.mastodon.created_statuses) == 1
        status = world.mastodon.created_statuses[0]
        assert status.in_reply_to_id == notification["status"]["id"]
        assert status.text == f"@colere@mastodon.social {REPLY}"
        posts = world.mastodon.requests_to("POST", STATUSES)
        assert len({r.idempotency_key for r in posts}) == 1, "every try carries the same key"

        # The card shows the link (chat.update by the restarted app); the thread says so.
        def card_links_status() -> bool:
            message = world.slack.message(CHANNEL, card.ts)
            return status.url in message.text or status.url in json.dumps(message.blocks)

        await wait_for(card_links_status, 10, "the card to show the published URL")
        assert any(c.params.get("ts") == card.ts for c in world.slack.calls_to("chat.update"))
        # (the card refresh is its own job: it can land before or after the thread note)
        await wait_for(
            lambda: any(status.url in t for t in world.thread_bot_texts(card)),
            10,
            "the thread note with the published URL",
        )
        await asyncio.sleep(0.5)  # a second note would come right behind the first
        notes = [t for t in world.thread_bot_texts(card) if status.url in t]
        assert len(notes) == 1, world.thread_bot_texts(card)

        # What was decided before the crash survived it (Redis AOF, fsynced on every write).
        after = await world.case(case_id)
        assert after.published_url == status.url
        assert after.approved_text == REPLY and after.winner_ts == proposal
        assert after.opened_at == before.opened_at and after.card_ts == card.ts
        votes = await world.redis.hgetall(keys.votes(case_id, proposal))
        assert votes == {"UBOB|approve|white_check_mark": "0", "UMAX|approve|+1": "1"}
        assert (await world.store.get_proposal(case_id, proposal)).status == "won"  # type: ignore[union-attr]
        assert len(world.cards()) == 1, "the restart posted no second card"
        assert "Traceback" not in second.log(), second.log()
