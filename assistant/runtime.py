"""Run a coroutine on the fastest event loop available: uvloop where installed, else asyncio's.

Measured with bench/bench_votes.py at 20 concurrent senders: the vote path acks about 3,100
signed events/s on uvloop against about 1,600 on asyncio's loop (the bare Bolt app speeds up
alike, so the ratio between them hardly moves).

``steady_gc()``, once start-up is done (``assistant run`` calls it), tunes the cyclic garbage
collector for a server: what start-up built (modules, the scorer's model, settings) lives as
long as the process, so it is frozen out of the collector's passes (a full pass no longer walks
it), and the young generation is collected every 10,000 net allocations instead of 700. A
request's objects die by reference counting and never reach a collection; the collections were
the cost: measured with bench/bench_surge.py, 10,000 webhook requests triggered ~500 young and
4 full collections, ~65 µs of CPU per mention; after steady_gc(), 2 young ones (~1 µs).
Garbage cycles are still collected, in larger batches.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:  # e.g. Windows: the standard loop works, only slower
        return asyncio.run(main)
    return uvloop.run(main)


GC_YOUNG_THRESHOLD = 10_000  # net allocations between young collections (CPython's default: 700)


def steady_gc() -> None:
    """Once start-up is done: collect its garbage, freeze what is left (it lives as long as the
    process) and collect the young generation less often (see the module's docstring)."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)
