"""Bolt listeners for interactivity (button clicks): parse, one service call, answer.

Every action_id our Block Kit emits (assistant/oncall_blocks.ACTIONS) has a listener here,
else Bolt answers 404. A payload without Slack's documented shape is refused 400 at the edge
(assistant/edge.py) or here (BadPayload). The answer is ephemeral, through the response_url.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from assistant.oncall import OncallService
from assistant.oncall_blocks import ACK_ACTION
from assistant.payloads import BlockActions, parse_event

log = logging.getLogger(__name__)


def register(app: AsyncApp, oncall: OncallService) -> None:
    @app.action(ACK_ACTION)
    async def on_ack(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        click = parse_event(BlockActions, body)
        answer = await oncall.ack(click.actions[0].value or "", click.user.id, click.team_id)
        await ack()
        if body.get("response_url"):  # a message's button (App Home has none: it refreshes)
            with contextlib.suppress(Exception):  # the ack is recorded; the note is a courtesy
                await respond(text=answer.text, response_type="ephemeral", replace_original=False)
