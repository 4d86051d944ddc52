"""Bolt listener for App Home: ``app_home_opened`` queues the publication (a job: durable,
coalesced, after the ack) of the Home tab for that person."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from assistant.oncall import OncallService
from assistant.payloads import AppHomeOpened, parse_event


def register(app: AsyncApp, oncall: OncallService) -> None:
    @app.event("app_home_opened")
    async def on_home_opened(event: dict[str, Any]) -> None:
        opened = parse_event(AppHomeOpened, event)
        if opened.tab == "home":
            await oncall.home_opened(opened.user)
