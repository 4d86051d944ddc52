"""Bolt listeners: parse into a model, hand to one core service, return (Bolt then acks).

The app runs with process_before_response, so the durable change (a Lua step in Redis) is
made before Slack gets its 200; anything slow runs afterwards as a job or background task.
Every event type the manifests subscribe to has a listener here (``app_home_opened`` in
handlers/home.py; button clicks in actions.py, the slash command in commands.py): Bolt
answers 404 to an event nothing matches, and Slack then retries it and may disable the app
(tests/e2e/test_manifest_events.py checks it on the running app); ``register_fallback``
answers 200 to any other well-formed event.

What the error handler answers: a refusal shown to its author → 200; a payload that does not
have Slack's documented shape → 400 with ``X-Slack-No-Retry`` (the same bytes would fail
again); Redis unavailable or a transient Slack API error → 503 (Slack retries later, nothing
was acknowledged); a permanent Slack API error (e.g. ``user_not_found``) → 200, logged.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse

from assistant.errors import AssistantError, BadPayload, SlackError
from assistant.logs import outside
from assistant.payloads import MessageEvent, ReactionEvent, parse_event
from assistant.store import is_unavailable
from assistant.voting import ProposalRefused, ThreadService

log = logging.getLogger(__name__)


def register(
    app: AsyncApp,
    threads: ThreadService,
    *,
    tell_user: Callable[[ProposalRefused], None],
) -> None:
    # Bolt tries listeners in this order: votes (reactions) are the hot path, so first.
    @app.event("reaction_added")
    async def on_reaction_added(body: dict[str, Any], event: dict[str, Any]) -> None:
        reaction = parse_event(ReactionEvent, event)
        await threads.on_reaction(reaction, _event_id(body), added=True)

    @app.event("reaction_removed")
    async def on_reaction_removed(body: dict[str, Any], event: dict[str, Any]) -> None:
        reaction = parse_event(ReactionEvent, event)
        await threads.on_reaction(reaction, _event_id(body), added=False)

    @app.event("message")
    async def on_message(body: dict[str, Any], event: dict[str, Any]) -> None:
        parse_event(MessageEvent, event)  # the shape is checked; the service reads the fields
        await threads.on_message(event, _event_id(body))

    @app.error
    async def on_error(error: Exception, response: BoltResponse) -> None:
        """The one place domain errors become what a user (or Slack) sees."""
        if isinstance(error, ProposalRefused):
            response.status = 200  # handled: Slack must not retry
            tell_user(error)
        elif isinstance(error, BadPayload):
            response.status = 400
            response.body = json.dumps({"error": outside(error)})
            response.headers["x-slack-no-retry"] = ["1"]
            log.warning("event refused (400): %s", outside(error))
        elif is_unavailable(error):
            response.status = 503  # Slack retries; the event was not acknowledged
            log.warning("event refused (503), the store is unavailable: %s", outside(error))
        elif isinstance(error, SlackError):
            # transient (Slack's API down): Slack retries the event later; permanent (e.g.
            # user_not_found): no retry could ever process it
            response.status = 503 if error.transient else 200
            log.warning("event not processed, Slack answered: %s", outside(error))
        elif isinstance(error, AssistantError):
            log.warning("event not processed (Slack will retry): %s", outside(error))
        else:
            log.exception("event handler failed (Slack will retry)", exc_info=error)


def register_fallback(app: AsyncApp) -> None:
    """Register last: any other well-formed event is acknowledged (200) and ignored, so Slack
    neither retries it nor counts it as a failed delivery."""

    @app.event(re.compile(".*"))
    async def ignore(event: dict[str, Any]) -> None:
        return None


def _event_id(body: dict[str, Any]) -> str:
    event_id = body.get("event_id")
    return event_id if isinstance(event_id, str) else ""
