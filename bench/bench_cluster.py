"""Print the vote path and the ingest path on one Redis and on a 3-master Redis Cluster, side
by side, in the same run on the same machine.

    .venv/bin/python bench/bench_cluster.py [--seconds 4] [--cases 50]

Both backends run the real app (``assistant.sandbox`` with the Slack and Mastodon emulators):
- **single**: the default, an embedded redis-server on a Unix socket, AOF fsynced always;
- **cluster**: ``REDIS_CLUSTER=1`` on a local 3-master Redis Cluster (assistant.store.
  localcluster: the same redis-server binary, loopback TCP, AOF fsynced always too).
Measured, for each backend:
(a) vote path: signed ``reaction_added`` events POSTed by 1 and 20 concurrent senders from a
    separate load-generator process (bench_votes.py's), every event a new vote recorded by
    vote.lua without reaching the quorum: acked events/s, p50/p99 ack latency;
(b) ingest path: signed ``POST /ingest/mentions`` of new hostile mentions by 1 and 20 senders
    (separate process): scoring, the dedup look, open_case.lua, the card and SLA jobs queued;
    mentions/s, p50/p99 answer latency (202);
(c) decision → publish: the deciding approval of N cases one after the other, time to the
    reply's POST at the Mastodon emulator (p50/p99), through the sharded job queue.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


from loadgen import run_ingest_load  # noqa: E402

# ---------------------------------------------------------------------- one backend


async def measure(
    name: str, data_dir: Path, redis_url: str | None, cluster: bool, args: argparse.Namespace
) -> dict[str, Any]:
    from bench_votes import percentile, publish_benchmark, run_load, vote_targets

    from assistant.sandbox import sandbox

    figures: dict[str, Any] = {}
    # a slow Slack post rate must not hold the runner: cards are not what is measured here
    async with sandbox(data_dir, redis_url=redis_url, REDIS_CLUSTER=cluster) as world:
        target = await vote_targets(world, 8)
        for senders in (1, 20):
            votes = await run_load(
                f"{world.base_url}/slack/events", target, senders, args.seconds, args.warmup
            )
            ingest = await run_ingest_load(
                f"{world.base_url}/ingest/mentions", senders, args.seconds, args.warmup
            )
            for path, result in (("vote", votes), ("ingest", ingest)):
                lat = result["latencies"]
                figures[(path, senders)] = (
                    len(lat) / result["elapsed"],
                    percentile(lat, 50) * 1000,
                    percentile(lat, 99) * 1000,
                )
        await world.slack.drain()
        publish, _ = await publish_benchmark(world, args.cases)
        figures["publish"] = (percentile(publish, 50) * 1000, percentile(publish, 99) * 1000)
    print(f"  {name}: done", flush=True)
    return figures


async def main_async(args: argparse.Namespace) -> int:
    from bench_votes import machine

    from assistant.store.localcluster import LocalCluster

    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s %(message)s")
    print(machine())
    started = time.monotonic()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        cluster = LocalCluster(Path(tmp) / "cluster", appendfsync="always")
        url = await cluster.start()
        try:
            for name, redis_url, flag in (("single", None, False), ("cluster", url, True)):
                results[name] = await measure(name, Path(tmp) / name, redis_url, flag, args)
        finally:
            await cluster.stop()
    print()
    print("single = embedded redis-server, Unix socket; cluster = 3 masters on loopback TCP;")
    runs = f"{args.seconds:.0f} s per run after {args.warmup:.0f} s warm-up"
    print(f"both AOF appendfsync always; {runs}")
    header = f"{'path':<8} {'senders':>7} | {'single /s':>9} {'p50 ms':>7} {'p99 ms':>7} |"
    header += f" {'cluster /s':>10} {'p50 ms':>7} {'p99 ms':>7} | {'cluster/single':>14}"
    print(header)
    print("-" * len(header))
    for path in ("vote", "ingest"):
        for senders in (1, 20):
            s, c = results["single"][(path, senders)], results["cluster"][(path, senders)]
            print(
                f"{path:<8} {senders:>7} | {s[0]:>9.0f} {s[1]:>7.2f} {s[2]:>7.2f} |"
                f" {c[0]:>10.0f} {c[1]:>7.2f} {c[2]:>7.2f} | {c[0] / s[0]:>13.2f}x"
            )
    s, c = results["single"]["publish"], results["cluster"]["publish"]
    print(
        f"decision → publish ({args.cases} cases): single p50 {s[0]:.1f} ms / p99 {s[1]:.1f} ms;"
        f" cluster p50 {c[0]:.1f} ms / p99 {c[1]:.1f} ms"
    )
    print(f"\n(total {time.monotonic() - started:.0f} s)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per run")
    parser.add_argument("--cases", type=int, default=50, help="cases for (c)")
    from assistant import runtime

    return runtime.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
