"""Slack errors sorted where the gateway calls the SDK: what is worth retrying, what is not."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from assistant.slack import sort_api_error


def api_error(status: int, error: str, headers: dict[str, str] | None = None) -> SlackApiError:
    response = AsyncSlackResponse(
        client=None,  # type: ignore[arg-type]
        http_verb="POST",
        api_url="https://slack.com/api/chat.postMessage",
        req_args={},
        data={"ok": False, "error": error},
        headers=headers or {},
        status_code=status,
    )
    return SlackApiError("failed", response)


@pytest.mark.parametrize(
    ("status", "error", "transient", "unknown"),
    [
        (429, "ratelimited", True, False),
        (500, "internal_error", True, True),  # a 5xx may follow a partial success
        (503, "service_unavailable", True, True),
        (200, "internal_error", True, False),
        (200, "fatal_error", True, False),
        (200, "invalid_blocks", False, False),
        (200, "not_in_channel", False, False),
        (200, "channel_not_found", False, False),
        (200, "missing_scope", False, False),
        (200, "is_archived", False, False),
        (200, "msg_too_long", False, False),
        (200, "invalid_auth", False, False),
        (200, "token_revoked", False, False),
    ],
)
def test_errors_are_sorted(status: int, error: str, transient: bool, unknown: bool) -> None:
    sorted_ = sort_api_error("chat.postMessage", api_error(status, error))
    assert (sorted_.transient, sorted_.outcome_unknown, sorted_.error) == (
        transient,
        unknown,
        error,
    )


def test_rate_limits_carry_retry_after() -> None:
    sorted_ = sort_api_error(
        "chat.postMessage", api_error(429, "ratelimited", {"Retry-After": "7"})
    )
    assert sorted_.transient and sorted_.retry_after == 7.0
