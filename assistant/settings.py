"""Settings, read once from the environment at start-up and passed down.

The environment names are a public contract (documented in the README).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SLACK_DEFAULT_API_URL = "https://slack.com/api/"


class ConfigError(Exception):
    """Invalid configuration: one line naming the setting."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=True, extra="ignore")

    SLACK_BOT_TOKEN: SecretStr
    SLACK_SIGNING_SECRET: SecretStr
    SLACK_APP_TOKEN: SecretStr | None = None
    SLACK_API_URL: AnyHttpUrl = AnyHttpUrl(SLACK_DEFAULT_API_URL)
    PORT: int = Field(3000, ge=0, le=65535)
    HOST: str = "0.0.0.0"
    REDIS_URL: str | None = None
    ASSISTANT_DATA_DIR: Path = Path(".assistant")
    ASSISTANT_CHANNEL: str = Field(pattern=r"^[CGD][A-Z0-9]{2,}$")
    ASSISTANT_APPROVALS_REQUIRED: int = Field(2, ge=1, le=50)
    ASSISTANT_MANAGERS: Annotated[tuple[str, ...], NoDecode] = ()
    ASSISTANT_MANAGER_APPROVALS_REQUIRED: int = Field(1, ge=0, le=50)
    ASSISTANT_ONCALL: str | None = Field(None, pattern=r"^[USW][A-Z0-9]{2,}$")
    ASSISTANT_SLA_SECONDS: int = Field(1800, ge=1)
    ASSISTANT_HOSTILITY_THRESHOLD: float = Field(0.5, ge=0.0, le=1.0)
    ASSISTANT_ALLOW_TERMS: Annotated[tuple[str, ...], NoDecode] = ()
    ASSISTANT_BLOCK_TERMS: Annotated[tuple[str, ...], NoDecode] = ()
    ASSISTANT_RETENTION_DAYS: int = Field(30, ge=1)
    ASSISTANT_JOB_LEASE_SECONDS: float = Field(60, ge=1)
    ASSISTANT_LOG_LEVEL: str = "INFO"
    INGEST_SECRET: SecretStr
    MASTODON_BASE_URL: AnyHttpUrl | None = None
    MASTODON_ACCESS_TOKEN: SecretStr | None = None
    MASTODON_POLL_SECONDS: float = Field(30, ge=0)
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
        if self.ASSISTANT_MANAGER_APPROVALS_REQUIRED > self.ASSISTANT_APPROVALS_REQUIRED:
            raise ValueError(
                "ASSISTANT_MANAGER_APPROVALS_REQUIRED cannot exceed ASSISTANT_APPROVALS_REQUIRED"
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
    def socket_mode(self) -> bool:
        return self.SLACK_APP_TOKEN is not None

    @property
    def retention_seconds(self) -> int:
        return self.ASSISTANT_RETENTION_DAYS * 86400


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment (plus overrides); raise ConfigError in one line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "missing":
            message = "is required but not set"
        if not err["loc"]:  # a cross-field rule: its message names the settings
            raise ConfigError(f"invalid configuration: {message}") from None
        name = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"invalid setting {name}: {message}") from None
