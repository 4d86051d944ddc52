"""Socket Mode: Slack events arrive over the websocket; the HTTP port still serves the rest.

The app is started with SLACK_APP_TOKEN (Socket Mode), connects to the Slack emulator's
websocket, and the emulator is given no HTTP events URL at all: every proposal and vote of
the loop can only reach the app over the socket.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import redis.asyncio as aioredis

from assistant.models import Case, CaseStatus
from assistant.sandbox import ALICE, BOB, CHANNEL, MAX, Sandbox, sandbox
from assistant.store import keys

REPLY = "Merci du compliment, on répare le réseau au plus vite"


async def _health(world: Sandbox) -> int:
    async with world.http.get(f"{world.base_url}/healthz") as resp:
        return resp.status


async def test_the_loop_over_socket_mode(
    tmp_path: Path, redis: aioredis.Redis, redis_url: str
) -> None:
    async with sandbox(tmp_path, redis_url=redis_url, socket_mode=True) as world:
        await world.slack.wait_for_socket(within=5)
        assert world.slack.socket_connected
        world.slack.events_url = None  # no HTTP delivery: the socket or nothing
        assert await _health(world) == 200

        # /ingest/mentions still answers on the HTTP port.
        case_id, notification = await world.hostile_mention("vous êtes des connards, bande de nuls")
        case = await world.card(case_id)
        assert case.card_ts

        proposal = await world.slack.post_message(
            ALICE, REPLY, channel=CHANNEL, thread_ts=case.card_ts
        )
        assert proposal.delivery.ok, proposal.delivery.attempts
        await world.wait_for(
            lambda: (
                world.slack.bot_user_id
                in world.slack.message(CHANNEL, proposal).reactions.get("memo", [])
            ),
            5,
            "the bot's 📝 on the proposal",
        )
        for user, emoji in ((BOB, "white_check_mark"), (MAX, "+1")):  # MAX is a manager
            delivery = await world.slack.add_reaction(user, CHANNEL, proposal, emoji)
            assert delivery.ok, delivery.attempts

        async def published() -> Case | None:
            case = await world.case(case_id)
            return case if case.status == CaseStatus.PUBLISHED else None

        await world.wait_for(published, 10, "the reply to be published")
        assert len(world.mastodon.created_statuses) == 1
        status = world.mastodon.created_statuses[0]
        assert status.in_reply_to_id == notification["status"]["id"]
        assert status.text == f"@colere@mastodon.social {REPLY}"
        votes = await redis.hgetall(keys.votes(case_id, proposal))
        assert votes == {"UBOB|approve|white_check_mark": "0", "UMAX|approve|+1": "1"}

        await world.wait_for(
            lambda: status.url in json.dumps(world.slack.message(CHANNEL, case.card_ts).blocks),
            5,
            "the card to show the published URL",
        )
        await world.slack.drain()  # the bot's own echoes too

        # Every event (the humans' and the bot's echoes) went over the websocket, acked once.
        assert world.slack.deliveries
        for delivery in world.slack.deliveries:
            assert [a.transport for a in delivery.attempts] == ["socket"], delivery.attempts
            assert delivery.ok, delivery.attempts

        # The HTTP side is still up after the loop.
        assert world.slack.socket_connected
        assert await _health(world) == 200
        status_code, answer = await world.ingest(b"{}")
        assert status_code == 400, answer


async def test_reconnects_after_slack_asks_for_a_refresh(
    tmp_path: Path, redis: aioredis.Redis, redis_url: str
) -> None:
    """Slack sends ``disconnect`` (refresh_requested) now and then: the loop must go on."""
    async with sandbox(tmp_path, redis_url=redis_url, socket_mode=True) as world:
        await world.slack.wait_for_socket(within=5)
        world.slack.events_url = None
        case_id, _ = await world.hostile_mention("bande de connards incompétents")
        case = await world.card(case_id)
        proposal = await world.slack.post_message(
            ALICE, REPLY, channel=CHANNEL, thread_ts=case.card_ts
        )
        assert proposal.delivery.ok, proposal.delivery.attempts

        opened = len(world.slack.calls_to("apps.connections.open"))
        await world.slack.disconnect_sockets("refresh_requested")
        await world.wait_for(
            lambda: (
                len(world.slack.calls_to("apps.connections.open")) > opened
                and world.slack.socket_connected
            ),
            10,
            "the app to open a new Socket Mode connection",
        )
        # The SDK may replace its first new connection once more (the disconnect message and
        # the closed socket both trigger a reconnect): wait until it has settled.
        settled = -1
        while settled != len(world.slack.calls_to("apps.connections.open")):
            settled = len(world.slack.calls_to("apps.connections.open"))
            await asyncio.sleep(0.3)
        await world.slack.wait_for_socket(within=5)

        for user, emoji in ((BOB, "white_check_mark"), (MAX, "+1")):
            delivery = await world.slack.add_reaction(user, CHANNEL, proposal, emoji)
            assert [(a.transport, a.ok) for a in delivery.attempts] == [("socket", True)]

        async def published() -> Case | None:
            case = await world.case(case_id)
            return case if case.status == CaseStatus.PUBLISHED else None

        await world.wait_for(published, 10, "the reply to be published")
        assert len(world.mastodon.created_statuses) == 1
