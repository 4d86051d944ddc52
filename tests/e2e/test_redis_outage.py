"""Redis goes away under load and comes back: 503s meanwhile, nothing acknowledged is lost, and
the app recovers by itself.

The app runs on its own embedded Redis (REDIS_URL unset), which the test stops (SIGTERM, as an
operator or a crash of the node would) and restarts on the same data directory while a
monitoring tool keeps sending mentions (retrying each 503, as the README tells senders to)
and colleagues vote (Slack retries events it got no 2xx for; its later retries are played
with ``redeliver``).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import redis.asyncio as aioredis

from assistant.sandbox import BOB, CHANNEL, MAX, Sandbox, sandbox, webhook_body
from tests.e2e.helpers import open_case, propose, published, react
from tests.e2e.test_hostile_requests import (
    BATCH,
    FORM_TYPE,
    INGEST,
    SLACK,
    Row,
    click,
    command,
    envelope,
    ingest_headers,
    send,
    slack_headers,
)

MENTIONS = 24


async def health(world: Sandbox) -> int:
    async with world.http.get(f"{world.base_url}/healthz") as resp:
        return resp.status


async def healthy(world: Sandbox) -> bool:
    return await health(world) == 200


async def send_until_accepted(world: Sandbox, body: dict[str, object], seen: list[int]) -> str:
    """A sender that retries 503s (and only those) until its mention is accepted."""
    while True:
        status, answer = await world.ingest(body)
        seen.append(status)
        if status in (200, 202):
            return str(answer["case"])
        assert status == 503, (status, answer)
        await asyncio.sleep(0.05)


async def test_redis_outage_under_load(tmp_path: Path) -> None:
    # A claim whose answer was lost as Redis went down leaves its jobs leased: another claim
    # takes them once the lease runs out (here 2 s).
    async with sandbox(tmp_path, redis_url=None, ASSISTANT_JOB_LEASE_SECONDS=2) as world:
        embedded = world.app.embedded_redis
        assert embedded is not None
        case = await open_case(world)
        proposal = await propose(world, case, "UALICE", "On répare, promis")

        statuses: list[int] = []
        bodies = [
            webhook_body(
                world.mastodon.add_mention(f"user{i}@mastodon.social", "bande de connards")
            )
            for i in range(MENTIONS)
        ]

        async def load() -> list[str]:
            out = []
            for body in bodies:  # one sender, one mention after the other, as fast as it can
                out.append(await send_until_accepted(world, body, statuses))
            return out

        sender = asyncio.create_task(load())
        await world.wait_for(lambda: len(statuses) >= 4, 10, "load before the outage")

        await embedded.stop()
        assert await health(world) == 503
        vote = await world.slack.add_reaction(BOB, CHANNEL, proposal, "white_check_mark")
        assert vote.attempts and {a.status for a in vote.attempts} == {503}  # Slack retries
        await world.wait_for(lambda: statuses.count(503) >= 3, 10, "503s to the sender")
        await asyncio.sleep(0.5)

        await embedded.start()
        await world.wait_for(lambda: healthy(world), 10, "healthz 200 by itself")
        case_ids = await asyncio.wait_for(sender, 30)

        # Slack's later retry of the vote it got a 503 for is now acknowledged and counted
        redelivered = await world.slack.redeliver(vote.event_id)
        assert redelivered.attempts[-1].status == 200
        await react(world, MAX, proposal)
        await published(world, case)

        assert set(statuses) <= {200, 202, 503} and 503 in statuses  # never a 500
        assert len(set(case_ids)) == MENTIONS
        for case_id in case_ids:  # every acknowledged mention is a case, with one card
            await world.card(case_id, timeout=20)
        top_level = [m for m in world.slack.bot_messages(CHANNEL) if not m.is_reply]
        assert len(top_level) == MENTIONS + 1


async def test_healthz_names_redis_while_it_is_down_and_livez_stays_up(tmp_path: Path) -> None:
    """/healthz says 503 naming Redis while /livez stays 200 (no restart for an outage); every
    Slack surface (the command, each button, App Home) and both webhooks answer 503 too (never
    a 500), and /metrics still answers."""
    async with sandbox(tmp_path, redis_url=None) as world:
        embedded = world.app.embedded_redis
        assert embedded is not None
        await embedded.stop()
        async with world.http.get(f"{world.base_url}/healthz") as resp:
            assert resp.status == 503
            assert "redis" in (await resp.json())["reason"]
        mention = json.dumps(webhook_body(world.mastodon.add_mention("x@m.social", "connards")))
        rows = [
            Row(SLACK, command("status"), slack_headers, 0, FORM_TYPE),
            Row(SLACK, command("pause 5"), slack_headers, 0, FORM_TYPE),
            Row(SLACK, click("oncall_ack", "p1"), slack_headers, 0, FORM_TYPE),
            Row(SLACK, click("surge_promote", "0123456789abcdef"), slack_headers, 0, FORM_TYPE),
            Row(
                SLACK,
                click("memory_propose", '{"case": "c", "entry": "e", "lang": "fr"}'),
                slack_headers,
                0,
                FORM_TYPE,
            ),
            Row(
                SLACK,
                envelope({"type": "app_home_opened", "user": BOB, "tab": "home"}),
                slack_headers,
            ),
            Row(INGEST, mention.encode(), ingest_headers),
            Row(BATCH, b'{"mentions": [' + mention.encode() + b"]}", ingest_headers),
        ]
        assert [(await send(world, row))[0] for row in rows] == [503] * len(rows)
        async with world.http.get(f"{world.base_url}/metrics") as resp:
            assert resp.status == 200
        # alive all the same: the liveness probe must not restart a pod for a Redis outage
        async with world.http.get(f"{world.base_url}/livez") as resp:
            assert resp.status == 200
        await embedded.start()
        client = aioredis.Redis.from_url(embedded.url)
        assert await client.ping()
        await client.aclose()

        await world.wait_for(lambda: healthy(world), 10, "healthz 200 by itself")


async def test_unreachable_redis_answers_503_within_slacks_3_seconds(tmp_path: Path) -> None:
    """A Redis that accepts connections but never answers (here: SIGSTOPped, as a hung node or
    a network partition would): requests still get their 503 before Slack's 3 s timeout."""
    async with sandbox(tmp_path, redis_url=None) as world:
        embedded = world.app.embedded_redis
        assert embedded is not None and embedded.pid is not None
        case = await open_case(world)
        proposal = await propose(world, case, "UALICE", "On répare, promis")
        pid = embedded.pid
        os.kill(pid, signal.SIGSTOP)
        world.slack.retry_delays = ()  # one attempt: Slack's own retries come minutes later
        try:
            vote = await world.slack.add_reaction(BOB, CHANNEL, proposal, "white_check_mark")
            # the attempt got an answer (503), it did not time out (the emulator waits 3 s)
            assert [a.status for a in vote.attempts] == [503]
            body = webhook_body(world.mastodon.add_mention("x@mastodon.social", "connards"))
            status, _ = await world.ingest(body)
            assert status == 503
            assert await health(world) == 503
        finally:
            os.kill(pid, signal.SIGCONT)
        await world.wait_for(lambda: healthy(world), 10, "healthz 200 by itself")
        redelivered = await world.slack.redeliver(vote.event_id)
        assert redelivered.attempts[-1].status == 200
        status, _ = await world.ingest(body)
        assert status == 202
