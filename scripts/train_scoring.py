"""Train the hostility model shipped as ``assistant/scoring/model.json``.

Reproducible: the split is by hash of the text (``assistant.scoring.data.is_heldout``), the
solver is deterministic (liblinear), features are sorted and weights rounded, so running this
twice on the same data writes the same bytes.

    .venv/bin/pip install -e '.[train]'
    .venv/bin/python scripts/train_scoring.py            # writes assistant/scoring/model.json
    .venv/bin/python scripts/train_scoring.py --check    # trains and compares, writes nothing

Training data: the train side (80 %) of ``<shared>/hostility/en.jsonl`` and ``fr.jsonl``,
plus ``assistant/scoring/train_data/*.jsonl`` (short brand-context sentences written for
training: civil complaints, untargeted swearing, praise, and aimed insults). The held-out
20 % and the test fixtures under ``tests/scoring/fixtures`` are never read here.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.scoring.data import Example, is_heldout, read_jsonl, shared_data_dir  # noqa: E402
from assistant.scoring.model import features  # noqa: E402
from assistant.scoring.normalize import normalize, squeeze  # noqa: E402

OUT = ROOT / "assistant" / "scoring" / "model.json"
SUPPLEMENT_DIR = ROOT / "assistant" / "scoring" / "train_data"
SHARED_FILES = ("en.jsonl", "fr.jsonl")
# Supplement lines are few; each counts this many times so that the brand-context negatives
# (angry but civil complaints) are not drowned by 20,000 tweets.
SUPPLEMENT_WEIGHT = 8.0
# Per-file weight of the shared tweets: the French file is ten times smaller than the English
# one, so without this its n-grams are drowned (chosen by cross-validation on the train side).
SHARED_WEIGHT = {"en.jsonl": 1.0, "fr.jsonl": 1.5}
MIN_DF = 2
# Character n-grams enter the fit scaled by this (word unigrams/bigrams by 1); the exported
# weights are multiplied back by it, so the runtime features are unchanged.
CHAR_SCALE = 0.5
KEEP = 60_000
C = 4.0
DECIMALS = 4


def keys_of(text: str) -> list[str]:
    return [squeeze(t) for t in normalize(text).tokens]


def load(shared: Path) -> tuple[list[Example], list[float]]:
    examples: list[Example] = []
    weights: list[float] = []
    for name in SHARED_FILES:
        for ex in read_jsonl(shared / "hostility" / name):
            if not is_heldout(ex.text):
                examples.append(ex)
                weights.append(SHARED_WEIGHT[name])
    for path in sorted(SUPPLEMENT_DIR.glob("*.jsonl")):
        for ex in read_jsonl(path):
            examples.append(ex)
            weights.append(SUPPLEMENT_WEIGHT)
    return examples, weights


def train(examples: list[Example], sample_weight: list[float]) -> dict[str, object]:
    import numpy as np
    from scipy.sparse import csr_matrix
    from sklearn.linear_model import LogisticRegression

    feats = [features(keys_of(ex.text)) for ex in examples]
    y = np.array([1 if ex.hostile else 0 for ex in examples])
    sw = np.array(sample_weight)

    def fit(vocab: list[str]) -> tuple[LogisticRegression, list[str]]:
        index = {f: i for i, f in enumerate(vocab)}
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        for r, fv in enumerate(feats):
            for f, v in fv.items():
                j = index.get(f)
                if j is not None:
                    rows.append(r)
                    cols.append(j)
                    vals.append(v if f.startswith(("w:", "b:")) else v * CHAR_SCALE)
        x = csr_matrix((vals, (rows, cols)), shape=(len(feats), len(vocab)))
        clf = LogisticRegression(
            C=C, solver="liblinear", class_weight="balanced", max_iter=1000, random_state=0
        )
        clf.fit(x, y, sample_weight=sw)
        return clf, vocab

    df: dict[str, int] = {}
    for fv in feats:
        for f in fv:
            df[f] = df.get(f, 0) + 1
    vocab = sorted(f for f, n in df.items() if n >= MIN_DF)
    clf, vocab = fit(vocab)
    coef = clf.coef_[0]
    ranked = sorted(range(len(vocab)), key=lambda i: (-abs(float(coef[i])), vocab[i]))
    kept = sorted(vocab[i] for i in ranked[:KEEP])
    clf, vocab = fit(kept)
    coef = clf.coef_[0]
    scaled = [
        float(w) if f.startswith(("w:", "b:")) else float(w) * CHAR_SCALE
        for f, w in zip(vocab, coef, strict=True)
    ]
    weights = {f: round(w, DECIMALS) for f, w in zip(vocab, scaled, strict=True) if round(w, 4)}
    return {
        "format": 1,
        "about": "hostility logistic regression over char n-grams; see scripts/train_scoring.py",
        "intercept": round(float(clf.intercept_[0]), DECIMALS),
        "weights": weights,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=None, help="shared data dir")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--check", action="store_true", help="compare with --out, write nothing")
    args = parser.parse_args(argv)
    shared = args.shared or shared_data_dir()
    if not (shared / "hostility").is_dir():
        print(f"no training data under {shared}/hostility", file=sys.stderr)
        return 2
    examples, weights = load(shared)
    n_pos = sum(ex.hostile for ex in examples)
    print(f"training on {len(examples)} examples ({n_pos} hostile)", file=sys.stderr)
    model = train(examples, weights)
    blob = json.dumps(model, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"
    if args.check:
        same = args.out.exists() and args.out.read_text(encoding="utf-8") == blob
        print("identical" if same else "DIFFERENT", file=sys.stderr)
        return 0 if same else 1
    args.out.write_text(blob, encoding="utf-8")
    print(f"wrote {args.out} ({len(blob) // 1024} KiB, {len(model['weights'])} weights)")  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
