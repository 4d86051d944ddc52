"""A local emulator of the Mastodon REST API subset the assistant uses.

Point ``MASTODON_BASE_URL`` at :attr:`MastodonEmulator.base_url`. Served over real HTTP:

- ``GET /api/v1/notifications`` (``types[]``, ``exclude_types[]``, ``since_id``, ``min_id``,
  ``max_id``, ``limit`` default 40 max 80; newest first; ``Link`` header with next/prev).
- ``GET /api/v1/notifications/:id``
- ``POST /api/v1/statuses`` (form or JSON; ``Idempotency-Key`` honoured for one hour per
  token; validation and character counting as Mastodon does them).
- ``GET /api/v1/statuses/:id``, ``GET /api/v1/statuses/:id/context``,
  ``GET /api/v1/accounts/verify_credentials``,
  ``GET /api/v1/instance``, ``GET /api/v2/instance``.

Errors are Mastodon's: ``{"error": "..."}`` with 401 (bad token), 404, 422 (validation), 429
(rate limit, with ``X-RateLimit-*`` and ``Retry-After``). Every answer carries the
``X-RateLimit-Limit/Remaining/Reset`` headers.

State for assertions: :attr:`MastodonEmulator.created_statuses` (statuses created through the
API, in order), :attr:`~MastodonEmulator.statuses` (every status by id, mentions included),
:attr:`~MastodonEmulator.notifications`, :attr:`~MastodonEmulator.accounts` and
:attr:`~MastodonEmulator.requests` (every HTTP request, in order).
"""

from __future__ import annotations

import asyncio
import html
import json
import math
import re
import time
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from aiohttp.typedefs import Handler

from assistant.emulators._common import JSON, Fault, FaultQueue, ServerHandle, json_response

__all__ = [
    "MAX_CHARS",
    "URL_PLACEHOLDER_CHARS",
    "MastodonAccount",
    "MastodonEmulator",
    "MastodonRequest",
    "MastodonStatus",
    "countable_length",
    "grapheme_count",
]

MAX_CHARS = 500
URL_PLACEHOLDER_CHARS = 23
IDEMPOTENCY_TTL = 3600.0
RATE_LIMIT = 300
VISIBILITIES = ("public", "unlisted", "private", "direct")
IN_REPLY_NOT_FOUND = "The post you are trying to reply to does not appear to exist."

# Mastodon's Account::MENTION_RE (username, optional @domain) and a URL matcher close to
# twitter-text's for URLs with a scheme (Mastodon only shortens URLs with a scheme).
_MENTION_RE = re.compile(
    r"(?<![=/\w])@([a-z0-9_]+(?:[a-z0-9_.-]+[a-z0-9_])?)(?:@([\w.-]+\w))?", re.IGNORECASE
)
_URL_RE = re.compile(
    r"(?<![\w/@.])https?://(?:[\w-]+\.)+[\w-]{2,}(?::\d{1,5})?(?:[/?#][^\s<>\"]*)?",
    re.IGNORECASE,
)
_HASHTAG_RE = re.compile(r"(?<![=/\w#])#(\w*[^\W\d_]\w*)")
_TRAILING_PUNCT = ".,:;!?'\""


def _iso(ts: float) -> str:
    """Mastodon's timestamp format: ``2024-01-01T12:00:00.000Z``."""
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


# ---------------------------------------------------------------------- character counting


def _grapheme_class(ch: str) -> str:
    cp = ord(ch)
    if cp == 0x0D:
        return "CR"
    if cp == 0x0A:
        return "LF"
    if cp == 0x200D:
        return "ZWJ"
    if 0x1F1E6 <= cp <= 0x1F1FF:
        return "RI"
    cat = unicodedata.category(ch)
    if (
        cat in ("Mn", "Me")
        or 0x1F3FB <= cp <= 0x1F3FF
        or 0xFE00 <= cp <= 0xFE0F
        or 0xE0020 <= cp <= 0xE007F
        or cp == 0x200C
    ):
        return "Extend"
    if cat in ("Cc", "Zl", "Zp") or (cat == "Cf" and cp not in (0x200C, 0x200D)):
        return "Control"
    if cat == "Mc":
        return "SpacingMark"
    if 0x1100 <= cp <= 0x115F or 0xA960 <= cp <= 0xA97C:
        return "L"
    if 0x1160 <= cp <= 0x11A7 or 0xD7B0 <= cp <= 0xD7C6:
        return "V"
    if 0x11A8 <= cp <= 0x11FF or 0xD7CB <= cp <= 0xD7FB:
        return "T"
    if 0xAC00 <= cp <= 0xD7A3:
        return "LV" if (cp - 0xAC00) % 28 == 0 else "LVT"
    if (
        0x1F000 <= cp <= 0x1FAFF
        or 0x2600 <= cp <= 0x27BF
        or 0x2300 <= cp <= 0x23FF
        or 0x2B00 <= cp <= 0x2BFF
        or cp in (0x00A9, 0x00AE, 0x203C, 0x2049, 0x2122, 0x2139, 0x3030, 0x303D, 0x3297, 0x3299)
        or 0x2194 <= cp <= 0x21AA
    ):
        return "ExtPict"
    return "Other"


def grapheme_count(text: str) -> int:
    """Extended grapheme clusters in ``text`` (UAX #29 rules GB3-GB13, as Ruby's
    ``each_grapheme_cluster`` counts them; Prepend characters are not special-cased)."""
    count = 0
    prev = ""
    ri_run = 0
    in_pict = False  # inside ExtPict Extend* (ZWJ)?
    for ch in text:
        cls = _grapheme_class(ch)
        join = False
        if prev:
            if prev == "CR" and cls == "LF":
                join = True
            elif prev in ("CR", "LF", "Control") or cls in ("CR", "LF", "Control"):
                join = False
            elif (
                (prev == "L" and cls in ("L", "V", "LV", "LVT"))
                or (prev in ("LV", "V") and cls in ("V", "T"))
                or (prev in ("LVT", "T") and cls == "T")
                or cls in ("Extend", "ZWJ", "SpacingMark")
                or (prev == "ZWJ" and cls == "ExtPict" and in_pict)
            ):
                join = True
            elif prev == "RI" and cls == "RI":
                join = ri_run % 2 == 1
        if not join:
            count += 1
        ri_run = ri_run + 1 if cls == "RI" else 0
        if cls == "ExtPict":
            in_pict = True
        elif not (in_pict and cls in ("Extend", "ZWJ")):
            in_pict = False
        prev = cls
    return count


def _url_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for m in _URL_RE.finditer(text):
        start, end = m.span()
        while end > start and text[end - 1] in _TRAILING_PUNCT:
            end -= 1
        while (
            end > start
            and text[end - 1] == ")"
            and text[start:end].count("(") < text[start:end].count(")")
        ):
            end -= 1
        spans.append((start, end))
    return spans


def _entities(text: str) -> list[tuple[int, int, str, re.Match[str] | None]]:
    """Non-overlapping URL and mention entities, in order: (start, end, kind, match)."""
    found: list[tuple[int, int, str, re.Match[str] | None]] = [
        (s, e, "url", None) for s, e in _url_spans(text)
    ]
    for m in _MENTION_RE.finditer(text):
        if not any(s < m.end() and m.start() < e for s, e, _, _ in found):
            found.append((m.start(), m.end(), "mention", m))
    found.sort(key=lambda item: item[0])
    return found


def countable_text(text: str) -> str:
    """The text Mastodon counts: each URL as 23 characters, ``@user@domain`` as ``@user``."""
    out, pos = [], 0
    for start, end, kind, match in _entities(text):
        out.append(text[pos:start])
        if kind == "url":
            out.append("x" * URL_PLACEHOLDER_CHARS)
        else:
            assert match is not None
            out.append("@" + match.group(1))
        pos = end
    out.append(text[pos:])
    return "".join(out)


def countable_length(text: str, spoiler_text: str = "") -> int:
    """How many characters Mastodon's StatusLengthValidator counts for a status.

    Written apart from ``assistant.networks.mastodon.mastodon_length`` on purpose: the
    emulator plays the network, so a counting bug in the app shows up as a 422 here instead
    of being shared.
    """
    return grapheme_count(spoiler_text + countable_text(text))


# ---------------------------------------------------------------------- records


@dataclass
class MastodonAccount:
    """An account; ``domain`` is None for a local account of the emulated instance."""

    id: str
    username: str
    domain: str | None
    display_name: str = ""
    followers_count: int = 0
    following_count: int = 0
    bot: bool = False
    created_at: float = field(default_factory=time.time)
    local_domain: str = ""
    statuses_count: int = 0

    @property
    def acct(self) -> str:
        return self.username if self.domain is None else f"{self.username}@{self.domain}"

    @property
    def host(self) -> str:
        return self.domain or self.local_domain

    @property
    def url(self) -> str:
        return f"https://{self.host}/@{self.username}"

    def to_json(self) -> JSON:
        return {
            "id": self.id,
            "username": self.username,
            "acct": self.acct,
            "display_name": self.display_name,
            "locked": False,
            "bot": self.bot,
            "discoverable": True,
            "group": False,
            "created_at": _iso(self.created_at).split("T")[0] + "T00:00:00.000Z",
            "note": "",
            "url": self.url,
            "uri": f"https://{self.host}/users/{self.username}",
            "avatar": f"https://{self.local_domain}/avatars/original/missing.png",
            "avatar_static": f"https://{self.local_domain}/avatars/original/missing.png",
            "header": f"https://{self.local_domain}/headers/original/missing.png",
            "header_static": f"https://{self.local_domain}/headers/original/missing.png",
            "followers_count": self.followers_count,
            "following_count": self.following_count,
            "statuses_count": self.statuses_count,
            "last_status_at": None,
            "emojis": [],
            "fields": [],
        }

    def mention_json(self) -> JSON:
        return {"id": self.id, "username": self.username, "url": self.url, "acct": self.acct}


@dataclass
class MastodonStatus:
    """A status: ``text`` is the source text (None for remote statuses), ``content`` HTML."""

    id: str
    account: MastodonAccount
    content: str
    created_at: float
    text: str | None = None
    visibility: str = "public"
    language: str | None = None
    spoiler_text: str = ""
    sensitive: bool = False
    in_reply_to_id: str | None = None
    in_reply_to_account_id: str | None = None
    mentions: list[MastodonAccount] = field(default_factory=list)
    idempotency_key: str | None = None

    @property
    def uri(self) -> str:
        return f"https://{self.account.host}/users/{self.account.username}/statuses/{self.id}"

    @property
    def url(self) -> str:
        return f"https://{self.account.host}/@{self.account.username}/{self.id}"

    def to_json(self) -> JSON:
        return {
            "id": self.id,
            "created_at": _iso(self.created_at),
            "in_reply_to_id": self.in_reply_to_id,
            "in_reply_to_account_id": self.in_reply_to_account_id,
            "sensitive": self.sensitive,
            "spoiler_text": self.spoiler_text,
            "visibility": self.visibility,
            "language": self.language,
            "uri": self.uri,
            "url": self.url,
            "replies_count": 0,
            "reblogs_count": 0,
            "favourites_count": 0,
            "edited_at": None,
            "content": self.content,
            "reblog": None,
            "application": None
            if self.account.domain
            else {"name": "community-ops-assistant", "website": None},
            "account": self.account.to_json(),
            "media_attachments": [],
            "mentions": [a.mention_json() for a in self.mentions],
            "tags": [],
            "emojis": [],
            "card": None,
            "poll": None,
        }


@dataclass
class MastodonNotification:
    id: str
    type: str
    created_at: float
    account: MastodonAccount
    status: MastodonStatus | None

    def to_json(self) -> JSON:
        return {
            "id": self.id,
            "type": self.type,
            "created_at": _iso(self.created_at),
            "group_key": f"ungrouped-{self.id}",
            "account": self.account.to_json(),
            "status": self.status.to_json() if self.status else None,
        }


@dataclass
class MastodonRequest:
    """One HTTP request the emulator answered (the token is never recorded)."""

    method: str
    path: str
    query: dict[str, list[str]]
    params: dict[str, Any]
    idempotency_key: str | None
    authorized: bool
    time: float
    status: int = 0


class _ApiError(Exception):
    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status, self.error = status, error


# ---------------------------------------------------------------------- the emulator


class MastodonEmulator:
    """Mastodon API emulator (see the module docstring).

    Test controls: :meth:`add_mention`, :meth:`rate_limit`, :meth:`fail`, :meth:`delay`,
    :meth:`fail_after_commit`. Each fault applies to the next ``times`` matching requests;
    ``path`` limits it to requests whose path starts with it (e.g. ``"/api/v1/statuses"``).
    """

    def __init__(
        self,
        *,
        access_token: str,
        domain: str = "social.example",
        account_username: str = "brand",
        account_display_name: str = "Brand",
    ) -> None:
        self.access_token = access_token
        self.domain = domain
        self.idempotency_ttl = IDEMPOTENCY_TTL
        self.accounts: dict[str, MastodonAccount] = {}  # by acct
        self.statuses: dict[str, MastodonStatus] = {}
        self.created_statuses: list[MastodonStatus] = []
        self.notifications: list[MastodonNotification] = []
        self.requests: list[MastodonRequest] = []
        self._last_id = 0
        self._faults = FaultQueue()
        self._idempotency: dict[tuple[str, str], tuple[str, float]] = {}
        self._idempotency_locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._window_start = time.time()
        self._window_count = 0
        self._server = ServerHandle()
        self.account = self._account(account_username, None, account_display_name)

    # ------------------------------------------------------------------ lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/api/v1/notifications", self._get_notifications)
        app.router.add_get("/api/v1/notifications/{id}", self._get_notification)
        app.router.add_post("/api/v1/statuses", self._post_status)
        app.router.add_get("/api/v1/statuses/{id}", self._get_status)
        app.router.add_get("/api/v1/statuses/{id}/context", self._get_context)
        app.router.add_get("/api/v1/accounts/verify_credentials", self._verify_credentials)
        app.router.add_get("/api/v1/instance", self._instance_v1)
        app.router.add_get("/api/v2/instance", self._instance_v2)
        await self._server.start(app, host, port)

    async def stop(self) -> None:
        await self._server.stop()

    async def __aenter__(self) -> MastodonEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """``http://host:port``: the app's ``MASTODON_BASE_URL``."""
        return self._server.url()

    # ------------------------------------------------------------------ test controls

    def rate_limit(
        self, times: int = 1, reset_after: float = 1.0, *, path: str | None = None
    ) -> None:
        """The next ``times`` requests get 429 ``{"error": "Too many requests"}`` with
        ``X-RateLimit-Remaining: 0``, ``X-RateLimit-Reset`` (ISO 8601, now + reset_after) and
        ``Retry-After`` (whole seconds, rounded up)."""
        self._faults.add(Fault("ratelimit", times, status=429, seconds=reset_after, path=path))

    def fail(self, times: int = 1, status: int = 503, *, path: str | None = None) -> None:
        """The next ``times`` requests answer ``status`` with ``{"error": <reason>}`` and do
        nothing."""
        self._faults.add(Fault("fail", times, status=status, path=path))

    def delay(self, seconds: float, times: int = 1, *, path: str | None = None) -> None:
        """The next ``times`` requests wait ``seconds`` before being processed (a client that
        times out has not seen the answer; the request still completes, as on a real server).
        Requests carrying the same Idempotency-Key queue behind the delayed one."""
        self._faults.add(Fault("delay", times, seconds=seconds, path=path))

    def fail_after_commit(self, times: int = 1, status: int = 502) -> None:
        """The next ``times`` successful ``POST /api/v1/statuses`` create (or replay) the
        status, then answer ``status``: the lost-response case."""
        self._faults.add(Fault("after_commit", times, status=status, path="/api/v1/statuses"))

    def clear_faults(self) -> None:
        self._faults.clear()

    def add_mention(
        self,
        acct: str,
        text: str,
        *,
        display_name: str = "",
        followers: int | None = None,
        language: str | None = None,
        html: str | None = None,
        in_reply_to_id: str | None = None,
        visibility: str = "public",
    ) -> JSON:
        """``acct`` (``user@remote.domain``, or a bare local username) posts ``text``
        mentioning the brand account: creates the account if needed, the status (HTML like
        real Mastodon content, or ``html`` as given) and a ``mention`` notification, which is
        returned as the API shows it. ``followers`` (None: keep) sets the author's
        ``followers_count``; ``in_reply_to_id`` makes the mention a reply to that status."""
        username, _, domain = acct.lstrip("@").partition("@")
        account = self.accounts.get(acct.lstrip("@")) or self._account(
            username, domain or None, display_name
        )
        if display_name:
            account.display_name = display_name
        if followers is not None:
            account.followers_count = followers
        if html is None:
            brand = self.account
            mention = (
                f'<span class="h-card"><a href="{brand.url}" class="u-url mention">'
                f"@<span>{brand.username}</span></a></span>"
            )
            html = _format_html(f"\x00 {text}", self._lookup_mention).replace("\x00", mention, 1)
        parent = self.statuses.get(in_reply_to_id) if in_reply_to_id else None
        status = MastodonStatus(
            id=self._next_id(),
            account=account,
            content=html,
            created_at=time.time(),
            visibility=visibility,
            language=language,
            in_reply_to_id=parent.id if parent else None,
            in_reply_to_account_id=parent.account.id if parent else None,
            mentions=[self.account],
        )
        account.statuses_count += 1
        self.statuses[status.id] = status
        note = MastodonNotification(self._next_id(), "mention", status.created_at, account, status)
        self.notifications.append(note)
        return note.to_json()

    def status(self, status_id: str) -> MastodonStatus:
        return self.statuses[status_id]

    def requests_to(self, method: str, path: str) -> list[MastodonRequest]:
        """Logged requests with that method and exact path."""
        return [r for r in self.requests if r.method == method and r.path == path]

    # ------------------------------------------------------------------ helpers

    def _next_id(self) -> str:
        """Snowflake-like: milliseconds << 16 plus a sequence, always increasing."""
        candidate = int(time.time() * 1000) << 16
        self._last_id = max(candidate, self._last_id + 1)
        return str(self._last_id)

    def _account(self, username: str, domain: str | None, display_name: str) -> MastodonAccount:
        account = MastodonAccount(
            id=self._next_id(),
            username=username,
            domain=domain,
            display_name=display_name or username,
            local_domain=self.domain,
        )
        self.accounts[account.acct] = account
        return account

    def _lookup_mention(self, username: str, domain: str | None) -> MastodonAccount | None:
        if domain is None or domain.lower() == self.domain.lower():
            return self.accounts.get(username)
        return self.accounts.get(f"{username}@{domain}")

    def _rate_headers(
        self, remaining: int | None = None, reset: float | None = None
    ) -> dict[str, str]:
        now = time.time()
        if now - self._window_start >= 300:
            self._window_start, self._window_count = now, 0
        if remaining is None:
            remaining = max(0, RATE_LIMIT - self._window_count)
        return {
            "X-RateLimit-Limit": str(RATE_LIMIT),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": _iso(reset if reset is not None else self._window_start + 300),
        }

    def _authorized(self, request: web.Request) -> bool | None:
        """True: the right token; False: a wrong one; None: no token at all."""
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            return header[7:].strip() == self.access_token
        token = request.query.get("access_token")
        if token is not None:
            return token == self.access_token
        return None

    @staticmethod
    def _error(status: int, error: str, headers: Mapping[str, str] | None = None) -> web.Response:
        return json_response({"error": error}, status=status, headers=dict(headers or {}))

    # ------------------------------------------------------------------ middleware

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        params = await _read_params(request)
        record = MastodonRequest(
            method=request.method,
            path=request.path,
            query={k: request.query.getall(k) for k in request.query},
            params=params,
            idempotency_key=request.headers.get("Idempotency-Key"),
            authorized=self._authorized(request) is True,
            time=time.time(),
        )
        self.requests.append(record)
        self._window_count += 1
        fault = self._faults.take({"ratelimit", "fail"}, request.path)
        if fault is not None and fault.kind == "ratelimit":
            reset = time.time() + fault.seconds
            headers = self._rate_headers(0, reset)
            headers["Retry-After"] = str(max(1, math.ceil(fault.seconds)))
            response: web.StreamResponse = self._error(429, "Too many requests", headers)
        elif fault is not None:
            response = self._error(fault.status, _reason(fault.status), self._rate_headers())
        else:
            if not (request.method == "POST" and request.path == "/api/v1/statuses"):
                await self._maybe_delay(request)  # statuses: inside the idempotency lock
            try:
                response = await handler(request)
            except _ApiError as exc:
                response = self._error(exc.status, exc.error)
            except web.HTTPException as exc:
                record.status = exc.status
                if exc.status != 404:
                    raise
                response = self._error(404, "Not Found")
            for key, value in self._rate_headers().items():
                response.headers.setdefault(key, value)
        record.status = response.status
        return response

    async def _maybe_delay(self, request: web.Request) -> None:
        fault = self._faults.take({"delay"}, request.path)
        if fault is not None:
            await asyncio.sleep(fault.seconds)

    def _require_token(self, request: web.Request) -> None:
        if self._authorized(request) is not True:
            raise _ApiError(401, "The access token is invalid")

    # ------------------------------------------------------------------ endpoints

    async def _get_notifications(self, request: web.Request) -> web.StreamResponse:
        self._require_token(request)
        q = request.query
        types = set(q.getall("types[]", [])) | set(q.getall("types", []))
        excluded = set(q.getall("exclude_types[]", [])) | set(q.getall("exclude_types", []))
        limit = _limit(q.get("limit"), 40, 80)
        items = sorted(self.notifications, key=lambda n: int(n.id), reverse=True)
        items = [
            n
            for n in items
            if (not types or n.type in types)
            and n.type not in excluded
            and (not q.get("account_id") or n.account.id == q["account_id"])
        ]
        if q.get("max_id"):
            items = [n for n in items if int(n.id) < _int_id(q["max_id"])]
        if q.get("since_id"):
            items = [n for n in items if int(n.id) > _int_id(q["since_id"])]
        if q.get("min_id"):
            items = [n for n in items if int(n.id) > _int_id(q["min_id"])]
            page = items[-limit:] if limit else []
        else:
            page = items[:limit]
        headers: dict[str, str] = {}
        if page:
            extra: list[tuple[str, str]] = []
            if q.get("limit"):
                extra.append(("limit", str(limit)))
            extra += [("types[]", t) for t in q.getall("types[]", [])]
            extra += [("exclude_types[]", t) for t in q.getall("exclude_types[]", [])]
            base = f"{self.base_url}{request.path}"
            nxt = urlencode([*extra, ("max_id", page[-1].id)])
            prev = urlencode([*extra, ("min_id", page[0].id)])
            headers["Link"] = f'<{base}?{nxt}>; rel="next", <{base}?{prev}>; rel="prev"'
        return json_response([n.to_json() for n in page], headers=headers)

    async def _get_notification(self, request: web.Request) -> web.StreamResponse:
        self._require_token(request)
        for n in self.notifications:
            if n.id == request.match_info["id"]:
                return json_response(n.to_json())
        raise _ApiError(404, "Record not found")

    async def _get_status(self, request: web.Request) -> web.StreamResponse:
        if self._authorized(request) is False:
            raise _ApiError(401, "The access token is invalid")
        status = self.statuses.get(request.match_info["id"])
        if status is None or status.visibility in ("private", "direct"):
            raise _ApiError(404, "Record not found")
        return json_response(status.to_json())

    async def _get_context(self, request: web.Request) -> web.StreamResponse:
        """``{"ancestors": [...], "descendants": [...]}``: the thread around a status, oldest
        first (public and unlisted statuses only, as an anonymous or third-party reader sees)."""
        if self._authorized(request) is False:
            raise _ApiError(401, "The access token is invalid")
        await self._maybe_delay(request)
        status = self.statuses.get(request.match_info["id"])
        if status is None or status.visibility in ("private", "direct"):
            raise _ApiError(404, "Record not found")
        ancestors: list[MastodonStatus] = []
        parent = self.statuses.get(status.in_reply_to_id or "")
        while parent is not None:
            ancestors.insert(0, parent)
            parent = self.statuses.get(parent.in_reply_to_id or "")
        thread = {status.id}
        descendants: list[MastodonStatus] = []
        for candidate in sorted(self.statuses.values(), key=lambda st: _int_id(st.id)):
            if candidate.in_reply_to_id in thread:
                thread.add(candidate.id)
                descendants.append(candidate)
        visible = ("public", "unlisted")
        return json_response(
            {
                "ancestors": [a.to_json() for a in ancestors if a.visibility in visible],
                "descendants": [d.to_json() for d in descendants if d.visibility in visible],
            }
        )

    async def _verify_credentials(self, request: web.Request) -> web.StreamResponse:
        self._require_token(request)
        data = self.account.to_json()
        data["source"] = {"privacy": "public", "sensitive": False, "language": None, "note": ""}
        return json_response(data)

    async def _instance_v1(self, request: web.Request) -> web.StreamResponse:
        return json_response(
            {
                "uri": self.domain,
                "title": self.domain,
                "version": "4.3.0",
                "configuration": self._configuration(),
            }
        )

    async def _instance_v2(self, request: web.Request) -> web.StreamResponse:
        return json_response(
            {
                "domain": self.domain,
                "title": self.domain,
                "version": "4.3.0",
                "configuration": self._configuration(),
            }
        )

    @staticmethod
    def _configuration() -> JSON:
        return {
            "statuses": {
                "max_characters": MAX_CHARS,
                "max_media_attachments": 4,
                "characters_reserved_per_url": URL_PLACEHOLDER_CHARS,
            }
        }

    async def _post_status(self, request: web.Request) -> web.StreamResponse:
        self._require_token(request)
        params = await _read_params(request)  # the body is cached by aiohttp
        key = request.headers.get("Idempotency-Key")
        if not key:
            await self._maybe_delay(request)
            status = self._create_status(params, None)
        else:
            lock_key = (self.access_token, key)
            lock = self._idempotency_locks.setdefault(lock_key, asyncio.Lock())
            async with lock:
                await self._maybe_delay(request)
                replayed = self._replay(lock_key)
                if replayed is not None:
                    status = replayed
                else:
                    status = self._create_status(params, key)
                    self._idempotency[lock_key] = (status.id, time.time())
        after = self._faults.take({"after_commit"}, request.path)
        if after is not None:
            return self._error(after.status, _reason(after.status))
        return json_response(status.to_json())

    def _replay(self, lock_key: tuple[str, str]) -> MastodonStatus | None:
        seen = self._idempotency.get(lock_key)
        if seen is None:
            return None
        status_id, created = seen
        if time.time() - created > self.idempotency_ttl:
            del self._idempotency[lock_key]
            return None
        return self.statuses.get(status_id)

    def _create_status(self, params: Mapping[str, Any], key: str | None) -> MastodonStatus:
        reply_to = str(params.get("in_reply_to_id") or "")
        parent = self.statuses.get(reply_to) if reply_to else None
        if reply_to and (parent is None or parent.visibility == "direct"):
            raise _ApiError(404, IN_REPLY_NOT_FOUND)
        text = str(params.get("status") or "")
        spoiler = str(params.get("spoiler_text") or "")
        visibility = str(params.get("visibility") or "public")
        if visibility not in VISIBILITIES:
            raise _ApiError(422, f"'{visibility}' is not a valid visibility")
        if not text.strip():
            raise _ApiError(422, "Validation failed: Text can't be blank")
        if countable_length(text, spoiler) > MAX_CHARS:
            raise _ApiError(422, f"Validation failed: Text character limit of {MAX_CHARS} exceeded")
        language = params.get("language") or None
        mentioned = []
        for m in _MENTION_RE.finditer(text):
            account = self._lookup_mention(m.group(1), m.group(2))
            if account is not None and account not in mentioned:
                mentioned.append(account)
        status = MastodonStatus(
            id=self._next_id(),
            account=self.account,
            content=_format_html(text, self._lookup_mention, tags_base=f"https://{self.domain}"),
            created_at=time.time(),
            text=text,
            visibility=visibility,
            language=str(language) if language else "en",
            spoiler_text=spoiler,
            sensitive=_truthy(params.get("sensitive")) or bool(spoiler),
            in_reply_to_id=parent.id if parent else None,
            in_reply_to_account_id=parent.account.id if parent else None,
            mentions=mentioned,
            idempotency_key=key,
        )
        self.account.statuses_count += 1
        self.statuses[status.id] = status
        self.created_statuses.append(status)
        return status


# ---------------------------------------------------------------------- module helpers


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def _int_id(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise _ApiError(422, f"Invalid id: {value!r}") from None


def _limit(raw: str | None, default: int, maximum: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        return min(abs(int(raw)), maximum)
    except ValueError:
        return default


async def _read_params(request: web.Request) -> dict[str, Any]:
    if request.method != "POST" or not request.body_exists:
        return {}
    if request.content_type == "application/json":
        try:
            data = json.loads(await request.read() or b"{}")
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}
    form = await request.post()
    out: dict[str, Any] = {}
    for key in form:
        values = [v for v in form.getall(key) if isinstance(v, str)]
        if key.endswith("[]"):
            out[key[:-2]] = values
        elif values:
            out[key] = values[-1]
    return out


def _format_html(
    text: str,
    lookup: Callable[[str, str | None], MastodonAccount | None],
    *,
    tags_base: str | None = None,
) -> str:
    """Mastodon-style HTML for plain text: escaped, links and known mentions linkified,
    paragraphs on blank lines and ``<br />`` on single newlines."""
    parts: list[str] = []
    pos = 0
    for start, end, kind, match in _entities(text):
        parts.append(_escape_tags(text[pos:start], tags_base))
        chunk = text[start:end]
        if kind == "url":
            scheme, _, rest = chunk.partition("://")
            shown, hidden = rest[:30], rest[30:]
            parts.append(
                f'<a href="{html.escape(chunk)}" target="_blank" rel="nofollow noopener" '
                f'translate="no"><span class="invisible">{html.escape(scheme)}://</span>'
                f'<span class="{"ellipsis" if hidden else ""}">{html.escape(shown)}</span>'
                f'<span class="invisible">{html.escape(hidden)}</span></a>'
            )
        else:
            assert match is not None
            account = lookup(match.group(1), match.group(2))
            if account is None:
                parts.append(_h(chunk))
            else:
                parts.append(
                    f'<span class="h-card" translate="no"><a href="{account.url}" '
                    f'class="u-url mention">@<span>{_h(account.username)}</span></a></span>'
                )
        pos = end
    parts.append(_escape_tags(text[pos:], tags_base))
    body = "".join(parts).strip("\n")
    paragraphs = re.split(r"\n{2,}", body)
    return "".join(f"<p>{p.replace(chr(10), '<br />')}</p>" for p in paragraphs)


def _h(text: str) -> str:
    """HTML-escape as Rails' ``h`` does (``&<>"'``, the quote as ``&#39;``)."""
    return html.escape(text, quote=True).replace("&#x27;", "&#39;")


def _escape_tags(chunk: str, tags_base: str | None) -> str:
    escaped = _h(chunk)
    if tags_base is None:
        return escaped
    return _HASHTAG_RE.sub(
        lambda m: (
            f'<a href="{tags_base}/tags/{m.group(1).lower()}" class="mention hashtag" '
            f'rel="tag">#<span>{m.group(1)}</span></a>'
        ),
        escaped,
    )
