"""Fixtures for the Slack emulator tests: a running emulator and a recording receiver."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from assistant.emulators.slack import EmulatedUser, SlackEmulator

SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-bot-token"
APP_TOKEN = "xapp-test-app-token"

USERS = [
    EmulatedUser(id="U1", name="alice", real_name="Alice", display_name="alice"),
    EmulatedUser(id="U2", name="bob", real_name="Bob Martin", display_name="bob"),
    EmulatedUser(id="U3", name="carol", real_name="Carol", display_name=""),
    EmulatedUser(id="UOTHERBOT", name="otherbot", real_name="Other", is_bot=True, bot_id="B9"),
]


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


@dataclass
class Receiver:
    """An events endpoint that records every request and answers from a script.

    ``statuses`` are answered in order (then 200); ``delays`` (seconds) likewise.
    """

    url: str = ""
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)
    no_retry: bool = False

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(Received(dict(request.headers), await request.read()))
        if self.delays:
            await asyncio.sleep(self.delays.pop(0))
        status = self.statuses.pop(0) if self.statuses else 200
        headers = {"X-Slack-No-Retry": "1"} if self.no_retry else None
        return web.Response(status=status, text="" if status == 200 else "boom", headers=headers)

    def events(self) -> list[dict[str, Any]]:
        return [r.json["event"] for r in self.received]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/slack/events", rec.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    rec.url = f"http://127.0.0.1:{port}/slack/events"
    yield rec
    await runner.cleanup()


def make_slack(**kwargs: Any) -> SlackEmulator:
    options: dict[str, Any] = {
        "signing_secret": SIGNING_SECRET,
        "bot_token": BOT_TOKEN,
        "users": USERS,
        "usergroups": {"S1": ["U1", "U2"]},
        "channels": ("C1", "C2"),
        "retry_delays": (0.01, 0.02, 0.03),
    }
    options.update(kwargs)
    return SlackEmulator(**options)


@pytest.fixture
async def slack(receiver: Receiver) -> AsyncIterator[SlackEmulator]:
    emu = make_slack(events_url=receiver.url)
    await emu.start()
    yield emu
    await emu.stop()
