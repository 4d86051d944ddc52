"""Domain errors, and the one place that turns them into what a user sees."""

from __future__ import annotations


class AssistantError(Exception):
    """A domain error with a message fit for the person who caused it."""

    user_message = "Something went wrong."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.user_message)
        if message:
            self.user_message = message


class ExternalError(AssistantError):
    """A call to an outside service failed: ``transient`` ones are worth retrying (after
    ``retry_after`` seconds at least, when the service said so); permanent ones are not."""

    def __init__(self, message: str, *, transient: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after


class PublishError(ExternalError):
    """Publishing a reply on a network failed."""


class SlackError(ExternalError):
    """A Slack Web API call failed; ``error`` is Slack's error string (or what happened).

    Sorted where the gateway calls the SDK (assistant/slack.py): rate limits, 5xx, timeouts
    and dropped connections are transient (the outcome of a write may then be unknown);
    a bad request, a missing channel or a missing permission is permanent.
    """

    def __init__(
        self,
        method: str,
        error: str,
        *,
        transient: bool,
        retry_after: float | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(f"{method}: {error}", transient=transient, retry_after=retry_after)
        self.method = method
        self.error = error
        self.outcome_unknown = outcome_unknown


class Throttled(Exception):
    """A Slack post or update must wait for the channel's rate limiter: nothing was sent. The
    job runner reschedules the job after ``retry_after`` seconds without counting a failure
    (what waits stays queued durably in Redis; nothing is dropped). ``interval``: seconds
    between two of the channel's tokens, so jobs waiting for the same channel are given one
    slot each (0: a priority post, which never queues behind the others)."""

    def __init__(self, channel: str, retry_after: float, interval: float = 0.0) -> None:
        super().__init__(f"channel {channel} is rate-limited for {retry_after:.2f} s")
        self.channel = channel
        self.retry_after = retry_after
        self.interval = interval


class BadPayload(AssistantError):
    """A signed request whose payload does not have the shape Slack documents (answered 400)."""
