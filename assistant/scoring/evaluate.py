"""``assistant eval-scoring``: precision, recall, F1 and false-positive rate of the scorer on
labelled JSONL files, overall and per ``source``, and the scoring speed."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.scoring.data import DataError, Example, is_heldout, read_jsonl, shared_data_dir

if TYPE_CHECKING:
    from assistant.scoring.training import LosoResult

__all__ = ["Counts", "Reliability", "evaluate", "main", "reliability"]

CALIBRATION_BINS = 10


@dataclass(slots=True)
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, truth: bool, predicted: bool) -> None:
        if predicted and truth:
            self.tp += 1
        elif predicted:
            self.fp += 1
        elif truth:
            self.fn += 1
        else:
            self.tn += 1

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None or p + r == 0:
            return None if p is None or r is None else 0.0
        return 2 * p * r / (p + r)

    @property
    def fpr(self) -> float | None:
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else None


@dataclass(slots=True)
class Reliability:
    """How well calibrated scores are: Brier score, expected calibration error (ECE) and the
    reliability table (per bin of the score: rows, mean score, observed hostile rate)."""

    n: int
    brier: float
    ece: float
    bins: list[tuple[float, float, int, float, float]]  # (low, high, n, mean score, rate)


def reliability(pairs: Iterable[tuple[float, bool]], bins: int = CALIBRATION_BINS) -> Reliability:
    """Calibration quality of (score, hostile) pairs, over ``bins`` equal-width score bins."""
    items = list(pairs)
    n = len(items)
    if not n:
        return Reliability(0, 0.0, 0.0, [])
    brier = sum((p - y) ** 2 for p, y in items) / n
    table: list[tuple[float, float, int, float, float]] = []
    ece = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = [(p, y) for p, y in items if lo <= p < hi or (b == bins - 1 and p == 1.0)]
        if not inside:
            continue
        mean = sum(p for p, _ in inside) / len(inside)
        rate = sum(y for _, y in inside) / len(inside)
        table.append((lo, hi, len(inside), mean, rate))
        ece += len(inside) / n * abs(mean - rate)
    return Reliability(n, brier, ece, table)


def format_reliability(name: str, r: Reliability) -> list[str]:
    lines = [f"calibration {name}: n={r.n} Brier {r.brier:.4f} ECE {r.ece:.4f}"]
    for lo, hi, n, mean, rate in r.bins:
        lines.append(
            f"  score {lo:.1f}-{hi:.1f}  n={n:>6}  mean score {mean:.3f}  hostile {rate:.3f}"
        )
    return lines


@dataclass(slots=True)
class Report:
    overall: Counts
    by_source: dict[str, Counts]
    seconds: float
    errors: list[tuple[Example, float]]
    scores: list[tuple[float, bool, str]]  # (score, hostile, language) of each example

    @property
    def texts_per_second(self) -> float:
        return self.overall.n / self.seconds if self.seconds > 0 else float("inf")


def evaluate(
    examples: Iterable[Example], threshold: float | None = None, *, keep_errors: int = 0
) -> Report:
    """Score ``examples`` with a fresh ``Scorer`` at ``threshold`` (``None``: each language's
    shipped threshold) and count outcomes."""
    from assistant.scoring.scorer import Scorer

    scorer = Scorer(threshold=threshold)
    items = list(examples)
    start = time.perf_counter()
    results = scorer.score_batch([ex.text for ex in items])
    seconds = time.perf_counter() - start
    overall = Counts()
    by_source: dict[str, Counts] = {}
    errors: list[tuple[Example, float]] = []
    scores: list[tuple[float, bool, str]] = []
    for ex, res in zip(items, results, strict=True):
        scores.append((res.score, ex.hostile, res.lang))
        overall.add(ex.hostile, res.hostile)
        by_source.setdefault(ex.source, Counts()).add(ex.hostile, res.hostile)
        if ex.hostile != res.hostile and len(errors) < keep_errors:
            errors.append((ex, res.score))
    return Report(overall, by_source, seconds, errors, scores)


def _fmt(value: float | None) -> str:
    return "   -" if value is None else f"{value:.3f}"


def _row(name: str, c: Counts) -> str:
    return (
        f"{name:<28} {c.n:>6} {c.tp + c.fn:>6}  {_fmt(c.precision):>6} {_fmt(c.recall):>6} "
        f"{_fmt(c.f1):>6} {_fmt(c.fpr):>6}"
    )


def format_report(report: Report, threshold: float | None, calibration: bool = False) -> str:
    lines = [
        f"threshold {threshold:g}"
        if threshold is not None
        else "thresholds: each language's shipped one",
        f"{'source':<28} {'n':>6} {'hostl':>6}  {'prec':>6} {'recall':>6} {'f1':>6} {'fpr':>6}",
    ]
    for name in sorted(report.by_source):
        lines.append(_row(name, report.by_source[name]))
    lines.append(_row("ALL", report.overall))
    lines.append(
        f"speed: {report.texts_per_second:,.0f} texts/s "
        f"({report.overall.n} texts in {report.seconds:.2f} s, one core)"
    )
    if calibration:
        for lang in sorted({lang for _, _, lang in report.scores}):
            pairs = [(p, y) for p, y, code in report.scores if code == lang]
            lines += format_reliability(f"({lang}, detected)", reliability(pairs))
    for ex, score in report.errors:
        kind = "FN" if ex.hostile else "FP"
        lines.append(f"{kind} {score:.2f} [{ex.source}] {ex.text[:140]!r}")
    return "\n".join(lines)


def format_loso(result: LosoResult) -> str:
    """The leave-one-source-out table: one row per held-out source, then per language."""
    from assistant.scoring.training import SOURCES

    cuts = ", ".join(f"{k} {v:g}" for k, v in sorted(result.cuts.items()))
    lines = [
        f"leave-one-source-out, shipped cuts (model probability): {cuts}",
        f"{'held-out source':<28} {'n':>6} {'hostl':>6}  {'prec':>6} {'recall':>6} "
        f"{'f1':>6} {'fpr':>6}",
    ]
    by_lang: dict[str, Counts] = {}
    for name, c in result.counts.items():
        lang = SOURCES[name].lang
        lines.append(_row(f"{name} ({lang})", c))
        pooled = by_lang.setdefault(lang, Counts())
        pooled.tp += c.tp
        pooled.fp += c.fp
        pooled.fn += c.fn
        pooled.tn += c.tn
    for lang, c in sorted(by_lang.items()):
        lines.append(_row(f"ALL {lang}", c))
    for name, c in result.civil.items():
        lines.append(_row(f"civil complaints: {name}", c))
    for name, c in result.threats.items():
        lines.append(_row(f"critical vs threat: {name}", c))
    crit = sum(c for c, _ in result.critical_clean.values())
    seen = sum(n for _, n in result.critical_clean.values())
    if seen:
        worst = ", ".join(f"{k} {c}" for k, (c, _) in result.critical_clean.items() if c)
        lines.append(
            f"critical on not-hostile rows of the other sources: {crit} of {seen}"
            + (f" ({worst})" if worst else "")
        )
    if result.calibrated:
        lines.append("calibration out of source (each source scored by its fold, calibrated on")
        lines.append("out-of-fold scores of the other sources only):")
        by_lang_pairs: dict[str, list[tuple[float, bool]]] = {}
        for name, pairs in result.calibrated.items():
            r = reliability(pairs)
            mean = sum(p for p, _ in pairs) / len(pairs)
            rate = sum(y for _, y in pairs) / len(pairs)
            lines.append(
                f"  {name:<24} Brier {r.brier:.4f}  ECE {r.ece:.4f}  "
                f"mean score {mean:.3f}  hostile {rate:.3f}"
            )
            by_lang_pairs.setdefault(SOURCES[name].lang, []).extend(pairs)
        for lang, pairs in sorted(by_lang_pairs.items()):
            lines += format_reliability(f"ALL {lang} (out of source)", reliability(pairs))
    return "\n".join(lines)


def _main_loso(
    shared: Path | None, commercial_only: bool, only: list[str], calibration: bool
) -> int:
    try:
        from assistant.scoring.training import loso
    except ImportError as exc:  # pragma: no cover - depends on the install
        print(f"error: --loso needs the 'train' extra ({exc})", file=sys.stderr)
        return 2
    folder = shared or shared_data_dir()
    if not (folder / "hostility").is_dir():
        print(f"error: no shared data under {folder}/hostility", file=sys.stderr)
        return 2
    try:
        result = loso(
            folder,
            commercial_only=commercial_only,
            only=only,
            calibration=calibration,
            log=lambda m: print(m, file=sys.stderr, flush=True),
        )
    except ImportError as exc:
        print(
            f"error: --loso needs the 'train' extra: pip install '.[train]' ({exc})",
            file=sys.stderr,
        )
        return 2
    if not result.counts:
        print(f"error: no such source: {', '.join(only)}", file=sys.stderr)
        return 2
    print(format_loso(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="assistant eval-scoring",
        description=(
            "Measure the hostility scorer on labelled JSONL files: precision, recall, F1 and "
            "false-positive rate, overall and per 'source', and texts scored per second. "
            "Each line is a JSON object with 'text', 'label' ('hostile'/'not_hostile', "
            "true/false or 1/0) and optionally 'source' (default: the file name)."
        ),
        epilog=(
            "example: assistant eval-scoring ../shared/data/hostility/fr.jsonl --split heldout"
        ),
    )
    parser.add_argument("files", nargs="*", type=Path, metavar="FILE.jsonl")
    parser.add_argument(
        "--loso",
        action="store_true",
        help=(
            "leave-one-source-out: for each source of the shared data, train on all the others "
            "and score it at the shipped per-language thresholds (needs the 'train' extra; a few "
            "minutes on one core). FILE arguments are not used"
        ),
    )
    parser.add_argument(
        "--shared",
        type=Path,
        default=None,
        metavar="DIR",
        help=(
            "with --loso: the shared data folder "
            "(default: $ASSISTANT_SHARED_DATA or ../shared/data)"
        ),
    )
    parser.add_argument(
        "--commercial-only",
        action="store_true",
        help="with --loso: leave out the non-commercial and unlicensed sources and HurtLex",
    )
    parser.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="NAME",
        help="with --loso: hold out only this source (repeatable; default: every source)",
    )
    parser.add_argument(
        "--calibration",
        action="store_true",
        help=(
            "also report calibration (Brier score, ECE, reliability table per language); "
            "with --loso each fold is calibrated on its own training sources (3 more fits "
            "per fold: about four times slower)"
        ),
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        metavar="T",
        help=(
            "a text is hostile iff its calibrated score >= T "
            "(default: each language's shipped threshold)"
        ),
    )
    parser.add_argument(
        "--split",
        choices=("all", "heldout", "train"),
        default="all",
        help=(
            "which lines to use: all (default), or the deterministic hash split the training "
            "script uses: heldout (20%%, never trained on) or train (80%%)"
        ),
    )
    parser.add_argument(
        "--errors",
        type=int,
        default=0,
        metavar="N",
        help="also print up to N misclassified texts (FP/FN) for error analysis",
    )
    args = parser.parse_args(argv)
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        parser.error("--threshold must be between 0 and 1")
    if args.loso:
        return _main_loso(args.shared, args.commercial_only, args.source, args.calibration)
    if not args.files:
        parser.error("give FILE.jsonl arguments, or --loso")

    examples: list[Example] = []
    for path in args.files:
        if not path.is_file():
            print(f"error: {path}: no such file", file=sys.stderr)
            return 2
        try:
            for ex in read_jsonl(path):
                if args.split == "all" or (args.split == "heldout") == is_heldout(ex.text):
                    examples.append(ex)
        except DataError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except (OSError, UnicodeDecodeError) as exc:
            print(f"error: {path}: {exc}", file=sys.stderr)
            return 2
    if not examples:
        print("error: no examples to evaluate", file=sys.stderr)
        return 2
    report = evaluate(examples, args.threshold, keep_errors=args.errors)
    print(format_report(report, args.threshold, args.calibration))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
