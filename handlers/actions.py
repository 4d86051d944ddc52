"""Bolt listeners of Block Kit actions (button clicks): parse into a model, one service call,
answer. Every action the app's messages carry has a listener here (Bolt answers 404 to an
action nothing matches).

- ``surge_promote`` (the surge card's "Open a case" button): the grouped mention becomes a
  case with its own card; the clicker is told the outcome in an ephemeral answer.
- ``memory_propose`` ("Propose this" on a card's past reply): the reply memory queues the
  proposal (its durable step) before Bolt acks; a refusal is shown to the clicker only.
A malformed payload is a BadPayload (answered 400 by the app's error handler).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from assistant.memory import ReplyMemory
from assistant.memory_blocks import PROPOSE_ACTION
from assistant.payloads import parse_click
from assistant.surge import SurgeService
from assistant.surge_blocks import PROMOTE_ACTION

Tell = Callable[[str, str, str, str | None], None]
"""(channel, user, text, thread_ts): an ephemeral message to one person."""


def register_surge(app: AsyncApp, surges: SurgeService) -> None:
    @app.action(PROMOTE_ACTION)
    async def on_promote(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        click = parse_click(body)
        outcome = await surges.promote(click.value, click.user.id)
        await ack()
        await respond(text=outcome.user_message, response_type="ephemeral", replace_original=False)


def register_memory(app: AsyncApp, memory: ReplyMemory, *, tell: Tell) -> None:
    @app.action(PROPOSE_ACTION)
    async def on_propose(ack: AsyncAck, body: dict[str, Any]) -> None:
        click = parse_click(body)
        outcome = await memory.propose(click.value, click.user.id)
        await ack()
        if outcome.status == "refused":
            tell(click.channel.id, click.user.id, outcome.message, click.container.message_ts)
