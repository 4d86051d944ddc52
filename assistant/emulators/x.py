"""A local emulator of the X API v2 subset the assistant uses.

Point ``X_API_URL`` at :attr:`XEmulator.base_url`. Served over real HTTP:

- ``POST /2/oauth2/token`` (``grant_type=refresh_token``; confidential clients with Basic
  auth or public ones with ``client_id``): a new access token (2 h) and a new refresh token;
  the old refresh token is burnt (a second use answers 400 ``invalid_request``).
- OAuth 1.0a user context: HMAC-SHA1 signatures checked on every request.
- ``GET /2/users/me``, ``GET /2/users/:id/mentions`` (``since_id``, ``pagination_token``,
  ``max_results``, ``expansions=author_id``), ``GET /2/users/:id/tweets``.
- ``POST /2/tweets`` with ``reply.in_reply_to_tweet_id``: 280 weighted characters
  (twitter-text v3), 403 duplicate content for the same text as one of our recent posts, 403
  when the post replied to neither mentions nor quotes the account (the 2026 self-serve rule).

Errors are v2 problem documents (``title``, ``detail``, ``type``, ``status``); every answer
carries ``x-rate-limit-limit/remaining/reset`` (Unix seconds); 429 when rate-limited. Test
controls: :meth:`add_mention`, :meth:`add_post`, :meth:`expire_access_tokens`,
:meth:`rate_limit`, :meth:`fail`, :meth:`fail_html`, :meth:`delay`,
:meth:`fail_after_commit`. State: :attr:`created`, :attr:`refreshes`, :attr:`reads`,
:attr:`requests`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import math
import re
import secrets
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

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

__all__ = ["XEmulator", "XPost", "weighted_length"]

MAX_WEIGHTED = 280
ACCESS_TTL = 7200.0
RATE_LIMIT = 300
RATE_WINDOW = 900
DUPLICATE = "You are not allowed to create a Tweet with duplicate content."
NOT_MENTIONED = (
    "Reply to this conversation is not allowed because you have not been mentioned or "
    "otherwise engaged by the author of the post you are replying to."
)
_URL = re.compile(
    r"(?:https?://[^\s]+\.[a-z]{2,}[^\s]*|(?:[\w-]+\.)+(?:com|net|org|io|co|fr|eu|be|ch|de)"
    r"(?:/[^\s]*)?)",
    re.IGNORECASE,
)

# a lone name under a country code, without a path, is not a link (``sncf.fr``; ``t.co`` is)
_SHORT_CCTLD = re.compile(r"[\w-]+\.(?!co$|tv$)[a-z]{2}", re.IGNORECASE)


NOTE_CUT = 280  # a longer post (X Premium) shows its first 280 characters in ``text``


def _escape(text: str) -> str:
    """X's escaping of post text in API answers."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def weighted_length(text: str) -> int:
    """twitter-text v3 weighted length, written apart from the app's counter: NFC; URLs 23;
    emoji sequences 2; code points in U+0000–10FF, 2000–200D, 2010–201F, 2032–2037 weigh 1,
    all others 2."""
    text = unicodedata.normalize("NFC", text)
    total = 0
    for token in re.split(r"(\s+)", text):
        if _URL.fullmatch(token.rstrip(".,!?;:")) and not _SHORT_CCTLD.fullmatch(
            token.rstrip(".,!?;:")
        ):
            stripped = token.rstrip(".,!?;:")
            total += 23 + len(token) - len(stripped)
            continue
        i = 0
        while i < len(token):
            cp = ord(token[i])
            if 0x1F000 <= cp <= 0x1FAFF or 0x2600 <= cp <= 0x27BF:
                total += 2
                i += 1
                while i < len(token) and (
                    0x1F3FB <= ord(token[i]) <= 0x1F3FF
                    or token[i] in "\ufe0f\u200d"
                    or (0x1F1E6 <= ord(token[i]) <= 0x1F1FF and 0x1F1E6 <= cp <= 0x1F1FF)
                    or (i > 0 and token[i - 1] == "\u200d")
                ):
                    i += 1
                continue
            light = cp <= 4351 or 8192 <= cp <= 8205 or 8208 <= cp <= 8223 or 8242 <= cp <= 8247
            total += 1 if light else 2
            i += 1
    return total


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _pct(value: str) -> str:
    return quote(value, safe="~-._")


@dataclass
class XUser:
    id: str
    username: str
    name: str
    followers: int = 0

    def view(self) -> JSON:
        return {
            "id": self.id,
            "username": self.username,
            "name": self.name,
            "public_metrics": {
                "followers_count": self.followers,
                "following_count": 0,
                "tweet_count": 0,
                "listed_count": 0,
            },
        }


@dataclass
class XPost:
    id: str
    author: XUser
    text: str
    created_at: float
    in_reply_to: str | None = None
    mentions_brand: bool = False

    def view(self, fields: str = "") -> JSON:
        """The post as X v2 shows it: ``text`` HTML-escaped (``&amp;``, ``&lt;``, ``&gt;``),
        a long post's ``text`` cut to its first 280 characters, the whole in ``note_tweet``
        when ``tweet.fields`` asks for it."""
        out: JSON = {
            "id": self.id,
            "text": _escape(self.text[:NOTE_CUT]),
            "author_id": self.author.id,
            "created_at": _iso(self.created_at),
            "edit_history_tweet_ids": [self.id],
            "lang": "fr",
        }
        if self.in_reply_to:
            out["referenced_tweets"] = [{"type": "replied_to", "id": self.in_reply_to}]
        if len(self.text) > NOTE_CUT and "note_tweet" in fields.split(","):
            out["note_tweet"] = {"text": _escape(self.text)}
        return out


@dataclass
class XRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    time: float
    status: int = 0


@dataclass
class _Tokens:
    access: dict[str, float] = field(default_factory=dict)
    refresh: set[str] = field(default_factory=set)


class _ApiError(Exception):
    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail


class XEmulator(FaultControls):
    def __init__(
        self,
        *,
        username: str = "brand",
        client_id: str = "x-client-id",
        client_secret: str | None = "x-client-secret",
        refresh_token: str = "x-first-refresh-token",
        consumer_key: str = "x-consumer-key",
        consumer_secret: str = "x-consumer-secret",
        access_token: str = "x-access-token",
        access_token_secret: str = "x-access-token-secret",
        access_ttl: float = ACCESS_TTL,
    ) -> None:
        self.me = XUser("1000000000000000001", username, "Brand")
        self.users: dict[str, XUser] = {self.me.id: self.me}
        self.posts: dict[str, XPost] = {}
        self.created: list[XPost] = []
        self.requests: list[XRequest] = []
        self.refreshes = 0
        self.reads = 0  # posts returned by read endpoints (X bills per post read)
        self.withheld_users: set[str] = set()  # left out of expansions (suspended, protected)
        self.client_id, self.client_secret = client_id, client_secret
        self.oauth1 = (consumer_key, consumer_secret, access_token, access_token_secret)
        self.access_ttl = access_ttl
        self._tokens = _Tokens(refresh={refresh_token})
        self._faults = FaultQueue()
        self._server = ServerHandle()
        self._next = 1900000000000000000

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post("/2/oauth2/token", self._token)
        app.router.add_get("/2/users/me", self._users_me)
        app.router.add_get("/2/users/{id}/mentions", self._mentions)
        app.router.add_get("/2/users/{id}/tweets", self._timeline)
        app.router.add_post("/2/tweets", self._post_tweet)
        await self._server.start(app, host, port)

    async def stop(self) -> None:
        await self._server.stop()

    @property
    def base_url(self) -> str:
        return self._server.url()

    # ------------------------------------------------------------------ test controls

    def _id(self) -> str:
        self._next += 1 + secrets.randbelow(1000)
        return str(self._next)

    def add_post(self, username: str, text: str, *, followers: int = 0, age: float = 0.0) -> XPost:
        """A post by ``username`` that does not mention the brand."""
        user = next((u for u in self.users.values() if u.username == username), None)
        if user is None:
            user = XUser(self._id(), username, username.title())
            self.users[user.id] = user
        user.followers = followers or user.followers
        post = XPost(self._id(), user, text, time.time() - age)
        self.posts[post.id] = post
        return post

    def add_mention(
        self, username: str, text: str, *, followers: int = 0, age: float = 0.0
    ) -> XPost:
        """``username`` posts ``@brand text``: it appears in the brand's mentions."""
        post = self.add_post(username, f"@{self.me.username} {text}", followers=followers, age=age)
        post.mentions_brand = True
        return post

    def expire_access_tokens(self) -> None:
        for token in self._tokens.access:
            self._tokens.access[token] = 0.0

    def daily_cap(self, reset_after: float, times: int = 1) -> None:
        """The brand's 24-hour post cap is spent: the next POST /2/tweets answers 429 with
        ``x-user-limit-24hour-remaining: 0`` and its reset ``reset_after`` s from now, while
        the 15-minute window still has room (its reset is the window's end)."""
        self._faults.add(Fault("daily", times, status=429, seconds=reset_after, path="/2/tweets"))

    def fail_after_commit(self, times: int = 1, status: int = 503) -> None:
        """The next POST /2/tweets creates the post, then answers ``status`` (answer lost)."""
        self._faults.add(Fault("after_commit", times, status=status, path="/2/tweets"))

    def hang_after_commit(self, seconds: float, times: int = 1) -> None:
        """The next POST /2/tweets creates the post, then waits ``seconds`` before answering:
        a client killed or timing out meanwhile never learns that its post is out."""
        self._faults.add(Fault("hang", times, seconds=seconds, path="/2/tweets"))

    def requests_to(self, method: str, path: str) -> list[XRequest]:
        return [r for r in self.requests if r.method == method and r.path == path]

    # ------------------------------------------------------------------ internals

    def _headers(self, remaining: int | None = None, reset: float | None = None) -> dict[str, str]:
        window = math.floor(time.time() / RATE_WINDOW) * RATE_WINDOW
        return {
            "x-rate-limit-limit": str(RATE_LIMIT),
            "x-rate-limit-remaining": str(RATE_LIMIT - 1 if remaining is None else remaining),
            "x-rate-limit-reset": str(int(reset if reset is not None else window + RATE_WINDOW)),
        }

    @staticmethod
    def _problem(
        status: int, title: str, detail: str, headers: dict[str, str] | None = None
    ) -> web.Response:
        return json_response(
            {"title": title, "detail": detail, "type": "about:blank", "status": status},
            status=status,
            headers=headers,
        )

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body: Any = None
        if request.method == "POST" and request.body_exists:
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    body = None
            else:
                body = dict(await request.post())
        record = XRequest(
            request.method,
            request.path,
            {k: request.query.getall(k) for k in request.query},
            body,
            time.time(),
        )
        self.requests.append(record)
        daily = self._faults.take({"daily"}, request.path)
        if daily is not None:
            headers = {
                **self._headers(),
                "x-user-limit-24hour-limit": "100",
                "x-user-limit-24hour-remaining": "0",
                "x-user-limit-24hour-reset": str(math.ceil(time.time() + daily.seconds)),
            }
            record.status = 429
            return self._problem(429, "Too Many Requests", "Too Many Requests", headers)
        response: web.StreamResponse | None = await self._fault_answer(
            request.path,
            rate_limited=lambda reset: self._problem(
                429, "Too Many Requests", "Too Many Requests", self._headers(0, reset)
            ),
            failed=lambda status: self._problem(
                status, "Service Unavailable", "Service Unavailable"
            ),
        )
        if response is None:
            try:
                response = await handler(request)
            except _ApiError as exc:
                response = self._problem(exc.status, exc.title, exc.detail)
            for key, value in self._headers().items():
                response.headers.setdefault(key, value)
        record.status = response.status
        return response

    def _check_auth(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            expiry = self._tokens.access.get(header[7:])
            if expiry is None or expiry <= time.time():
                raise _ApiError(401, "Unauthorized", "Unauthorized")
            return
        if header.startswith("OAuth ") and self._oauth1_valid(request, header[6:]):
            return
        raise _ApiError(401, "Unauthorized", "Unauthorized")

    def _oauth1_valid(self, request: web.Request, header: str) -> bool:
        from urllib.parse import unquote

        fields = dict(
            (k.strip(), unquote(v.strip().strip('"')))
            for k, _, v in (part.partition("=") for part in header.split(","))
        )
        key, secret, token, token_secret = self.oauth1
        if fields.get("oauth_consumer_key") != key or fields.get("oauth_token") != token:
            return False
        if abs(time.time() - int(fields.get("oauth_timestamp", "0"))) > 300:
            return False
        params = [(k, v) for k, v in request.query.items()]
        params += [(k, v) for k, v in fields.items() if k != "oauth_signature"]
        pairs = sorted((_pct(k), _pct(v)) for k, v in params)
        url = str(request.url.with_query(None))
        base = "&".join([request.method, _pct(url), _pct("&".join(f"{k}={v}" for k, v in pairs))])
        digest = hmac.new(f"{secret}&{token_secret}".encode(), base.encode(), hashlib.sha1)
        expected = base64.b64encode(digest.digest()).decode()
        return hmac.compare_digest(expected, fields.get("oauth_signature", ""))

    async def _token(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        client_id = str(form.get("client_id", ""))
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            if secret != self.client_secret:
                return json_response(
                    {"error": "unauthorized_client", "error_description": "Invalid client"},
                    status=401,
                )
        elif self.client_secret is not None:
            return json_response(
                {"error": "unauthorized_client", "error_description": "Missing client auth"},
                status=401,
            )
        refresh = str(form.get("refresh_token", ""))
        if (
            client_id != self.client_id
            or form.get("grant_type") != "refresh_token"
            or refresh not in self._tokens.refresh
        ):
            return json_response(
                {
                    "error": "invalid_request",
                    "error_description": "Value passed for the token was invalid.",
                },
                status=400,
            )
        self._tokens.refresh.discard(refresh)  # single use
        self.refreshes += 1
        access, new_refresh = "xa-" + secrets.token_hex(16), "xr-" + secrets.token_hex(16)
        self._tokens.access[access] = time.time() + self.access_ttl
        self._tokens.refresh.add(new_refresh)
        return json_response(
            {
                "token_type": "bearer",
                "expires_in": int(self.access_ttl),
                "access_token": access,
                "scope": "tweet.read tweet.write users.read offline.access",
                "refresh_token": new_refresh,
            }
        )

    async def _users_me(self, request: web.Request) -> web.StreamResponse:
        self._check_auth(request)
        return json_response(
            {"data": {k: v for k, v in self.me.view().items() if k != "public_metrics"}}
        )

    def _page(self, request: web.Request, posts: list[XPost], *, expand: bool) -> web.Response:
        q = request.query
        limit = int(q.get("max_results", "10"))
        if not 5 <= limit <= 100:
            raise _ApiError(400, "Invalid Request", "max_results must be between 5 and 100")
        posts = sorted(posts, key=lambda p: int(p.id), reverse=True)
        if q.get("since_id"):
            posts = [p for p in posts if int(p.id) > int(q["since_id"])]
        if q.get("pagination_token"):
            posts = [p for p in posts if int(p.id) < int(q["pagination_token"])]
        page = posts[:limit]
        self.reads += len(page)
        answer: JSON = {"meta": {"result_count": len(page)}}
        if page:
            answer["data"] = [p.view(q.get("tweet.fields", "")) for p in page]
            answer["meta"].update(newest_id=page[0].id, oldest_id=page[-1].id)
            if expand:
                authors = {p.author.id: p.author for p in page}
                shown = [u for u in authors.values() if u.id not in self.withheld_users]
                answer["includes"] = {"users": [u.view() for u in shown]}
                if len(shown) < len(authors):  # X's partial errors for what it leaves out
                    answer["errors"] = [
                        {
                            "resource_id": u.id,
                            "resource_type": "user",
                            "title": "Forbidden",
                            "detail": f"Sorry, you are not authorized to see the User: {u.id}.",
                        }
                        for u in authors.values()
                        if u.id in self.withheld_users
                    ]
        if len(posts) > limit:
            answer["meta"]["next_token"] = page[-1].id
        return json_response(answer)

    async def _mentions(self, request: web.Request) -> web.StreamResponse:
        self._check_auth(request)
        if request.match_info["id"] != self.me.id:
            raise _ApiError(403, "Forbidden", "You can only read your own mentions")
        posts = [p for p in self.posts.values() if p.mentions_brand]
        return self._page(request, posts, expand="author_id" in request.query.get("expansions", ""))

    async def _timeline(self, request: web.Request) -> web.StreamResponse:
        self._check_auth(request)
        user = request.match_info["id"]
        posts = [p for p in self.posts.values() if p.author.id == user]
        return self._page(request, posts, expand=False)

    async def _post_tweet(self, request: web.Request) -> web.StreamResponse:
        self._check_auth(request)
        body = await request.json()
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise _ApiError(
                400, "Invalid Request", "One or more parameters to your request was invalid."
            )
        if weighted_length(text) > MAX_WEIGHTED:
            raise _ApiError(
                403,
                "Forbidden",
                "Your Tweet text is too long. For more information on how X counts characters, see https://docs.x.com/fundamentals/counting-characters",
            )
        reply_to = (body.get("reply") or {}).get("in_reply_to_tweet_id")
        parent = self.posts.get(str(reply_to)) if reply_to else None
        if reply_to and parent is None:
            raise _ApiError(400, "Invalid Request", "The post you are replying to does not exist.")
        if parent is not None and not parent.mentions_brand and parent.author.id != self.me.id:
            raise _ApiError(403, "Forbidden", NOT_MENTIONED)
        if any(p.text == text and p.author.id == self.me.id for p in self.posts.values()):
            raise _ApiError(403, "Forbidden", DUPLICATE)
        post = XPost(
            self._id(), self.me, text, time.time(), in_reply_to=parent.id if parent else None
        )
        self.posts[post.id] = post
        self.created.append(post)
        after = self._faults.take({"after_commit", "hang"}, "/2/tweets")
        if after is not None and after.kind == "hang":
            await asyncio.sleep(after.seconds)  # accepted; the answer comes (too) late
        elif after is not None:
            raise _ApiError(after.status, "Service Unavailable", "Service Unavailable")
        return json_response(
            {"data": {"id": post.id, "text": post.text, "edit_history_tweet_ids": [post.id]}},
            status=201,
        )
