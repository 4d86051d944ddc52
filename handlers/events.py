"""Bolt listeners: parse, hand to one core service, return (Bolt then acks).

The app runs with process_before_response, so the durable change (a Lua step in Redis) is
made before Slack gets its 200; anything slow runs afterwards as a job or background task.
Every event type the manifests subscribe to has a listener here: Bolt answers 404 to an event
nothing matches, and Slack then retries it and may disable the app
(tests/e2e/test_manifest_events.py checks it on the running app).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse

from assistant.errors import AssistantError
from assistant.voting import ProposalRefused, ThreadService


def register(
    app: AsyncApp,
    threads: ThreadService,
    *,
    tell_user: Callable[[ProposalRefused], None],
) -> None:
    # Bolt tries listeners in this order: votes (reactions) are the hot path, so first.
    @app.event("reaction_added")
    async def on_reaction_added(body: dict[str, Any], event: dict[str, Any]) -> None:
        await threads.on_reaction(event, str(body.get("event_id", "")), added=True)

    @app.event("reaction_removed")
    async def on_reaction_removed(body: dict[str, Any], event: dict[str, Any]) -> None:
        await threads.on_reaction(event, str(body.get("event_id", "")), added=False)

    @app.event("message")
    async def on_message(body: dict[str, Any], event: dict[str, Any]) -> None:
        await threads.on_message(event, str(body.get("event_id", "")))

    @app.error
    async def on_error(error: Exception, response: BoltResponse, logger: Any) -> None:
        """The one place domain errors become what a user sees."""
        if isinstance(error, ProposalRefused):
            response.status = 200  # handled: Slack must not retry
            tell_user(error)
        elif isinstance(error, AssistantError):
            logger.warning("event not processed (Slack will retry): %s", error)
        else:
            logger.exception("event handler failed (Slack will retry)", exc_info=error)
