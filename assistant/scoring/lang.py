"""A tiny French/English guesser: stop-word votes over normalised tokens, no model to load.

Good enough to label a case card and to pick the language of the evidence; the scorer itself
does not depend on it (the lexicon and the model cover both languages at once).
"""

from __future__ import annotations

import itertools
import re

__all__ = ["STOP_WORDS", "detect"]


def _set(block: str) -> frozenset[str]:
    return frozenset(block.split())


_FR = _set(
    """
    le la les un une des du de et est c ce cette ces je j tu t il elle on nous vous ils elles
    pas ne n plus que qu qui quoi mais ou donc car avec pour sur dans chez au aux mon ma mes
    ton ta tes son sa ses notre votre vos leur leurs tres trop bien fait faire suis es sont
    etes ai as avez ont depuis encore toujours rien jamais merci bonjour ca cest y a
    """
)
_EN = _set(
    """
    the a an and is are was were be been i you he she it we they me my your his her our
    their not no but or so with for on in at to of this that these those what why how when
    do does did dont cant wont im its just have has had will would can could get got all
    thanks thank hi hello u ur lol
    """
)

STOP_WORDS = _FR | _EN
"""Function words of both languages (no meaning of their own: similarity ignores them)."""

# Only the difference of the two votes matters: each stop word's share of it, read in one
# lookup per token (a word of both lists, such as "a", counts for neither: left out).
_VOTE = {w: int(w in _FR) - int(w in _EN) for w in _FR ^ _EN}


_ACCENTS = re.compile("[éèêàçùôîœâ]")  # (one scan for all ten)


def detect(tokens: list[str], raw: str = "") -> str:
    """``"fr"``, ``"en"`` or ``"und"`` from normalised tokens (and accents in ``raw``)."""
    lead = sum(map(_VOTE.get, tokens, itertools.repeat(0)))  # French votes minus English
    if raw and not raw.isascii() and _ACCENTS.search(raw):
        lead += 2
    if lead == 0:
        return "und"
    return "fr" if lead > 0 else "en"
