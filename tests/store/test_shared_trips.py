"""The ingest steps' shared round trips on one real Redis (store._SharedTrips): script calls
made in the same event-loop turn go in one pipeline, each still its own atomic step with its
own answer or error, applied once even when Redis forgot the scripts."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from assistant.store import Store, keys
from tests.store.test_store import make_case

DAY = "2026-11-24"


async def test_concurrent_ingest_steps_share_one_connection(redis: aioredis.Redis) -> None:
    """40 concurrent new cases through a pool of ONE connection: one call at a time would
    need 40 (redis-py refuses the second: 'Too many connections'); shared, they all open."""
    kwargs = redis.connection_pool.connection_kwargs
    narrow = aioredis.Redis(
        connection_pool=aioredis.ConnectionPool(
            connection_class=redis.connection_pool.connection_class,
            max_connections=1,
            **kwargs,
        )
    )
    try:
        store = Store(narrow, retention_seconds=3600)
        cases = [make_case(str(n)) for n in range(40)]
        await store.open_case(make_case("warm-up"))  # loads the scripts
        opened = await asyncio.gather(*(store.open_case(c, count_day=DAY) for c in cases))
        assert opened == [(True, c.case_id) for c in cases]
        assert await store.mention_counts([DAY]) == (40, 40)
    finally:
        await narrow.aclose()


async def test_each_call_gets_its_own_answer_and_error(store: Store, redis: aioredis.Redis) -> None:
    good, bad, again = make_case("1"), make_case("2"), make_case("1")
    await redis.set(keys.audit(bad.case_id), "not a stream")  # its step fails (WRONGTYPE)
    results = await asyncio.gather(
        store.open_case(good, count_day=DAY),
        store.open_case(bad, count_day=DAY),
        store.open_case(again, count_day=DAY),  # the same mention as the first, after it
        return_exceptions=True,
    )
    assert results[0] == (True, good.case_id)
    assert isinstance(results[1], ResponseError)
    assert results[2] == (False, good.case_id)  # in order: the first call stored it
    assert await store.mention_counts([DAY]) == (1, 1)  # the failed step was not counted


async def test_steps_apply_once_when_redis_forgot_the_scripts(
    store: Store, redis: aioredis.Redis
) -> None:
    await store.open_case(make_case("warm-up"))
    await redis.script_flush()
    cases = [make_case(str(n)) for n in range(10)]
    first = await asyncio.gather(*(store.open_case(c, count_day=DAY) for c in cases * 2))
    assert [opened for opened, _ in first] == [True] * 10 + [False] * 10
    assert await store.mention_counts([DAY]) == (10, 10)
    for case in cases:
        entries = await store.case_history(case.case_id)
        assert [e.action for e in entries] == ["case_opened"]
