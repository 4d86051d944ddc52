"""The network seam: what every network module provides, and the HTTP plumbing they share.

A network module (``mastodon``, ``bluesky``, ``x``) exports a :class:`LengthRule` (pure: how
the network counts a reply, usable without credentials) and a client class implementing
:class:`Network` over the app's one aiohttp session. The registry
(:mod:`assistant.networks`) maps ``Mention.platform`` to both; publishing, the poller, the
proposal length check, the card and the demo dispatch through it and never name a network.

Errors: every failure of a network call is a :class:`~assistant.errors.PublishError` saying
whether a retry may help (``transient``) and when (``retry_after``, from ``Retry-After`` or the
network's rate-limit reset header). Malformed answers (HTML error pages, invalid JSON, missing
fields) are errors with a reason too, never a crash.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, TypeVar

import aiohttp
from pydantic import BaseModel, ValidationError

from assistant.errors import PublishError
from assistant.models import Case, Mention
from assistant.store import Store

M = TypeVar("M", bound=BaseModel)

FIRST_POLL_MAX_AGE = 3600.0
"""A fresh install (no cursor yet) processes the mentions of its first poll younger than this
and only moves the cursor past older ones."""


@dataclass(frozen=True, slots=True)
class LengthRule:
    """How a network counts a reply, as a pure function (no credentials needed)."""

    platform: str
    name: str  # "Mastodon", "Bluesky", "X"
    limit: int
    unit: str  # what ``limit`` counts, for people: "characters", "graphemes", …
    how: str  # one sentence: how the network counts (shown when a proposal is refused)
    count: Callable[[str], int]
    reply_text: Callable[[str, str], str]
    """(author handle, approved text) → the text actually posted."""
    extra_check: Callable[[str], str | None] | None = None
    """A second limit (e.g. Bluesky's bytes): a refusal reason, or None when it fits."""

    def overflow(self, handle: str, text: str) -> int:
        """How many units the reply is over the limit (0 when it fits)."""
        return max(0, self.count(self.reply_text(handle, text)) - self.limit)

    def refusal(self, handle: str, text: str) -> tuple[int, str | None]:
        """(units over the limit, another reason) — (0, None) when the reply can be posted."""
        over = self.overflow(handle, text)
        other = self.extra_check(self.reply_text(handle, text)) if self.extra_check else None
        return over, other


@dataclass(frozen=True, slots=True)
class Posted:
    """A reply on the network: its id there and its public URL."""

    id: str
    url: str


@dataclass(frozen=True, slots=True)
class MentionItem:
    """One entry of a poll: the mention (None when the entry is not one, or too old on a first
    poll) and the cursor to store once it is handled."""

    mention: Mention | None
    cursor: str


class Network(Protocol):
    """One network account, as the assistant uses it."""

    platform: str
    rule: LengthRule
    poll_seconds: float

    async def mentions_since(self, cursor: str | None) -> list[MentionItem]:
        """Mentions newer than ``cursor``, oldest first (cursor None: a fresh install)."""
        ...

    def new_publish_ref(self) -> str | None:
        """A key chosen once per case before its first publish attempt and used by every
        attempt (Bluesky's record key); None when the network needs none."""
        ...

    async def find_reply(self, case: Case, ref: str | None) -> Posted | None:
        """Our reply to the case's mention if an earlier attempt already posted it."""
        ...

    async def publish(self, case: Case, text: str, ref: str | None) -> Posted:
        """Post ``text`` (already :meth:`LengthRule.reply_text`) as a reply to the mention."""
        ...

    async def poll_delay(self) -> float:
        """Seconds until the next poll (``poll_seconds``, or more to respect a budget)."""
        ...


# ---------------------------------------------------------------------- HTTP plumbing


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: Any  # parsed JSON, or None when the answer was not JSON
    text: str  # the raw answer (first 2 KiB), for error messages


_TAG_RE = re.compile(r"<[^>]*>")
_WS_RE = re.compile(r"\s+")


def snippet(text: str, limit: int = 160) -> str:
    """A short, tag-free excerpt of an answer (an HTML error page reads as its text)."""
    return _WS_RE.sub(" ", _TAG_RE.sub(" ", text)).strip()[:limit]


async def call(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    network: str,
    timeout: aiohttp.ClientTimeout,
    **kwargs: Any,
) -> Answer:
    """One HTTP request; connection failures and timeouts are transient PublishErrors."""
    try:
        async with session.request(method, url, timeout=timeout, **kwargs) as resp:
            raw = await resp.read()
            headers = {k.lower(): v for k, v in resp.headers.items()}
            status = resp.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise PublishError(
            f"{network} unreachable: {type(exc).__name__} {exc}".strip(), transient=True
        ) from exc
    text = raw[:2048].decode("utf-8", errors="replace")
    try:
        body = json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError):
        body = None
    return Answer(status, headers, body, text)


def retry_after(answer: Answer, reset_header: str | None = None) -> float | None:
    """Seconds to wait: ``Retry-After`` (seconds or HTTP date), else on a 429 the network's
    reset header (Unix seconds, or an ISO 8601 time)."""
    now = time.time()
    value = answer.headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - now)
            except (TypeError, ValueError):
                pass
    reset = answer.headers.get(reset_header.lower()) if reset_header else None
    if reset and answer.status == 429:
        try:
            return max(0.0, float(reset) - now)
        except ValueError:
            try:
                when = datetime.fromisoformat(reset.replace("Z", "+00:00"))
            except ValueError:
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return max(0.0, when.timestamp() - now)
    return None


def is_transient(status: int) -> bool:
    return status >= 500 or status in (408, 425, 429)


def error(
    network: str,
    what: str,
    answer: Answer,
    detail: str | None = None,
    *,
    reset_header: str | None = None,
    transient: bool | None = None,
) -> PublishError:
    """A PublishError for a failed answer, with the network's own words when it gave some."""
    reason = detail if detail is not None else snippet(answer.text) or "no details"
    return PublishError(
        f"{network} {what}: HTTP {answer.status} {reason}",
        transient=is_transient(answer.status) if transient is None else transient,
        retry_after=retry_after(answer, reset_header),
    )


def parse(model: type[M], answer: Answer, network: str, what: str) -> M:
    """Validate a success answer; a malformed one is a transient error with the reason."""
    if not isinstance(answer.body, dict):
        raise PublishError(
            f"{network} {what}: the answer is not a JSON object ({snippet(answer.text, 80)!r})",
            transient=True,
        )
    try:
        return model.model_validate(answer.body)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        raise PublishError(
            f"{network} {what}: malformed answer ({field}: {first['msg']})", transient=True
        ) from None


# ---------------------------------------------------------------------- tokens


class TokenVault:
    """A network's tokens in Redis, renewed by exactly one replica at a time.

    ``renew(stale, obtain)``: take a Redis lock; re-read what is stored; if it differs from
    the ``stale`` value the caller found wanting, another replica renewed meanwhile and that
    value is returned; otherwise ``obtain(current)`` runs (one refresh or login) and its
    result is stored. Waiting replicas re-read until the renewed value appears. Values are
    never logged.
    """

    def __init__(self, store: Store, name: str, *, ttl_seconds: int, lock_seconds: float = 30):
        self.store = store
        self.name = name
        self.ttl = ttl_seconds
        self.lock_seconds = lock_seconds

    async def get(self) -> dict[str, Any] | None:
        return await self.store.get_token(self.name)

    async def renew(
        self,
        stale: dict[str, Any] | None,
        obtain: Callable[[dict[str, Any] | None], Awaitable[dict[str, Any]]],
    ) -> dict[str, Any]:
        lock = f"token:{self.name}"
        owner = uuid.uuid4().hex  # per call: two tasks of one replica must not share the lock
        deadline = time.monotonic() + self.lock_seconds
        while True:
            if await self.store.acquire_lease(lock, owner, self.lock_seconds):
                try:
                    current = await self.get()
                    if current is not None and current != stale:
                        return current
                    fresh = await obtain(current)
                    await self.store.set_token(self.name, fresh, self.ttl)
                    return fresh
                finally:
                    await self.store.release_lease(lock, owner)
            await asyncio.sleep(0.05)
            current = await self.get()
            if current is not None and current != stale:
                return current
            if time.monotonic() > deadline:
                raise PublishError(f"{self.name}: token renewal is stuck", transient=True)
