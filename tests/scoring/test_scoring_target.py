"""At whom the hostility is aimed, per-language operating points, target-aware features,
and the threat patterns that page on-call."""

from __future__ import annotations

import math

import pytest

from assistant.scoring import Scorer, Severity, Target
from assistant.scoring.model import Model, features, target_positions
from assistant.scoring.normalize import normalize, squeeze


def keys(text: str) -> list[str]:
    return [squeeze(t) for t in normalize(text).tokens]


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("you are a fucking idiot", Target.ADDRESSEE),
        ("@acme your staff are morons", Target.ADDRESSEE),
        ("vos conseillers sont des abrutis", Target.ADDRESSEE),
        ("espèce d'abruti", Target.ADDRESSEE),
        ("t'es qu'un connard", Target.ADDRESSEE),
        ("connard", Target.ADDRESSEE),  # a one-word message is aimed at whoever reads it
        ("ces arabes de merde", Target.GROUP),
        ("muslims are rats", Target.GROUP),
        ("my neighbour is a complete asshole and a moron", Target.OTHER),
        ("ce connard de voisin a encore garé sa voiture devant chez moi", Target.OTHER),
    ],
)
def test_target_of_hostile_text(scorer: Scorer, text: str, target: Target) -> None:
    a = scorer.score(text)
    assert a.hostile, (text, a)
    assert a.target == target, (text, a)


def test_target_round_trips_in_the_assessment(scorer: Scorer) -> None:
    a = scorer.score("you are a fucking idiot")
    assert a.model_dump(mode="json")["target"] == "addressee"


@pytest.mark.parametrize(
    ("text", "critical"),
    [
        ("I will kill you", True),
        ("je vais te buter", True),
        ("maduro you are next", True),
        ("Thank you, next time I will fly with you again", False),  # not "you … next"
        ("you next? the queue is long", False),
        # Against a group, both languages.
        ("we will kill all the muslims", True),
        ("I am going to shoot every immigrant", True),
        ("je vais buter tous les arabes", True),
        ("les migrants devraient tous être pendus", True),
        ("I will kill all the mosquitoes in this flat", False),
        # Reporting a threat is not making one: it does not page.
        ('You can write "I will kill you" but I will take you to court for it', False),
    ],
)
def test_threat_patterns(scorer: Scorer, text: str, critical: bool) -> None:
    a = scorer.score(text)
    assert (a.severity == Severity.CRITICAL) is critical, (text, a)


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_per_language_operating_point_maps_to_half() -> None:
    # A model whose raw score is 0.7 for any text: hostile where the language's cut is below.
    model = Model({}, _logit(0.7), cuts={"en": 0.8, "fr": 0.6})  # no calibration
    scorer = Scorer(model=model)
    fr = scorer.score("la livraison", lang="fr")
    en = scorer.score("the delivery", lang="en")
    assert fr.hostile and not en.hostile
    assert fr.score == pytest.approx(0.5 + 0.5 * 0.1 / 0.4, abs=1e-3)
    assert en.score == pytest.approx(0.5 * 0.7 / 0.8, abs=1e-3)
    # Another language uses the strictest cut.
    assert scorer.cut("es") == 0.8
    at_cut = Scorer(model=Model({}, _logit(0.8), cuts={"en": 0.8}))
    assert at_cut.score("the delivery", lang="en").score == pytest.approx(0.5, abs=1e-3)


def test_shipped_model_has_a_cut_per_language(scorer: Scorer) -> None:
    assert set(scorer.model.cuts) >= {"en", "fr"}
    assert all(0.3 <= t <= 0.9 for t in scorer.model.cuts.values())


def test_target_features_follow_the_addressee() -> None:
    k = keys("honestly you are a disgrace")
    aimed = [k[j] for j in target_positions(k)]
    assert aimed == ["are", "a", "disgrace"]
    assert target_positions(keys("this company is a disgrace")) == []
    # "don't" is not the French elided "tu"; "t'es" is.
    assert target_positions(keys("don't be late")) == []
    assert target_positions(keys("t'es nul")) != []
    cats = {"disgrace": ("dmc",), "minable": ("dmc",)}
    en = features(keys("you are a disgrace"), cats)
    fr = features(keys("vous êtes des minables"), cats)
    assert "y:disgrace" in en and "yh:dmc" in en and "yh:dmc" in fr
    assert "h:dmc" not in en and "t:aimed" in en  # categories count only when aimed
    assert "yh:dmc" not in features(keys("what a disgrace"), cats)


def test_fast_path_matches_reference_with_categories() -> None:
    model = Model(
        {"y:disgrace": 1.5, "yh:dmc": 0.7, "t:aimed": 0.3, "w:you": 0.1},
        -1.0,
        categories={"disgrace": ("dmc",), "minable": ("dmc",)},
    )
    for text in ["you are a disgrace", "vous êtes des minables", "what a disgrace", ""]:
        k = keys(text)
        ref = model.intercept + sum(
            model.weights.get(f, 0.0) * v for f, v in features(k, model.categories).items()
        )
        assert model.logit(k) == pytest.approx(ref, abs=1e-9)


def test_squeeze_collisions_only_match_the_real_spelling(scorer: Scorer) -> None:
    # "ass" and "as", "coon" and "con" squeeze to the same key; only the real spelling counts.
    calm = scorer.score("just as bad as the last update, as usual", lang="en")
    assert not any("« as »" in e for e in calm.evidence), calm
    assert not calm.hostile
    assert any("« ass »" in e for e in scorer.score("kiss my ass").evidence)
    assert scorer.score("you dumb ass").hostile
    assert scorer.score("sale con").hostile  # the French insult still counts
