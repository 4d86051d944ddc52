"""Print the hostility scorer's load time and single-core throughput, beside baselines.

    .venv/bin/python bench/bench_scoring.py [--n 20000] [--rounds 5] [--compare DIR ...]

Texts: a deterministic spread of the shared tweets (every k-th row of ``en.jsonl`` then
``fr.jsonl``, so every source and both languages; ``ASSISTANT_SHARED_DATA`` or
``../shared/data``), else the test fixtures. Each round runs, one after the other, in fresh
interpreters pinned to one core: the shipped scorer, the baseline (lexicon and rules alone, an
empty model: what the learned model costs on top) and each ``--compare`` tree (another
checkout's ``assistant`` package, e.g. ``git worktree add /tmp/main main``), so all figures
come from the same minutes. Throughput is given from wall time and from the process's CPU time
(less sensitive to other jobs on a shared box), first pass (cold caches; its first tenth, every
10th text, is also timed on its own: a small file scored by a fresh process), second pass (warm:
the same texts again) and a third pass over as many texts the process never scored (the per-token
caches warm from the first: what a server that has been up a while sees).
Prints the best and the median over the rounds, and the load average; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def texts(limit: int, shift: int = 0) -> tuple[list[str], str]:
    env = os.environ.get("ASSISTANT_SHARED_DATA")
    shared = (Path(env) if env else ROOT.parent / "shared" / "data") / "hostility"
    files = [shared / "en.jsonl", shared / "fr.jsonl"]
    if not all(f.is_file() for f in files):
        files = sorted((ROOT / "tests" / "scoring" / "fixtures").glob("*.jsonl"))
    out: list[str] = []
    for f in files:
        with f.open(encoding="utf-8") as fh:
            out += [json.loads(line)["text"] for line in fh if line.strip()]
    if len(out) > limit:
        step = len(out) // limit
        out = out[shift % step :: step][:limit]
    where = ", ".join(str(f) for f in files)
    reps = -(-limit // len(out))
    return (out * reps)[:limit], where


def worker(mode: str, n: int) -> None:
    """One measurement in this fresh interpreter (``PYTHONPATH`` picks the tree)."""
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    batch, _ = texts(n)
    seen = set(batch)  # the next rows of the same files: texts this process never scored
    unseen = [t for t in texts(n, shift=1)[0] if t not in seen]
    start = time.perf_counter()
    from assistant.scoring import Scorer
    from assistant.scoring.model import Model

    scorer = Scorer()
    load = time.perf_counter() - start
    if mode == "lexicon":
        scorer = Scorer(model=Model({}, 0.0))
    result: dict[str, float] = {"load": load}
    # The first pass starts with every 10th text (both languages, every source): how fast the
    # first texts of a fresh process go, e.g. ``assistant eval-scoring`` on a small file.
    early = batch[::10]
    wall, cpu = time.perf_counter(), time.process_time()
    scorer.score_batch(early)
    early_wall, early_cpu = time.perf_counter() - wall, time.process_time() - cpu
    result["early_cpu"] = len(early) / early_cpu
    rest = [t for i, t in enumerate(batch) if i % 10]
    wall, cpu = time.perf_counter(), time.process_time()
    scorer.score_batch(rest)
    result["first_wall"] = len(batch) / (time.perf_counter() - wall + early_wall)
    result["first_cpu"] = len(batch) / (time.process_time() - cpu + early_cpu)
    for name, texts_ in (("second", batch), ("unseen", unseen)):
        wall, cpu = time.perf_counter(), time.process_time()
        scorer.score_batch(texts_)
        result[f"{name}_wall"] = len(texts_) / (time.perf_counter() - wall)
        result[f"{name}_cpu"] = len(texts_) / (time.process_time() - cpu)
    print(json.dumps(result))


def run(tree: Path, mode: str, n: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, __file__, "--worker", mode, "--n", str(n)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=tree,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="texts to score (default 20000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    parser.add_argument(
        "--compare",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="another tree whose assistant package to time alongside (repeatable)",
    )
    parser.add_argument("--worker", choices=("shipped", "lexicon"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.n)
        return 0

    batch, where = texts(args.n)
    mean_len = sum(map(len, batch)) / len(batch)
    candidates = [("shipped", ROOT, "shipped"), ("baseline", ROOT, "lexicon")]
    candidates += [(f"compare {i + 1}", d.resolve(), "shipped") for i, d in enumerate(args.compare)]
    results: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in candidates}
    load_before = os.getloadavg()[0]
    for _ in range(args.rounds):
        for name, tree, mode in candidates:
            results[name].append(run(tree, mode, args.n))
    load_after = os.getloadavg()[0]

    size = (ROOT / "assistant" / "scoring" / "model.json").stat().st_size
    sys.path.insert(0, str(ROOT))
    from assistant.scoring.model import Model

    model = Model.load()
    print(
        f"texts: {len(batch)} ({len(set(batch))} distinct, mean {mean_len:.0f} chars) from {where}"
    )
    print(
        f"{args.rounds} rounds, one core each, load average {load_before:.1f} before, "
        f"{load_after:.1f} after (2 = both cores of a 2-core box busy)"
    )
    print("texts/s, best / median over the rounds:")
    print(
        f"{'':<12} {'first 10% (CPU)':>16} {'first pass (CPU)':>18} {'first (wall)':>15} "
        f"{'warm (CPU)':>15} {'unseen (CPU)':>15} {'load ms':>10}"
    )
    for name, runs in results.items():
        cells = []
        for key in ("early_cpu", "first_cpu", "first_wall", "second_cpu", "unseen_cpu"):
            values = [r[key] for r in runs]
            cells.append(f"{max(values):,.0f} / {statistics.median(values):,.0f}")
        loads = [r["load"] * 1000 for r in runs]
        load = f"{min(loads):.0f} / {statistics.median(loads):.0f}"
        print(
            f"{name:<12} {cells[0]:>16} {cells[1]:>18} {cells[2]:>15} {cells[3]:>15} "
            f"{cells[4]:>15} {load:>10}"
        )
    print("(baseline: lexicon and rules alone; load: import + Scorer() in a new interpreter)")
    print(
        "(first pass: a fresh process, every cache empty, of which first 10%: its first "
        "2,000 texts when --n is 20,000; warm: the same texts again; unseen: as many other "
        "texts, never scored, after the first two passes: a running server)"
    )
    for i, d in enumerate(args.compare):
        print(f"(compare {i + 1}: {d})")
    print(
        f"model: {size / 1024:,.0f} KiB, {len(model.weights):,} weights, "
        f"{len(model.categories):,} lexicon words, thresholds {model.thresholds}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
