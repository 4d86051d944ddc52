"""Measured figures: own fixtures (always), shared held-out tweets (skipped when absent),
the eval-scoring tool, and the reproducibility of the shipped model."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from assistant.scoring.data import is_heldout, read_jsonl, shared_data_dir
from assistant.scoring.evaluate import Counts, evaluate, main

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).resolve().parents[2]


def _fixture_report() -> dict[str, Counts]:
    examples = [ex for p in sorted(FIXTURES.glob("*.jsonl")) for ex in read_jsonl(p)]
    return evaluate(examples).by_source


def test_fixtures_civil_complaints_false_positive_rate() -> None:
    by = _fixture_report()
    complaints = [by["complaints/fr"], by["complaints/en"]]
    assert sum(c.n for c in complaints) == 60
    fp = sum(c.fp for c in complaints)
    assert fp / 60 <= 0.02  # target: FPR <= 2 % on angry-but-civil complaints
    other = [by["swearing-sarcasm-praise/fr"], by["swearing-sarcasm-praise/en"]]
    assert sum(c.fp for c in other) <= 1


def test_fixtures_obfuscated_insults_recall() -> None:
    by = _fixture_report()
    for source in ("insults-obfuscated/fr", "insults-obfuscated/en"):
        c = by[source]
        assert c.n == 30
        assert c.recall is not None and c.recall >= 0.93, (source, c)


def _shared(name: str) -> Path:
    path = shared_data_dir() / "hostility" / name
    if not path.is_file():
        pytest.skip(
            f"shared data {path} not found: set ASSISTANT_SHARED_DATA to the folder holding "
            "hostility/en.jsonl and fr.jsonl to run the held-out evaluation"
        )
    return path


def _heldout(name: str) -> dict[str, Counts]:
    """Per-source counts on the in-distribution held-out 20 % (splits of a source merged)."""
    report = evaluate(ex for ex in read_jsonl(_shared(name)) if is_heldout(ex.text))
    merged: dict[str, Counts] = {}
    for source, c in report.by_source.items():
        m = merged.setdefault(source.split("/")[0], Counts())
        m.tp, m.fp, m.fn, m.tn = m.tp + c.tp, m.fp + c.fp, m.fn + c.fn, m.tn + c.tn
    return merged


def test_heldout_english() -> None:
    by = _heldout("en.jsonl")
    c = by["davidson2017"]
    assert c.n > 4000
    # Measured: P 0.982, R 0.954, F1 0.968, FPR 0.082.
    assert c.f1 is not None and c.f1 >= 0.95
    assert c.precision is not None and c.precision >= 0.97
    assert c.fpr is not None and c.fpr <= 0.10
    # Measured: Jigsaw F1 0.872; civil TweetEval tweets flagged 0.3 %.
    assert (by["JigsawToxic"].f1 or 0) >= 0.85
    assert (by["TweetEval-sentiment"].fpr or 1) <= 0.01


def test_heldout_french() -> None:
    by = _heldout("fr.jsonl")
    c = by["MLMA"]
    assert c.n > 400
    # Measured: P 0.870, R 0.695, F1 0.773, FPR 0.436 (target 0.85 NOT reached; see
    # docs/scoring.md). Recall must not be bought with false positives: FPR is bounded too.
    assert c.f1 is not None and c.f1 >= 0.75
    assert c.precision is not None and c.precision >= 0.85
    assert c.fpr is not None and c.fpr <= 0.47
    # Measured: civil French tweets flagged 0.9 %.
    assert (by["UMSAB-sentiment"].fpr or 1) <= 0.02


def test_split_is_deterministic_and_about_a_fifth() -> None:
    texts = [f"text number {i}" for i in range(5000)]
    share = sum(map(is_heldout, texts)) / len(texts)
    assert 0.17 < share < 0.23
    assert [is_heldout(t) for t in texts] == [is_heldout(t) for t in texts]
    assert is_heldout("Hello World ") == is_heldout("hello world")


def test_cli_prints_per_source_and_speed(capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(p) for p in sorted(FIXTURES.glob("*.jsonl"))]
    assert main([*files, "--threshold", "0.5"]) == 0
    out = capsys.readouterr().out
    for word in ("prec", "recall", "f1", "fpr", "complaints/fr", "insults-obfuscated/en", "ALL"):
        assert word in out
    assert "texts/s" in out


def test_cli_accepts_bool_and_int_labels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mixed.jsonl"
    rows = [
        {"text": "bande de connards", "label": True},
        {"text": "merci pour votre aide", "label": False},
        {"text": "you stupid bitch", "label": 1},
        {"text": "the meeting moved to thursday", "label": 0},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    assert main([str(path), "--errors", "5"]) == 0
    out = capsys.readouterr().out
    assert "mixed" in out  # source defaults to the file name
    all_row = next(line for line in out.splitlines() if line.startswith("ALL"))
    assert "1.000" in all_row


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("{not json", "not valid JSON"),
        ('{"text": "x"}', "label"),
        ('{"label": "hostile"}', "text"),
        ('{"text": "x", "label": "maybe"}', "label"),
        ("[1, 2]", "JSON object"),
    ],
)
def test_cli_malformed_line_names_line_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, why: str
) -> None:
    path = tmp_path / "bad.jsonl"
    good = json.dumps({"text": "ok", "label": "not_hostile"})
    path.write_text(f"{good}\n{good}\n{line}\n", encoding="utf-8")
    assert main([str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"{path}:3:" in err and why in err


def test_cli_missing_file_and_help(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "nope.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "assistant eval-scoring" in out and "--threshold" in out and "--split" in out


def test_training_reproduces_shipped_model() -> None:
    """A full training run (2-3 minutes): opt in with ASSISTANT_TRAIN_CHECK=1. The same
    pipeline's determinism is checked on a tiny data set in test_scoring_loso.py."""
    if os.environ.get("ASSISTANT_TRAIN_CHECK") != "1":
        pytest.skip("full retraining check: set ASSISTANT_TRAIN_CHECK=1 to run it (2-3 min)")
    pytest.importorskip("sklearn", reason="training deps not installed (pip install '.[train]')")
    _shared("en.jsonl")
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import train_scoring
    finally:
        sys.path.pop(0)
    assert train_scoring.main(["--check"]) == 0, "scripts/train_scoring.py output differs"
