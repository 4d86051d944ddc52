"""SIGTERM drains: health goes away at once, the in-flight publish finishes, exit code 0."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from assistant.models import CaseStatus
from assistant.sandbox import ALICE, BOB, MAX

from .harness import STATUSES, ProcessWorld, proc_alive, wait_for

REPLY = "On vous aime aussi. Le réseau revient, promis"


async def test_sigterm_finishes_the_in_flight_publish_then_exits_0(tmp_path: Path) -> None:
    async with ProcessWorld(tmp_path) as world:
        app = await world.start_app()
        redis_pid = int((await world.redis.info("server"))["process_id"])
        case_id, _ = await world.ingest_hostile()
        card = await world.card(case_id)
        proposal = await world.propose(ALICE, card, REPLY)

        world.mastodon.delay(1.0, path=STATUSES)  # the publish takes about a second
        await world.react(BOB, proposal)
        await world.react(MAX, proposal, "+1")
        await wait_for(
            lambda: world.mastodon.requests_to("POST", STATUSES), 10, "the publish request"
        )
        assert world.mastodon.created_statuses == []  # still in flight

        app.proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()

        # Health stops answering 200 at once (503 while draining, then nothing listens) …
        async def not_healthy() -> bool:
            return await app.health(world.http) != 200

        await wait_for(not_healthy, 1.0, "/healthz to stop answering 200")
        # … while the publish is still in flight: the drain waits for it.
        assert world.mastodon.created_statuses == []
        assert app.proc.returncode is None

        assert await app.wait_exit(timeout=8) == 0, app.log()
        took = time.monotonic() - sent
        assert took < 5, f"draining took {took:.1f}s"
        assert "Traceback" not in app.log(), app.log()
        await wait_for(lambda: not proc_alive(redis_pid), 5, "the embedded redis-server to stop")

        # The reply went out once and its answer was seen before exit.
        posts = world.mastodon.requests_to("POST", STATUSES)
        assert [r.status for r in posts] == [200]
        assert len(world.mastodon.created_statuses) == 1
        url = world.mastodon.created_statuses[0].url

        # Restarted on the same data: the case was recorded published before the exit, so the
        # outbox has nothing to retry; the outcome's follow-ups (a job queued with it, which a
        # draining replica leaves to the others) post the link in the thread, once.
        await world.start_app()
        after = await world.case(case_id)
        assert after.status == CaseStatus.PUBLISHED and after.published_url == url
        assert "publish:" + case_id not in await world.store.pending_jobs()
        await wait_for(
            lambda: [t for t in world.thread_bot_texts(card) if url in t], 10, "the thread note"
        )
        assert len(world.mastodon.requests_to("POST", STATUSES)) == 1
        assert len([t for t in world.thread_bot_texts(card) if url in t]) == 1


async def test_ctrl_c_in_a_terminal_drains_like_sigterm(tmp_path: Path) -> None:
    async with ProcessWorld(tmp_path) as world:
        app = await world.start_app()
        case_id, _ = await world.ingest_hostile()
        card = await world.card(case_id)
        proposal = await world.propose(ALICE, card, REPLY)
        world.mastodon.delay(1.0, path=STATUSES)
        await world.react(BOB, proposal)
        await world.react(MAX, proposal, "+1")
        await wait_for(
            lambda: world.mastodon.requests_to("POST", STATUSES), 10, "the publish request"
        )

        os.killpg(app.pid, signal.SIGINT)  # what a terminal sends its foreground group
        assert await app.wait_exit(timeout=8) == 0, app.log()
        assert len(world.mastodon.created_statuses) == 1
        url = world.mastodon.created_statuses[0].url

        await world.start_app()
        after = await world.case(case_id)
        assert after.status == CaseStatus.PUBLISHED and after.published_url == url
        await wait_for(
            lambda: [t for t in world.thread_bot_texts(card) if url in t], 10, "the thread note"
        )
