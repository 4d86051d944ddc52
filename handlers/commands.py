"""Bolt listener for the slash command (``ASSISTANT_COMMAND``, ``/ops`` by default): parse,
one service call, answer ephemerally within Slack's 3 s (the answer is the ack's body)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from assistant.oncall import OncallService
from assistant.payloads import SlashCommand, parse_event


def register(app: AsyncApp, oncall: OncallService, command: str) -> None:
    @app.command(command)
    async def on_command(ack: AsyncAck, body: dict[str, Any]) -> None:
        request = parse_event(SlashCommand, body)
        answer = await oncall.command(request.text, request.user_id, request.team_id)
        await ack(text=answer.text, response_type="ephemeral")
