"""A local emulator of the Bluesky (AT Protocol XRPC) subset the assistant uses.

Point ``BLUESKY_SERVICE`` at :attr:`BlueskyEmulator.base_url`. Served over real HTTP:

- ``com.atproto.server.createSession`` (identifier + app password; rate-limited like the real
  server: :attr:`~BlueskyEmulator.login_limit` per window), ``refreshSession`` (the refresh
  token rotates: the old one is refused afterwards with ``ExpiredToken``).
- ``app.bsky.notification.listNotifications`` (``reasons``, ``limit``, ``cursor``; newest
  first), ``app.bsky.actor.getProfiles``, ``app.bsky.feed.getPosts``,
  ``com.atproto.identity.resolveHandle``.
- ``com.atproto.repo.createRecord`` (``app.bsky.feed.post``: 300 graphemes / 3,000 bytes,
  reply refs checked, an existing ``rkey`` answered with a 500 as the reference server does),
  ``com.atproto.repo.getRecord`` (``RecordNotFound`` as a 400).

Errors are XRPC's: ``{"error": "...", "message": "..."}``; an expired access token is a 400
``ExpiredToken``; 429 ``RateLimitExceeded`` carries ``RateLimit-Limit/Remaining/Reset`` (Unix
seconds) and ``RateLimit-Policy``, as every answer does. Test controls: :meth:`add_mention`,
:meth:`expire_access_tokens`, :meth:`fail_after_commit`, :meth:`hang_after_commit` and the
shared fault controls (``rate_limit``, ``fail``, ``fail_html``, ``delay``; ``path`` is an
NSID). State: :attr:`posts`, :attr:`created`, :attr:`logins`, :attr:`refreshes`,
:attr:`requests`.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import secrets
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from assistant.emulators._common import (
    JSON,
    Fault,
    FaultControls,
    FaultQueue,
    ServerHandle,
    json_response,
)

__all__ = ["BlueskyEmulator", "BlueskyPost", "grapheme_length"]

MAX_GRAPHEMES = 300
MAX_BYTES = 3000
ACCESS_TTL = 2 * 3600.0
LOGIN_LIMIT = 30  # createSession: about 30 per 5 minutes per account
RATE_LIMIT = 3000
RATE_WINDOW = 300
POST = "app.bsky.feed.post"


def _iso(ts: float) -> str:
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def grapheme_length(text: str) -> int:
    """Graphemes as the reference server counts them (written apart from the app's counter:
    combining marks, variation selectors, skin tones, ZWJ sequences and flag pairs join)."""
    count = 0
    prev = ""
    ri = 0
    for ch in text:
        cp = ord(ch)
        joins = bool(prev) and (
            unicodedata.category(ch) in ("Mn", "Me", "Mc")
            or cp == 0x200D
            or prev == "\u200d"
            or 0xFE00 <= cp <= 0xFE0F
            or 0x1F3FB <= cp <= 0x1F3FF
            or 0xE0020 <= cp <= 0xE007F
            or (0x1F1E6 <= cp <= 0x1F1FF and ri % 2 == 1)
            or (prev == "\r" and ch == "\n")
        )
        if not joins:
            count += 1
        ri = ri + 1 if 0x1F1E6 <= cp <= 0x1F1FF else 0
        prev = ch
    return count


def _cid(data: str) -> str:
    return "bafyrei" + hashlib.sha256(data.encode()).hexdigest()[:52]


@dataclass
class BlueskyAccount:
    did: str
    handle: str
    display_name: str = ""
    followers: int = 0

    def view(self) -> JSON:
        return {"did": self.did, "handle": self.handle, "displayName": self.display_name}


@dataclass
class BlueskyPost:
    uri: str
    cid: str
    author: BlueskyAccount
    record: JSON
    indexed_at: float

    @property
    def rkey(self) -> str:
        return self.uri.rsplit("/", 1)[-1]

    @property
    def text(self) -> str:
        return str(self.record.get("text", ""))

    def view(self) -> JSON:
        return {
            "uri": self.uri,
            "cid": self.cid,
            "author": self.author.view(),
            "record": self.record,
            "indexedAt": _iso(self.indexed_at),
        }


@dataclass
class BlueskyRequest:
    method: str
    nsid: str
    params: dict[str, list[str]]
    body: Any
    time: float
    status: int = 0


@dataclass
class _Notification:
    post: BlueskyPost
    reason: str
    indexed_at: float


@dataclass
class _Sessions:
    access: dict[str, float] = field(default_factory=dict)  # token -> expiry
    refresh: set[str] = field(default_factory=set)


class _XrpcError(Exception):
    def __init__(self, status: int, error: str, message: str = "") -> None:
        super().__init__(message or error)
        self.status, self.error, self.message = status, error, message


class BlueskyEmulator(FaultControls):
    def __init__(
        self,
        *,
        handle: str = "brand.bsky.social",
        app_password: str = "abcd-efgh-ijkl-mnop",
        access_ttl: float = ACCESS_TTL,
    ) -> None:
        self.account = BlueskyAccount("did:plc:brand000000000000000000", handle, "Brand")
        self.app_password = app_password
        self.access_ttl = access_ttl
        self.login_limit = LOGIN_LIMIT
        self.accounts: dict[str, BlueskyAccount] = {self.account.did: self.account}
        self.posts: dict[str, BlueskyPost] = {}
        self.created: list[BlueskyPost] = []
        self.notifications: list[_Notification] = []
        self.requests: list[BlueskyRequest] = []
        self.logins = 0
        self._login_times: list[float] = []
        self.refreshes = 0
        self._sessions = _Sessions()
        self._faults = FaultQueue()
        self._server = ServerHandle()
        self._last = 0.0

    # ------------------------------------------------------------------ lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_route("*", "/xrpc/{nsid}", self._dispatch)
        await self._server.start(app, host, port)

    async def stop(self) -> None:
        await self._server.stop()

    @property
    def base_url(self) -> str:
        return self._server.url()

    # ------------------------------------------------------------------ test controls

    def add_mention(
        self,
        handle: str,
        text: str,
        *,
        display_name: str = "",
        followers: int = 0,
        reason: str = "mention",
        reply_to: str | None = None,
        age: float = 0.0,
        lang: str | None = None,
    ) -> BlueskyPost:
        """``handle`` posts ``text`` mentioning the brand (or replying to ``reply_to``, a post
        uri): the post and a notification with ``reason``; ``age`` seconds in the past."""
        account = next((a for a in self.accounts.values() if a.handle == handle), None)
        if account is None:
            did = "did:plc:" + hashlib.sha256(handle.encode()).hexdigest()[:24]
            account = BlueskyAccount(did, handle, display_name or handle.split(".")[0])
            self.accounts[did] = account
        account.followers = followers or account.followers
        record: JSON = {
            "$type": POST,
            "text": f"@{self.account.handle} {text}" if reason == "mention" else text,
            "createdAt": _iso(time.time() - age),
        }
        if lang:
            record["langs"] = [lang]
        if reply_to:
            parent = self.posts[reply_to]
            root = parent.record.get("reply", {}).get("root") or {
                "uri": parent.uri,
                "cid": parent.cid,
            }
            record["reply"] = {"root": root, "parent": {"uri": parent.uri, "cid": parent.cid}}
        post = self._store_post(account, record, self._tid(), indexed=time.time() - age)
        self.notifications.append(_Notification(post, reason, post.indexed_at))
        return post

    def expire_access_tokens(self) -> None:
        """Every access token issued so far expires now (refresh tokens stay valid)."""
        for token in self._sessions.access:
            self._sessions.access[token] = 0.0

    def revoke_sessions(self) -> None:
        """Every session ends (the refresh token's 90 days ran out, or the app password was
        changed): access tokens expire and refresh tokens are refused; a new login works."""
        self.expire_access_tokens()
        self._sessions.refresh.clear()

    def fail_after_commit(self, times: int = 1, status: int = 502) -> None:
        """The next createRecord creates the record, then answers ``status`` (answer lost)."""
        self._faults.add(
            Fault("after_commit", times, status=status, path="com.atproto.repo.createRecord")
        )

    def hang_after_commit(self, seconds: float, times: int = 1) -> None:
        """The next createRecord creates the record, then waits ``seconds`` before answering:
        a client killed or timing out meanwhile never learns that its post is out."""
        self._faults.add(
            Fault("hang", times, seconds=seconds, path="com.atproto.repo.createRecord")
        )

    def requests_to(self, nsid: str) -> list[BlueskyRequest]:
        return [r for r in self.requests if r.nsid == nsid]

    # ------------------------------------------------------------------ internals

    def _tid(self) -> str:
        now = max(time.time(), self._last + 1e-6)
        self._last = now
        value = (int(now * 1_000_000) << 10) | secrets.randbelow(1024)
        alphabet = "234567abcdefghijklmnopqrstuvwxyz"
        return "".join(alphabet[(value >> (5 * i)) & 31] for i in reversed(range(13)))

    def _store_post(
        self, account: BlueskyAccount, record: JSON, rkey: str, *, indexed: float
    ) -> BlueskyPost:
        uri = f"at://{account.did}/{POST}/{rkey}"
        post = BlueskyPost(uri, _cid(uri + str(record)), account, record, indexed)
        self.posts[uri] = post
        return post

    def _headers(self, remaining: int | None = None, reset: float | None = None) -> dict[str, str]:
        window = math.floor(time.time() / RATE_WINDOW) * RATE_WINDOW
        return {
            "RateLimit-Limit": str(RATE_LIMIT),
            "RateLimit-Remaining": str(RATE_LIMIT - 1 if remaining is None else remaining),
            "RateLimit-Reset": str(int(reset if reset is not None else window + RATE_WINDOW)),
            "RateLimit-Policy": f"{RATE_LIMIT};w={RATE_WINDOW}",
        }

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        nsid = request.match_info.get("nsid", request.path)
        body: Any = None
        if request.method == "POST" and request.body_exists:
            try:
                body = await request.json()
            except ValueError:
                body = None
        record = BlueskyRequest(
            request.method,
            nsid,
            {k: request.query.getall(k) for k in request.query},
            body,
            time.time(),
        )
        self.requests.append(record)
        response: web.StreamResponse | None = await self._fault_answer(
            nsid,
            rate_limited=lambda reset: json_response(
                {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
                status=429,
                headers=self._headers(0, reset),
            ),
            failed=lambda status: json_response(
                {"error": "InternalServerError", "message": "Internal Server Error"},
                status=status,
            ),
        )
        if response is None:
            try:
                response = await handler(request)
            except _XrpcError as exc:
                response = json_response(
                    {"error": exc.error, "message": exc.message or exc.error}, status=exc.status
                )
            for key, value in self._headers().items():
                response.headers.setdefault(key, value)
        record.status = response.status
        return response

    def _auth(self, request: web.Request) -> str:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            raise _XrpcError(401, "AuthMissing", "Authentication Required")
        return header[7:]

    def _require_access(self, request: web.Request) -> None:
        token = self._auth(request)
        expiry = self._sessions.access.get(token)
        if expiry is None:
            raise _XrpcError(400, "InvalidToken", "Token could not be verified")
        if expiry <= time.time():
            raise _XrpcError(400, "ExpiredToken", "Token has expired")

    def _new_session(self) -> JSON:
        access, refresh = "acc-" + secrets.token_hex(16), "ref-" + secrets.token_hex(16)
        self._sessions.access[access] = time.time() + self.access_ttl
        self._sessions.refresh.add(refresh)
        return {
            "accessJwt": access,
            "refreshJwt": refresh,
            "handle": self.account.handle,
            "did": self.account.did,
            "active": True,
        }

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        nsid = request.match_info["nsid"]
        handler = {
            "com.atproto.server.createSession": self._create_session,
            "com.atproto.server.refreshSession": self._refresh_session,
            "app.bsky.notification.listNotifications": self._list_notifications,
            "app.bsky.actor.getProfiles": self._get_profiles,
            "app.bsky.feed.getPosts": self._get_posts,
            "com.atproto.identity.resolveHandle": self._resolve_handle,
            "com.atproto.repo.createRecord": self._create_record,
            "com.atproto.repo.getRecord": self._get_record,
        }.get(nsid)
        if handler is None:
            raise _XrpcError(501, "MethodNotImplemented", "Method Not Implemented")
        return await handler(request)

    async def _create_session(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        now = time.time()
        self._login_times = [t for t in self._login_times if now - t < RATE_WINDOW]
        if len(self._login_times) >= self.login_limit:
            raise _XrpcError(429, "RateLimitExceeded", "Rate Limit Exceeded")
        self._login_times.append(now)
        self.logins += 1
        identifier = str(body.get("identifier", "")).lower()
        if (
            identifier not in (self.account.handle, self.account.did)
            or body.get("password") != self.app_password
        ):
            raise _XrpcError(401, "AuthenticationRequired", "Invalid identifier or password")
        return json_response(self._new_session())

    async def _refresh_session(self, request: web.Request) -> web.StreamResponse:
        token = self._auth(request)
        if token not in self._sessions.refresh:
            raise _XrpcError(400, "ExpiredToken", "Token has been revoked")
        self._sessions.refresh.discard(token)  # rotation: the old refresh token is spent
        self.refreshes += 1
        return json_response(self._new_session())

    async def _list_notifications(self, request: web.Request) -> web.StreamResponse:
        self._require_access(request)
        reasons = set(request.query.getall("reasons", []))
        limit = min(100, max(1, int(request.query.get("limit", "50"))))
        items = sorted(self.notifications, key=lambda n: n.indexed_at, reverse=True)
        items = [n for n in items if not reasons or n.reason in reasons]
        cursor = request.query.get("cursor")
        if cursor:
            items = [n for n in items if n.indexed_at < float(cursor)]
        page = items[:limit]
        answer: JSON = {
            "notifications": [
                {
                    "uri": n.post.uri,
                    "cid": n.post.cid,
                    "author": n.post.author.view(),
                    "reason": n.reason,
                    "record": n.post.record,
                    "isRead": False,
                    "indexedAt": _iso(n.indexed_at),
                    "labels": [],
                }
                for n in page
            ]
        }
        if len(items) > limit:
            answer["cursor"] = repr(page[-1].indexed_at)
        return json_response(answer)

    async def _get_profiles(self, request: web.Request) -> web.StreamResponse:
        self._require_access(request)
        out = []
        for actor in request.query.getall("actors", []):
            account = self.accounts.get(actor) or next(
                (a for a in self.accounts.values() if a.handle == actor), None
            )
            if account is not None:
                out.append({**account.view(), "followersCount": account.followers})
        return json_response({"profiles": out})

    async def _get_posts(self, request: web.Request) -> web.StreamResponse:
        self._require_access(request)
        uris = request.query.getall("uris", [])
        return json_response({"posts": [self.posts[u].view() for u in uris if u in self.posts]})

    async def _resolve_handle(self, request: web.Request) -> web.StreamResponse:
        handle = request.query.get("handle", "").lower()
        for account in self.accounts.values():
            if account.handle == handle:
                return json_response({"did": account.did})
        raise _XrpcError(400, "InvalidRequest", "Unable to resolve handle")

    async def _create_record(self, request: web.Request) -> web.StreamResponse:
        self._require_access(request)
        body = await request.json()
        if body.get("repo") not in (self.account.did, self.account.handle):
            raise _XrpcError(401, "InvalidToken", "Invalid repo for this session")
        if body.get("collection") != POST:
            raise _XrpcError(400, "InvalidRequest", "Unsupported collection")
        record = body.get("record")
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise _XrpcError(400, "InvalidRequest", "Invalid app.bsky.feed.post record")
        text = record["text"]
        if grapheme_length(text) > MAX_GRAPHEMES:
            raise _XrpcError(
                400,
                "InvalidRequest",
                f"Invalid app.bsky.feed.post record: Record/text must not be longer than "
                f"{MAX_GRAPHEMES} graphemes",
            )
        if len(text.encode("utf-8")) > MAX_BYTES:
            raise _XrpcError(
                400,
                "InvalidRequest",
                f"Invalid app.bsky.feed.post record: Record/text must not be longer than "
                f"{MAX_BYTES} characters",
            )
        reply = record.get("reply")
        if reply is not None:
            for ref in ("root", "parent"):
                strong = reply.get(ref) if isinstance(reply, dict) else None
                post = self.posts.get(str((strong or {}).get("uri")))
                if post is None or post.cid != (strong or {}).get("cid"):
                    raise _XrpcError(400, "InvalidRequest", f"Invalid reply.{ref} strong ref")
        for facet in record.get("facets") or []:
            index = facet.get("index", {})
            if (
                not 0
                <= index.get("byteStart", -1)
                < index.get("byteEnd", -1)
                <= len(text.encode("utf-8"))
            ):
                raise _XrpcError(400, "InvalidRequest", "Invalid facet byte range")
        rkey = str(body.get("rkey") or self._tid())
        uri = f"at://{self.account.did}/{POST}/{rkey}"
        if uri in self.posts:
            # The reference PDS fails on the repo write: a 500, not a conflict answer.
            raise _XrpcError(500, "InternalServerError", "Internal Server Error")
        post = self._store_post(self.account, record, rkey, indexed=time.time())
        self.created.append(post)
        after = self._faults.take({"after_commit", "hang"}, "com.atproto.repo.createRecord")
        if after is not None and after.kind == "hang":
            await asyncio.sleep(after.seconds)  # accepted; the answer comes (too) late
        elif after is not None:
            raise _XrpcError(after.status, "UpstreamFailure", "Upstream Failure")
        return json_response({"uri": post.uri, "cid": post.cid, "validationStatus": "valid"})

    async def _get_record(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        repo = q.get("repo", "")
        account = self.accounts.get(repo) or next(
            (a for a in self.accounts.values() if a.handle == repo), None
        )
        if account is None:
            raise _XrpcError(400, "InvalidRequest", f"Could not find repo: {repo}")
        post = self.posts.get(f"at://{account.did}/{q.get('collection')}/{q.get('rkey')}")
        if post is None:
            raise _XrpcError(400, "RecordNotFound", "Could not locate record")
        return json_response({"uri": post.uri, "cid": post.cid, "value": post.record})
