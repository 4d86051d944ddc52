"""kill -9 of the embedded redis-server under load: the app restarts it, nothing acknowledged
is lost (AOF fsynced on every write), and the app serves again by itself.

The app runs as ``python -m assistant run`` on its embedded Redis; a monitoring tool sends
mentions one after the other, retrying 503s and failed connections; the redis-server (the
app's child) is killed with SIGKILL in the middle. Every mention that was answered 200/202
must be a case with exactly one card in the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import aiohttp

from assistant.sandbox import CHANNEL, INGEST_SECRET, webhook_body
from assistant.sources.ingest import SIGNATURE_HEADER, sign

from .harness import ProcessWorld, proc_alive, wait_for

MENTIONS = 20


async def test_kill_9_of_redis_under_load_loses_nothing_acknowledged(tmp_path: Path) -> None:
    async with ProcessWorld(tmp_path) as world:
        app = await world.start_app(ASSISTANT_JOB_LEASE_SECONDS="2")
        (redis_pid,) = app.redis_server_pids()
        statuses: list[int | None] = []

        async def send(i: int) -> str:
            notification = world.mastodon.add_mention(f"u{i}@mastodon.social", "bande de connards")
            raw = json.dumps(webhook_body(notification)).encode()
            headers = {SIGNATURE_HEADER: sign(INGEST_SECRET.encode(), raw)}
            while True:
                try:
                    async with world.http.post(
                        f"{app.url}/ingest/mentions", data=raw, headers=headers
                    ) as resp:
                        statuses.append(resp.status)
                        if resp.status in (200, 202):
                            return str((await resp.json())["case"])
                        assert resp.status == 503, (resp.status, await resp.text())
                except aiohttp.ClientError:
                    statuses.append(None)
                await asyncio.sleep(0.05)

        async def load() -> list[str]:
            return [await send(i) for i in range(MENTIONS)]

        sender = asyncio.create_task(load())
        await wait_for(lambda: len(statuses) >= 5, 10, "load before the kill")
        os.kill(redis_pid, signal.SIGKILL)
        await wait_for(lambda: not proc_alive(redis_pid), 5, "redis-server dead")
        restarted = await wait_for(
            lambda: [p for p in app.redis_server_pids() if p != redis_pid], 10, "a new server"
        )
        assert restarted and proc_alive(app.pid)  # the app itself never went down
        await app.wait_healthy(world.http)
        case_ids = await asyncio.wait_for(sender, 30)

        assert len(set(case_ids)) == MENTIONS
        await world.close_redis()  # the test's own client reconnects to the new server
        for case_id in case_ids:
            await world.card(case_id, timeout=20)
        cards = [m for m in world.slack.bot_messages(CHANNEL) if not m.is_reply]
        assert len(cards) == MENTIONS
        assert 500 not in statuses and 503 in statuses  # refused while Redis was away
        assert "restarting it" in app.log()
