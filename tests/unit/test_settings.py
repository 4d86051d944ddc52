from __future__ import annotations

import pytest

from assistant.settings import ConfigError, load_settings

REQUIRED = {
    "SLACK_BOT_TOKEN": "xoxb-1",
    "SLACK_SIGNING_SECRET": "secret",
    "ASSISTANT_CHANNEL": "C0123",
    "INGEST_SECRET": "ingest",
    "ASSISTANT_MANAGERS": "U1",
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_defaults_and_lists(env: pytest.MonkeyPatch) -> None:
    env.setenv("ASSISTANT_MANAGERS", " U1, W2 ,SGROUP ")
    settings = load_settings()
    assert settings.ASSISTANT_MANAGERS == ("U1", "W2", "SGROUP")
    assert settings.PORT == 3000 and settings.ASSISTANT_SLA_SECONDS == 1800
    assert settings.ASSISTANT_APPROVALS_REQUIRED == 2
    assert settings.slack_api_url == "https://slack.com/api/"
    assert not settings.socket_mode
    assert "xoxb-1" not in repr(settings)  # secrets are never printed


def test_app_token_means_socket_mode(env: pytest.MonkeyPatch) -> None:
    env.setenv("SLACK_APP_TOKEN", "xapp-1")
    assert load_settings().socket_mode


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("PORT", "abc", "invalid setting PORT:"),
        ("PORT", "70000", "invalid setting PORT:"),
        ("ASSISTANT_CHANNEL", "general", "invalid setting ASSISTANT_CHANNEL:"),
        ("ASSISTANT_MANAGERS", "U1,S1,S2", "at most one user-group"),
        ("ASSISTANT_MANAGERS", "alice", "'alice' is not a Slack user ID"),
        ("ASSISTANT_ONCALL", "@olivia", "invalid setting ASSISTANT_ONCALL:"),
        ("ASSISTANT_APPROVALS_REQUIRED", "0", "invalid setting ASSISTANT_APPROVALS_REQUIRED:"),
        ("MASTODON_BASE_URL", "https://mastodon.social", "MASTODON_ACCESS_TOKEN"),
        ("SLACK_API_URL", "not a url", "invalid setting SLACK_API_URL:"),
        ("ASSISTANT_MANAGER_APPROVALS_REQUIRED", "3", "cannot exceed"),
    ],
)
def test_bad_settings_fail_in_one_line_naming_them(
    env: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    env.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert expected in message and "\n" not in message


def test_missing_required_setting(env: pytest.MonkeyPatch) -> None:
    env.delenv("SLACK_SIGNING_SECRET")
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET: is required but not set"):
        load_settings()


def test_managers_required_when_manager_approvals_are(env: pytest.MonkeyPatch) -> None:
    env.delenv("ASSISTANT_MANAGERS")
    with pytest.raises(ConfigError, match="ASSISTANT_MANAGERS is empty"):
        load_settings()
    env.setenv("ASSISTANT_MANAGER_APPROVALS_REQUIRED", "0")
    assert load_settings().ASSISTANT_MANAGERS == ()
