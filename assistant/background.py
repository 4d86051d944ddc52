"""Tracked background tasks: best-effort follow-ups that SIGTERM waits for (drains)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable
from typing import Any

log = logging.getLogger(__name__)


class Background:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str = "") -> None:
        task = asyncio.create_task(coro, name=name or None)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.warning("background task %s failed: %s", task.get_name(), exc)

    async def drain(self, timeout: float = 10.0) -> None:
        await stop_within(self._tasks, timeout)


async def stop_within(tasks: Iterable[asyncio.Task[Any]], timeout: float) -> None:
    """Wait up to ``timeout`` s for ``tasks``, then cancel those still running and wait for
    them to unwind (a drain's bound: SIGTERM must finish within the grace period)."""
    tasks = set(tasks)
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
