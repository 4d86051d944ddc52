"""Bolt listeners of Block Kit actions (button clicks): parse into a model, one service call,
answer. Every action the app's messages carry has a listener here (Bolt answers 404 to an
action nothing matches).

- ``surge_promote`` (the surge card's "Open a case" button): the grouped mention becomes a
  case with its own card; the clicker is told the outcome in an ephemeral answer.
A malformed payload is a BadPayload (answered 400 by the app's error handler).
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from assistant.payloads import parse_click
from assistant.surge import SurgeService
from assistant.surge_blocks import PROMOTE_ACTION


def register_surge(app: AsyncApp, surges: SurgeService) -> None:
    @app.action(PROMOTE_ACTION)
    async def on_promote(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        click = parse_click(body)
        outcome = await surges.promote(click.value, click.user.id)
        await ack()
        await respond(text=outcome.user_message, response_type="ephemeral", replace_original=False)
