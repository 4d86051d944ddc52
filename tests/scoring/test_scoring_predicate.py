"""Targeted insults without a swear word: a complaint word said *of the addressee* ("you are
a disgrace", "vous êtes des incapables") or shaming aimed at them ("shame on you", "honte à
vous") is hostile; the same words said of a thing, negated or quoted stay civil.

All lines are made up for these tests (none copies a data row)."""

from __future__ import annotations

import pytest

from assistant.scoring import Scorer, Severity, Target

AIMED_EN = [
    "you are a disgrace, your CEO should be ashamed",
    "@acme you're all liars",
    "you people are pathetic",
    "you clowns double charged me again",
    "y'all are scammers and everyone knows it",
    "your manager is a joke",
    "you are nothing but thieves",
    "ur so incompetent",
    "shame on you @acme",
    "you are an embarrassment to this city",
    "you are utterly useless",
    # questions (round 5)
    "are you all this incompetent?",
    "r u guys clueless or what",
]
AIMED_FR = [
    "vous êtes des incapables",
    "@acme bande de minables",
    "honte à vous",
    "vous n'avez aucune honte",
    "vous n'êtes que des escrocs",
    "t'es qu'un minable",
    "vous êtes vraiment des voleurs",
    "votre PDG est un incapable",
    "espèce d'incapable",
    "vous êtes tous des menteurs",
    # questions (round 5)
    "êtes-vous vraiment des escrocs ?",
    "es-tu nul ou quoi",
]
# Same words, no addressee as the target: a thing, a negation, a quotation, a question.
CIVIL = [
    "the app is useless today",
    "service client incompétent ? non, juste débordé",
    "your support is useless on weekends",
    "this update is a joke",
    "you are not incompetent, just understaffed",
    "vous êtes pas des voleurs, mais ce tarif est trop cher",
    "vous n'êtes pas incompétents, juste débordés",
    'saying "you are all liars" to staff is not ok',
    "the delay was ridiculous but the crew were lovely",
    "le nouveau forfait est minable",
    "did you scam me or is it a bug?",
    "are you incapable of reading my ticket?",
    "are you not incompetent after all?",
    "êtes-vous ouverts dimanche ?",
]


@pytest.mark.parametrize("text", AIMED_EN + AIMED_FR)
def test_complaint_words_said_of_the_addressee_are_hostile(scorer: Scorer, text: str) -> None:
    a = scorer.score(text)
    assert a.hostile, (text, a)
    assert a.target is Target.ADDRESSEE, (text, a.target)


@pytest.mark.parametrize("text", CIVIL)
def test_same_words_without_the_addressee_as_target_stay_civil(scorer: Scorer, text: str) -> None:
    a = scorer.score(text)
    assert not a.hostile, (text, a)


def test_evidence_says_the_word_was_said_of_you(scorer: Scorer) -> None:
    a = scorer.score("vous êtes des incapables")
    assert any("said of you" in e and "incapables" in e for e in a.evidence), a.evidence


@pytest.mark.parametrize(
    "text",
    ["i hope you get cancer", "why don't you just die", "je vous souhaite de mourir"],
)
def test_wishes_of_harm_are_hostile_but_do_not_page(scorer: Scorer, text: str) -> None:
    a = scorer.score(text)
    assert a.hostile, (text, a)
    assert a.severity is Severity.HIGH, (text, a.severity)


@pytest.mark.parametrize(
    "text", ["you are a prat", "vous êtes des voyous", "ur all lazy", "t'es qu'une feignasse"]
)
def test_words_insulting_only_when_said_of_you(scorer: Scorer, text: str) -> None:
    assert scorer.score(text).hostile, text


@pytest.mark.parametrize(
    "text", ["the fat cat slept", "a lazy sunday", "les voyous ont été arrêtés hier"]
)
def test_those_words_elsewhere_are_ordinary(scorer: Scorer, text: str) -> None:
    assert not scorer.score(text).hostile, text
