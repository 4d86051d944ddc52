"""Print one digest of every assessment the scorer gives (a speed change must not move it).

    .venv/bin/python scripts/hash_assessments.py

Scores every text of the shared data (``ASSISTANT_SHARED_DATA`` or ``../shared/data``,
``hostility/*.jsonl``) and of the test fixtures (``tests/scoring/fixtures/*.jsonl``) with the
shipped scorer, once with the language detected and once with the file's language given, and
once more with brand allow and block terms set; hashes each ``Assessment`` as JSON and the
uncalibrated score. Run it before and after a change: the digests must be equal.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.scoring import Scorer  # noqa: E402


def files() -> list[Path]:
    env = os.environ.get("ASSISTANT_SHARED_DATA")
    shared = (Path(env) if env else ROOT.parent / "shared" / "data") / "hostility"
    fixtures = ROOT / "tests" / "scoring" / "fixtures"
    return sorted(shared.glob("*.jsonl")) + sorted(fixtures.glob("*.jsonl"))


def main() -> int:
    plain = Scorer()
    branded = Scorer(allow_terms=["Acme", "Acme Air"], block_terms=["boycott acme", "scam"])
    total = hashlib.sha256()
    for path in files():
        digest = hashlib.sha256()
        n = 0
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                row = json.loads(line)
                text = row["text"]
                lang = "fr" if path.stem.endswith("fr") else "en"
                for scorer in (plain, branded):
                    digest.update(scorer.score(text).model_dump_json().encode())
                    digest.update(repr(scorer.uncalibrated(text)).encode())
                digest.update(plain.score(text, lang).model_dump_json().encode())
                n += 1
        total.update(digest.digest())
        print(f"{digest.hexdigest()[:16]}  {n:>6}  {path}")
    print(f"{total.hexdigest()}  all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
