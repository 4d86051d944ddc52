"""Settings, read once from the environment at start-up and passed down.

The environment names are a public contract (documented in the README).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from assistant.oncall_policy import (
    Policy,
    QuietHours,
    parse_policy,
    parse_quiet_hours,
    policy_from_settings,
)

SLACK_DEFAULT_API_URL = "https://slack.com/api/"


class ConfigError(Exception):
    """Invalid configuration: one line naming the setting."""


class StoreSettings(BaseSettings):
    """The settings that reach the store: enough for ``assistant audit`` and ``report``."""

    # an empty variable (``FOO=`` in an env file or a ConfigMap) counts as unset
    model_config = SettingsConfigDict(
        env_prefix="", case_sensitive=True, extra="ignore", env_ignore_empty=True
    )

    REDIS_URL: str | None = None
    REDIS_CLUSTER: bool = False
    ASSISTANT_DATA_DIR: Path = Path(".assistant")
    ASSISTANT_RETENTION_DAYS: int = Field(30, ge=1)

    @property
    def retention_seconds(self) -> int:
        return self.ASSISTANT_RETENTION_DAYS * 86400


class Settings(StoreSettings):
    SLACK_BOT_TOKEN: SecretStr
    SLACK_SIGNING_SECRET: SecretStr
    SLACK_APP_TOKEN: SecretStr | None = None
    SLACK_API_URL: AnyHttpUrl = AnyHttpUrl(SLACK_DEFAULT_API_URL)
    PORT: int = Field(3000, ge=0, le=65535)
    HOST: str = "0.0.0.0"
    ASSISTANT_CHANNEL: str = Field(pattern=r"^[CGD][A-Z0-9]{2,}$")
    ASSISTANT_APPROVALS_REQUIRED: int = Field(2, ge=1, le=50)
    ASSISTANT_MANAGERS: Annotated[tuple[str, ...], NoDecode] = ()
    ASSISTANT_MANAGER_APPROVALS_REQUIRED: int = Field(1, ge=0, le=50)
    ASSISTANT_ONCALL: str | None = Field(None, pattern=r"^[USW][A-Z0-9]{2,}$")
    ASSISTANT_TONE_EXTRA_MANAGER_APPROVALS: int | None = Field(None, ge=0, le=50)
    ASSISTANT_SLA_SECONDS: int = Field(1800, ge=1)
    ASSISTANT_ESCALATION_POLICY: str | None = None
    ASSISTANT_QUIET_HOURS: str | None = None
    ASSISTANT_TIME_ZONE: str = "UTC"  # the team's day: App Home's "today"
    ASSISTANT_TROUBLE_SECONDS: int = Field(300, ge=10)
    ASSISTANT_COMMAND: str = Field("/ops", pattern=r"^/[a-z0-9_\-]{1,31}$")
    # Unset: each language's shipped threshold on the calibrated score (docs/scoring.md).
    ASSISTANT_HOSTILITY_THRESHOLD: float | None = Field(None, ge=0.0, le=1.0)
    ASSISTANT_ALLOW_TERMS: Annotated[tuple[str, ...], NoDecode] = ()
    ASSISTANT_BLOCK_TERMS: Annotated[tuple[str, ...], NoDecode] = ()
    ASSISTANT_JOB_LEASE_SECONDS: float = Field(60, ge=1)
    ASSISTANT_DIGEST_DAY: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] | None = None
    ASSISTANT_DIGEST_HOUR: int = Field(9, ge=0, le=23)
    ASSISTANT_SLACK_POSTS_PER_SECOND: float = Field(1.0, gt=0, le=50)
    ASSISTANT_SLACK_POST_BURST: int = Field(2, ge=1, le=50)
    ASSISTANT_SURGE_THRESHOLD: int = Field(50, ge=0)
    ASSISTANT_SURGE_WINDOW_SECONDS: int = Field(600, ge=10)
    ASSISTANT_SURGE_QUIET_SECONDS: int = Field(600, ge=1)
    ASSISTANT_SURGE_REACH: int = Field(100_000, ge=0)
    ASSISTANT_SURGE_CARDS_PER_MINUTE: int = Field(3, ge=0, le=60)
    ASSISTANT_SURGE_REFRESH_SECONDS: float = Field(5.0, ge=0.5)
    ASSISTANT_LOG_LEVEL: str = "INFO"
    ASSISTANT_LOG_FORMAT: Literal["text", "json"] = "text"
    ASSISTANT_MEMORY_SUGGESTIONS: int = Field(3, ge=0, le=3)
    ASSISTANT_LLM_URL: AnyHttpUrl | None = None
    ASSISTANT_LLM_MODEL: str | None = Field(None, min_length=1, max_length=200)
    ASSISTANT_LLM_API_KEY: SecretStr | None = None
    ASSISTANT_LLM_TIMEOUT_SECONDS: float = Field(20, gt=0, le=120)
    ASSISTANT_BRAND_VOICE_FILE: Path | None = None
    INGEST_SECRET: SecretStr
    MASTODON_BASE_URL: AnyHttpUrl | None = None
    MASTODON_ACCESS_TOKEN: SecretStr | None = None
    MASTODON_POLL_SECONDS: float = Field(30, ge=0)
    BLUESKY_SERVICE: AnyHttpUrl = AnyHttpUrl("https://bsky.social")
    BLUESKY_HANDLE: str | None = Field(None, pattern=r"^@?[A-Za-z0-9.-]+\.[A-Za-z0-9-]+$")
    BLUESKY_APP_PASSWORD: SecretStr | None = None
    BLUESKY_POLL_SECONDS: float = Field(30, ge=0)
    X_API_URL: AnyHttpUrl = AnyHttpUrl("https://api.x.com")
    X_POLL_SECONDS: float = Field(60, ge=0)
    X_MONTHLY_READ_BUDGET: int | None = Field(None, ge=1)
    X_CLIENT_ID: str | None = None
    X_CLIENT_SECRET: SecretStr | None = None
    X_REFRESH_TOKEN: SecretStr | None = None
    X_CONSUMER_KEY: str | None = None
    X_CONSUMER_SECRET: SecretStr | None = None
    X_ACCESS_TOKEN: SecretStr | None = None
    X_ACCESS_TOKEN_SECRET: SecretStr | None = None
    # Optional second opinion on borderline scores (assistant/scoring/moderation.py).
    ASSISTANT_MODERATION_URL: AnyHttpUrl | None = None
    ASSISTANT_MODERATION_API_KEY: SecretStr | None = None
    ASSISTANT_MODERATION_TIMEOUT: float = Field(2.0, gt=0, le=30)
    ASSISTANT_MODERATION_PER_MINUTE: int = Field(60, ge=1)

    @field_validator(
        "ASSISTANT_MANAGERS", "ASSISTANT_ALLOW_TERMS", "ASSISTANT_BLOCK_TERMS", mode="before"
    )
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("ASSISTANT_MANAGERS")
    @classmethod
    def _check_managers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        groups = [v for v in value if v.startswith("S")]
        if len(groups) > 1:
            raise ValueError("at most one user-group ID (S…) is allowed")
        for item in value:
            if not (item[:1] in ("U", "W", "S") and item[1:].isalnum() and item.isupper()):
                raise ValueError(f"{item!r} is not a Slack user ID (U…/W…) or user-group ID (S…)")
        return value

    @field_validator("ASSISTANT_BRAND_VOICE_FILE")
    @classmethod
    def _check_voice(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        try:
            value.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read {str(value)!r} ({type(exc).__name__})") from None
        return value

    @field_validator("ASSISTANT_ESCALATION_POLICY")
    @classmethod
    def _check_policy(cls, value: str | None) -> str | None:
        if value is not None:
            parse_policy(value)  # PolicyError (a ValueError): one line naming the problem
        return value

    @field_validator("ASSISTANT_QUIET_HOURS")
    @classmethod
    def _check_quiet_hours(cls, value: str | None) -> str | None:
        if value is not None:
            parse_quiet_hours(value)
        return value

    @field_validator("ASSISTANT_TIME_ZONE")
    @classmethod
    def _check_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value[:60]!r} (an IANA name such as Europe/Paris)"
            ) from None
        return value

    @field_validator("ASSISTANT_LOG_LEVEL")
    @classmethod
    def _check_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
        return level

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        if (self.MASTODON_BASE_URL is None) != (self.MASTODON_ACCESS_TOKEN is None):
            raise ValueError("MASTODON_BASE_URL and MASTODON_ACCESS_TOKEN must be set together")
        if (self.BLUESKY_HANDLE is None) != (self.BLUESKY_APP_PASSWORD is None):
            raise ValueError("BLUESKY_HANDLE and BLUESKY_APP_PASSWORD must be set together")
        oauth2 = {"X_CLIENT_ID": self.X_CLIENT_ID, "X_REFRESH_TOKEN": self.X_REFRESH_TOKEN}
        oauth1 = {
            "X_CONSUMER_KEY": self.X_CONSUMER_KEY,
            "X_CONSUMER_SECRET": self.X_CONSUMER_SECRET,
            "X_ACCESS_TOKEN": self.X_ACCESS_TOKEN,
            "X_ACCESS_TOKEN_SECRET": self.X_ACCESS_TOKEN_SECRET,
        }
        for group in (oauth2, oauth1):
            missing = [name for name, value in group.items() if value is None]
            if 0 < len(missing) < len(group):
                raise ValueError(f"{', '.join(missing)} must be set with {', '.join(group)}")
        if self.X_CLIENT_SECRET is not None and self.X_CLIENT_ID is None:
            raise ValueError("X_CLIENT_SECRET is set but X_CLIENT_ID is not")
        if self.X_CLIENT_ID is not None and self.X_CONSUMER_KEY is not None:
            raise ValueError(
                "set either the OAuth 2.0 (X_CLIENT_ID…) or the OAuth 1.0a "
                "(X_CONSUMER_KEY…) credentials for X, not both"
            )
        if (self.ASSISTANT_LLM_URL is None) != (self.ASSISTANT_LLM_MODEL is None):
            raise ValueError("ASSISTANT_LLM_URL and ASSISTANT_LLM_MODEL must be set together")
        if (
            self.ASSISTANT_LLM_URL is not None
            and self.ASSISTANT_LLM_TIMEOUT_SECONDS >= self.ASSISTANT_JOB_LEASE_SECONDS
        ):
            raise ValueError(
                "ASSISTANT_LLM_TIMEOUT_SECONDS must be below ASSISTANT_JOB_LEASE_SECONDS"
            )
        if self.ASSISTANT_MANAGER_APPROVALS_REQUIRED > self.ASSISTANT_APPROVALS_REQUIRED:
            raise ValueError(
                "ASSISTANT_MANAGER_APPROVALS_REQUIRED cannot exceed ASSISTANT_APPROVALS_REQUIRED"
            )
        if self.ASSISTANT_TONE_EXTRA_MANAGER_APPROVALS and not self.ASSISTANT_MANAGERS:
            raise ValueError(
                "ASSISTANT_MANAGERS is empty but ASSISTANT_TONE_EXTRA_MANAGER_APPROVALS > 0"
            )
        if self.ASSISTANT_MANAGER_APPROVALS_REQUIRED > 0 and not self.ASSISTANT_MANAGERS:
            raise ValueError(
                "ASSISTANT_MANAGERS is empty but ASSISTANT_MANAGER_APPROVALS_REQUIRED > 0"
            )
        return self

    @property
    def slack_api_url(self) -> str:
        url = str(self.SLACK_API_URL)
        return url if url.endswith("/") else url + "/"

    @property
    def drafts_enabled(self) -> bool:
        return self.ASSISTANT_LLM_URL is not None

    @property
    def socket_mode(self) -> bool:
        return self.SLACK_APP_TOKEN is not None

    @property
    def tone_extra_managers(self) -> int:
        """More manager approvals a tone-flagged proposal needs: the setting, else 1 when
        managers are configured (0 without: nobody could give it)."""
        if self.ASSISTANT_TONE_EXTRA_MANAGER_APPROVALS is not None:
            return self.ASSISTANT_TONE_EXTRA_MANAGER_APPROVALS
        return 1 if self.ASSISTANT_MANAGERS else 0

    @property
    def escalation_policy(self) -> Policy:
        return policy_from_settings(self.ASSISTANT_ESCALATION_POLICY, self.ASSISTANT_ONCALL)

    @property
    def quiet_hours(self) -> QuietHours | None:
        return parse_quiet_hours(self.ASSISTANT_QUIET_HOURS) if self.ASSISTANT_QUIET_HOURS else None


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment (plus overrides); raise ConfigError in one line."""
    return _load(Settings, overrides)


def load_store_settings(**overrides: object) -> StoreSettings:
    """Only the store's settings (the CLI's audit and report need no Slack credentials)."""
    return _load(StoreSettings, overrides)


_S = TypeVar("_S", bound=BaseSettings)


def _load(cls: type[_S], overrides: dict[str, object]) -> _S:
    try:
        return cls(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "missing":
            message = "is required but not set"
        if not err["loc"]:  # a cross-field rule: its message names the settings
            raise ConfigError(f"invalid configuration: {message}") from None
        name = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"invalid setting {name}: {message}") from None
