"""Slack's per-channel post rate, respected by design: one limiter shared by every replica.

Slack allows about one message per second per channel (short bursts tolerated) and answers
HTTP 429 with ``Retry-After`` beyond. Every ``chat.postMessage`` and ``chat.update`` the
gateway (assistant/slack.py) sends to a channel first takes a token from that channel's
bucket in Redis (rate_limit.lua, under the hash tag ``{rate.<channel>}``), so N replicas
together stay under the rate. A 429 that still comes back (another app posting, a smaller
workspace limit) pushes the bucket back by its Retry-After: every replica then waits instead
of retrying blindly.

A caller that must wait longer than ``INLINE_WAIT`` gets :class:`~assistant.errors.Throttled`
before anything is sent; the job runner reschedules its job (durable in Redis) without
counting a failure. Posts made inside :func:`priority` (the surge card, the surge page) go
ahead of the posts waiting: ``hold`` makes plain takes wait while one is pending.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

from assistant.errors import Throttled
from assistant.store import Store

INLINE_WAIT = 0.25  # seconds a caller may sleep for its token; longer: its job waits in the queue
HOLD_SECONDS = 10.0  # plain posts yield to a pending priority post at most this long

_priority: ContextVar[bool] = ContextVar("slack_post_priority", default=False)


@contextlib.contextmanager
def priority() -> Iterator[None]:
    """Posts and updates sent inside this block go ahead of those waiting for the channel."""
    token = _priority.set(True)
    try:
        yield
    finally:
        _priority.reset(token)


class ChannelLimiter:
    def __init__(self, store: Store, *, rate: float, burst: int) -> None:
        self.store = store
        self.rate = rate
        self.burst = burst

    async def acquire(self, channel: str) -> None:
        """Take a token for one message to ``channel``: at once, after a short sleep, or raise
        Throttled (nothing sent) when the wait is longer than INLINE_WAIT."""
        urgent = _priority.get()
        if urgent:
            await self.hold(channel)
        slept = 0.0
        while True:
            wait = await self.store.post_slot(
                channel, "priority" if urgent else "take", rate=self.rate, burst=self.burst
            )
            if wait <= 0:
                return
            if slept + wait > INLINE_WAIT:
                raise Throttled(channel, wait, 0.0 if urgent else 1 / self.rate)
            await asyncio.sleep(wait)
            slept += wait

    async def check(self, channel: str) -> None:
        """Raise Throttled now if a plain post to ``channel`` would have to wait longer than
        INLINE_WAIT (nothing taken): a job waiting for its turn asks before it does the work
        of preparing its message, so the cards queued behind a busy channel wake cheaply."""
        wait = await self.store.post_slot(channel, "peek", rate=self.rate, burst=self.burst)
        if wait > INLINE_WAIT:
            raise Throttled(channel, wait, 1 / self.rate)

    async def hold(self, channel: str) -> None:
        """A priority post is coming: plain posts to ``channel`` wait for it."""
        await self.store.post_slot(
            channel, "hold", rate=self.rate, burst=self.burst, ms=HOLD_SECONDS * 1000
        )

    async def slow_down(self, channel: str, retry_after: float) -> None:
        """Slack answered 429: no replica posts to ``channel`` for ``retry_after`` seconds."""
        await self.store.post_slot(
            channel, "penalize", rate=self.rate, burst=self.burst, ms=retry_after * 1000
        )
