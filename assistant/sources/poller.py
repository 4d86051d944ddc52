"""The poller, generic over the network registry: each network's mentions become ingested ones.

One poller per configured network account. Only one replica polls an account at a time (a
Redis lease per platform); the cursor (the network's own high-water mark) is kept in Redis,
so a restart neither misses nor replays mentions, and each entry's cursor is stored once the
entry is handled. A fresh install (no cursor yet) processes the mentions of its first poll
younger than an hour and only moves the cursor past older ones. The same post arriving
through the webhook too opens no second case (the case id is derived from it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

from assistant.cases import IngestOutcome
from assistant.errors import PublishError
from assistant.models import Mention
from assistant.networks.base import FIRST_POLL_MAX_AGE, Network
from assistant.store import Store

log = logging.getLogger(__name__)

MAX_RATE_LIMIT_WAIT = 3600.0
"""A rate-limited poll waits for the network's reset time, at most this long (a reset
header far in the future is taken as a mistake: the next poll asks again)."""


class Poller:
    def __init__(
        self,
        network: Network,
        store: Store,
        ingest: Callable[[Mention], Awaitable[IngestOutcome]],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.network = network
        self.store = store
        self.ingest = ingest
        self.clock = clock
        self.owner = uuid.uuid4().hex
        self.cursor_name = network.platform
        self.lease_name = f"poller:{network.platform}"
        self._stop = asyncio.Event()
        self.paused: Callable[[], Awaitable[float | None]] | None = None  # /ops pause
        self.health: Callable[[str, bool], None] | None = None  # the trouble watch

    async def poll_once(self) -> int:
        """One poll if this replica holds the lease; returns mentions ingested."""
        if self.paused is not None and await self.paused():
            return 0  # /ops pause: the cursor stays, the next poll after it catches up
        if not await self.store.acquire_lease(self.lease_name, self.owner, self._lease()):
            return 0
        since = await self.store.get_cursor(self.cursor_name)
        items = await self.network.mentions_since(since)
        if items and self.paused is not None and await self.paused():
            return 0  # paused while fetching: what was fetched after the pause waits for it
        count = 0
        for item in items:
            mention = item.mention
            if mention is not None and since is None:
                age = self.clock() - mention.created_at.timestamp()
                if age > FIRST_POLL_MAX_AGE:
                    mention = None  # a fresh install: older mentions only move the cursor
            if mention is not None:
                await self.ingest(mention)
                count += 1
            await self.store.set_cursor(self.cursor_name, item.cursor)
        return count

    async def run(self) -> None:
        name = self.network.rule.name
        while not self._stop.is_set():
            wait_at_least = 0.0  # a rate-limited network's reset time
            try:
                await self.poll_once()
                if self.health is not None:
                    self.health(self.network.platform, True)
            except (TimeoutError, PublishError, OSError) as exc:
                log.warning("%s poll failed: %s", name, exc)
                if isinstance(exc, PublishError) and exc.retry_after:
                    wait_at_least = min(exc.retry_after, MAX_RATE_LIMIT_WAIT)
                if self.health is not None:
                    self.health(self.network.platform, False)
            except Exception:
                log.exception("%s poll failed", name)
            try:
                delay = await self.network.poll_delay()
            except Exception as exc:
                log.warning("%s: poll interval unknown (%s); using the setting", name, exc)
                delay = self.network.poll_seconds
            if wait_at_least > delay:
                log.info("%s: next poll in %.0f s, when the rate limit resets", name, wait_at_least)
                delay = wait_at_least
                try:  # the lease covers the wait: no other replica asks meanwhile
                    await self.store.acquire_lease(
                        self.lease_name, self.owner, delay + self._lease()
                    )
                except Exception as exc:
                    log.warning("%s: the poll lease was not extended: %s", name, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)
        await self.store.release_lease(self.lease_name, self.owner)

    def _lease(self) -> float:
        return self.network.poll_seconds * 3 + 10

    def stop(self) -> None:
        self._stop.set()
