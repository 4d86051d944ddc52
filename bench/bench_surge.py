"""Surge benchmark: 10,000 hostile mentions through the signed webhook as fast as this machine
sends them, with surge mode on (the default: 50 within 10 minutes) and, as the baseline in
the same run, off — side by side; then surge on again with the webhook's batch form.

    .venv/bin/python bench/bench_surge.py [--mentions 10000] [--senders 128] [--batch 50]
                                          [--observe 20] [--rounds 1] [--replicas 1]

The real app (``assistant.sandbox``: embedded Redis with its AOF fsynced on every write, the
Slack emulator rate-limiting ``chat.postMessage`` at Slack's 1 message a second per channel,
burst 3) and the app's own limiter at its defaults (1 a second, burst 2). Signed mentions come
from a separate load-generator process (bench/loadgen.py), from a crowd of 2,000 authors,
through ``--senders`` keep-alive connections. The generator builds and signs every request
before the clock starts (signing is the sender's work, done on its own machine in
production; here it would take CPU from the server on the same 2 cores).
Three columns, in this order, each on a fresh app and Redis:
- **surge off (baseline)**: one mention per request, every mention opens a case;
- **surge on**: one mention per request (``POST /ingest/mentions``) — the headline figure;
- **surge on, batched**: ``--batch`` mentions per request (``POST /ingest/mentions/batch``),
  what a tool that forwards batches gets;
- with ``--replicas N`` (N > 1), a fourth column: **surge on, N replicas**, one mention per
  request as in the second column, to N replicas of the app on the same Redis as production
  runs them (deploy/k8s: 2), each in its own process (bench/replica.py), the senders'
  connections spread over them. The one-replica columns are still measured and printed.
The app's process calls ``runtime.steady_gc()`` once started, as ``assistant run`` does.
Printed for each (the median over ``--rounds`` rounds, with each round's accept time):
- ingest: mentions accepted (202 / "opened" or "grouped"), the time to accept them all,
  mentions/s, p50/p99 answer latency (per request: a batch's answer covers the batch)
  (target: all 10,000 accepted in under 10 s, one mention per request);
- where the CPU went during the load, per mention: the load generator, the app's process
  (the Slack emulator and the observer share it; with replicas, all the app's processes) and
  redis-server;
- Slack: messages posted or updated in the channel per second — the highest count in any
  1-second window and the mean over the observation — and the emulator's 429s (target:
  never above the limiter's rate, zero 429s);
- the time from the first accepted mention (and from the surge's start) until the surge card
  and the page to on-call exist (target under 5 s);
- Redis memory per grouped mention: MEMORY USAGE of a sample of grouped cases plus their
  share of the surge's index, and the growth of ``used_memory`` per accepted mention.
The machine's load average is printed before each run. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

RATE, BURST = 1.0, 2  # the app's limiter (its defaults)
SLACK_RATE, SLACK_BURST = 1.0, 3  # the emulator: Slack's documented per-channel rate


def slack_rate(calls: list[tuple[float, bool]], since: float, until: float) -> tuple[int, float]:
    """(most successful writes in any 1-second window, mean writes/s) between two times."""
    times = sorted(t for t, ok in calls if ok and since <= t <= until)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] < t - 1.0:
            j += 1
        best = max(best, i - j + 1)
    return best, len(times) / max(1e-9, until - since)


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(
    name: str,
    data_dir: Path,
    args: argparse.Namespace,
    surge: bool,
    batch: int,
    replicas: int = 1,
) -> dict[str, Any]:
    from bench_votes import percentile
    from loadgen import run_ingest_load
    from replica import Replica, settings_values, start_replica

    from assistant import runtime
    from assistant.sandbox import CHANNEL, sandbox
    from assistant.store import keys

    overrides: dict[str, Any] = {
        "ASSISTANT_SLACK_POSTS_PER_SECOND": RATE,
        "ASSISTANT_SLACK_POST_BURST": BURST,
        "ASSISTANT_SURGE_THRESHOLD": 50 if surge else 0,
        "slack_post_rate_limit": SLACK_RATE,
    }
    load_avg = "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"  {name}: {args.mentions} mentions… ({load_avg})", flush=True)
    async with sandbox(data_dir, redis_url=None, **overrides) as world:
        runtime.steady_gc()  # as `assistant run` does once started
        world.slack.post_burst = SLACK_BURST
        redis = world.app.store.redis
        redis_pid = int((await redis.info("server"))["process_id"])
        before = int((await redis.info("memory"))["used_memory"])
        path = "/ingest/mentions/batch" if batch > 1 else "/ingest/mentions"
        others: list[Replica] = []
        if replicas > 1:
            embedded = world.app.embedded_redis
            assert embedded is not None
            values = settings_values(world.settings, REDIS_URL=embedded.url, PORT=0)
            others = [await start_replica(values) for _ in range(replicas - 1)]
        urls = [f"{world.base_url}{path}"] + [f"http://127.0.0.1:{r.port}{path}" for r in others]
        app_cpu, redis_cpu = time.process_time(), _proc_cpu(redis_pid)
        others_cpu = [_proc_cpu(r.pid) for r in others]
        load = await run_ingest_load(
            urls,
            args.senders,
            600.0,
            0.0,
            count=args.mentions,
            authors=2000,
            batch=batch,
        )
        accepted = int(load["mentions"])
        cpu = {
            "generator": load["cpu"],
            "app": time.process_time()
            - app_cpu
            + sum(_proc_cpu(r.pid) - cpu for r, cpu in zip(others, others_cpu, strict=True)),
            "redis": _proc_cpu(redis_pid) - redis_cpu,
        }
        firsts = [
            await redis.zrange(keys.open_cases(n), 0, 0, withscores=True)
            for n in range(keys.SHARDS)
        ]
        first = min(float(s) / 1000 for page in firsts for _, s in page)
        # watch the channel for a while: the cards and updates drain at the limiter's rate
        started = time.time()
        figures: dict[str, Any] = {
            "accepted": accepted,
            "load": load,
            "first": first,
            "cpu": {k: v / max(1, accepted) * 1e6 for k, v in cpu.items()},
        }
        card_at = page_at = None
        while time.time() - started < args.observe:
            await asyncio.sleep(0.1)
            if card_at is None:
                cards = [
                    m
                    for m in world.slack.bot_messages(CHANNEL)
                    if (m.metadata or {}).get("event_type") == "surge_card"
                ]
                if cards:
                    card_at = float(cards[0].ts)
                    figures["card_ts"] = cards[0].ts
            if card_at is not None and page_at is None:
                pages = [
                    m
                    for m in world.slack.thread(CHANNEL, figures["card_ts"])[1:]
                    if "subteam" in m.text
                ]
                page_at = float(pages[0].ts) if pages else None
        until = time.time()
        for other in others:
            await other.stop()
        writes = [
            (c.time, c.ok)
            for c in world.slack.calls
            if c.method in ("chat.postMessage", "chat.update")
            and c.params.get("channel") == CHANNEL
        ]
        figures["peak"], figures["mean"] = slack_rate(writes, first, until)
        figures["written"] = sum(1 for _, ok in writes if ok)
        figures["429"] = len(world.slack.rate_limited())
        figures["card"] = card_at - first if card_at else None
        figures["page"] = page_at - first if page_at else None
        after = int((await redis.info("memory"))["used_memory"])
        figures["used_per_mention"] = (after - before) / max(1, accepted)
        snap = await world.app.store.surge_snapshot(CHANNEL, top=1)
        if snap is not None:
            figures["surge_start"] = int(snap.state["id"]) / 1000 - first
            figures["grouped"] = snap.waiting
            ids = [str(i) for i in await redis.zrange(keys.surge_grouped(CHANNEL), 0, -1)]
            sample = random.Random(1).sample(ids, min(300, len(ids)))
            per_case = [await world.app.store.memory_usage(keys.case(i)) for i in sample]
            index = await world.app.store.memory_usage(keys.surge_grouped(CHANNEL))
            figures["bytes_grouped"] = sum(per_case) / max(1, len(per_case)) + index / max(
                1, len(ids)
            )
        lat = load["latencies"]
        figures["p50"], figures["p99"] = percentile(lat, 50) * 1000, percentile(lat, 99) * 1000
    print(f"  {name}: done", flush=True)
    return figures


def fmt(value: float | None, unit: str = "s", digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f} {unit}"


COLUMNS = ("surge off (baseline)", "surge on", "surge on, batched")


def columns(args: argparse.Namespace) -> list[tuple[str, bool, int, int]]:
    """(name, surge on, mentions per request, replicas) of each column, in the order run."""
    cols = [(COLUMNS[0], False, 1, 1), (COLUMNS[1], True, 1, 1), (COLUMNS[2], True, args.batch, 1)]
    if args.replicas > 1:
        cols.append((f"surge on, {args.replicas} replicas", True, 1, args.replicas))
    return cols


def median_figures(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each numeric figure over the rounds (the first round's for the rest)."""

    def merge(values: list[Any]) -> Any:
        if all(isinstance(v, dict) for v in values):
            return {k: merge([v[k] for v in values if k in v]) for k in values[0]}
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if numbers and len(numbers) == len(values):
            return statistics.median(numbers)
        return values[0]

    return merge(rounds)  # type: ignore[no-any-return]


async def main_async(args: argparse.Namespace) -> int:
    from bench_votes import machine, verdict

    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s %(message)s")
    print(machine())
    cols = columns(args)
    names = [c[0] for c in cols]
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in names}
    with tempfile.TemporaryDirectory(prefix="bench-surge-") as tmp:
        for n in range(args.rounds):
            for name, surge, batch, replicas in cols:
                data_dir = Path(tmp) / f"{n}-{name.replace(' ', '-').replace(',', '')}"
                runs[name].append(await run(name, data_dir, args, surge, batch, replicas))
    results = {name: median_figures(rounds) for name, rounds in runs.items()}
    print()
    print(
        f"{args.mentions} hostile mentions, {args.senders} senders, 2,000 authors; batched: "
        f"{args.batch} mentions per request; Slack emulator {SLACK_RATE:.0f} msg/s per channel "
        f"(burst {SLACK_BURST}); app limiter {RATE:.0f}/s (burst {BURST}); channel watched "
        f"{args.observe:.0f} s after the load; median of {args.rounds} round(s)"
    )
    rows = [
        ("accepted", lambda f: f"{f['accepted']:.0f}"),
        ("time to accept all", lambda f: fmt(f["load"]["elapsed"])),
        ("ingest mentions/s", lambda f: f"{f['accepted'] / f['load']['elapsed']:.0f}"),
        ("answer p50 / p99 (request)", lambda f: f"{f['p50']:.1f} / {f['p99']:.1f} ms"),
        ("CPU/mention: generator", lambda f: f"{f['cpu']['generator']:.0f} µs"),
        ("CPU/mention: app process(es)", lambda f: f"{f['cpu']['app']:.0f} µs"),
        ("CPU/mention: redis-server", lambda f: f"{f['cpu']['redis']:.0f} µs"),
        ("Slack writes, peak in 1 s", lambda f: f"{f['peak']:.0f}"),
        ("Slack writes/s, mean", lambda f: f"{f['mean']:.2f}"),
        ("Slack writes in all", lambda f: f"{f['written']:.0f}"),
        ("429s from the emulator", lambda f: f"{f['429']:.0f}"),
        ("surge started after", lambda f: fmt(f.get("surge_start"))),
        ("surge card after", lambda f: fmt(f["card"])),
        ("first page after", lambda f: fmt(f["page"])),
        ("grouped mentions", lambda f: f"{f.get('grouped', 0):.0f}"),
        ("bytes per grouped mention", lambda f: fmt(f.get("bytes_grouped"), "B", 0)),
        ("used_memory growth/mention", lambda f: f"{f['used_per_mention']:.0f} B"),
    ]
    header = f"{'':<28} |" + " |".join(f"{c:>22}" for c in names)
    print(header)
    print("-" * len(header))
    for label, show in rows:
        print(f"{label:<28} |" + " |".join(f"{show(results[c]):>22}" for c in names))
    print("(times after the first accepted mention)")
    for name in names:
        each = ", ".join(f"{r['load']['elapsed']:.2f}" for r in runs[name])
        print(f"time to accept all, each round, {name}: {each} s")
    print()
    on, batched = results[COLUMNS[1]], results[COLUMNS[2]]
    print(f"all accepted in < 10 s, one mention per request: {verdict(on['load']['elapsed'] < 10)}")
    print(f"  (batches of {args.batch}: {verdict(batched['load']['elapsed'] < 10)})")
    if args.replicas > 1:
        spread = results[names[3]]
        print(
            f"  ({args.replicas} replicas, one mention per request: "
            f"{verdict(spread['load']['elapsed'] < 10)}; the line above is one replica's)"
        )
    calm = all(r["peak"] <= BURST + RATE and r["429"] == 0 for r in results.values())
    print(f"never above the limiter, zero 429s: {verdict(calm)}")
    card_page = on["card"] is not None and on["page"] is not None
    print(f"surge card and page in < 5 s: {verdict(card_page and max(on['card'], on['page']) < 5)}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mentions", type=int, default=10_000)
    parser.add_argument("--senders", type=int, default=128)
    parser.add_argument("--batch", type=int, default=50, help="mentions per batch request")
    parser.add_argument("--observe", type=float, default=20.0, help="seconds to watch Slack")
    parser.add_argument("--rounds", type=int, default=1, help="rounds (medians are printed)")
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="with N > 1, a fourth column: one mention per request to N app processes on the "
        "same Redis, as production runs them (the one-replica columns are kept)",
    )
    from assistant import runtime

    return runtime.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
