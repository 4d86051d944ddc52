"""What a community manager would notice: obfuscation caught, complaints left alone, threats
escalated, brand lists honoured, evidence that says why."""

from __future__ import annotations

import pytest

from assistant.scoring import Scorer, Severity

# (text, a word the evidence must quote)
HOSTILE_FR = [
    ("CONNARD", "connard"),  # case
    ("Sâle bâtârd", "batard"),  # accents
    ("t'es qu'un connaaaaard", "connard"),  # repeated letters
    ("t'es qu'un c0nn@rd", "connard"),  # leetspeak
    ("vous êtes des encul*s", "encul*s"),  # masking
    ("fils de p***", "p***"),  # masking, several stars
    ("n.t.m", "ntm"),  # spelled out
    ("fdp va", "fdp"),  # abbreviation
    ("tg le bot", "tg"),
    ("#FreeBandeDeConnards", "connards"),  # hashtag split on case
    ("@free_mobile connards", "connards"),  # handle
    ("🖕🖕 @orange", "xmiddlefingerx"),  # emoji
    ("c o n n a r d", "connard"),  # letters spaced out
    ("SALE BOUFFON", "bouffon"),
]
HOSTILE_EN = [
    ("ASSHOLE", "asshole"),
    ("you are such a biiiitch", "bitch"),
    ("you @ssh0le", "asshole"),  # "@" masking, not a handle
    ("f*ck you", "f*ck"),
    ("sh!thead", "shithead"),
    ("stfu", "stfu"),
    ("gtfo loser", "gtfo"),
    ("#YouSuckAss idiots", "idiots"),
    ("@delta you morons", "morons"),
    ("🖕 @comcast", "xmiddlefingerx"),
    ("f.u.c.k y.o.u", "fuck"),
    ("you dumb c*nt", "c*nt"),
]


@pytest.mark.parametrize(("text", "word"), HOSTILE_FR + HOSTILE_EN)
def test_obfuscated_insults_are_hostile_with_evidence(scorer: Scorer, text: str, word: str) -> None:
    a = scorer.score(text)
    assert a.hostile, (text, a)
    assert any(word in e for e in a.evidence), (text, a.evidence)


CIVIL = [
    "ça fait 3 jours que je n'ai pas de réseau, c'est inadmissible",
    "C'est scandaleux, 2 mois sans remboursement, je vais résilier",
    "Vous êtes injoignables, c'est une honte, je veux parler à un responsable",
    "Encore une panne ?! Vous vous moquez de vos clients",
    "@SNCF encore 40 minutes de retard ce matin",  # "retard" is a delay in French
    "This is unacceptable, three days without internet and nobody calls back",
    "Your support hung up on me twice, I am furious",
    "I want a refund NOW, this service is a joke",
    "your service is useless",  # mild: below the threshold on its own
    "le service client est incompétent",  # "mild" and aimed at no one
    "pros and cons of the new plan",  # "con" is French only
]


@pytest.mark.parametrize("text", CIVIL)
def test_angry_but_civil_complaints_are_not_hostile(scorer: Scorer, text: str) -> None:
    a = scorer.score(text)
    assert not a.hostile, (text, a)
    assert a.severity == Severity.NONE


@pytest.mark.parametrize(
    "text", ["putain de pluie", "fucking rain again", "merde, j'ai raté le bus", "holy shit"]
)
def test_untargeted_swearing_is_profanity_not_hostility(scorer: Scorer, text: str) -> None:
    a = scorer.score(text)
    assert not a.hostile, (text, a)
    assert a.categories["profanity"] >= 0.3
    assert any(e.startswith("profanity:") for e in a.evidence)


@pytest.mark.parametrize(
    "text",
    [
        "Merci pour votre aide, problème réglé en 5 minutes !",
        "Génial, encore une panne, merci beaucoup...",  # sarcasm without abuse
        "Oh great, another outage, thanks so much",
        "Love the new app, great job",
    ],
)
def test_praise_and_sarcasm_are_not_hostile(scorer: Scorer, text: str) -> None:
    assert not scorer.score(text).hostile


def test_aimed_vs_unaimed_insult_word(scorer: Scorer) -> None:
    assert scorer.score("t'es débile").hostile
    assert not scorer.score("c'est débile").hostile
    assert scorer.score("you are stupid").hostile
    assert not scorer.score("this is stupid").hostile


@pytest.mark.parametrize(
    "text",
    [
        "je vais te buter",
        "On va vous retrouver et vous égorger",
        "je sais où tu habites",
        "I will kill you",
        "we're gonna find you",
        "I know where you live",
        "je vais brûler votre agence",
    ],
)
def test_threats_are_critical(scorer: Scorer, text: str) -> None:
    a = scorer.score(text)
    assert a.hostile
    assert a.severity == Severity.CRITICAL, (text, a)
    assert a.categories["threat"] >= 0.9
    assert a.evidence[0].startswith("threat: ")


def test_insult_is_not_critical(scorer: Scorer) -> None:
    a = scorer.score("bande de connards")
    assert a.severity in (Severity.MEDIUM, Severity.HIGH)
    assert a.categories["threat"] == 0.0


def test_hyperbole_is_not_a_threat(scorer: Scorer) -> None:
    a = scorer.score("this wait is killing me, 2 hours on hold")
    assert a.categories["threat"] == 0.0
    assert a.severity != Severity.CRITICAL


def test_identity_attack(scorer: Scorer) -> None:
    a = scorer.score("sales arabes")
    assert a.hostile and a.categories["identity_attack"] >= 0.8
    assert a.severity in (Severity.HIGH, Severity.CRITICAL)
    assert any(e.startswith("identity attack:") for e in a.evidence)
    b = scorer.score("go back to your country you dirty immigrants")
    assert b.hostile and b.categories["identity_attack"] >= 0.8


def test_evidence_quotes_the_words(scorer: Scorer) -> None:
    a = scorer.score("@free bande de connards, rendez-moi mon argent")
    assert a.evidence[0] == "insult: « connards »"
    b = scorer.score("f*ck you")
    assert "insult: « f*ck (fuck) you »" in b.evidence


def test_model_evidence_names_words_when_lexicon_is_silent(scorer: Scorer) -> None:
    a = scorer.score("you are a waste of space")  # no lexicon entry: the learned model decides
    assert a.hostile
    assert a.evidence[0].startswith("model ")
    assert "« waste »" in a.evidence[0]
    assert a.categories["insult"] == a.score


@pytest.mark.parametrize(
    "text",
    [
        "you are a disgrace",  # no swear word: found through the target features
        "you are a waste of space",
        "your staff are useless idiots",
        "you disgust me",
    ],
)
def test_targeted_insults_without_swearing_are_hostile(scorer: Scorer, text: str) -> None:
    a = scorer.score(text)
    assert a.hostile, (text, a)
    assert a.target.value == "addressee"


def test_allow_terms_never_count() -> None:
    text = "Connard Burger a encore oublié ma commande"
    assert Scorer().score(text).hostile  # the brand's own name looks like an insult
    brand = Scorer(allow_terms=("Connard Burger",))
    a = brand.score(text)
    assert not a.hostile
    assert not any("connard" in e for e in a.evidence)
    # Only the allowed phrase is exempt: the word on its own still counts.
    assert brand.score("t'es qu'un connard").hostile


def test_block_terms_always_hostile() -> None:
    scorer = Scorer(threshold=0.9, block_terms=("gros lard", "Boycott Acme"))
    a = scorer.score("encore ce Gros Laaard au guichet")
    assert a.hostile and a.score == 1.0
    assert a.evidence[0] == "blocked term: « gros lard »"
    assert a.severity != Severity.NONE
    assert scorer.score("#boycottacme").hostile
    assert not scorer.score("le guichet était fermé").hostile


@pytest.mark.parametrize(
    "text",
    [
        "il faut renvoyer les migrants",
        "les migrants sont des animaux",
        "ces rebeus des sauvages",
        "mort aux juifs",
        "retourne au bled",
        "ce pauvre gauchiste de merde",
        "sale facho",
        "nsm",
        "muslims are rats",
    ],
)
def test_french_group_attacks_and_exclusion(scorer: Scorer, text: str) -> None:
    a = scorer.score(text)
    assert a.hostile, (text, a)


@pytest.mark.parametrize(
    "text",
    [
        "mort de trois migrants en mer",
        "je m'y attarde pas, merci",
        "ptn les mecs j'ai gagné",
        "votre technicien de merde n'est jamais venu",
    ],
)
def test_group_rules_do_not_flag_civil_or_verbs(scorer: Scorer, text: str) -> None:
    a = scorer.score(text)
    assert not any(e.startswith(("identity attack", "insult: « attarde")) for e in a.evidence)
    assert not a.hostile or "attarde" not in text, (text, a)
