"""Print the hostility scorer's load time and single-core throughput.

    .venv/bin/python bench/bench_scoring.py [--n 20000]

Texts: the shared tweets when present (``ASSISTANT_SHARED_DATA`` or ``../shared/data``),
else the test fixtures. Baseline in the same run: the lexicon and rules alone (an empty model),
i.e. what the learned model costs on top. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.scoring.data import read_jsonl, shared_data_dir  # noqa: E402


def texts(limit: int) -> tuple[list[str], str]:
    shared = shared_data_dir() / "hostility"
    files = [shared / "en.jsonl", shared / "fr.jsonl"]
    if not all(f.is_file() for f in files):
        files = sorted((ROOT / "tests" / "scoring" / "fixtures").glob("*.jsonl"))
    out = [ex.text for f in files for ex in read_jsonl(f)]
    where = ", ".join(str(f) for f in files)
    reps = -(-limit // len(out))
    return (out * reps)[:limit], where


def cold_load_seconds() -> float:
    """Import + construct a Scorer in a fresh interpreter (what a process start pays)."""
    code = (
        "import time; t=time.perf_counter(); from assistant.scoring import Scorer; Scorer(); "
        "print(time.perf_counter()-t)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env
    )
    return float(out.stdout.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="texts to score (default 20000)")
    args = parser.parse_args()
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core

    from assistant.scoring import Scorer

    cold = min(cold_load_seconds() for _ in range(3))
    start = time.perf_counter()
    scorer = Scorer()
    warm = time.perf_counter() - start
    batch, where = texts(args.n)
    mean_len = sum(map(len, batch)) / len(batch)

    start = time.perf_counter()
    scorer.score_batch(batch)
    first = time.perf_counter() - start
    start = time.perf_counter()
    scorer.score_batch(batch)
    second = time.perf_counter() - start
    unique = len(set(batch))

    from assistant.scoring.model import MODEL_FILE, Model

    baseline = Scorer(model=Model({}, 0.0, thresholds=scorer.model.thresholds))
    start = time.perf_counter()
    baseline.score_batch(batch)
    lexicon_only = time.perf_counter() - start
    size = (ROOT / "assistant" / "scoring" / MODEL_FILE).stat().st_size

    print(f"texts: {len(batch)} ({unique} distinct, mean {mean_len:.0f} chars) from {where}")
    print(f"load: {cold * 1000:.0f} ms cold (new interpreter, import + Scorer())")
    print(f"load: {warm * 1000:.0f} ms Scorer() in a warm process")
    print(f"throughput: {len(batch) / first:,.0f} texts/s on one core (first pass, cold caches)")
    print(f"throughput: {len(batch) / second:,.0f} texts/s on one core (second pass, warm caches)")
    print(
        f"baseline:   {len(batch) / lexicon_only:,.0f} texts/s on one core "
        "(lexicon and rules alone, first pass)"
    )
    print(
        f"model: {size / 1024:,.0f} KiB, {len(scorer.model.weights):,} weights, "
        f"{len(scorer.model.categories):,} lexicon words, thresholds {scorer.model.thresholds}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
