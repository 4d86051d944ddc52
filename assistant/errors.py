"""Domain errors, and the one place that turns them into what a user sees."""

from __future__ import annotations


class AssistantError(Exception):
    """A domain error with a message fit for the person who caused it."""

    user_message = "Something went wrong."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.user_message)
        if message:
            self.user_message = message


class PublishError(AssistantError):
    """Publishing a reply on a network failed."""

    def __init__(self, message: str, *, transient: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after


class SlackUnavailable(AssistantError):
    """A Slack Web API call failed after its retries."""
