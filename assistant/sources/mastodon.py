"""The Mastodon poller: mention notifications become ingested mentions.

Only one replica polls at a time (a Redis lease); the cursor (the newest notification id
seen) is kept in Redis, so a restart neither misses nor replays mentions. The same status
arriving through the webhook too opens no second case (the case id is derived from it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError

from assistant.cases import IngestOutcome
from assistant.errors import PublishError
from assistant.models import Mention
from assistant.networks.mastodon import MastodonClient
from assistant.store import Store
from assistant.text import html_to_text

log = logging.getLogger(__name__)

CURSOR = "mastodon"
LEASE = "poller:mastodon"


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


class MastodonPoller:
    def __init__(
        self,
        client: MastodonClient,
        store: Store,
        ingest: Callable[[Mention], Awaitable[IngestOutcome]],
        *,
        interval: float,
    ) -> None:
        self.client = client
        self.store = store
        self.ingest = ingest
        self.interval = interval
        self.owner = uuid.uuid4().hex
        self._stop = asyncio.Event()

    async def poll_once(self) -> int:
        """One poll if this replica holds the lease; returns mentions ingested."""
        if not await self.store.acquire_lease(LEASE, self.owner, self.interval * 3 + 10):
            return 0
        since = await self.store.get_cursor(CURSOR)
        notifications = await self.client.mentions_since(since)
        count = 0
        for notification in notifications:
            if notification.get("type") == "mention" and notification.get("status"):
                try:
                    mention = mention_from_notification(notification)
                except (KeyError, ValidationError) as exc:
                    log.warning(
                        "skipping malformed notification %s: %s", notification.get("id"), exc
                    )
                else:
                    await self.ingest(mention)
                    count += 1
            await self.store.set_cursor(CURSOR, str(notification["id"]))
        return count

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.poll_once()
            except (TimeoutError, PublishError, OSError) as exc:
                log.warning("Mastodon poll failed: %s", exc)
            except Exception:
                log.exception("Mastodon poll failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval)
        await self.store.release_lease(LEASE, self.owner)

    def stop(self) -> None:
        self._stop.set()
