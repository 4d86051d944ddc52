"""Socket Mode: events over the emulator's websocket, to Bolt and to a raw client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from assistant.emulators.slack import SlackEmulator

from .conftest import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, Receiver, make_slack


@pytest.fixture
async def socket_slack(receiver: Receiver) -> AsyncIterator[SlackEmulator]:
    emu = make_slack(app_token=APP_TOKEN, events_url=receiver.url, delivery_timeout=2.0)
    await emu.start()
    yield emu
    await emu.stop()


async def wait_until(predicate: Any, seconds: float = 5.0) -> None:
    """Poll ``predicate`` (state in another task) until true; TimeoutError after ``seconds``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        if predicate():
            return
        if loop.time() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.01)


async def test_bolt_socket_mode_receives_events_and_replies(
    socket_slack: SlackEmulator, receiver: Receiver
) -> None:
    emu = socket_slack
    web = AsyncWebClient(token=BOT_TOKEN, base_url=emu.api_url)
    app = AsyncApp(client=web, signing_secret=SIGNING_SECRET)
    seen: list[dict[str, Any]] = []

    @app.event("message")
    async def on_message(event: dict[str, Any], say: Any) -> None:
        seen.append(event)
        if event.get("text") == "ping":
            await say(text="pong", thread_ts=event["ts"])

    @app.event("reaction_added")
    async def on_reaction(event: dict[str, Any]) -> None:
        seen.append(event)

    @app.action("ack")
    async def on_ack(ack: Any, respond: Any) -> None:
        await ack()
        await respond(text="acknowledged", response_type="in_channel")

    @app.command("/ops")
    async def on_ops(ack: Any, command: dict[str, Any]) -> None:
        await ack(text=f"ops {command['text']}")

    handler = AsyncSocketModeHandler(app, APP_TOKEN)
    await handler.connect_async()
    try:
        await emu.wait_for_socket()
        ts = await emu.post_message("U1", "ping", channel="C1")
        assert ts.delivery.status == 200
        assert ts.delivery.attempts[0].transport == "socket"
        await wait_until(lambda: emu.bot_messages("C1"))
        await emu.drain()
        [reply] = emu.bot_messages("C1")
        assert reply.text == "pong" and reply.thread_ts == ts
        await emu.add_reaction("U2", "C1", reply.ts, "+1::skin-tone-2")
        await wait_until(lambda: len(seen) == 2)
        assert [e["type"] for e in seen] == ["message", "reaction_added"]
        assert seen[1]["reaction"] == "+1::skin-tone-2" and seen[1]["item_user"] == "UBOT"
        # The echo of Bolt's own reply went over the socket, acked, and was ignored by Bolt.
        echo = [d for d in emu.deliveries if d.event.get("bot_id") == "BBOT"]
        assert len(echo) == 1 and echo[0].ok and echo[0].attempts[0].transport == "socket"
        # Interactivity and slash commands over the socket too.
        blocks = [
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "ack",
                        "text": {"type": "plain_text", "text": "Ack"},
                    }
                ],
            }
        ]
        card = (await web.chat_postMessage(channel="C2", text="card", blocks=blocks))["ts"]
        click = await emu.click_button("U1", "C2", card, "ack")
        assert click.ok and click.attempts[0].transport == "socket"
        await wait_until(lambda: len(emu.bot_messages("C2")) == 2)
        assert emu.bot_messages("C2")[1].text == "acknowledged"
        cmd = await emu.slash_command("U2", "/ops", "now", channel="C2")
        assert cmd.ok and cmd.response == {"text": "ops now"}
        assert (emu.ephemerals[-1].user, emu.ephemerals[-1].text) == ("U2", "ops now")
        assert receiver.received == [], "no HTTP delivery while a socket is connected"
        assert len(emu.calls_to("apps.connections.open")) == 1

        # Slack asks the client to reconnect: Bolt opens a new connection and events resume.
        await emu.disconnect_sockets()
        await wait_until(lambda: len(emu.calls_to("apps.connections.open")) >= 2)
        await emu.wait_for_socket()
        await wait_until(lambda: emu.socket_connected)
        again = await emu.post_message("U3", "after reconnect", channel="C1")
        assert again.delivery.status == 200
        await wait_until(lambda: any(e.get("text") == "after reconnect" for e in seen))
    finally:
        await handler.close_async()


async def test_unacked_envelope_is_retried_then_http_when_socket_gone(
    socket_slack: SlackEmulator, receiver: Receiver
) -> None:
    emu = socket_slack
    emu.delivery_timeout = 0.3  # how long an envelope waits for its ack
    web = AsyncWebClient(token=BOT_TOKEN, base_url=emu.api_url)
    url = (await web.apps_connections_open(app_token=APP_TOKEN))["url"]
    async with aiohttp.ClientSession() as session:
        # A used ticket cannot be reused.
        ws = await session.ws_connect(url)
        hello = await ws.receive_json()
        assert hello["type"] == "hello" and hello["connection_info"]["app_id"] == emu.app_id
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await session.ws_connect(url)
        posting = asyncio.create_task(emu.post_message("U1", "hi", channel="C1"))
        first = await ws.receive_json()
        assert first["type"] == "events_api" and first["accepts_response_payload"] is False
        assert (first["retry_attempt"], first["retry_reason"]) == (0, "")
        assert first["payload"]["event"]["text"] == "hi"
        # Not acked within the timeout: the same payload comes again as a retry.
        second = await ws.receive_json()
        assert (second["retry_attempt"], second["retry_reason"]) == (1, "timeout")
        assert second["payload"] == first["payload"]
        assert second["envelope_id"] != first["envelope_id"]
        await ws.send_str(json.dumps({"envelope_id": second["envelope_id"]}))
        ts = await posting
        assert [a.status for a in ts.delivery.attempts] == [None, 200]
        await ws.close()
    await wait_until(lambda: not emu.socket_connected)
    fallback = await emu.post_message("U1", "over http", channel="C1")
    assert fallback.delivery.attempts[0].transport == "http" and fallback.delivery.status == 200
    assert receiver.events()[0]["text"] == "over http"
