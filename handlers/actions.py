"""Bolt listeners for Block Kit actions: parse into a model, call one service, answer.

Every action the app's messages carry has a listener here (Bolt answers 404 otherwise).
``memory_propose`` — "Propose this" on a card's past reply: the reply memory queues the
proposal (its durable step) before Bolt acks; a refusal is shown to the clicker only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from slack_bolt.async_app import AsyncApp

from assistant.errors import BadPayload
from assistant.memory import ReplyMemory
from assistant.memory_blocks import PROPOSE_ACTION
from assistant.payloads import describe

Tell = Callable[[str, str, str, str | None], None]
"""(channel, user, text, thread_ts): an ephemeral message to one person."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _User(_Model):
    id: str = Field(pattern=r"^[UW][A-Z0-9]{2,}$")


class _Action(_Model):
    action_id: str
    value: str = Field("", max_length=2000)


class _Container(_Model):
    channel_id: str = Field(pattern=r"^[CGD][A-Z0-9]{2,}$")
    message_ts: str = Field(max_length=32)


class ButtonClick(_Model):
    """A ``block_actions`` payload with one button click."""

    user: _User
    container: _Container
    actions: list[_Action] = Field(min_length=1, max_length=1)


def register(app: AsyncApp, memory: ReplyMemory, *, tell: Tell) -> None:
    @app.action(PROPOSE_ACTION)
    async def on_propose(ack: Any, body: dict[str, Any]) -> None:
        try:
            click = ButtonClick.model_validate(body)
        except ValidationError as exc:
            raise BadPayload(describe(exc)) from None
        outcome = await memory.propose(click.actions[0].value, click.user.id)
        await ack()
        if outcome.status == "refused":
            channel = click.container.channel_id
            tell(channel, click.user.id, outcome.message, click.container.message_ts)
