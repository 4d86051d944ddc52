"""The ingest load generator: signed ``POST /ingest/mentions`` from a separate process.

Used by bench_surge.py and bench_cluster.py through :func:`run_ingest_load`. It plays the
monitoring tool that forwards mentions, which in production runs on another machine; here it
shares the benchmark machine's cores with the server and Redis, so it is written to spend as
little CPU as a sender can:
- each sender is one keep-alive HTTP/1.1 connection (a raw asyncio stream on uvloop, writing
  the request bytes and reading the answer by its Content-Length: aiohttp's client cost more
  CPU per request than the server's whole ingest path minus scoring);
- with ``count`` (a fixed number of mentions) every request — JSON body and its HMAC-SHA256
  signature — is built **before the clock starts**: signing is the sender's work, not the
  server's, and a real sender does it on its own machine. Without ``count`` (a duration) the
  requests are built and signed on the fly inside the measured window, as before;
- with ``batch`` > 1 a request carries that many mentions (the webhook's batch form,
  ``{"mentions": [...]}``); an answer counts the mentions it accepted one by one;
- with several URLs (replicas of the app), the senders' connections are spread over them in
  turn, as a Kubernetes Service spreads connections over its pods.
The generator reports its own CPU time, so the benchmark can show what the sender cost.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import resource
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
FLAG = "--ingest-load"
HOSTILE = (
    "vous êtes des connards, bande de nuls",
    "bande d'incapables, encore une panne, des abrutis",
    "you are a bunch of useless idiots",
)
ACCEPTED = ("opened", "grouped")


def mention(prefix: str, n: int, authors: int = 1) -> dict[str, Any]:
    """The ``n``-th new hostile mention of a crowd of ``authors`` people (one by default,
    followers spread out)."""
    ident = f"{prefix}{n}"
    who = n % authors
    return {
        "platform": "mastodon",
        "id": ident,
        "url": f"https://social.example/@colere/{ident}",
        "text": f"{HOSTILE[n % len(HOSTILE)]} ({ident})",
        "author": {
            "id": str(9 + who),
            "handle": f"colere{who or ''}@mastodon.social",
            "followers": 12 if authors == 1 else (who * 7919) % 60_000,
        },
        "created_at": "2026-11-24T00:00:00Z",
    }


def signed_request(url: str, body: bytes, secret: bytes, header: str) -> bytes:
    """The whole HTTP/1.1 request: headers (with the signature) and body."""
    parts = urlsplit(url)
    signature = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    head = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Content-Type: application/json\r\n{header}: {signature}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _accepted(status: int, answer: bytes, batch: int) -> int:
    """How many mentions an answer accepted (202 one by one; a batch answer lists them)."""
    if batch <= 1:
        return 1 if status == 202 else 0
    if status not in (200, 202):
        return 0
    results = json.loads(answer)["results"]
    return sum(1 for r in results if r.get("status") in ACCEPTED)


async def _load(config: dict[str, Any]) -> dict[str, Any]:
    """Senders POST new hostile mentions for ``seconds`` after ``warmup`` seconds, or, with
    ``count``, exactly that many mentions (pre-built and pre-signed) as fast as they go."""
    secret = str(config["secret"]).encode()
    urls = config["url"] if isinstance(config["url"], list) else [config["url"]]
    url, header = str(urls[0]), str(config["header"])  # the same path on every replica
    prefix = uuid.uuid4().hex[:8]
    count: int | None = config.get("count")
    authors = int(config.get("authors", 1))
    batch = max(1, int(config.get("batch", 1)))
    targets = [urlsplit(str(u)) for u in urls]

    def build(first: int) -> bytes:
        items = [mention(prefix, n, authors) for n in range(first, first + batch)]
        body = json.dumps(items[0] if batch == 1 else {"mentions": items}).encode()
        return signed_request(url, body, secret, header)

    requests: Iterator[bytes]
    if count:
        requests = iter([build(first) for first in range(0, count, batch)])  # before the clock
    else:
        requests = (build(first) for first in range(0, 10**9, batch))
    latencies: list[float] = []
    errors: list[str] = []
    mentions = [0]

    async def sender(deadline: float, n: int) -> None:
        target = targets[n % len(targets)]
        reader, writer = await asyncio.open_connection(target.hostname, target.port)
        try:
            while time.perf_counter() < deadline:
                request = next(requests, None)
                if request is None:
                    return
                start = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                answer = await reader.readexactly(length)
                accepted = _accepted(status, answer, batch)
                if accepted:
                    latencies.append(time.perf_counter() - start)
                    mentions[0] += accepted
                if accepted < batch:
                    errors.append(f"HTTP {status}: {answer[:200]!r}")
        finally:
            writer.close()

    senders = int(config["senders"])
    if not count:
        warm = time.perf_counter() + float(config["warmup"])
        await asyncio.gather(*(sender(warm, n) for n in range(senders)))
    latencies.clear()
    mentions[0] = 0
    cpu = _cpu_seconds()
    began = time.perf_counter()
    deadline = began + float(config["seconds"])
    await asyncio.gather(*(sender(deadline, n) for n in range(senders)))
    elapsed = time.perf_counter() - began
    return {
        "elapsed": elapsed,
        "began": time.time() - elapsed,
        "latencies": latencies,  # one per request (a batch's answer is one)
        "mentions": mentions[0],
        "errors": errors[:5],
        "failed": len(errors),
        "cpu": _cpu_seconds() - cpu,
    }


async def run_ingest_load(
    url: str | list[str],
    senders: int,
    seconds: float,
    warmup: float,
    *,
    count: int | None = None,
    authors: int = 1,
    batch: int = 1,
) -> dict[str, Any]:
    """Run the generator in its own process against ``url`` (or several: replicas); its
    figures (see _load)."""
    from assistant.sandbox import INGEST_SECRET
    from assistant.sources.ingest import SIGNATURE_HEADER

    config = {
        "url": url,
        "secret": INGEST_SECRET,
        "header": SIGNATURE_HEADER,
        "senders": senders,
        "seconds": seconds,
        "warmup": warmup,
        "count": count,
        "authors": authors,
        "batch": batch,
    }
    from bench_votes import run_generator

    result = await run_generator(__file__, FLAG, config)
    if result["failed"]:
        raise RuntimeError(f"{result['failed']} requests not accepted: {result['errors']}")
    return result


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from assistant import runtime

    config = json.loads(sys.stdin.read())
    sys.stdout.write(json.dumps(runtime.run(_load(config))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
