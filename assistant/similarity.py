"""Which past mention is like this one: pure functions, no model, no download.

A mention becomes a set of *terms*: its tokens after the scorer's normalisation (case,
accents, leetspeak, spelled-out letters, repeated letters and plurals undone, so ``C0NNARDS``
and ``connard`` are one term), without function words, handles and one-letter tokens. Each
term is weighted by its inverse document frequency among the remembered mentions of the same
language, so a rare word (``réseau``, ``refund``) counts more than a common one (``nul``).

Similarity is the cosine of the two idf-weighted binary vectors: the sum of the squared
weights of the shared terms over the product of the two norms. The query's norm uses today's
frequencies; a remembered mention's norm was computed when it was remembered (its terms'
frequencies then), which keeps a lookup to two round trips. The shared terms are the
explanation shown on the card.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from assistant.scoring.lang import STOP_WORDS, detect
from assistant.scoring.normalize import USER, normalize, squeeze, strip_plural

MAX_TERMS = 48  # terms kept from one mention (the longest texts are cut, not the index)
MIN_SIMILARITY = 0.2  # below this, a past mention is not shown as similar
_LANG = re.compile(r"^[a-z]{2,8}$")
_IGNORED = STOP_WORDS | frozenset(
    [
        "en",
        "par",
        "sans",
        "sous",
        "entre",
        "comme",
        "alors",
        "aussi",
        "meme",
        "tout",
        "tous",
        "toute",
        "toutes",
        "si",
        "lui",
        "etre",
        "avoir",
        "ete",
        "fois",
        "vraiment",
        "encore",
        "from",
        "by",
        "about",
        "there",
        "here",
        "than",
        "then",
        "if",
        "re",
        "ve",
        "ll",
        "via",
        "really",
    ]
)


@dataclass(frozen=True, slots=True)
class Terms:
    """The terms of a text, each with the word it was seen as (shown on the card)."""

    lang: str
    surface: dict[str, str]

    @property
    def keys(self) -> list[str]:
        return list(self.surface)


def language(text: str, declared: str | None) -> str:
    """The language code the memory files a text under: the network's tag when it has one
    (``fr-FR`` → ``fr``), else the stop-word guess (``und`` when unsure)."""
    if declared:
        code = declared.split("-")[0].split("_")[0].lower()
        if _LANG.match(code):
            return code
    return detect(normalize(text).tokens, text)


def terms(text: str, declared_lang: str | None = None) -> Terms:
    """The terms of ``text`` (at most MAX_TERMS, first seen first) and its language."""
    tokens = normalize(text).tokens
    surface: dict[str, str] = {}
    for token in tokens:
        word = token.strip("*")
        if len(word) < 2 or word == USER or word in _IGNORED:
            continue
        key = squeeze(word)
        key = strip_plural(key) or key
        if len(key) < 2 or key in _IGNORED:
            continue
        surface.setdefault(key, word)
        if len(surface) >= MAX_TERMS:
            break
    return Terms(language(text, declared_lang), surface)


_WORD = re.compile(r"[\w@$*!|]+")


def as_written(text: str) -> dict[str, str]:
    """Each term of ``text`` -> the word behind it as the author wrote it (``réseau``, not the
    term ``reseau``), for the card."""
    written: dict[str, str] = {}
    for word in _WORD.findall(text[:5000]):
        for key in terms(word, "und").keys:
            written.setdefault(key, word.lower())
    return written


def idf(df: int, total: int) -> float:
    """Inverse document frequency, smoothed: a term in every entry still weighs a little."""
    return math.log(1.0 + (total + 1) / (df + 1))


def norm(weights: Mapping[str, float], keys: list[str]) -> float:
    return math.sqrt(sum(weights.get(k, 0.0) ** 2 for k in keys))


def similarity(
    query: list[str],
    query_norm: float,
    entry: list[str],
    entry_norm: float,
    weights: Mapping[str, float],
) -> tuple[float, list[str]]:
    """(cosine of the weighted vectors, the shared terms by weight) — (0, []) if none."""
    if query_norm <= 0 or entry_norm <= 0:
        return 0.0, []
    own = set(entry)
    shared = [k for k in query if k in own]
    if not shared:
        return 0.0, []
    dot = sum(weights.get(k, 0.0) ** 2 for k in shared)
    shared.sort(key=lambda k: -weights.get(k, 0.0))
    return min(1.0, dot / (query_norm * entry_norm)), shared
