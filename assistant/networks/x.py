"""X (API v2) behind the network seam.

- Auth, user context: OAuth 2.0 (``X_CLIENT_ID``, optional ``X_CLIENT_SECRET``, and the first
  ``X_REFRESH_TOKEN``) or OAuth 1.0a (``X_CONSUMER_KEY``/``_SECRET``, ``X_ACCESS_TOKEN``/
  ``_SECRET``, every request signed with HMAC-SHA1). OAuth 2.0 access tokens last 2 h and
  refresh tokens are single-use: both live in Redis and are renewed under a Redis lock by one
  replica at a time (:class:`TokenVault`). Once a refresh has happened the stored token wins
  over ``X_REFRESH_TOKEN`` (burnt), across restarts, until the operator sets a new one.
- Mentions: ``GET /2/users/:id/mentions`` with ``since_id``, ``pagination_token``,
  ``max_results`` and the author expansion (handle, followers). The id is ``GET /2/users/me``.
- Reply: ``POST /2/tweets`` with ``reply.in_reply_to_tweet_id`` and the approved text as it is.
- Exactly once: X has no idempotency key and a second identical post answers 403 "duplicate
  content" without saying which post; the attempt is recorded before the POST, and a retry
  after an unknown outcome first looks for our reply in our own timeline
  (``GET /2/users/:id/tweets`` since the mention).
- Length: 280 weighted characters (twitter-text v3: NFC, URLs 23, emoji and CJK 2).
- Rate limits: a 429 waits for ``x-rate-limit-reset`` (the 15-minute window), or for
  ``x-user-limit-24hour-reset`` / ``x-app-limit-24hour-reset`` when a 24-hour cap is spent.
- Cost: X bills reads per post returned; reads are counted in Redis per month and logged, and
  with ``X_MONTHLY_READ_BUDGET`` the poll interval stretches to stay within it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import time
import unicodedata
from calendar import monthrange
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assistant.errors import PublishError
from assistant.models import MENTION_TEXT_MAX, Case, Mention
from assistant.networks.base import (
    Answer,
    LengthRule,
    MentionItem,
    Posted,
    TokenVault,
    call,
    error,
    parse,
)
from assistant.store import Store
from assistant.text import graphemes, known_tld, truncate, unescape_entities, url_spans

log = logging.getLogger(__name__)

MAX_WEIGHTED = 280
URL_WEIGHT = 23
RESET_HEADER = "x-rate-limit-reset"  # Unix seconds
PAGE_SIZE = 100
FIRST_PAGE_SIZE = 20
MAX_PAGES = 5
TOKEN_TTL = 180 * 86400
REFRESH_MARGIN = 120.0  # renew an access token this long before it expires
WEB = "https://x.com"

# twitter-text v3 configuration: code points in these ranges weigh 1, others 2.
_LIGHT_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))


def _is_emoji(cluster: str) -> bool:
    first = ord(cluster[0])
    return (
        0x1F000 <= first <= 0x1FAFF
        or "\u20e3" in cluster  # keycaps
        or ("\ufe0f" in cluster and first > 0x7F)
        or (0x2600 <= first <= 0x27BF)
        or (0x2B00 <= first <= 0x2BFF and first in (0x2B50, 0x2B55, 0x2B1B, 0x2B1C))
    )


def _weight(ch: str) -> int:
    cp = ord(ch)
    return 1 if any(lo <= cp <= hi for lo, hi in _LIGHT_RANGES) else 2


# twitter-text also counts a link without a protocol (``example.com/path``) as 23 when its
# domain ends in a TLD (:func:`assistant.text.known_tld`). A lone name under a country code
# with no path (``sncf.fr``) is not a link for X, except under ``.co`` and ``.tv`` (``t.co``).
_SPECIAL_CCTLDS = frozenset({"co", "tv"})
_BARE_URL_RE = re.compile(
    r"(?<![\w@#$./:-])((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+([a-z]{2,}))"
    r"(?![\w-])(/[^\s]*)?",
    re.IGNORECASE,
)
_TRAILING_PUNCT = ".,;:!?'\")]"


def _host_is_valid(url: str) -> bool:
    """Every label of the host fits DNS's 63 characters once punycoded (twitter-text
    validates the host with IDNA: a longer label makes the text not a link)."""
    rest = url.split("://", 1)[-1]
    host = re.split(r"[/?#]", rest, maxsplit=1)[0].rsplit("@", 1)[-1].split(":", 1)[0]
    for label in host.split("."):
        if not label.isascii():
            try:
                label = "xn--" + label.encode("punycode").decode("ascii")
            except UnicodeError:
                return False
        if len(label) > 63:
            return False
    return True


def _bare_link(m: re.Match[str]) -> bool:
    domain, tld, path = m.group(1), m.group(2).lower(), m.group(3)
    if len(tld) == 2:
        return bool(path) or tld in _SPECIAL_CCTLDS or domain.count(".") > 1
    return known_tld(tld)


def _link_spans(text: str) -> list[tuple[int, int]]:
    """URLs with a protocol, then bare domains outside them, in order."""
    spans = [(s, e) for s, e in url_spans(text) if _host_is_valid(text[s:e])]
    for m in _BARE_URL_RE.finditer(text):
        if not _bare_link(m):
            continue
        start, end = m.start(), m.end()
        while end > start and text[end - 1] in _TRAILING_PUNCT:
            end -= 1
        if not any(s <= start < e for s, e in spans):
            spans.append((start, end))
    return sorted(spans)


def x_length(text: str) -> int:
    """Weighted length as X counts it (twitter-text v3): the text is NFC-normalised; each URL
    counts 23; each emoji (a whole sequence: skin tone, ZWJ family, flag, keycap) counts 2;
    other code points count 1 in Latin and general punctuation ranges (U+0000–U+10FF,
    U+2000–U+200D, U+2010–U+201F, U+2032–U+2037) and 2 elsewhere (CJK, …)."""
    text = unicodedata.normalize("NFC", text)
    total = 0
    pos = 0
    for start, end in _link_spans(text):
        total += _plain_weight(text[pos:start]) + URL_WEIGHT
        pos = end
    return total + _plain_weight(text[pos:])


def _plain_weight(text: str) -> int:
    total = 0
    for cluster in graphemes(text):
        if _is_emoji(cluster):
            total += 2
        else:
            total += sum(_weight(ch) for ch in cluster)
    return total


RULE = LengthRule(
    platform="x",
    name="X",
    limit=MAX_WEIGHTED,
    unit="characters",
    how=(
        "counted the way X counts: every link counts 23, and emoji and Chinese, Japanese or "
        "Korean characters count 2"
    ),
    count=x_length,
    reply_text=lambda handle, text: text,  # the reply threads by id: no @handle added
)


def budget_interval(base: float, budget: int | None, used: int, now: float) -> float:
    """The poll interval that keeps a month's reads within ``budget``.

    ``base`` (X_POLL_SECONDS) as given while the reads so far run at or below the rate the
    budget allows; stretched by the ratio when they run faster; the rest of the month when the
    budget is spent.
    """
    if not budget:
        return base
    moment = datetime.fromtimestamp(now, UTC)
    start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()
    days = monthrange(moment.year, moment.month)[1]
    end = start + days * 86400
    left = max(1.0, end - now)
    remaining = budget - used
    if remaining <= 0:
        return left
    elapsed = max(1.0, now - start)
    spent_rate = used / elapsed
    allowed_rate = remaining / left
    if spent_rate <= allowed_rate:
        return base
    return min(left, base * spent_rate / allowed_rate)


# ---------------------------------------------------------------------- OAuth 1.0a


def _pct(value: str) -> str:
    return quote(value, safe="~-._")


def oauth1_header(
    method: str,
    url: str,
    params: list[tuple[str, str]],
    *,
    consumer_key: str,
    consumer_secret: str,
    token: str,
    token_secret: str,
    nonce: str | None = None,
    timestamp: int | None = None,
) -> str:
    """RFC 5849 ``Authorization: OAuth …`` with HMAC-SHA1 (query and form params signed; a
    JSON body is not)."""
    oauth = {
        "oauth_consumer_key": consumer_key,
        "oauth_nonce": nonce or secrets.token_hex(16),
        "oauth_signature_method": "HMAC-SHA1",
        "oauth_timestamp": str(timestamp if timestamp is not None else int(time.time())),
        "oauth_token": token,
        "oauth_version": "1.0",
    }
    pairs = sorted((_pct(k), _pct(v)) for k, v in [*params, *oauth.items()])
    normalized = "&".join(f"{k}={v}" for k, v in pairs)
    base = "&".join([method.upper(), _pct(url), _pct(normalized)])
    key = f"{_pct(consumer_secret)}&{_pct(token_secret)}"
    digest = hmac.new(key.encode(), base.encode(), hashlib.sha1).digest()
    oauth["oauth_signature"] = base64.b64encode(digest).decode()
    return "OAuth " + ", ".join(f'{_pct(k)}="{_pct(v)}"' for k, v in sorted(oauth.items()))


@dataclass(frozen=True, slots=True)
class OAuth1:
    consumer_key: str
    consumer_secret: str
    token: str
    token_secret: str


@dataclass(frozen=True, slots=True)
class OAuth2:
    client_id: str
    client_secret: str | None
    refresh_token: str

    @property
    def seed(self) -> str:
        """Which X_REFRESH_TOKEN the stored tokens descend from (a hash, never the token)."""
        return hashlib.sha256(self.refresh_token.encode()).hexdigest()[:16]


# ---------------------------------------------------------------------- answers


class _User(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str
    username: str
    name: str = ""
    public_metrics: dict[str, int] = {}


class _Me(BaseModel):
    data: _User


class _Tweet(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str
    text: str = ""
    author_id: str | None = None
    created_at: str | None = None
    lang: str | None = None
    referenced_tweets: list[dict[str, str]] = []
    note_tweet: dict[str, Any] | None = None

    @property
    def full_text(self) -> str:
        """The post's whole text, unescaped: X sends ``&``, ``<`` and ``>`` as ``&amp;``,
        ``&lt;``, ``&gt;``, and a long post (over 280 characters) in ``note_tweet``."""
        note = self.note_tweet.get("text") if self.note_tweet else None
        text = note if isinstance(note, str) and note else self.text
        return unescape_entities(text)


class _Page(BaseModel):
    model_config = ConfigDict(extra="ignore")
    data: list[dict[str, Any]] = []
    includes: dict[str, list[dict[str, Any]]] = {}
    meta: dict[str, Any] = {}


class _Created(BaseModel):
    data: _Tweet


class _Token(BaseModel):
    model_config = ConfigDict(extra="ignore")
    access_token: str = Field(min_length=1)
    refresh_token: str = Field(min_length=1)
    expires_in: float = 7200


class XClient:
    """The brand's X account."""

    platform = "x"
    rule = RULE

    def __init__(
        self,
        session: aiohttp.ClientSession,
        store: Store,
        api_url: str,
        auth: OAuth1 | OAuth2,
        *,
        poll_seconds: float = 60.0,
        monthly_read_budget: int | None = None,
        timeout: float = 10.0,
        clock: Any = time.time,
    ) -> None:
        self.session = session
        self.store = store
        self.api_url = api_url.rstrip("/")
        self.auth = auth
        self.poll_seconds = poll_seconds
        self.budget = monthly_read_budget
        self.clock = clock
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._me: _User | None = None
        name = auth.client_id if isinstance(auth, OAuth2) else auth.consumer_key[:8]
        self.vault = TokenVault(store, f"x:{name}", ttl_seconds=TOKEN_TTL)

    # -- auth ----------------------------------------------------------------------------

    def _error(self, what: str, answer: Answer, *, transient: bool | None = None) -> PublishError:
        exc = error(
            "X", what, answer, _detail(answer), reset_header=RESET_HEADER, transient=transient
        )
        daily = _daily_reset(answer)
        if daily is not None:  # a 24-hour cap is spent: its reset, not the 15-minute window's
            window_spent = answer.headers.get("x-rate-limit-remaining") == "0"
            exc.retry_after = max(daily, (exc.retry_after or 0.0) if window_spent else 0.0)
        return exc

    async def _refresh(self, current: dict[str, Any] | None) -> dict[str, Any]:
        """One OAuth 2.0 refresh (single-use refresh token): called under the vault's lock."""
        assert isinstance(self.auth, OAuth2)
        usable = current is not None and current.get("seed") == self.auth.seed
        refresh_token = current["refresh_token"] if usable and current else self.auth.refresh_token
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        headers: dict[str, str] = {}
        if self.auth.client_secret:
            basic = f"{self.auth.client_id}:{self.auth.client_secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(basic).decode()
        else:
            form["client_id"] = self.auth.client_id
        answer = await call(
            self.session,
            "POST",
            f"{self.api_url}/2/oauth2/token",
            network="X",
            timeout=self._timeout,
            data=form,
            headers=headers,
        )
        if answer.status != 200:
            permanent = answer.status in (400, 401)
            raise self._error(
                "token refresh refused: the refresh token is burnt or revoked; authorise the "
                "app again and set X_REFRESH_TOKEN (see the README)"
                if permanent
                else "token refresh",
                answer,
                transient=not permanent,
            )
        token = parse(_Token, answer, "X", "token refresh")
        log.info("X access token refreshed")
        return {
            "access_token": token.access_token,
            "refresh_token": token.refresh_token,
            "expires_at": self.clock() + token.expires_in,
            "seed": self.auth.seed,
        }

    async def _bearer(self, stale: dict[str, Any] | None = None) -> dict[str, Any]:
        assert isinstance(self.auth, OAuth2)
        current = stale or await self.vault.get()
        if (
            current is None
            or current.get("seed") != self.auth.seed
            or float(current.get("expires_at", 0)) - REFRESH_MARGIN < self.clock()
            or stale is not None
        ):
            current = await self.vault.renew(current, self._refresh)
        return current

    async def _api(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: list[tuple[str, str]] | None = None,
        body: Any = None,
    ) -> Answer:
        url = f"{self.api_url}{path}"
        token: dict[str, Any] | None = None
        for attempt in range(2):
            if isinstance(self.auth, OAuth1):
                auth = oauth1_header(
                    method,
                    url,
                    params or [],
                    consumer_key=self.auth.consumer_key,
                    consumer_secret=self.auth.consumer_secret,
                    token=self.auth.token,
                    token_secret=self.auth.token_secret,
                )
            else:
                token = await self._bearer(token if attempt else None)
                auth = f"Bearer {token['access_token']}"
            answer = await call(
                self.session,
                method,
                url,
                network="X",
                timeout=self._timeout,
                headers={"Authorization": auth},
                params=params,
                json=body,
            )
            if answer.status == 401 and isinstance(self.auth, OAuth2) and attempt == 0:
                continue  # the access token expired early or was revoked: renew once
            if answer.status == 401:
                raise self._error(
                    f"{what}: not authorised (check the X_* credentials)", answer, transient=False
                )
            return answer
        raise AssertionError("unreachable")

    async def me(self) -> _User:
        if self._me is None:
            answer = await self._api("GET", "/2/users/me", "users/me")
            if answer.status != 200:
                raise self._error("users/me", answer)
            self._me = parse(_Me, answer, "X", "users/me").data
        return self._me

    # -- reads ---------------------------------------------------------------------------

    def _month(self) -> str:
        return datetime.fromtimestamp(self.clock(), UTC).strftime("%Y-%m")

    async def _count_reads(self, count: int) -> None:
        if count <= 0:
            return
        total = await self.store.add_reads("x", self._month(), count)
        budget = f" of a budget of {self.budget}" if self.budget else ""
        log.info("X: %d posts read (%d this month%s)", count, total, budget)

    async def poll_delay(self) -> float:
        if not self.budget:
            return self.poll_seconds
        used = await self.store.add_reads("x", self._month(), 0)
        delay = budget_interval(self.poll_seconds, self.budget, used, self.clock())
        if delay > self.poll_seconds:
            log.info("X: polling every %.0f s to stay within the monthly read budget", delay)
        return delay

    async def _pages(
        self, path: str, what: str, params: list[tuple[str, str]], *, all_pages: bool
    ) -> AsyncIterator[_Page]:
        """The pages of a timeline (reads counted); only the first unless ``all_pages``."""
        token: str | None = None
        for _ in range(MAX_PAGES):
            paged = [*params, ("pagination_token", token)] if token else params
            answer = await self._api("GET", path, what, params=paged)
            if answer.status != 200:
                raise self._error(what, answer)
            page = parse(_Page, answer, "X", what)
            await self._count_reads(len(page.data))
            yield page
            token = page.meta.get("next_token")
            if not token or not all_pages:
                return

    async def mentions_since(self, cursor: str | None) -> list[MentionItem]:
        me = await self.me()
        tweets: list[_Tweet] = []
        users: dict[str, _User] = {}
        params = [
            ("max_results", str(PAGE_SIZE if cursor else FIRST_PAGE_SIZE)),
            ("expansions", "author_id"),
            (
                "tweet.fields",
                "created_at,lang,author_id,conversation_id,referenced_tweets,note_tweet",
            ),
            ("user.fields", "username,name,public_metrics"),
        ]
        if cursor:
            params.append(("since_id", cursor))
        path = f"/2/users/{me.id}/mentions"
        async for page in self._pages(path, "mentions", params, all_pages=cursor is not None):
            for raw in page.data:
                try:
                    tweets.append(_Tweet.model_validate(raw))
                except ValidationError as exc:
                    log.warning("skipping malformed X post: %s", exc.errors()[0])
            for raw in page.includes.get("users", []):
                try:
                    user = _User.model_validate(raw)
                except ValidationError:
                    continue
                users[user.id] = user
        tweets.sort(key=lambda t: (len(t.id), t.id))
        return [
            MentionItem(self._mention(t, users) if t.author_id != me.id else None, t.id)
            for t in tweets
        ]

    def _mention(self, tweet: _Tweet, users: dict[str, _User]) -> Mention | None:
        author = users.get(tweet.author_id or "")
        if author is None:
            # X leaves a suspended or protected author out of the expansion: the mention
            # still opens a case, under the author's id, with X's link that needs no handle
            log.warning("X post %s: its author is missing from the answer", tweet.id)
            author = _User(id=tweet.author_id or "unknown", username=tweet.author_id or "unknown")
            url = f"{WEB}/i/web/status/{tweet.id}"
        else:
            url = f"{WEB}/{author.username}/status/{tweet.id}"
        try:
            return Mention.model_validate(
                {
                    "platform": "x",
                    "id": tweet.id,
                    "url": url,
                    "text": truncate(tweet.full_text, MENTION_TEXT_MAX) or "(empty)",
                    "author": {
                        "id": author.id,
                        "handle": author.username,
                        "display_name": author.name,
                        "followers": author.public_metrics.get("followers_count", 0),
                    },
                    "created_at": tweet.created_at or datetime.now(UTC).isoformat(),
                    "lang": tweet.lang if tweet.lang not in (None, "und", "zxx") else None,
                }
            )
        except ValidationError as exc:
            log.warning("skipping malformed X post %s: %s", tweet.id, exc.errors()[0])
            return None

    # -- publishing ----------------------------------------------------------------------

    def new_publish_ref(self) -> str | None:
        return None

    async def find_reply(self, case: Case, ref: str | None) -> Posted | None:
        """Our reply to the mention in our own timeline (posts since the mention)."""
        me = await self.me()
        params = [
            ("since_id", case.mention.id),
            ("max_results", str(PAGE_SIZE)),
            ("tweet.fields", "referenced_tweets,in_reply_to_user_id,created_at"),
        ]
        path = f"/2/users/{me.id}/tweets"
        async for page in self._pages(path, "timeline", params, all_pages=True):
            for raw in page.data:
                refs = raw.get("referenced_tweets") if isinstance(raw, dict) else None
                for ref_ in refs if isinstance(refs, list) else []:
                    if (
                        isinstance(ref_, dict)
                        and ref_.get("type") == "replied_to"
                        and ref_.get("id") == case.mention.id
                    ):
                        tweet_id = str(raw.get("id"))
                        return Posted(tweet_id, f"{WEB}/{me.username}/status/{tweet_id}")
        return None

    async def publish(self, case: Case, text: str, ref: str | None) -> Posted:
        me = await self.me()
        body = {"text": text, "reply": {"in_reply_to_tweet_id": case.mention.id}}
        answer = await self._api("POST", "/2/tweets", "post", body=body)
        if answer.status in (200, 201):
            created = parse(_Created, answer, "X", "post").data
            return Posted(created.id, f"{WEB}/{me.username}/status/{created.id}")
        detail = _detail(answer) or ""
        if answer.status == 403 and "duplicate" in detail.lower():
            earlier = await self.find_reply(case, ref)
            if earlier is not None:
                return earlier
        if answer.status == 403 and "not allowed" in detail.lower() and "mention" in detail:
            raise self._error(
                "refused the reply (X lets this app reply only to posts that mention or quote "
                "the account)",
                answer,
                transient=False,
            )
        raise self._error("post", answer)


def _daily_reset(answer: Answer) -> float | None:
    """Seconds until a spent 24-hour limit resets (``x-user-limit-24hour-*``,
    ``x-app-limit-24hour-*`` on a 429 from POST /2/tweets), None when none is spent."""
    if answer.status != 429:
        return None
    waits = []
    for scope in ("user", "app"):
        if answer.headers.get(f"x-{scope}-limit-24hour-remaining") != "0":
            continue
        try:
            reset = float(answer.headers.get(f"x-{scope}-limit-24hour-reset", ""))
        except ValueError:
            continue
        waits.append(max(0.0, reset - time.time()))
    return max(waits) if waits else None


def _detail(answer: Answer) -> str | None:
    body = answer.body
    if not isinstance(body, dict):
        return None
    for key in ("detail", "title", "error_description", "error"):
        if isinstance(body.get(key), str):
            return str(body[key])[:200]
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("message") or errors[0].get("detail") or "")[:200] or None
    return None
