"""Run a coroutine on the fastest event loop available: uvloop where installed, else asyncio's.

Measured with bench/bench_votes.py: at 20 concurrent senders the vote path goes from 0.53x to
0.85x the bare Bolt app's throughput on uvloop (both apps on the same loop).
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
