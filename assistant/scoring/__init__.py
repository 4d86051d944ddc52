"""Hostility scoring: French and English, explainable, offline, fast.

    from assistant.scoring import Scorer
    scorer = Scorer(threshold=0.5, allow_terms=("Connard & Co",), block_terms=("scam bot",))
    a = scorer.score("t'es qu'un c0nnard")
    a.hostile, a.score, a.severity, a.categories, a.evidence

``score`` / ``score_batch`` use a default ``Scorer`` created on first use (nothing is loaded
at import time).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from assistant.scoring.scorer import Assessment, Category, Scorer, Severity, Target

__all__ = [
    "Assessment",
    "Category",
    "Scorer",
    "Severity",
    "Target",
    "default_scorer",
    "score",
    "score_batch",
]

_default: Scorer | None = None
_lock = threading.Lock()


def default_scorer() -> Scorer:
    """The shared default ``Scorer`` (threshold 0.5, no brand lists), created on first call."""
    global _default
    if _default is None:
        with _lock:
            if _default is None:
                _default = Scorer()
    return _default


def score(text: str, lang: str | None = None) -> Assessment:
    return default_scorer().score(text, lang)


def score_batch(texts: Sequence[str], lang: str | None = None) -> list[Assessment]:
    return default_scorer().score_batch(texts, lang)
