"""Bolt listeners of Block Kit actions (button clicks): parse into a model, one service call,
answer. Every action_id our Block Kit emits has a listener here (Bolt answers 404 to an
action nothing matches; tests/e2e/test_manifest_events.py checks each). A payload without
Slack's documented shape is refused 400 at the edge (assistant/edge.py) or here (BadPayload).

- ``page_ack`` (a page's Acknowledge button, in Slack or App Home): records who and when and
  stops re-escalation; the clicker gets an ephemeral note through the response_url.
- ``surge_promote`` (the surge card's "Open a case" button): the grouped mention becomes a
  case with its own card; the clicker is told the outcome in an ephemeral answer.
- ``memory_propose`` ("Propose this" on a card's past reply): the reply memory queues the
  proposal (its durable step) before Bolt acks; a refusal is shown to the clicker only.

The ephemeral notes go through the payload's response_url after Slack has its 200 (a
background task): the app runs with process_before_response, so a note sent in the listener
would hold the answer for as long as the response_url takes (up to the SDK's 30 s, with a
retry), and a click without a response_url would fail after its effect was recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from assistant.memory import ReplyMemory
from assistant.memory_blocks import PROPOSE_ACTION
from assistant.oncall import OncallService
from assistant.oncall_blocks import ACK_ACTION
from assistant.payloads import BlockActions, parse_click, parse_event
from assistant.surge import SurgeService
from assistant.surge_blocks import PROMOTE_ACTION

log = logging.getLogger(__name__)

Tell = Callable[[str, str, str, str | None], None]
"""(channel, user, text, thread_ts): an ephemeral message to one person."""
Spawn = Callable[[Coroutine[Any, Any, Any]], None]
"""Runs a coroutine as a tracked background task (assistant/background.py)."""


def _note_later(spawn: Spawn, body: dict[str, Any], respond: AsyncRespond, text: str) -> None:
    """The clicker's ephemeral note through the response_url, after the answer to Slack (a
    courtesy: the click's effect is recorded). None without a response_url (App Home's
    buttons have none: the Home refreshes instead)."""
    if isinstance(body.get("response_url"), str) and body["response_url"]:
        spawn(respond(text=text, response_type="ephemeral", replace_original=False))


def register(app: AsyncApp, oncall: OncallService, *, spawn: Spawn) -> None:
    @app.action(ACK_ACTION)
    async def on_ack(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        click = parse_event(BlockActions, body)
        answer = await oncall.ack(click.value, click.user.id, click.team_id)
        await ack()
        _note_later(spawn, body, respond, answer.text)


def register_surge(app: AsyncApp, surges: SurgeService, *, spawn: Spawn) -> None:
    @app.action(PROMOTE_ACTION)
    async def on_promote(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        click = parse_click(body)
        outcome = await surges.promote(click.value, click.user.id)
        await ack()
        _note_later(spawn, body, respond, outcome.user_message)


def register_memory(app: AsyncApp, memory: ReplyMemory, *, tell: Tell) -> None:
    @app.action(PROPOSE_ACTION)
    async def on_propose(ack: AsyncAck, body: dict[str, Any]) -> None:
        click = parse_click(body)
        outcome = await memory.propose(click.value, click.user.id)
        await ack()
        if outcome.status == "refused":
            tell(click.channel.id, click.user.id, outcome.message, click.container.message_ts)
