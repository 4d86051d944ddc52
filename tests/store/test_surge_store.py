"""Surge detection and the per-channel Slack limiter on a real Redis and a real Redis Cluster:
the Lua steps execute the pure rules of assistant/surge.py (compared on the same inputs), the
limiter is one bucket shared by every replica, and a 429 pushes it back."""

from __future__ import annotations

import asyncio
import random
import time

import pytest
import redis.asyncio as aioredis

from assistant.store import Store, keys
from assistant.surge import SurgePolicy, deserves_card, in_surge, priority_of
from tests.conftest import BACKENDS

POLICY = SurgePolicy(threshold=5, window=60, quiet=30, reach=10_000, cards_per_minute=3, refresh=5)
T0 = 1_790_000_040.0  # on a minute boundary + 0 s


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def step_args(
    now: float, case_id: str, *, followers: int, threat: bool, prio: float, policy: SurgePolicy
) -> list[object]:
    return [
        int(now * 1000),
        int(policy.window * 1000),
        policy.threshold,
        case_id,
        "mastodon",
        f"user{case_id}@social.example",
        followers,
        "insult profanity",
        f"text of {case_id}",
        1 if threat else 0,
        prio,
        policy.reach,
        policy.cards_per_minute,
        3600,
        int(policy.refresh * 1000),
        5,
        5,
    ]


async def test_the_lua_step_applies_the_pure_rule(store: Store) -> None:
    rng = random.Random(7)
    minute_cards: dict[int, int] = {}
    best: float | None = None
    count = 0
    now = T0
    for n in range(120):
        now += rng.choice([0.2, 0.5, 1.0, 3.0])
        followers = rng.choice([3, 50, 800, 20_000, 2_000_000])
        threat = rng.random() < 0.05
        prio = priority_of(rng.choice(["low", "medium", "high"]), rng.random(), followers)
        decision, reason, *_ = await store.surge_step(
            "C1",
            step_args(now, f"c{n}", followers=followers, threat=threat, prio=prio, policy=POLICY),
        )
        count += 1
        if not in_surge(count, POLICY.threshold):  # all within the 60 s window until then
            assert decision == "none"
            continue
        minute = int(now // 60)
        expected = deserves_card(
            threat=threat,
            followers=followers,
            priority=prio,
            cards_this_minute=minute_cards.get(minute, 0),
            best_grouped=best,
            policy=POLICY,
        )
        assert (decision, reason or None) == ("card" if expected else "group", expected), n
        if expected:
            minute_cards[minute] = minute_cards.get(minute, 0) + 1
        else:
            best = prio if best is None else max(best, prio)
        if n > 100:
            break
    assert best is not None  # some were grouped
    assert max(v for v in minute_cards.values()) >= POLICY.cards_per_minute  # the cap was hit


async def test_a_surge_needs_the_rate_within_the_window_and_ends_after_quiet(store: Store) -> None:
    args = dict(followers=10, threat=False, prio=1.0, policy=POLICY)
    # 4 mentions, then 61 s later 4 more: never 5 within 60 s
    for n in range(4):
        assert (await store.surge_step("C1", step_args(T0 + n, f"a{n}", **args)))[0] == "none"  # type: ignore[arg-type]
    for n in range(4):
        step = await store.surge_step("C1", step_args(T0 + 65 + n, f"b{n}", **args))  # type: ignore[arg-type]
        assert step[0] == "none"
    step = await store.surge_step("C1", step_args(T0 + 70, "b4", **args))  # type: ignore[arg-type]
    assert step[0] in ("card", "group") and step[3] == 1  # entered
    surge_id = str(step[2])
    step = await store.surge_step("C1", step_args(T0 + 71, "b5", **args))  # type: ignore[arg-type]
    assert step[3] == 0 and str(step[2]) == surge_id  # the same surge
    assert await store.surge_end("C1", surge_id, T0 + 71 + 29, POLICY.quiet) == ("wait", T0 + 101)
    assert await store.surge_end("C1", "other", T0 + 200, POLICY.quiet) == ("none", 0.0)
    assert await store.surge_end("C1", surge_id, T0 + 101, POLICY.quiet) == ("ended", T0 + 101)
    assert await store.surge_end("C1", surge_id, T0 + 300, POLICY.quiet) == ("ended", T0 + 101)
    snap = await store.surge_snapshot("C1", top=5)
    assert snap is not None and snap.state["count"] == "2" and snap.state["net:mastodon"] == "2"
    # other channels are not affected; every surge key has a TTL
    assert await store.surge_snapshot("C2", top=5) is None
    for key in keys.surge_keys("C1")[1:4]:  # state, authors, samples (none grouped)
        assert 0 < await store.redis.ttl(key) <= 3600


async def test_a_grouped_mention_is_stored_counted_once_and_promoted(store: Store) -> None:
    """During a surge a grouped mention is stored once and counted once on its day: by the
    surge step itself on one node, by open_case right after it on a cluster (as CaseService
    does); sent again, it is a duplicate, neither counted in the surge nor in the day. The
    Promote button then opens it once, with its card and SLA jobs."""
    from tests.store.test_store import make_case

    day = "2026-11-24"
    no_cards = SurgePolicy(
        threshold=5, window=60, quiet=30, reach=10**9, cards_per_minute=0, refresh=5
    )
    args = dict(followers=10, threat=False, prio=1.0, policy=no_cards)
    for n in range(4):
        assert (await store.surge_step("C1", step_args(T0 + n, f"a{n}", **args)))[0] == "none"  # type: ignore[arg-type]
    case = make_case("grouped")
    answers = []
    for n in range(2):
        answer = await store.surge_step(
            "C1",
            step_args(T0 + 5 + n, case.case_id, **args),  # type: ignore[arg-type]
            case=case,
            escalate_at=T0 + 1800,
            count_day=day,
        )
        if answer[0] == "group" and not answer[5]:  # a cluster: the case is stored next
            assert (await store.open_case(case, grouped=True, count_day=day))[0]
        answers.append(str(answer[0]))
    assert answers == ["group", "duplicate"]
    stored = await store.get_case(case.case_id)
    assert stored is not None and stored.status == "grouped"
    assert await store.mention_counts([day]) == (1, 1)
    snap = await store.surge_snapshot("C1", top=5)
    assert snap is not None and snap.state["count"] == "1" and snap.waiting == 1
    # the surge card's marks, and the Promote button (surge_mark.lua, promote_case.lua: one
    # slot each on a cluster too)
    surge_id = snap.state["id"]
    assert await store.surge_mark("C1", surge_id, card_ts="1.0", paged="1")
    assert not await store.surge_mark("C1", "an-older-surge", card_ts="2.0")
    assert (await store.surge_snapshot("C1", top=5)).state["card_ts"] == "1.0"  # type: ignore[union-attr]
    promoted = [
        await store.promote_case(case.case_id, escalate_at=T0 + 1800, user="UALICE", now=T0 + 9)
        for _ in range(2)
    ]
    assert promoted == ["promoted", "open"]
    assert case.case_id in await store.open_case_ids()
    pending = await store.pending_jobs()
    assert {
        keys.job_id(keys.JOB_POST_CARD, case.case_id),
        keys.job_id(keys.JOB_SLA, case.case_id),
    } <= set(pending)


async def test_a_peek_tells_the_wait_and_takes_nothing(store: Store) -> None:
    rate, burst = 0.1, 2  # a token every 10 s: no refill within the test

    async def slot(channel: str, op: str, ms: float = 0) -> float:
        return await store.post_slot(channel, op, rate=rate, burst=burst, ms=ms)  # type: ignore[arg-type]

    assert [await slot("C1", "peek") for _ in range(5)] == [0] * 5
    assert [await slot("C1", "take") for _ in range(2)] == [0, 0]  # the burst is all there
    wait = await slot("C1", "peek")
    assert 9 < wait <= 10 and 9 < await slot("C1", "take") <= 10  # as a take would wait
    await slot("C2", "hold", 10_000)  # a priority post is coming: plain posts wait for it
    assert await slot("C2", "peek") > 0
    assert await slot("C2", "priority") == 0
    assert await slot("C2", "peek") == 0  # the hold is released, one token left
    await slot("C3", "penalize", 3000)  # Slack answered 429
    assert 2 < await slot("C3", "peek") <= 3


async def test_one_limiter_for_every_replica(redis: aioredis.Redis, redis_url: str) -> None:
    """Two stores on their own connections (two replicas) share each channel's bucket."""
    from assistant.store.connect import connect

    other = await connect(redis_url, cluster=not isinstance(redis, aioredis.Redis))
    try:
        a, b = Store(redis, retention_seconds=60), Store(other, retention_seconds=60)
        rate, burst = 0.1, 2  # a token every 10 s: no refill within the test
        waits = [await s.post_slot("C1", "take", rate=rate, burst=burst) for s in (a, b, a, b)]
        assert waits[:2] == [0, 0] and all(w > 0 for w in waits[2:])  # the burst is shared
        assert await a.post_slot("C2", "take", rate=rate, burst=burst) == 0  # per channel
        # Slack answered 429 Retry-After 3 to one replica: the other waits too
        await a.post_slot("C3", "penalize", rate=rate, burst=burst, ms=3000)
        wait = await b.post_slot("C3", "take", rate=rate, burst=burst)
        assert 1.0 < wait <= 3.0
        # a priority post (the surge card) goes ahead of plain posts once it holds the channel
        await a.post_slot("C4", "hold", rate=rate, burst=burst, ms=10_000)
        assert await b.post_slot("C4", "take", rate=rate, burst=burst) > 0
        assert await a.post_slot("C4", "priority", rate=rate, burst=burst) == 0
        assert await b.post_slot("C4", "take", rate=rate, burst=burst) == 0  # hold released
        assert 0 < await a.redis.pttl(keys.rate("C1")) <= 20_000 + 60_000  # burst/rate + 1 min
    finally:
        await other.aclose()


async def test_the_bucket_never_lets_more_than_its_rate_through(store: Store) -> None:
    rate, burst = 20.0, 1
    start = time.monotonic()
    taken = 0
    while time.monotonic() - start < 0.5:
        wait = await store.post_slot("C9", "take", rate=rate, burst=burst)
        if wait == 0:
            taken += 1
        else:
            assert wait <= 1 / rate + 0.01  # the time until the next token, no more
            await asyncio.sleep(wait)
    elapsed = time.monotonic() - start
    assert 2 <= taken <= burst + rate * elapsed + 1  # it refills, never faster than the rate
