"""Print the vote path's ack throughput/latency and the decision-to-publish latency.

    .venv/bin/python bench/bench_votes.py [--seconds 5] [--rounds 2] [--cases 200] [--profile]

(a) Signed ``reaction_added`` events, POSTed to ``/slack/events`` over loopback by 1 and 20
    concurrent senders (one aiohttp session each, in a separate load-generator process), to
    - the real app (``assistant.sandbox``: embedded Redis with its AOF fsynced on every write,
      Slack/Mastodon emulators): signature check, dedup, users.info (cached), the vote Lua
      step. Every event is a new vote (unique event_id) by a non-manager on a real proposal,
      so the script runs and records it but the quorum (1 manager approval) is never reached;
    - a bare slack-bolt ``AsyncApp`` (same signing secret, process_before_response=True, a
      ``reaction_added`` listener that does nothing) served by aiohttp like assistant/app.py.
    Throughput is acked events per second; latency is the time to the HTTP 200. Targets: the
    vote path ≥ 0.8x the bare app's throughput and p99 ack ≤ 2x the bare app's.
(b) Decision to publish: 200 cases (ingested hostile mentions, one proposal, one approval
    each); then, one case after the other, the deciding manager approval is sent and the time
    to the reply's ``POST /api/v1/statuses`` at the Mastodon emulator is taken. Target: p99 ≤
    200 ms.

Prints figures; asserts nothing (a sanity check aborts if the events did not reach the Lua
step). ``--profile`` adds a cProfile of the app process during one 20-sender run.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import hmac
import io
import json
import logging
import os
import platform
import pstats
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

VOTE_EMOJI = ("white_check_mark", "heavy_check_mark", "+1", "+1::skin-tone-3")
LOAD_FLAG = "--load-generator"

# ---------------------------------------------------------------------- the load generator
# Runs in its own process (``bench_votes.py --load-generator``, JSON config on stdin, JSON
# results on stdout) so that sending does not compete with the server for its event loop.


def _signed(secret: bytes, body: bytes) -> dict[str, str]:
    ts = str(int(time.time()))
    digest = hmac.new(secret, b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
    }


def _reaction_body(target: dict[str, Any], prefix: str, n: int) -> bytes:
    """An Events API envelope of a reaction_added event, unique event_id."""
    voters: list[str] = target["voters"]
    proposals: list[dict[str, str]] = target["proposals"]
    proposal = proposals[n % len(proposals)]
    now = time.time()
    event = {
        "type": "reaction_added",
        "user": voters[(n // len(proposals)) % len(voters)],
        "reaction": VOTE_EMOJI[n % len(VOTE_EMOJI)],
        "item_user": proposal["user"],
        "item": {"type": "message", "channel": proposal["channel"], "ts": proposal["ts"]},
        "event_ts": f"{now:.6f}",
    }
    envelope = {
        "token": "emulated-verification-token",
        "team_id": target["team_id"],
        "context_team_id": target["team_id"],
        "context_enterprise_id": None,
        "api_app_id": target["app_id"],
        "event": event,
        "type": "event_callback",
        "event_id": f"Ev{prefix}{n:09d}",
        "event_time": int(now),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": target["team_id"],
                "user_id": target["bot_user_id"],
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
    }
    return json.dumps(envelope).encode()


async def _load(config: dict[str, Any]) -> dict[str, Any]:
    url: str = config["url"]
    secret = str(config["secret"]).encode()
    senders: int = config["senders"]
    prefix = uuid.uuid4().hex[:8].upper()
    counter = iter(range(10**9))
    latencies: list[float] = []
    errors: list[str] = []

    async def sender(deadline: float) -> None:
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(connector=connector) as session:
            while time.perf_counter() < deadline:
                body = _reaction_body(config, prefix, next(counter))
                headers = _signed(secret, body)
                start = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as resp:
                    text = await resp.read()
                    status = resp.status
                elapsed = time.perf_counter() - start
                if status == 200:
                    latencies.append(elapsed)
                else:
                    errors.append(f"HTTP {status}: {text[:200]!r}")

    # Warm-up (connections, caches, Lua script load), then the measured window.
    await asyncio.gather(*(sender(time.perf_counter() + config["warmup"]) for _ in range(senders)))
    warmed = len(latencies)
    latencies.clear()
    began = time.perf_counter()
    await asyncio.gather(*(sender(began + config["seconds"]) for _ in range(senders)))
    elapsed = time.perf_counter() - began
    return {
        "elapsed": elapsed,
        "latencies": latencies,
        "warmup_events": warmed,
        "errors": errors[:5],
        "failed": len(errors),
    }


def _load_generator_main() -> int:
    config = json.loads(sys.stdin.read())
    result = asyncio.run(_load(config))
    sys.stdout.write(json.dumps(result))
    return 0


# ---------------------------------------------------------------------- measurements


@dataclass
class AckRun:
    target: str
    senders: int
    acked: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    all_events: int = 0  # warm-up included, for the CPU figures
    cpu_app: float = 0.0  # CPU seconds of this process (the server under test)
    cpu_redis: float = 0.0  # CPU seconds of the redis-server

    @property
    def rate(self) -> float:
        return self.acked / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000

    def cpu_us(self) -> tuple[float, float]:
        """CPU microseconds per event: (this process, redis-server)."""
        n = max(1, self.all_events)
        return self.cpu_app / n * 1e6, self.cpu_redis / n * 1e6

    def add(self, result: dict[str, Any], cpu_app: float, cpu_redis: float) -> None:
        self.acked += len(result["latencies"])
        self.seconds += result["elapsed"]
        self.latencies.extend(result["latencies"])
        self.all_events += len(result["latencies"]) + result["warmup_events"]
        self.cpu_app += cpu_app
        self.cpu_redis += cpu_redis


async def redis_cpu(redis: Any) -> float:
    info = await redis.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


async def measured_load(
    redis: Any, run: AckRun, url: str, target: dict[str, Any], seconds: float, warmup: float
) -> dict[str, Any]:
    """One load run into ``run``, with the CPU the server process and Redis spent on it."""
    cpu0, rcpu0 = time.process_time(), await redis_cpu(redis)
    result = await run_load(url, target, run.senders, seconds, warmup)
    run.add(result, time.process_time() - cpu0, await redis_cpu(redis) - rcpu0)
    return result


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


async def run_load(
    url: str, target: dict[str, Any], senders: int, seconds: float, warmup: float
) -> dict[str, Any]:
    from assistant.sandbox import SIGNING_SECRET

    config = {
        **target,
        "url": url,
        "secret": SIGNING_SECRET,
        "senders": senders,
        "seconds": seconds,
        "warmup": warmup,
    }
    result = await run_generator(__file__, LOAD_FLAG, config)
    if result["failed"]:
        raise RuntimeError(f"{result['failed']} events not acked: {result['errors']}")
    return result


async def start_child(script: str, flag: str) -> asyncio.subprocess.Process:
    """``script flag`` in a child process of this interpreter, stdin and stdout piped."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        script,
        flag,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )


async def run_generator(script: str, flag: str, config: dict[str, Any]) -> dict[str, Any]:
    """Run a load generator (``script flag``) in its own process: JSON config in, JSON out."""
    proc = await start_child(script, flag)
    out, _ = await proc.communicate(json.dumps(config).encode())
    if proc.returncode != 0:
        raise RuntimeError(f"load generator {script} failed ({proc.returncode})")
    result: dict[str, Any] = json.loads(out)
    return result


class BareBolt:
    """A bolt AsyncApp that only acks reaction_added, served like assistant/app.py does."""

    def __init__(self, slack_api_url: str) -> None:
        self.api_url = slack_api_url
        self.port = 0

    async def start(self) -> None:
        from aiohttp import web
        from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
        from slack_bolt.async_app import AsyncApp
        from slack_sdk.web.async_client import AsyncWebClient

        from assistant.sandbox import BOT_TOKEN, SIGNING_SECRET

        self._session = aiohttp.ClientSession()
        client = AsyncWebClient(token=BOT_TOKEN, base_url=self.api_url, session=self._session)
        bolt = AsyncApp(
            client=client,
            signing_secret=SIGNING_SECRET,
            process_before_response=True,
            logger=logging.getLogger("bench.bare_bolt"),
        )

        @bolt.event("reaction_added")
        async def on_reaction(body: dict[str, Any], event: dict[str, Any]) -> None:
            return None

        async def events(request: web.Request) -> web.StreamResponse:
            response = await bolt.async_dispatch(await to_bolt_request(request))
            return await to_aiohttp_response(response)

        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post("/slack/events", events)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        await self._runner.cleanup()
        await self._session.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"


async def vote_targets(world: Any, n_cases: int) -> dict[str, Any]:
    """Cases with one proposal each (by Olivia); voters are non-managers (no quorum ever)."""
    from assistant.sandbox import ALICE, BOB, CAROL, CHANNEL, DAVE, OLIVIA

    proposals = []
    for i in range(n_cases):
        case_id, _ = await world.hostile_mention(f"bande de connards, réseau en panne #{i}")
        case = await world.card(case_id)
        ts = await world.slack.post_message(
            OLIVIA, f"Proposition {i}", channel=CHANNEL, thread_ts=case.card_ts
        )
        if not ts.delivery.ok:
            raise RuntimeError(f"proposal not delivered: {ts.delivery.attempts}")
        proposals.append({"channel": CHANNEL, "ts": str(ts), "user": OLIVIA, "case": case_id})
    for p in proposals:
        if await world.app.store.get_proposal(p["case"], p["ts"]) is None:
            raise RuntimeError("a bench proposal was not recorded")
    return {
        "proposals": proposals,
        "voters": [ALICE, BOB, CAROL, DAVE],
        "team_id": world.slack.team_id,
        "app_id": world.slack.app_id,
        "bot_user_id": world.slack.bot_user_id,
    }


async def ack_benchmark(
    world: Any, seconds: float, rounds: int, warmup: float, profile: bool
) -> tuple[list[AckRun], Diagnosis, str]:
    from assistant.models import CaseStatus

    target = await vote_targets(world, 8)
    bare = BareBolt(world.slack.api_url)
    await bare.start()
    app_url = f"{world.base_url}/slack/events"
    runs: dict[tuple[str, int], AckRun] = {}
    redis = world.app.store.redis
    try:
        for _ in range(rounds):
            for senders in (1, 20):
                for name, url in (("bare bolt", bare.url), ("vote path", app_url)):
                    before = await redis.dbsize()
                    run = runs.setdefault((name, senders), AckRun(name, senders))
                    result = await measured_load(redis, run, url, target, seconds, warmup)
                    if name == "vote path":
                        # Every event leaves its dedup marker: the Lua step really ran.
                        grew = await redis.dbsize() - before
                        sent = len(result["latencies"]) + result["warmup_events"]
                        if grew < sent:
                            raise RuntimeError(f"only {grew} event markers for {sent} votes")
        for p in target["proposals"]:
            case = await world.case(p["case"])
            if case.status != CaseStatus.OPEN:
                raise RuntimeError("a bench vote reached the quorum")
        diag = await diagnose(world, target, app_url, seconds, warmup)
        report = ""
        if profile:
            urls = {"bare bolt": bare.url, "vote path": app_url}
            report = await profile_app(world, target, urls, seconds, warmup)
    finally:
        await bare.stop()
    return list(runs.values()), diag, report


@dataclass
class Diagnosis:
    """Where the vote path's time goes (see print_diagnosis)."""

    rtt: dict[tuple[str, str], list[float]] = field(default_factory=dict)  # (fsync, op)
    everysec: list[AckRun] = field(default_factory=list)


async def diagnose(
    world: Any, target: dict[str, Any], app_url: str, seconds: float, warmup: float
) -> Diagnosis:
    """Redis round trips of the vote path one at a time, under the shipped AOF policy
    (appendfsync always) and under everysec; then the vote path again under everysec.
    CONFIG SET is a diagnostic on this throw-away Redis only; the app is not changed."""
    from assistant.sandbox import ALICE

    store = world.app.store
    redis = store.redis
    shipped = (await redis.config_get("appendfsync"))["appendfsync"]
    proposal = target["proposals"][0]
    diag = Diagnosis()
    try:
        for mode in ("always", "everysec"):
            await redis.config_set("appendfsync", mode)
            gets, votes = [], []
            for i in range(400):
                t0 = time.perf_counter()
                await store.case_for_message(proposal["channel"], proposal["ts"])
                t1 = time.perf_counter()
                await store.vote(
                    "add",
                    event_id=f"EvDIAG{mode}{i}{uuid.uuid4().hex[:6]}",
                    case_id=proposal["case"],
                    proposal_ts=proposal["ts"],
                    user=ALICE,
                    kind="approve",
                    emoji="white_check_mark",
                    is_manager=False,
                    approvals_required=2,
                    manager_approvals_required=1,
                    now=time.time(),
                )
                t2 = time.perf_counter()
                gets.append(t1 - t0)
                votes.append(t2 - t1)
            diag.rtt[(mode, "GET msg→case")] = gets
            diag.rtt[(mode, "EVALSHA vote.lua")] = votes
        await redis.config_set("appendfsync", "everysec")
        for senders in (1, 20):
            run = AckRun("vote path, AOF everysec", senders)
            await measured_load(redis, run, app_url, target, seconds, warmup)
            diag.everysec.append(run)
    finally:
        await redis.config_set("appendfsync", shipped)
    return diag


PROFILE_GROUPS = (
    ("slack_bolt", "slack-bolt (dispatch, middleware, kwargs)"),
    ("slack_sdk", "slack-sdk (signature check)"),
    ("redis", "redis-py (commands, parsing, pool)"),
    ("aiohttp", "aiohttp (HTTP server)"),
    ("/assistant/", "assistant/ + handlers/"),
    ("/handlers/", "assistant/ + handlers/"),
    ("asyncio", "asyncio event loop"),
    ("json", "json"),
    ("<method 'send'", "socket send/recv (syscalls)"),
    ("<method 'recv", "socket send/recv (syscalls)"),
    ("<method 'poll'", "epoll wait (idle)"),
    ("<built-in method", "builtins (isinstance, len, …)"),
)


def _group(where: str) -> str:
    for needle, label in PROFILE_GROUPS:
        if needle in where:
            return label
    return "other"


async def profile_app(
    world: Any, target: dict[str, Any], urls: dict[str, str], seconds: float, warmup: float
) -> str:
    """cProfile of this process under 20 senders, bare bolt vs the vote path: self time per
    event by component (cProfile inflates all figures; compare the two columns)."""
    per_event: dict[str, dict[str, float]] = {}
    top = ""
    for name, url in urls.items():
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            result = await run_load(url, target, 20, seconds, warmup)
        finally:
            profiler.disable()
        events = len(result["latencies"]) + result["warmup_events"]
        stats = pstats.Stats(profiler)
        groups: dict[str, float] = {}
        for (filename, _, func), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
            label = _group(f"{filename} {func}")
            groups[label] = groups.get(label, 0.0) + tottime
        per_event[name] = {k: v / events * 1e6 for k, v in groups.items()}
        if name == "vote path":
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(20)
            top = out.getvalue()
    labels = sorted(
        {k for g in per_event.values() for k in g},
        key=lambda k: -sum(g.get(k, 0.0) for g in per_event.values()),
    )
    names = list(per_event)
    lines = [
        f"{'self time per event (µs, under cProfile)':<44}" + "".join(f"{n:>12}" for n in names)
    ]
    for label in labels:
        lines.append(
            f"{label:<44}" + "".join(f"{per_event[n].get(label, 0.0):>12.0f}" for n in names)
        )
    lines.append(f"{'total':<44}" + "".join(f"{sum(per_event[n].values()):>12.0f}" for n in names))
    return "\n".join(lines) + "\n\nTop functions of the vote path (self time):\n" + top


async def publish_benchmark(world: Any, n_cases: int) -> tuple[list[float], list[float]]:
    """Decision-to-publish latency (seconds) and the deciding event's ack time, per case."""
    from assistant.networks.mastodon import idempotency_key
    from assistant.sandbox import ALICE, BOB, CHANNEL, MAX

    texts = (
        "vous êtes des connards, bande de nuls",
        "bande d'incapables, encore une panne, des abrutis",
        "you are a bunch of useless idiots",
    )
    cases = [
        (await world.hostile_mention(f"{texts[i % len(texts)]} ({i})"))[0] for i in range(n_cases)
    ]
    proposals: list[tuple[str, str]] = []
    for case_id in cases:
        case = await world.card(case_id, timeout=60)
        ts = await world.slack.post_message(
            ALICE, "Merci, on vous aime aussi", channel=CHANNEL, thread_ts=case.card_ts
        )
        await world.slack.add_reaction(BOB, CHANNEL, ts, "white_check_mark")
        proposals.append((case_id, str(ts)))
    await world.slack.drain()

    latencies, acks = [], []
    for case_id, ts in proposals:
        key = idempotency_key(case_id)
        sent = time.time()
        delivery = await world.slack.add_reaction(MAX, CHANNEL, ts, "+1")  # the manager: quorum
        acks.append(time.time() - sent)
        if not delivery.ok:
            raise RuntimeError(f"deciding vote not acked: {delivery.attempts}")

        def posted(key: str = key) -> Any:
            return next(
                (
                    r
                    for r in world.mastodon.requests_to("POST", "/api/v1/statuses")
                    if r.idempotency_key == key
                ),
                None,
            )

        request = await world.wait_for(posted, 10, f"the publish of {case_id}")
        latencies.append(request.time - sent)
    if len(world.mastodon.created_statuses) != n_cases:
        raise RuntimeError(f"{len(world.mastodon.created_statuses)} statuses for {n_cases}")
    return latencies, acks


# ---------------------------------------------------------------------- report


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"machine: nproc={usable} ({cpu}), Python {platform.python_version()} "
        f"({platform.python_implementation()}), {platform.system()} {platform.release()}"
    )


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def print_report(runs: list[AckRun], publish: list[float], acks: list[float]) -> None:
    print()
    print("(a) Signed reaction_added events → HTTP 200 (ack), loopback")
    header = f"{'target':<11} {'senders':>7} {'events':>8} {'events/s':>9} "
    header += f"{'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    print(header)
    print("-" * len(header))
    for run in sorted(runs, key=lambda r: (r.senders, r.target)):
        print(
            f"{run.target:<11} {run.senders:>7} {run.acked:>8} {run.rate:>9.0f} "
            f"{run.pct(50):>8.2f} {run.pct(99):>8.2f} {max(run.latencies) * 1000:>8.2f}"
        )
    print()
    by = {(r.target, r.senders): r for r in runs}
    for senders in (1, 20):
        app, bare = by[("vote path", senders)], by[("bare bolt", senders)]
        ratio = app.rate / bare.rate
        p99 = app.pct(99) / bare.pct(99)
        print(
            f"{senders:>2} sender(s): throughput vote/bare = {ratio:.2f}x (target ≥ 0.80x: "
            f"{verdict(ratio >= 0.8)}); p99 ack vote/bare = {p99:.2f}x (target ≤ 2.00x: "
            f"{verdict(p99 <= 2.0)})"
        )
    print()
    print(f"(b) Decision → reply at Mastodon (POST /api/v1/statuses), {len(publish)} cases")
    print(
        f"p50 {percentile(publish, 50) * 1000:.1f} ms, p99 {percentile(publish, 99) * 1000:.1f} "
        f"ms, max {max(publish) * 1000:.1f} ms, mean {statistics.fmean(publish) * 1000:.1f} ms "
        f"(target p99 ≤ 200 ms: {verdict(percentile(publish, 99) <= 0.2)})"
    )
    print(
        f"ack of the deciding reaction (emulator → app → 200): p50 "
        f"{percentile(acks, 50) * 1000:.1f} ms, p99 {percentile(acks, 99) * 1000:.1f} ms"
    )


def print_diagnosis(runs: list[AckRun], diag: Diagnosis) -> None:
    print()
    print("Where the vote path's time goes")
    print("CPU per acked event (incl. warm-up), this process = the server under test:")
    for run in sorted([*runs, *diag.everysec], key=lambda r: (r.senders, r.target)):
        app_us, redis_us = run.cpu_us()
        print(
            f"  {run.target:<24} {run.senders:>2} sender(s): server {app_us:6.0f} µs"
            f" + redis-server {redis_us:5.0f} µs"
        )
    print("Redis round trips from the app's own client, one at a time (p50 / p99):")
    for (mode, op), values in diag.rtt.items():
        print(
            f"  appendfsync {mode:<8} {op:<18} {percentile(values, 50) * 1e3:6.3f} ms / "
            f"{percentile(values, 99) * 1e3:6.3f} ms"
        )
    by = {(r.target, r.senders): r for r in runs}
    print("The vote path with appendfsync everysec (diagnostic; the app ships 'always'):")
    for run in diag.everysec:
        bare = by[("bare bolt", run.senders)]
        print(
            f"  {run.senders:>2} sender(s): {run.rate:6.0f} events/s ({run.rate / bare.rate:.2f}x "
            f"bare), p50 {run.pct(50):.2f} ms, p99 {run.pct(99):.2f} ms "
            f"({run.pct(99) / bare.pct(99):.2f}x bare)"
        )


async def main_async(args: argparse.Namespace) -> int:
    from assistant.sandbox import sandbox

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    print(machine())
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-votes-") as tmp:
        data_dir = Path(tmp)
        print(f"real app: assistant.sandbox on embedded Redis in {data_dir} (AOF fsync always)")
        print(
            f"load: separate process, {args.rounds} round(s) x {args.seconds:.0f} s per "
            f"target and sender count (after {args.warmup:.0f} s warm-up), targets interleaved"
        )
        async with sandbox(data_dir) as world:
            runs, diag, profile = await ack_benchmark(
                world, args.seconds, args.rounds, args.warmup, args.profile
            )
            publish, acks = await publish_benchmark(world, args.cases)
    print_report(runs, publish, acks)
    print_diagnosis(runs, diag)
    if profile:
        print("\ncProfile of the server process during 20-sender runs:\n")
        print(profile)
    print(f"\n(total {time.monotonic() - started:.0f} s)")
    return 0


def main() -> int:
    if LOAD_FLAG in sys.argv:
        return _load_generator_main()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per run")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds")
    parser.add_argument("--cases", type=int, default=200, help="cases for (b)")
    parser.add_argument("--profile", action="store_true", help="cProfile the app under load")
    from assistant import runtime

    return runtime.run(main_async(parser.parse_args()))  # the loop `assistant run` uses


if __name__ == "__main__":
    raise SystemExit(main())
