"""runtime.steady_gc: the collector's settings for a server once start-up is done."""

from __future__ import annotations

import gc
import weakref

from assistant import runtime


class Node:
    me: Node | None = None


def cycle() -> weakref.ref[Node]:
    """A garbage reference cycle (only the collector frees it); a weak reference to it."""
    node = Node()
    node.me = node
    return weakref.ref(node)


def test_steady_gc_freezes_what_start_up_left_and_still_collects_later_cycles() -> None:
    saved = gc.get_threshold()
    try:
        early = cycle()
        runtime.steady_gc()
        assert early() is None  # start-up's garbage was collected, not frozen
        assert gc.get_freeze_count() > 0  # what is alive is out of the collector's passes
        assert gc.get_threshold() == (runtime.GC_YOUNG_THRESHOLD, *saved[1:])
        late = cycle()
        assert late() is not None
        assert gc.isenabled()
        # The collector still runs on its own: a few young generations' worth of allocations
        # (kept alive: only the net count triggers it), and the cycle is gone, with no collect().
        kept = [[] for _ in range(3 * runtime.GC_YOUNG_THRESHOLD)]
        assert late() is None, len(kept)  # cycles made afterwards are still collected
    finally:
        gc.unfreeze()
        gc.set_threshold(*saved)
