"""Run a coroutine on the fastest event loop available: uvloop where installed, else asyncio's.

Measured with bench/bench_votes.py at 20 concurrent senders: the vote path acks about 3,100
signed events/s on uvloop against about 1,600 on asyncio's loop (the bare Bolt app speeds up
alike, so the ratio between them hardly moves).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:  # e.g. Windows: the standard loop works, only slower
        return asyncio.run(main)
    return uvloop.run(main)
