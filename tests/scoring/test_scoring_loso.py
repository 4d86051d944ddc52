"""``assistant eval-scoring --loso`` and the training pipeline on a tiny synthetic shared folder
(fast; needs the ``train`` extra, skipped without it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.scoring.evaluate import main

HOSTILE_EN = [
    "you are an idiot",
    "you stupid moron",
    "shut up you clown",
    "you are a worthless loser",
    "go away you idiot",
    "you are pathetic and stupid",
]
CALM_EN = [
    "thanks for the help",
    "my order is late again",
    "where is my parcel",
    "the app crashed this morning",
    "great service today",
    "can you check my account",
]
HOSTILE_FR = ["t'es un abruti", "espèce de crétin", "vous êtes des minables", "sale con"]
CALM_FR = ["merci pour votre aide", "mon colis est en retard", "encore une panne", "bonne journée"]


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    pytest.importorskip("sklearn", reason="training deps not installed (pip install '.[train]')")
    host = tmp_path / "hostility"
    host.mkdir()
    en: list[dict[str, str]] = []
    for i in range(3):
        for src in ("ConvAbuse/train", "JigsawToxic/subset", "TRAC1/train"):
            en += [{"text": f"{t} {i}", "label": "hostile", "source": src} for t in HOSTILE_EN]
            en += [{"text": f"{t} {i}", "label": "not_hostile", "source": src} for t in CALM_EN]
        en += [
            {
                "text": f"{t} number {i}",
                "label": "not_hostile",
                "source": "TweetEval-sentiment/test",
                "orig_label": "negative (SemEval-2017 sentiment)",
            }
            for t in CALM_EN
        ]
    fr: list[dict[str, str]] = []
    for i in range(3):
        fr += [{"text": f"{t} {i}", "label": "hostile", "source": "MLMA/fr"} for t in HOSTILE_FR]
        fr += [{"text": f"{t} {i}", "label": "not_hostile", "source": "MLMA/fr"} for t in CALM_FR]
        fr += [
            {"text": f"{t} numéro {i}", "label": "not_hostile", "source": "UMSAB-sentiment/fr"}
            for t in CALM_FR
        ]
    _write(host / "en.jsonl", en)
    _write(host / "fr.jsonl", fr)
    lex = tmp_path / "lexicons" / "hurtlex"
    lex.mkdir(parents=True)
    header = "id\tpos\tcategory\tstereotype\tlemma\tlevel\n"
    (lex / "hurtlex_EN.tsv").write_text(
        header + "EN1\tn\tdmc\tno\tidiot\tconservative\nEN2\tn\tdmc\tno\tteacher\tinclusive\n",
        "utf-8",
    )
    (lex / "hurtlex_FR.tsv").write_text(header + "FR1\tn\tdmc\tno\tminable\tconservative\n")
    return tmp_path


def test_loso_prints_one_row_per_source_and_language(
    shared: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--loso", "--shared", str(shared)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("leave-one-source-out")
    for name in ("ConvAbuse (en)", "JigsawToxic (en)", "TRAC1 (en)", "MLMA (fr)", "ALL en"):
        assert any(line.startswith(name) for line in lines), name
    assert any(line.startswith("civil complaints: TweetEval-sentiment") for line in lines)
    for word in ("prec", "recall", "f1", "fpr"):
        assert word in out


def test_loso_commercial_only_leaves_out_non_commercial_sources(
    shared: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--loso", "--shared", str(shared), "--commercial-only"]) == 0
    out = capsys.readouterr().out
    assert "TRAC1" not in out and "UMSAB" not in out
    assert "ConvAbuse (en)" in out


def test_loso_single_source_and_unknown_source(
    shared: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--loso", "--shared", str(shared), "--source", "MLMA"]) == 0
    out = capsys.readouterr().out
    assert "MLMA (fr)" in out and "ConvAbuse" not in out
    assert main(["--loso", "--shared", str(shared), "--source", "Nope"]) == 2
    assert "no such source" in capsys.readouterr().err


def test_loso_without_data_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--loso", "--shared", str(tmp_path)]) == 2
    assert "no shared data" in capsys.readouterr().err


def test_training_is_reproducible_and_commercial_flag_drops_sources(shared: Path) -> None:
    from assistant.scoring.training import build_model

    a = build_model(shared)
    b = build_model(shared)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert a["categories"] and "TRAC1" in a["sources"]  # type: ignore[operator]
    assert set(a["thresholds"]) == {"en", "fr"}  # type: ignore[arg-type]
    c = build_model(shared, commercial_only=True)
    assert c["categories"] == {} and c["commercial_only"] is True
    assert "TRAC1" not in c["sources"]  # type: ignore[operator]
    assert "UMSAB-sentiment" not in c["sources"]  # type: ignore[operator]
    assert "teacher" not in a["categories"]  # type: ignore[operator]  # inclusive level: left out


def test_loso_calibration_reports_out_of_source_reliability(
    shared: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--loso", "--shared", str(shared), "--calibration"]) == 0
    out = capsys.readouterr().out
    assert "calibration out of source" in out
    assert any(
        line.strip().startswith("ConvAbuse") and "Brier" in line for line in out.splitlines()
    )
    assert "calibration ALL en (out of source)" in out and "ECE" in out


def test_trained_model_ships_a_calibration_whose_value_at_the_cut_is_the_threshold(
    shared: Path,
) -> None:
    from assistant.scoring.model import Model
    from assistant.scoring.training import build_model

    blob = build_model(shared)
    model = Model.from_dict(json.loads(json.dumps(blob)))
    assert set(model.calibration) == {"en", "fr"} == set(model.thresholds)
    for lang, cal in model.calibration.items():
        assert cal(0.5) == model.thresholds[lang]
        assert cal.xs == sorted(set(cal.xs))
    assert set(blob["cuts"]) == {"en", "fr"}  # type: ignore[arg-type]
