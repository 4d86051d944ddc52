"""Mastodon REST API client (the subset the assistant uses), over the app's aiohttp session."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aiohttp
from pydantic import BaseModel, ConfigDict

from assistant.errors import PublishError

PAGE_LIMIT = 40
MAX_PAGES = 10


class PostedStatus(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    url: str | None = None
    uri: str
    in_reply_to_id: str | None = None
    account: dict[str, Any] = {}


class MastodonClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        access_token: str,
        *,
        timeout: float = 10.0,
    ) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {access_token}"}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._account_id: str | None = None

    async def mentions_since(self, since_id: str | None) -> list[dict[str, Any]]:
        """Mention notifications newer than since_id, oldest first, without gaps.

        Mastodon answers the newest page first; when a page is full, older pages are walked
        with max_id down to since_id (bounded to MAX_PAGES).
        """
        collected: list[dict[str, Any]] = []
        max_id: str | None = None
        for _ in range(MAX_PAGES):
            params: list[tuple[str, str]] = [("types[]", "mention"), ("limit", str(PAGE_LIMIT))]
            if since_id:
                params.append(("since_id", since_id))
            if max_id:
                params.append(("max_id", max_id))
            async with self.session.get(
                f"{self.base_url}/api/v1/notifications",
                params=params,
                headers=self._headers,
                timeout=self._timeout,
            ) as resp:
                if resp.status != 200:
                    raise PublishError(
                        f"notifications: HTTP {resp.status} {await _error(resp)}",
                        transient=resp.status >= 500 or resp.status == 429,
                        retry_after=_retry_after(resp),
                    )
                page: list[dict[str, Any]] = await resp.json()
            collected.extend(page)
            if len(page) < PAGE_LIMIT or since_id is None:
                break
            max_id = str(page[-1]["id"])
        collected.sort(key=lambda n: (len(str(n["id"])), str(n["id"])))
        return collected

    async def _get(self, path: str) -> Any:
        """GET an API path; PublishError (transient or not) on failure, None on 404."""
        try:
            async with self.session.get(
                f"{self.base_url}{path}", headers=self._headers, timeout=self._timeout
            ) as resp:
                if resp.status == 404:
                    return None
                if resp.status != 200:
                    raise PublishError(
                        f"Mastodon answered HTTP {resp.status}: {await _error(resp)}",
                        transient=resp.status >= 500 or resp.status in (408, 429),
                        retry_after=_retry_after(resp),
                    )
                return await resp.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise PublishError(
                f"Mastodon unreachable: {type(exc).__name__} {exc}", transient=True
            ) from exc

    async def own_reply_to(self, status_id: str) -> PostedStatus | None:
        """Our account's reply to ``status_id`` if one exists (from the status's context).

        The Idempotency-Key protects a retry for an hour only; before posting again after an
        attempt whose outcome is unknown, this tells whether the reply is already out.
        """
        if self._account_id is None:
            me = await self._get("/api/v1/accounts/verify_credentials")
            if me is None:
                raise PublishError("verify_credentials: account not found", transient=False)
            self._account_id = str(me["id"])
        context = await self._get(f"/api/v1/statuses/{status_id}/context")
        for raw in (context or {}).get("descendants", []):
            reply = PostedStatus.model_validate(raw)
            if (
                reply.in_reply_to_id == status_id
                and str(reply.account.get("id")) == self._account_id
            ):
                return reply
        return None

    async def reply(self, in_reply_to_id: str, status: str, idempotency_key: str) -> PostedStatus:
        """POST /api/v1/statuses as a reply; PublishError says whether a retry may help."""
        headers = {**self._headers, "Idempotency-Key": idempotency_key}
        form = {"status": status, "in_reply_to_id": in_reply_to_id, "visibility": "public"}
        try:
            async with self.session.post(
                f"{self.base_url}/api/v1/statuses",
                data=form,
                headers=headers,
                timeout=self._timeout,
            ) as resp:
                if resp.status == 200:
                    return PostedStatus.model_validate(await resp.json())
                detail = await _error(resp)
                transient = resp.status >= 500 or resp.status in (408, 429)
                raise PublishError(
                    f"Mastodon answered HTTP {resp.status}: {detail}",
                    transient=transient,
                    retry_after=_retry_after(resp),
                )
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise PublishError(
                f"Mastodon unreachable: {type(exc).__name__} {exc}", transient=True
            ) from exc


async def _error(resp: aiohttp.ClientResponse) -> str:
    try:
        body = await resp.json(content_type=None)
    except ValueError:
        return (await resp.text())[:200]
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])[:200]
    return str(body)[:200]


def _retry_after(resp: aiohttp.ClientResponse) -> float | None:
    """Retry-After (seconds), or on a 429 Mastodon's X-RateLimit-Reset (ISO 8601), as a delay.

    Mastodon sends X-RateLimit-Reset on every answer (the end of the current window); it
    means "wait until then" only when the limit was hit.
    """
    value = resp.headers.get("Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
    reset = resp.headers.get("X-RateLimit-Reset")
    if reset and resp.status == 429:
        try:
            when = datetime.fromisoformat(reset.replace("Z", "+00:00"))
        except ValueError:
            return None
        return max(0.0, (when - datetime.now(UTC)).total_seconds())
    return None
