"""Bluesky (AT Protocol over XRPC) behind the network seam.

- Session: ``com.atproto.server.createSession`` with the handle and an app password, once;
  the session lives in Redis and is renewed with ``refreshSession`` when the access token
  expires (the refresh token rotates), by one replica at a time (:class:`TokenVault`). A
  refresh that is refused (expired or revoked) falls back to one new login.
- Mentions: ``app.bsky.notification.listNotifications`` (reasons mention, reply, quote), paged
  with ``cursor``; our own high-water mark is the newest ``indexedAt`` seen plus the URIs seen
  at that instant (the server's seen marker is not a cursor). Followers come from
  ``app.bsky.actor.getProfiles``.
- Reply: ``com.atproto.repo.createRecord`` of an ``app.bsky.feed.post`` with ``reply.root`` /
  ``reply.parent`` strong refs (the root is the parent's own root when the parent is itself a
  reply), ``createdAt``, ``langs`` and facets (links, ``@handle`` mentions, ``#tags``) with
  UTF-8 byte offsets.
- Exactly once: Bluesky has no idempotency key, so the record key (a TID) is chosen once per
  case before the first attempt and every attempt creates with it: a second create is refused
  (the reference server answers 500), and a retry after an unknown outcome first asks
  ``com.atproto.repo.getRecord`` for it.
- Limits: 300 graphemes and 3,000 UTF-8 bytes.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from assistant.errors import PublishError
from assistant.models import Case, Mention
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
from assistant.text import grapheme_count, known_tld, url_spans

log = logging.getLogger(__name__)

MAX_GRAPHEMES = 300
MAX_BYTES = 3000
POST = "app.bsky.feed.post"
REASONS = ("mention", "reply", "quote")
PAGE_LIMIT = 50
MAX_PAGES = 10
RESET_HEADER = "RateLimit-Reset"  # Unix seconds
SESSION_TTL = 90 * 86400  # the refresh token lasts about 90 days
TOKEN_ERRORS = frozenset({"ExpiredToken", "InvalidToken"})
WEB = "https://bsky.app"


def _too_many_bytes(text: str) -> str | None:
    size = len(text.encode("utf-8"))
    if size > MAX_BYTES:
        return f"it is {size - MAX_BYTES} bytes over Bluesky's {MAX_BYTES}-byte limit"
    return None


RULE = LengthRule(
    platform="bluesky",
    name="Bluesky",
    limit=MAX_GRAPHEMES,
    unit="characters",
    how=(
        "counted the way Bluesky counts: in graphemes, so an emoji with a skin tone or a "
        "family emoji is one, and links count in full"
    ),
    count=grapheme_count,
    reply_text=lambda handle, text: text,  # a reply threads by reference: no @handle added
    extra_check=_too_many_bytes,
)

# ---------------------------------------------------------------------- record keys (TIDs)

_B32_SORTABLE = "234567abcdefghijklmnopqrstuvwxyz"
_last_tid = 0


def new_tid(now_us: int | None = None, clock_id: int | None = None) -> str:
    """A TID: 13 chars of base32-sortable over (µs since the epoch << 10 | clock id)."""
    global _last_tid
    micros = now_us if now_us is not None else int(time.time() * 1_000_000)
    cid = clock_id if clock_id is not None else secrets.randbelow(1024)
    value = (micros << 10) | cid
    if now_us is None:
        value = max(value, _last_tid + 1)
        _last_tid = value
    out = []
    for _ in range(13):
        out.append(_B32_SORTABLE[value & 31])
        value >>= 5
    return "".join(reversed(out))


# ---------------------------------------------------------------------- facets

# Bluesky's own rules (social-app's rich text detection): a mention is @ + a handle with at
# least one dot, after a start, a space or a parenthesis; a tag is # + non-space.
_MENTION_RE = re.compile(r"(^|[\s(])@(([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]+)")
_TAG_RE = re.compile(r"(^|\s)#([^\s#\u00ad\u2060\u200a\u200b\u200c\u200d\ufe0f]+)")
_TRAILING = ".,;:!?'\")"
# a link without ``https://`` (``sncf.fr/aide``): after a start, a space or a parenthesis, a
# domain whose last label is a TLD; the facet's URI gets ``https://``
_BARE_LINK_RE = re.compile(r"(?:^|(?<=[\s(]))(([a-z][a-z0-9]*(?:\.[a-z0-9]+)+)\S*)", re.I)


def _link_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, URI) of each link: with a protocol, or a bare domain as Bluesky's app
    detects it (one trailing punctuation mark and an unbalanced ``)`` left out)."""
    spans = [(start, end, text[start:end]) for start, end in url_spans(text)]
    for m in _BARE_LINK_RE.finditer(text):
        start, end = m.span(1)
        if any(s <= start < e for s, e, _ in spans) or not known_tld(m.group(2).rsplit(".")[-1]):
            continue
        if text[end - 1] in ".,;:!?":
            end -= 1
        if text[end - 1] == ")" and "(" not in text[start:end]:
            end -= 1
        spans.append((start, end, "https://" + text[start:end]))
    return sorted(spans)


def _byte_span(text: str, start: int, end: int) -> dict[str, int]:
    return {
        "byteStart": len(text[:start].encode("utf-8")),
        "byteEnd": len(text[:end].encode("utf-8")),
    }


def facets(text: str, dids: dict[str, str]) -> list[dict[str, Any]]:
    """Facets for links (with or without ``https://``), ``@handle`` mentions (only handles
    found in ``dids``) and tags."""
    out: list[dict[str, Any]] = []
    for start, end, uri in _link_spans(text):
        out.append(
            {
                "index": _byte_span(text, start, end),
                "features": [{"$type": "app.bsky.richtext.facet#link", "uri": uri}],
            }
        )
    for m in _MENTION_RE.finditer(text):
        handle = m.group(2).lower()
        if handle in dids:
            start = m.start(2) - 1
            out.append(
                {
                    "index": _byte_span(text, start, m.end(2)),
                    "features": [{"$type": "app.bsky.richtext.facet#mention", "did": dids[handle]}],
                }
            )
    for m in _TAG_RE.finditer(text):
        tag = m.group(2).rstrip(_TRAILING)
        if tag and not tag.isdigit() and len(tag) <= 64:
            start = m.start(2) - 1
            out.append(
                {
                    "index": _byte_span(text, start, start + 1 + len(tag)),
                    "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": tag}],
                }
            )
    out.sort(key=lambda f: f["index"]["byteStart"])
    return out


def mention_handles(text: str) -> list[str]:
    return list(dict.fromkeys(m.group(2).lower() for m in _MENTION_RE.finditer(text)))


# ---------------------------------------------------------------------- answers


class _Author(BaseModel):
    model_config = ConfigDict(extra="ignore")
    did: str
    handle: str
    displayName: str | None = None


class _Notification(BaseModel):
    model_config = ConfigDict(extra="ignore")
    uri: str
    cid: str
    author: _Author
    reason: str
    record: dict[str, Any]
    indexedAt: str


class _Notifications(BaseModel):
    model_config = ConfigDict(extra="ignore")
    notifications: list[dict[str, Any]]
    cursor: str | None = None


class _Session(BaseModel):
    model_config = ConfigDict(extra="ignore")
    accessJwt: str = Field(min_length=1)
    refreshJwt: str = Field(min_length=1)
    did: str = Field(min_length=1)
    handle: str


class _StrongRef(BaseModel):
    model_config = ConfigDict(extra="ignore")
    uri: str
    cid: str


class _Post(BaseModel):
    model_config = ConfigDict(extra="ignore")
    uri: str
    cid: str
    record: dict[str, Any] = {}


class _Posts(BaseModel):
    model_config = ConfigDict(extra="ignore")
    posts: list[_Post]


_TIME: TypeAdapter[datetime] = TypeAdapter(datetime)


def _rkey(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


class BlueskyClient:
    """The brand's Bluesky account (``BLUESKY_HANDLE`` + ``BLUESKY_APP_PASSWORD``)."""

    platform = "bluesky"
    rule = RULE

    def __init__(
        self,
        session: aiohttp.ClientSession,
        store: Store,
        service: str,
        handle: str,
        app_password: str,
        *,
        poll_seconds: float = 30.0,
        timeout: float = 10.0,
    ) -> None:
        self.session = session
        self.service = service.rstrip("/")
        self.handle = handle.removeprefix("@").lower()
        self._password = app_password
        self.poll_seconds = poll_seconds
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self.vault = TokenVault(store, f"bluesky:{self.handle}", ttl_seconds=SESSION_TTL)

    # -- session -------------------------------------------------------------------------

    def _error(self, what: str, answer: Answer, *, transient: bool | None = None) -> PublishError:
        body = answer.body
        detail = None
        if isinstance(body, dict) and ("error" in body or "message" in body):
            detail = f"{body.get('error', '')}: {body.get('message', '')}".strip(": ")[:200]
        return error(
            "Bluesky", what, answer, detail, reset_header=RESET_HEADER, transient=transient
        )

    async def _login(self, current: dict[str, Any] | None) -> dict[str, Any]:
        """Renew the session: refreshSession when we have one, else (or if refused) login."""
        if current is not None and current.get("refreshJwt"):
            answer = await call(
                self.session,
                "POST",
                f"{self.service}/xrpc/com.atproto.server.refreshSession",
                network="Bluesky",
                timeout=self._timeout,
                headers={"Authorization": f"Bearer {current['refreshJwt']}"},
            )
            if answer.status == 200:
                return parse(_Session, answer, "Bluesky", "refreshSession").model_dump()
            if not _token_error(answer):
                raise self._error("refreshSession", answer)
            log.warning("Bluesky refresh token refused (%s): logging in again", _code(answer))
        answer = await call(
            self.session,
            "POST",
            f"{self.service}/xrpc/com.atproto.server.createSession",
            network="Bluesky",
            timeout=self._timeout,
            json={"identifier": self.handle, "password": self._password},
        )
        if answer.status == 200:
            log.info("Bluesky session created for %s", self.handle)
            return parse(_Session, answer, "Bluesky", "createSession").model_dump()
        if answer.status == 401:
            raise self._error(
                "login refused (check BLUESKY_HANDLE and BLUESKY_APP_PASSWORD)",
                answer,
                transient=False,
            )
        raise self._error("createSession", answer)

    async def _session(self) -> dict[str, Any]:
        current = await self.vault.get()
        if current is None:
            current = await self.vault.renew(None, self._login)
        return current

    async def _xrpc(
        self, method: str, nsid: str, what: str, *, params: Any = None, body: Any = None
    ) -> tuple[Answer, dict[str, Any]]:
        """An authenticated XRPC call; an expired access token is renewed once, by one replica."""
        session = await self._session()
        for attempt in range(2):
            answer = await call(
                self.session,
                method,
                f"{self.service}/xrpc/{nsid}",
                network="Bluesky",
                timeout=self._timeout,
                headers={"Authorization": f"Bearer {session['accessJwt']}"},
                params=params,
                json=body,
            )
            if attempt == 0 and _token_error(answer):
                session = await self.vault.renew(session, self._login)
                continue
            return answer, session
        raise AssertionError("unreachable")

    # -- mentions ------------------------------------------------------------------------

    async def mentions_since(self, cursor: str | None) -> list[MentionItem]:
        hwm, seen = _split_cursor(cursor)
        fresh: list[_Notification] = []
        page_cursor: str | None = None
        for _ in range(MAX_PAGES):
            params: list[tuple[str, str]] = [("limit", str(PAGE_LIMIT))]
            params += [("reasons", r) for r in REASONS]
            if page_cursor:
                params.append(("cursor", page_cursor))
            answer, _ = await self._xrpc(
                "GET", "app.bsky.notification.listNotifications", "notifications", params=params
            )
            if answer.status != 200:
                raise self._error("listNotifications", answer)
            page = parse(_Notifications, answer, "Bluesky", "listNotifications")
            older = False
            for raw in page.notifications:
                try:
                    note = _Notification.model_validate(raw)
                except ValidationError as exc:
                    log.warning("skipping malformed Bluesky notification: %s", exc.errors()[0])
                    continue
                if hwm is not None and (
                    note.indexedAt < hwm or (note.indexedAt == hwm and note.uri in seen)
                ):
                    older = True
                    continue
                fresh.append(note)
            if older or not page.cursor or hwm is None or not page.notifications:
                break
            page_cursor = page.cursor
        fresh.sort(key=lambda n: n.indexedAt)
        followers = await self._followers({n.author.did for n in fresh})
        items: list[MentionItem] = []
        for note in fresh:
            if note.indexedAt != hwm:
                hwm, seen = note.indexedAt, set()
            seen.add(note.uri)
            mention = None
            ours = note.author.handle.lower() == self.handle
            if note.reason in REASONS and isinstance(note.record.get("text"), str) and not ours:
                mention = self._mention(note, followers.get(note.author.did, 0))
            items.append(MentionItem(mention, _join_cursor(hwm, seen)))
        return items

    def _mention(self, note: _Notification, followers: int) -> Mention | None:
        record = note.record
        langs = record.get("langs")
        created: object = record.get("createdAt")
        try:  # set by the author's client: when it is not a time, the server's is used
            created = _TIME.validate_python(created)
        except ValidationError:
            created = note.indexedAt
        try:
            return Mention.model_validate(
                {
                    "platform": "bluesky",
                    "id": note.uri,
                    "url": f"{WEB}/profile/{note.author.handle}/post/{_rkey(note.uri)}",
                    "text": record.get("text") or "(empty)",
                    "author": {
                        "id": note.author.did,
                        "handle": note.author.handle,
                        "display_name": note.author.displayName or "",
                        "followers": followers,
                    },
                    "created_at": created,
                    "lang": langs[0] if isinstance(langs, list) and langs else None,
                }
            )
        except ValidationError as exc:
            log.warning("skipping malformed Bluesky post %s: %s", note.uri, exc.errors()[0])
            return None

    async def _followers(self, dids: set[str]) -> dict[str, int]:
        """Followers per author (getProfiles, 25 at a time); unknown ones count 0."""
        counts: dict[str, int] = {}
        ordered = sorted(dids)
        for i in range(0, len(ordered), 25):
            params = [("actors", did) for did in ordered[i : i + 25]]
            try:
                answer, _ = await self._xrpc(
                    "GET", "app.bsky.actor.getProfiles", "profiles", params=params
                )
            except PublishError as exc:
                log.warning("Bluesky profiles unavailable: %s", exc)
                continue
            profiles = answer.body.get("profiles") if isinstance(answer.body, dict) else None
            for profile in profiles if isinstance(profiles, list) else []:
                if isinstance(profile, dict) and isinstance(profile.get("followersCount"), int):
                    counts[str(profile.get("did"))] = profile["followersCount"]
        return counts

    async def poll_delay(self) -> float:
        return self.poll_seconds

    # -- publishing ----------------------------------------------------------------------

    def new_publish_ref(self) -> str | None:
        return new_tid()

    def _url(self, uri: str) -> str:
        return f"{WEB}/profile/{self.handle}/post/{_rkey(uri)}"

    async def find_reply(self, case: Case, ref: str | None) -> Posted | None:
        if ref is None:
            return None
        session = await self._session()
        answer, _ = await self._xrpc(
            "GET",
            "com.atproto.repo.getRecord",
            "getRecord",
            params={"repo": session["did"], "collection": POST, "rkey": ref},
        )
        if answer.status == 200:
            found = parse(_StrongRef, answer, "Bluesky", "getRecord")
            return Posted(found.uri, self._url(found.uri))
        if answer.status in (400, 404) and _code(answer) in ("RecordNotFound", "", None):
            return None
        raise self._error("getRecord", answer)

    async def _parent(self, uri: str) -> tuple[_StrongRef, _StrongRef]:
        """(root, parent) strong refs for a reply to ``uri``."""
        answer, _ = await self._xrpc(
            "GET", "app.bsky.feed.getPosts", "getPosts", params=[("uris", uri)]
        )
        if answer.status != 200:
            raise self._error("getPosts", answer)
        posts = parse(_Posts, answer, "Bluesky", "getPosts").posts
        if not posts:
            raise PublishError(
                "Bluesky: the post to reply to no longer exists (deleted or hidden)",
                transient=False,
            )
        parent = _StrongRef(uri=posts[0].uri, cid=posts[0].cid)
        reply = posts[0].record.get("reply")
        root = parent
        if isinstance(reply, dict) and isinstance(reply.get("root"), dict):
            try:
                root = _StrongRef.model_validate(reply["root"])
            except ValidationError:
                root = parent
        return root, parent

    async def _dids(self, text: str) -> dict[str, str]:
        dids: dict[str, str] = {}
        for handle in mention_handles(text)[:20]:
            answer, _ = await self._xrpc(
                "GET",
                "com.atproto.identity.resolveHandle",
                "resolveHandle",
                params={"handle": handle},
            )
            if answer.status == 200 and isinstance(answer.body, dict) and answer.body.get("did"):
                dids[handle] = str(answer.body["did"])
        return dids

    async def publish(self, case: Case, text: str, ref: str | None) -> Posted:
        if ref is None:
            raise PublishError("Bluesky: no record key chosen for this case", transient=False)
        root, parent = await self._parent(case.mention.id)
        record: dict[str, Any] = {
            "$type": POST,
            "text": text,
            "createdAt": datetime.now(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "reply": {"root": root.model_dump(), "parent": parent.model_dump()},
        }
        if case.mention.lang:
            record["langs"] = [case.mention.lang]
        found = facets(text, await self._dids(text))
        if found:
            record["facets"] = found
        session = await self._session()
        answer, session = await self._xrpc(
            "POST",
            "com.atproto.repo.createRecord",
            "createRecord",
            body={"repo": session["did"], "collection": POST, "rkey": ref, "record": record},
        )
        if answer.status == 200:
            created = parse(_StrongRef, answer, "Bluesky", "createRecord")
            return Posted(created.uri, self._url(created.uri))
        if answer.status >= 500:
            # The reference server answers a second create with the same rkey with a 500:
            # the record may be ours, from an attempt whose answer was lost.
            earlier = await self.find_reply(case, ref)
            if earlier is not None:
                return earlier
        raise self._error("createRecord", answer)


def _code(answer: Answer) -> str | None:
    body = answer.body
    return str(body.get("error")) if isinstance(body, dict) and "error" in body else None


def _token_error(answer: Answer) -> bool:
    return answer.status in (400, 401) and _code(answer) in TOKEN_ERRORS


def _split_cursor(cursor: str | None) -> tuple[str | None, set[str]]:
    if not cursor:
        return None, set()
    hwm, *uris = cursor.split("\n")
    return hwm, set(uris)


def _join_cursor(hwm: str | None, seen: set[str]) -> str:
    return "\n".join([hwm or "", *sorted(seen)])
