"""Train the hostility model shipped as ``assistant/scoring/model.json``.

Reproducible byte for byte: rows in file order, sorted vocabulary and JSON, a deterministic
solver (liblinear), rounded weights; running this twice on the same data writes the same bytes.

    .venv/bin/pip install -e '.[train]'
    .venv/bin/python scripts/train_scoring.py                    # writes model.json
    .venv/bin/python scripts/train_scoring.py --check            # compares, writes nothing
    .venv/bin/python scripts/train_scoring.py --commercial-only --out /tmp/model-c.json

Training data: every row of ``<shared>/hostility/{en,fr}.jsonl`` with the per-source label
decisions of ``assistant/scoring/training.py`` (documented in docs/scoring.md), the HurtLex
word categories of ``<shared>/lexicons/hurtlex``, and ``assistant/scoring/train_data/*.jsonl``
(short brand-context sentences written for training). Each language's threshold is chosen on
that language's civil-complaint tweets scored by a model trained without their source.
``--commercial-only`` leaves out the non-commercial / unlicensed sources and HurtLex.
The test fixtures under ``tests/scoring/fixtures`` are never read here.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.scoring.data import shared_data_dir  # noqa: E402
from assistant.scoring.training import build_model  # noqa: E402

OUT = ROOT / "assistant" / "scoring" / "model.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=None, help="shared data dir")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--check", action="store_true", help="compare with --out, write nothing")
    parser.add_argument(
        "--commercial-only",
        action="store_true",
        help="leave out the non-commercial and unlicensed sources and the HurtLex lexicon",
    )
    args = parser.parse_args(argv)
    shared = args.shared or shared_data_dir()
    if not (shared / "hostility").is_dir():
        print(f"no training data under {shared}/hostility", file=sys.stderr)
        return 2
    model = build_model(
        shared,
        commercial_only=args.commercial_only,
        log=lambda m: print(m, file=sys.stderr, flush=True),
    )
    blob = json.dumps(model, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"
    if args.check:
        same = args.out.exists() and args.out.read_text(encoding="utf-8") == blob
        print("identical" if same else "DIFFERENT", file=sys.stderr)
        return 0 if same else 1
    args.out.write_text(blob, encoding="utf-8")
    n = len(model["weights"])  # type: ignore[arg-type]
    print(f"wrote {args.out} ({len(blob) // 1024} KiB, {n} weights)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
