"""The contract the core loop relies on: fields, types, threshold, batch, lazy default."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

import assistant.scoring as scoring
from assistant.scoring import Assessment, Category, Scorer, Severity
from assistant.scoring.model import Model, features
from assistant.scoring.normalize import normalize, squeeze

FIXTURES = Path(__file__).parent / "fixtures"


def test_assessment_fields(scorer: Scorer) -> None:
    a = scorer.score("t'es qu'un c0nnard")
    assert isinstance(a, Assessment)
    assert 0.0 <= a.score <= 1.0
    assert a.hostile is True
    assert set(a.categories) == {"insult", "profanity", "threat", "identity_attack"}
    assert {c.value for c in Category} == set(a.categories)
    assert all(0.0 <= v <= 1.0 for v in a.categories.values())
    assert a.categories["insult"] >= 0.5
    assert a.severity in set(Severity)
    assert a.lang == "fr"
    assert a.evidence and all(isinstance(e, str) for e in a.evidence)
    assert len(a.evidence) <= 5


def test_assessment_is_serialisable(scorer: Scorer) -> None:
    a = scorer.score("bande de connards")
    data = a.model_dump(mode="json")
    assert data["severity"] in {"none", "low", "medium", "high", "critical"}
    assert Assessment.model_validate(data) == a


def test_assessments_are_what_validation_gives(scorer: Scorer) -> None:
    """The scorer builds its ``Assessment`` without validating (its values are valid by
    construction): each must equal, dump and behave as the validated model of its values."""
    branded = Scorer(allow_terms=["Acme"], block_terms=["scam"], threshold=0.6)
    texts = [
        json.loads(line)["text"]
        for path in sorted(FIXTURES.glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    texts += ["", "a", "acme is a scam", "je vais te buter", "sales migrants", "🖕🖕", "@x"]
    kinds = set()
    for text in texts:
        for a in (scorer.score(text), branded.score(text), scorer.score(text, "fr")):
            validated = Assessment.model_validate(a.model_dump())
            assert a == validated, text
            assert a.model_dump_json() == validated.model_dump_json(), text
            assert a.model_fields_set == validated.model_fields_set, text
            assert repr(a) == repr(validated), text
            kinds.add((a.severity, a.target, a.hostile))
    assert len(kinds) >= 8  # every severity and target met
    with pytest.raises(ValidationError):
        a.score = 0.5  # frozen like the validated model
    copied = a.model_copy(update={"lang": "xx"})
    assert copied.lang == "xx" and a.lang != "xx"


def test_language_codes_from_the_network_are_remembered_within_a_bound() -> None:
    """A mention's ``lang`` comes from the network (any string up to 16 characters): the
    per-language operating points the scorer remembers stay bounded, and each code is still
    judged at the operating point of the language it names, or the strictest one."""
    scorer = Scorer()
    text = "you are a disgrace"

    def verdict(lang: str) -> dict[str, object]:
        return scorer.score(text, lang).model_dump(exclude={"lang"})

    fr, other = verdict("fr"), verdict("xx")
    assert fr != other  # (the two operating points differ for this text)
    for i in range(1_000):
        assert verdict(f"q{i}") == other
    assert len(scorer._operating) <= 64
    assert verdict("fr-CA") == fr
    assert verdict("zz") == other


def test_benign_text_scores_low(scorer: Scorer) -> None:
    a = scorer.score("Merci beaucoup pour votre aide, tout fonctionne !")
    assert not a.hostile
    assert a.score < 0.2
    assert a.severity == Severity.NONE
    assert a.evidence == []


def test_threshold_semantics() -> None:
    text = "you are stupid"
    s = Scorer(threshold=0.5).score(text).score
    assert Scorer(threshold=s).score(text).hostile  # hostile iff score >= threshold
    assert not Scorer(threshold=min(1.0, s + 0.01)).score(text).hostile
    assert not Scorer(threshold=1.0).score("you are stupid").hostile
    with pytest.raises(ValueError):
        Scorer(threshold=1.5)


def test_batch_matches_single(scorer: Scorer) -> None:
    texts = ["bande de connards", "merci pour tout", "I will kill you", ""]
    assert scorer.score_batch(texts) == [scorer.score(t) for t in texts]


def test_empty_and_odd_inputs(scorer: Scorer) -> None:
    for text in ["", "   ", "🙂🙂", "@user", "https://example.com/x", "1234"]:
        a = scorer.score(text)
        assert not a.hostile and a.score < 0.5


def test_lang_detection_and_override(scorer: Scorer) -> None:
    assert scorer.score("je n'ai toujours pas de réseau depuis ce matin").lang == "fr"
    assert scorer.score("I still have no signal since this morning").lang == "en"
    assert scorer.score("bande de connards", lang="fr-FR").lang == "fr"
    assert scorer.score("hola amigos", lang="es").lang == "es"


def test_module_level_functions_use_lazy_default() -> None:
    a = scoring.score("espèce d'abruti")
    assert a.hostile
    assert scoring.score_batch(["espèce d'abruti"]) == [a]
    assert scoring.default_scorer() is scoring.default_scorer()


def test_import_loads_nothing() -> None:
    code = (
        "import sys, assistant.scoring as s; "
        "assert s._default is None; "
        "assert 'assistant.scoring.model' in sys.modules; "
        "from assistant.scoring.model import Model; "
        "import gc; assert not any(isinstance(o, Model) for o in gc.get_objects())"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_fast_path_matches_reference_features() -> None:
    """The cached per-token logit equals the plain dot product the training script uses."""
    model = Model.load()
    for text in [
        "t'es qu'un c0nnard",
        "ça fait 3 jours que je n'ai pas de réseau",
        "@comcast you bunch of assholes give me my money back",
        "a",
        "",
    ]:
        keys = [squeeze(t) for t in normalize(text).tokens]
        ref = model.intercept + sum(
            model.weights.get(f, 0.0) * v for f, v in features(keys, model.categories).items()
        )
        assert model.logit(keys) == pytest.approx(ref, abs=1e-9)
