"""Mastodon behind the network seam: its length rule and a REST client (the subset the
assistant uses) over the app's aiohttp session.

Exactly once: every attempt carries the same ``Idempotency-Key`` (derived from the case), which
Mastodon honours for an hour; a retry after an unknown outcome first looks for our reply in the
status's thread (``/context``), which covers any delay.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import aiohttp
from pydantic import BaseModel, ConfigDict, ValidationError

from assistant.errors import PublishError
from assistant.models import Case, Mention
from assistant.networks.base import (
    Answer,
    LengthRule,
    MentionItem,
    Posted,
    call,
    error,
    parse,
)
from assistant.text import grapheme_count, html_to_text, url_spans

log = logging.getLogger(__name__)

PAGE_LIMIT = 40
MAX_PAGES = 10
MASTODON_MAX_CHARS = 500
MASTODON_URL_LENGTH = 23
RESET_HEADER = "X-RateLimit-Reset"  # ISO 8601: the end of the current window

# Mastodon's Account::MENTION_RE: (?<![=/[:word:]])@((USERNAME)(?:@[[:word:]]+([.-]+[[:word:]]+)*)?)
_MENTION_RE = re.compile(
    r"(?<![=/\w])@([a-z0-9_]+(?:[.-]+[a-z0-9_]+)*)(?:@\w+(?:[.-]+\w+)*)?",
    re.IGNORECASE,
)
# twitter-text's end_mention_match: a mention followed by these is not a mention.
_END_MENTION_RE = re.compile(
    r"[@＠\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff\u0100-\u024f\u0253\u0254\u0256\u0257"
    r"\u0259\u025b\u0263\u0268\u026f\u0272\u0289\u028b\u02bb\u0300-\u036f\u1e00-\u1eff]|://"
)


def _entities(text: str) -> list[tuple[int, int, str]]:
    """(start, end, replacement) for URLs and mentions, overlaps removed like Mastodon."""
    found: list[tuple[int, int, str]] = []
    for start, end in url_spans(text):
        found.append((start, end, "x" * MASTODON_URL_LENGTH))
    for m in _MENTION_RE.finditer(text):
        if _END_MENTION_RE.match(text, m.end()):
            continue
        found.append((m.start(), m.end(), "@" + m.group(1)))
    found.sort(key=lambda e: e[0])
    kept: list[tuple[int, int, str]] = []
    for entity in found:
        if kept and entity[0] < kept[-1][1]:
            continue
        kept.append(entity)
    return kept


def mastodon_length(text: str) -> int:
    """The length of ``text`` as Mastodon's StatusLengthValidator counts it.

    Every URL with a protocol counts :data:`MASTODON_URL_LENGTH` (23) characters whatever
    its length; a mention ``@user@domain.tld`` counts as ``@user``; everything else counts
    in grapheme clusters (see :func:`grapheme_count` for the approximation). URL detection
    approximates twitter-text: the host must end in an alphabetic TLD-like label, and
    trailing punctuation (``.,;:!?)`` …) is not part of the URL. The TLD list itself is
    not checked, so a link to an unknown TLD may be counted as 23 where Mastodon counts it
    in full.
    """
    pieces: list[str] = []
    pos = 0
    for start, end, replacement in _entities(text):
        pieces.append(text[pos:start])
        pieces.append(replacement)
        pos = end
    pieces.append(text[pos:])
    return grapheme_count("".join(pieces))


def mastodon_reply_text(acct: str, text: str) -> str:
    """The status text of a reply to ``acct``: ``"@" + acct + " " + text``.

    ``acct`` is the Mastodon acct (``user`` or ``user@domain``); one leading ``@`` is
    stripped if given.
    """
    if acct.startswith("@"):
        acct = acct[1:]
    return "@" + acct + " " + text


def mastodon_overflow(acct: str, text: str) -> int:
    """How many characters the reply to ``acct`` is over Mastodon's limit (0 if it fits)."""
    return max(0, mastodon_length(mastodon_reply_text(acct, text)) - MASTODON_MAX_CHARS)


RULE = LengthRule(
    platform="mastodon",
    name="Mastodon",
    limit=MASTODON_MAX_CHARS,
    unit="characters",
    how=(
        "counted the way Mastodon counts: the @mention of the author is included, without its "
        "domain, and every link counts 23"
    ),
    count=mastodon_length,
    reply_text=mastodon_reply_text,
)


def idempotency_key(case_id: str) -> str:
    return f"community-ops-assistant-{case_id}"


def mention_from_notification(notification: dict[str, Any]) -> Mention:
    status = notification["status"]
    account = status.get("account") or notification["account"]
    return Mention.model_validate(
        {
            "platform": "mastodon",
            "id": str(status["id"]),
            "url": status.get("url") or status["uri"],
            "text": html_to_text(status.get("content") or "") or "(empty)",
            "author": {
                "id": str(account["id"]),
                "handle": account["acct"],
                "display_name": account.get("display_name") or "",
                "followers": account.get("followers_count") or 0,
            },
            "created_at": status["created_at"],
            "lang": status.get("language"),
        }
    )


class PostedStatus(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    url: str | None = None
    uri: str
    in_reply_to_id: str | None = None
    account: dict[str, Any] = {}

    def posted(self) -> Posted:
        return Posted(self.id, self.url or self.uri)


class MastodonClient:
    """One Mastodon account (``MASTODON_BASE_URL`` + ``MASTODON_ACCESS_TOKEN``)."""

    platform = "mastodon"
    rule = RULE

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        access_token: str,
        *,
        poll_seconds: float = 30.0,
        timeout: float = 10.0,
    ) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.poll_seconds = poll_seconds
        self._headers = {"Authorization": f"Bearer {access_token}"}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._account_id: str | None = None

    async def _request(self, method: str, path: str, what: str, **kwargs: Any) -> Answer:
        headers = {**self._headers, **kwargs.pop("headers", {})}
        return await call(
            self.session,
            method,
            f"{self.base_url}{path}",
            network="Mastodon",
            timeout=self._timeout,
            headers=headers,
            **kwargs,
        )

    def _error(self, what: str, answer: Answer) -> PublishError:
        body = answer.body
        detail = str(body["error"])[:200] if isinstance(body, dict) and "error" in body else None
        return error("Mastodon", what, answer, detail, reset_header=RESET_HEADER)

    async def notifications_since(self, since_id: str | None) -> list[dict[str, Any]]:
        """Mention notifications newer than since_id, oldest first, without gaps.

        Mastodon answers the newest page first; when a page is full, older pages are walked
        with max_id down to since_id (bounded to MAX_PAGES). A fresh install reads one page.
        """
        collected: list[dict[str, Any]] = []
        max_id: str | None = None
        for _ in range(MAX_PAGES):
            params: list[tuple[str, str]] = [("types[]", "mention"), ("limit", str(PAGE_LIMIT))]
            if since_id:
                params.append(("since_id", since_id))
            if max_id:
                params.append(("max_id", max_id))
            answer = await self._request(
                "GET", "/api/v1/notifications", "notifications", params=params
            )
            if answer.status != 200:
                raise self._error("notifications", answer)
            page = answer.body
            if not isinstance(page, list) or not all(
                isinstance(n, dict) and "id" in n for n in page
            ):
                raise PublishError(
                    "Mastodon notifications: malformed answer (not a list of notifications)",
                    transient=True,
                )
            collected.extend(page)
            if len(page) < PAGE_LIMIT or since_id is None:
                break
            max_id = str(page[-1]["id"])
        collected.sort(key=lambda n: (len(str(n["id"])), str(n["id"])))
        return collected

    async def mentions_since(self, cursor: str | None) -> list[MentionItem]:
        items: list[MentionItem] = []
        for notification in await self.notifications_since(cursor):
            mention: Mention | None = None
            if notification.get("type") == "mention" and notification.get("status"):
                try:
                    mention = mention_from_notification(notification)
                except (KeyError, TypeError, ValidationError) as exc:
                    log.warning(
                        "skipping malformed Mastodon notification %s: %s",
                        notification.get("id"),
                        exc,
                    )
            items.append(MentionItem(mention, str(notification["id"])))
        return items

    async def poll_delay(self) -> float:
        return self.poll_seconds

    def new_publish_ref(self) -> str | None:
        return None

    async def _get(self, path: str, what: str) -> Any:
        """GET an API path; PublishError (transient or not) on failure, None on 404."""
        answer = await self._request("GET", path, what)
        if answer.status == 404:
            return None
        if answer.status != 200:
            raise self._error(what, answer)
        if answer.body is None:
            raise PublishError(f"Mastodon {what}: the answer is not JSON", transient=True)
        return answer.body

    async def find_reply(self, case: Case, ref: str | None) -> Posted | None:
        """Our account's reply to the mention if one exists (from the status's context).

        The Idempotency-Key protects a retry for an hour only; before posting again after an
        attempt whose outcome is unknown, this tells whether the reply is already out.
        """
        status_id = case.mention.id
        if self._account_id is None:
            me = await self._get("/api/v1/accounts/verify_credentials", "verify_credentials")
            if not isinstance(me, dict) or "id" not in me:
                raise PublishError(
                    "Mastodon verify_credentials: account not found", transient=False
                )
            self._account_id = str(me["id"])
        context = await self._get(f"/api/v1/statuses/{status_id}/context", "context")
        descendants = context.get("descendants", []) if isinstance(context, dict) else []
        for raw in descendants if isinstance(descendants, list) else []:
            try:
                reply = PostedStatus.model_validate(raw)
            except ValidationError:
                continue
            if (
                reply.in_reply_to_id == status_id
                and str(reply.account.get("id")) == self._account_id
            ):
                return reply.posted()
        return None

    async def publish(self, case: Case, text: str, ref: str | None) -> Posted:
        """POST /api/v1/statuses as a reply, with the case's Idempotency-Key."""
        form = {"status": text, "in_reply_to_id": case.mention.id, "visibility": "public"}
        answer = await self._request(
            "POST",
            "/api/v1/statuses",
            "post",
            data=form,
            headers={"Idempotency-Key": idempotency_key(case.case_id)},
        )
        if answer.status != 200:
            raise self._error("post", answer)
        return parse(PostedStatus, answer, "Mastodon", "post").posted()
