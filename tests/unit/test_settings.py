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
    assert settings.ASSISTANT_TIME_ZONE == "UTC"
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
        ("BLUESKY_HANDLE", "brand.bsky.social", "BLUESKY_APP_PASSWORD"),
        ("BLUESKY_HANDLE", "not a handle", "invalid setting BLUESKY_HANDLE:"),
        ("BLUESKY_APP_PASSWORD", "abcd-efgh-ijkl-mnop", "BLUESKY_HANDLE"),
        ("X_CLIENT_ID", "client", "X_REFRESH_TOKEN must be set with X_CLIENT_ID"),
        ("X_REFRESH_TOKEN", "refresh", "X_CLIENT_ID must be set with"),
        ("X_CONSUMER_KEY", "key", "X_CONSUMER_SECRET, X_ACCESS_TOKEN, X_ACCESS_TOKEN_SECRET"),
        ("X_CLIENT_SECRET", "secret", "X_CLIENT_SECRET is set but X_CLIENT_ID is not"),
        ("X_MONTHLY_READ_BUDGET", "0", "invalid setting X_MONTHLY_READ_BUDGET:"),
        ("X_API_URL", "api.x.com", "invalid setting X_API_URL:"),
        ("SLACK_API_URL", "not a url", "invalid setting SLACK_API_URL:"),
        ("ASSISTANT_MANAGER_APPROVALS_REQUIRED", "3", "cannot exceed"),
        ("ASSISTANT_TIME_ZONE", "Europe/Nowhere", "ASSISTANT_TIME_ZONE: unknown time zone"),
        ("ASSISTANT_TIME_ZONE", "../../etc/passwd", "ASSISTANT_TIME_ZONE: unknown time zone"),
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


def test_network_settings(env: pytest.MonkeyPatch) -> None:
    env.setenv("BLUESKY_HANDLE", "brand.bsky.social")
    env.setenv("BLUESKY_APP_PASSWORD", "abcd-efgh-ijkl-mnop")
    env.setenv("X_CLIENT_ID", "client")
    env.setenv("X_REFRESH_TOKEN", "first-refresh")
    settings = load_settings()
    assert str(settings.BLUESKY_SERVICE) == "https://bsky.social/"
    assert str(settings.X_API_URL) == "https://api.x.com/"
    assert settings.X_POLL_SECONDS == 60 and settings.X_MONTHLY_READ_BUDGET is None
    for secret in ("abcd-efgh-ijkl-mnop", "first-refresh"):
        assert secret not in repr(settings)


def test_x_takes_one_kind_of_credentials(env: pytest.MonkeyPatch) -> None:
    for name, value in {
        "X_CLIENT_ID": "c",
        "X_REFRESH_TOKEN": "r",
        "X_CONSUMER_KEY": "k",
        "X_CONSUMER_SECRET": "s",
        "X_ACCESS_TOKEN": "t",
        "X_ACCESS_TOKEN_SECRET": "ts",
    }.items():
        env.setenv(name, value)
    with pytest.raises(ConfigError, match=r"either the OAuth 2\.0"):
        load_settings()


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"ASSISTANT_LLM_URL": "http://localhost:11434/v1"}, "must be set together"),
        ({"ASSISTANT_LLM_MODEL": "llama3"}, "must be set together"),
        ({"ASSISTANT_LLM_URL": "not a url", "ASSISTANT_LLM_MODEL": "m"}, "ASSISTANT_LLM_URL"),
        ({"ASSISTANT_BRAND_VOICE_FILE": "/nonexistent/voice.txt"}, "ASSISTANT_BRAND_VOICE_FILE"),
        ({"ASSISTANT_MEMORY_SUGGESTIONS": "4"}, "ASSISTANT_MEMORY_SUGGESTIONS"),
        (
            {
                "ASSISTANT_LLM_URL": "http://localhost:11434/v1",
                "ASSISTANT_LLM_MODEL": "m",
                "ASSISTANT_LLM_TIMEOUT_SECONDS": "90",
            },
            "below ASSISTANT_JOB_LEASE_SECONDS",
        ),
    ],
)
def test_bad_drafts_and_memory_settings_fail_in_one_line(
    env: pytest.MonkeyPatch, values: dict[str, str], expected: str
) -> None:
    for name, value in values.items():
        env.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_drafts_are_off_unless_the_url_is_set(env: pytest.MonkeyPatch, tmp_path: object) -> None:
    assert not load_settings().drafts_enabled
    env.setenv("ASSISTANT_LLM_URL", "http://localhost:11434/v1")
    env.setenv("ASSISTANT_LLM_MODEL", "llama3")
    assert load_settings().drafts_enabled
