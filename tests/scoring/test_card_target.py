"""The card says at whom the hostility is aimed and what the second opinion said, inertly."""

from __future__ import annotations

import json

from assistant.models import CaseScore
from tests.unit.test_blocks import HOSTILE, HOSTILE_ESCAPED, card, make_case


def _shown(case_score: CaseScore) -> str:
    case = make_case()
    case = case.model_copy(update={"assessment": case_score})
    _, blocks = card(case)
    return json.dumps(blocks, ensure_ascii=False)


def test_card_shows_the_target() -> None:
    def score(target: str | None) -> CaseScore:
        return CaseScore(score=0.9, severity="high", evidence=["insult: « nuls »"], target=target)

    assert "*Aimed at* us (the brand or its staff)" in _shown(score("addressee"))
    assert "*Aimed at* a group" in _shown(score("group"))
    assert "Aimed at" not in _shown(score(None))  # cases stored before the scorer said


def test_card_shows_the_second_opinion_escaped() -> None:
    shown = _shown(CaseScore(score=0.6, severity="low", target="addressee", second_opinion=HOSTILE))
    assert HOSTILE_ESCAPED in shown and HOSTILE not in shown
    shown = _shown(
        CaseScore(score=0.6, severity="low", second_opinion="second opinion: flagged (hate 0.90)")
    )
    assert "second opinion: flagged (hate 0.90)" in shown
