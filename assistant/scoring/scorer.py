"""``Scorer``: lexicon + rules + learned model -> an explainable ``Assessment``.

How a text is scored (see docs/scoring.md for the measured figures):

1. normalise (``normalize.normalize``): case, accents, leet, masking, repeated letters,
   spelled-out letters, hashtags, handles, emoji; brand allow terms are then dropped;
2. lexicon: categorised terms and phrases (``lexicon``), threat patterns, identity rules;
   an insult aimed at someone (second person, a handle, "sale …", a one-word message) weighs
   more; swearing on its own stays below the threshold;
3. model: a character n-gram logistic regression (``model``) trained on the shared tweets
   and short brand-context sentences; it catches what the lexicon does not list;
4. ``score = max(lexicon, model)``, except that when the only cue is swearing with no insult,
   threat or slur, the model is capped below the default threshold ("putain de pluie").
   A block term forces ``1.0``.
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from assistant.scoring import lexicon as lx
from assistant.scoring.lang import detect
from assistant.scoring.model import STAFF, Calibration, Model
from assistant.scoring.normalize import USER, normalize, squeeze

__all__ = ["BAND", "Assessment", "Category", "Scorer", "Severity", "Target"]

BAND = 0.15
"""Half-width of the borderline band (for the optional second opinion), on the uncalibrated
scale around its 0.5 operating point; ``Scorer.band`` gives it on the calibrated scale."""
# Severity "medium" and "high" start at these uncalibrated scores (strong aimed insults and
# slurs weigh 0.9+ in the lexicon); ``Scorer.severity_bands`` gives them calibrated.
_MEDIUM = 0.7
_HIGH = 0.9

_POSSESSIVE = frozenset(("your", "ur", "votre", "vos", "ton", "ta", "tes"))


class Category(StrEnum):
    INSULT = "insult"
    PROFANITY = "profanity"
    THREAT = "threat"
    IDENTITY_ATTACK = "identity_attack"


class Severity(StrEnum):
    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Target(StrEnum):
    """At whom the hostility is aimed (best effort)."""

    ADDRESSEE = "addressee"  # the account addressed: the brand or its staff
    GROUP = "group"  # a group of people (identity attack)
    OTHER = "other"  # someone or something else (a third party, untargeted)


@dataclass(slots=True)
class _Raw:
    score: float
    lexicon: float
    model: float
    cats: dict[str, float]
    evidence: list[tuple[float, str]]
    lang: str
    blocked: bool
    group_attack: bool
    aimed: bool


class Assessment(BaseModel):
    """The verdict on one text, with what drove it."""

    model_config = ConfigDict(frozen=True)

    score: float = Field(ge=0.0, le=1.0)
    """Calibrated probability that the text is hostile; ``hostile`` is ``score >= threshold``."""
    hostile: bool
    categories: dict[str, float]
    """A score in [0, 1] for each of ``insult``, ``profanity``, ``threat``, ``identity_attack``."""
    severity: Severity
    lang: str
    """``fr``, ``en``, the caller's code, or ``und``."""
    evidence: list[str]
    """What drove the decision, most important first, e.g. ``insult: « connards »``."""
    target: Target = Target.OTHER
    """At whom the text's hostility is (or would be) aimed: ``addressee`` (the account
    addressed, i.e. the brand or its staff), ``group`` (an identity attack) or ``other``."""
    threshold: float = Field(0.5, ge=0.0, le=1.0)
    """The operating point the text was judged at: its language's shipped threshold, or the
    one configured for every language."""


_new = object.__new__
_setattr = object.__setattr__
_FIELDS = frozenset(Assessment.model_fields)


def _assessment(
    score: float,
    hostile: bool,
    categories: dict[str, float],
    severity: Severity,
    lang: str,
    evidence: list[str],
    target: Target,
    threshold: float,
) -> Assessment:
    """The ``Assessment`` of values the scorer has just computed, built as pydantic's
    ``model_construct`` builds one (no validation: every value is of its field's type and in
    its range by construction), without its per-field loop: validating cost ~5 µs of the
    ~190 a text takes. ``test_scoring_interface`` checks that it equals the validated model
    on every kind of text."""
    a: Assessment = _new(Assessment)
    values = {
        "score": score,
        "hostile": hostile,
        "categories": categories,
        "severity": severity,
        "lang": lang,
        "evidence": evidence,
        "target": target,
        "threshold": threshold,
    }
    _setattr(a, "__dict__", values)
    _setattr(a, "__pydantic_fields_set__", set(_FIELDS))
    _setattr(a, "__pydantic_extra__", None)
    _setattr(a, "__pydantic_private__", None)
    return a


# Swearing alone never makes a text hostile: its share, and the cap on the model, stay below.
_PROFANITY_SHARE = 0.3
_PROFANITY_CAP = 0.45
_UNAIMED_PENALTY = 0.1
_MILD = 0.5  # insult weights below this are "mild" (complaint vocabulary)
_PREDICATED = 0.6  # a mild word said of the addressee ("you are useless"): hostile
_GROUP_WINDOW = 3
_QUOTES = ('"', "“", "”", "«", "»")
_EVIDENCE_MIN = 0.1  # a word's share of the model's logit worth quoting
_MAX_EVIDENCE = 5


_NO_CATEGORIES = {c.value: 0.0 for c in Category}
_OPERATING_MAX = 64  # language codes whose operating point is remembered

# Bits of the word lists the rules test a text against (``_FLAGS``: each word's bits).
_SECOND, _PREDICATE, _THREAT, _GROUP, _PEOPLE, _VOCATIVE, _STAFF, _GATE = (1 << b for b in range(8))


def _flag_table() -> dict[str, int]:
    table: dict[str, int] = {}
    for flag, words in (
        (_SECOND, lx.SECOND_PERSON),
        (_PREDICATE, lx.PREDICATE_WORDS),
        (_THREAT, lx.THREAT_TRIGGERS),
        (_GROUP, lx.GROUPS),
        (_PEOPLE, lx.PEOPLE),
        (_VOCATIVE, lx.VOCATIVE),
        (_STAFF, STAFF),
        (_GATE, lx.GATE_WORDS),
    ):
        for word in words:
            table[word] = table.get(word, 0) | flag
    return table


_FLAGS = _flag_table()
_FLAG_WORDS = _FLAGS.keys()


_WEIGHT = operator.itemgetter(0)
_TEXT = operator.itemgetter(1)


def _quote(text: str) -> str:
    return f"« {text} »"


class _Phrases:
    """Brand allow/block terms, matched on squeezed tokens like the lexicon."""

    def __init__(self, terms: Iterable[str]) -> None:
        self.terms: list[tuple[str, tuple[str, ...]]] = []
        for term in terms:
            keys = tuple(squeeze(t) for t in normalize(term).tokens)
            if keys:
                self.terms.append((term, keys))

    def find(self, keys: list[str]) -> list[tuple[str, int, int]]:
        """(term, start, end) of each occurrence; a multi-word term also matches its words
        run together in one token (``#boycottacme`` for "Boycott Acme")."""
        out: list[tuple[str, int, int]] = []
        if not self.terms:
            return out
        for term, tk in self.terms:
            n = len(tk)
            first = tk[0]
            compact = "".join(tk) if n > 1 else None
            for i, key in enumerate(keys):
                if key == first and tuple(keys[i : i + n]) == tk:
                    out.append((term, i, i + n))
                elif key == compact:
                    out.append((term, i, i + 1))
        return out


class Scorer:
    """Hostility scorer. Construction loads the shipped model (well under a second)."""

    def __init__(
        self,
        threshold: float | None = None,
        allow_terms: Iterable[str] = (),
        block_terms: Iterable[str] = (),
        *,
        model_path: Path | None = None,
        model: Model | None = None,
    ) -> None:
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ValueError("threshold must be in [0, 1]")
        self._threshold = threshold
        self._allow = _Phrases(allow_terms)
        self._block = _Phrases(block_terms)
        self._lexicon = lx.build()
        self._model = model if model is not None else Model.load(model_path)
        # Per language: the model probability that maps to 0.5 before calibration (the cut),
        # the calibration and the calibrated threshold. Other languages (und, es, ...) use
        # those of the language with the strictest cut.
        m = self._model
        self._cuts = dict(m.cuts)
        self._other = max(sorted(self._cuts), key=self._cuts.__getitem__, default="")
        self._cut_other = self._cuts.get(self._other, 0.5)
        self._calibration = dict(m.calibration)
        self._thresholds = dict(m.thresholds)
        self._operating: dict[str, tuple[Calibration | None, float, tuple[float, float]]] = {}

    @property
    def model(self) -> Model:
        return self._model

    def cut(self, lang: str) -> float:
        """The model probability that maps to 0.5 before calibration for texts in ``lang``."""
        return self._cuts.get(lang, self._cut_other)

    def threshold_for(self, lang: str) -> float:
        """The calibrated score at and above which a text in ``lang`` is hostile: the one
        given to the constructor, else the language's shipped threshold (0.5 for a model
        without calibration)."""
        if self._threshold is not None:
            return self._threshold
        return self._thresholds.get(lang, self._thresholds.get(self._other, 0.5))

    @property
    def threshold(self) -> float | None:
        """The threshold given to the constructor (``None``: each language's shipped one)."""
        return self._threshold

    def _calibration_for(self, lang: str) -> Calibration | None:
        return self._calibration.get(lang) or self._calibration.get(self._other)

    def calibrate(self, uncalibrated: float, lang: str) -> float:
        """The calibrated probability of an uncalibrated score of a text in ``lang``."""
        cal = self._calibration_for(lang)
        return uncalibrated if cal is None else cal(uncalibrated)

    def band(self, lang: str) -> tuple[float, float]:
        """The borderline band ``[low, high)`` of calibrated scores for texts in ``lang``: the
        calibrated values of 0.5 ± ``BAND`` (or the configured threshold ± ``BAND``)."""
        if self._threshold is not None or not self._calibration:
            t = self.threshold_for(lang)
            return t - BAND, t + BAND
        return self.calibrate(0.5 - BAND, lang), self.calibrate(0.5 + BAND, lang)

    def severity_bands(self, lang: str) -> tuple[float, float]:
        """The calibrated scores at which severity becomes medium and high for ``lang``: the
        calibrated values of the intensity levels 0.7 and 0.9. One set of bands for every
        language would not do: the French calibration is flatter (noisier labels), so a slur
        would be "low" there."""
        return self.calibrate(_MEDIUM, lang), self.calibrate(_HIGH, lang)

    def _operating_point(self, lang: str) -> tuple[Calibration | None, float, tuple[float, float]]:
        """(calibration, threshold, severity bands) for ``lang``, remembered per language (a
        few entries: the caller's language codes are bounded by ``_OPERATING_MAX``, as a
        mention's ``lang`` comes from the network)."""
        hit = (self._calibration_for(lang), self.threshold_for(lang), self.severity_bands(lang))
        if len(self._operating) >= _OPERATING_MAX:
            self._operating.clear()
        self._operating[lang] = hit
        return hit

    def uncalibrated(self, text: str, lang: str | None = None) -> float:
        """The score before calibration (0.5 = the language's cut): what training calibrates."""
        return self._raw(text, lang).score

    def score_batch(self, texts: Sequence[str], lang: str | None = None) -> list[Assessment]:
        return [self.score(t, lang) for t in texts]

    def raw(self, text: str, lang: str | None = None) -> tuple[float, float, str]:
        """(lexicon score, model probability before the per-language rescaling, language):
        what the training script chooses each language's cut on."""
        r = self._raw(text, lang)
        return r.lexicon, r.model, r.lang

    def score(self, text: str, lang: str | None = None) -> Assessment:
        r = self._raw(text, lang)
        cal, threshold, bands = self._operating.get(r.lang) or self._operating_point(r.lang)
        score = 1.0 if r.blocked else round(r.score if cal is None else cal(r.score), 4)
        hostile = score >= threshold
        severity = self._severity(score, hostile, r.cats, r.blocked, bands)
        if r.group_attack:
            target = Target.GROUP
        elif r.aimed:
            target = Target.ADDRESSEE
        else:
            target = Target.OTHER
        cats = r.cats
        evidence = r.evidence
        if len(evidence) > 1:
            # Heaviest first; ``reverse`` keeps equal weights in their order (stable).
            evidence = sorted(evidence, key=_WEIGHT, reverse=True)
            texts = list(dict.fromkeys(map(_TEXT, evidence)))[:_MAX_EVIDENCE]
        else:
            texts = [e for _, e in evidence]
        return _assessment(
            score,
            hostile,
            # (``round`` is costly and most categories are 0.0, which it leaves as is; the
            # text's own dict is used when all are: it is this assessment's alone)
            {k: round(v, 4) if v else v for k, v in cats.items()} if any(cats.values()) else cats,
            severity,
            r.lang or "und",
            texts,
            target,
            threshold,
        )

    def _raw(self, text: str, lang: str | None) -> _Raw:
        norm = normalize(text)
        tokens = norm.tokens
        keys = norm.keys
        code = lang.split("-")[0].split("_")[0].lower() if lang else detect(tokens, text)

        evidence: list[tuple[float, str]] = []
        blocked = self._block.find(keys) if self._block.terms else []
        for term, _, _ in blocked:
            evidence.append((2.0, f"blocked term: {_quote(term)}"))
        if self._allow.terms:
            drop: set[int] = set()
            for _, a, b in self._allow.find(keys):
                drop.update(range(a, b))
            if drop:
                tokens = [t for i, t in enumerate(tokens) if i not in drop]
                keys = [k for i, k in enumerate(keys) if i not in drop]

        shown = tokens  # what evidence quotes for each position (copied before a change)
        lex = self._lexicon
        for i, key in enumerate(keys if "*" in text else ()):  # no star, no masked token
            if "*" in key:
                entry = lex.unmask(key)
                if entry is not None:
                    keys[i] = entry.keys[0]
                    if shown is tokens:
                        shown = list(tokens)
                    shown[i] = f"{tokens[i]} ({entry.term})"
                else:
                    keys[i] = key.replace("*", "")

        # Which of the rules' word lists the text touches: its words found in the table in one
        # C-level pass (a third of texts touch none), their bits or-ed.
        hits = _FLAG_WORDS & keys
        flags = functools.reduce(operator.or_, map(_FLAGS.__getitem__, hits), 0) if hits else 0
        second = norm.handles > 0 or flags & _SECOND != 0
        words = len(keys) - keys.count(USER)
        cats = dict(_NO_CATEGORIES)
        insult_hits: list[int] = []
        swear_hits: list[int] = []
        unaimed_insult = False
        # (an ASCII text holds none of the typographic quotes)
        quotes = text.count('"')
        if not text.isascii():
            quotes += sum(text.count(q) for q in _QUOTES[1:])
        quoting = quotes >= 2
        denied = said_of_you = False
        # The entries starting at each token, found at C speed (most tokens: none); only the
        # positions with some are visited.
        starts = map(lex.starts.get, keys)
        for i in itertools.compress(range(len(keys)), starts):
            for entry in lex.lookup(keys, i, code, tokens):
                n = len(entry.keys)
                quote = _quote(" ".join(shown[i : i + n]))
                w = entry.weight
                if entry.category == lx.INSULT:
                    if entry.term in lx.AIMED_ONLY and not second and not _staff(keys, flags):
                        continue  # "they should be ashamed": not ours to flag
                    aimed = (
                        second
                        or words <= 2
                        or (i > 0 and keys[i - 1] in lx.VOCATIVE)
                        or (i > 1 and keys[i - 1] == "de" and keys[i - 2] in lx.VOCATIVE)
                    )
                    if w >= _MILD:
                        insult_hits.append(i)
                    label = "insult" if w >= _MILD else "insult (mild)"
                    if w < _MILD and not quoting:
                        said = lx.predicated_of_addressee(keys, i, STAFF)
                        if said == lx.SAID:
                            # "you are a disgrace", "vous êtes des incapables": a complaint
                            # word said of the addressee is an insult.
                            w, aimed, said_of_you = _PREDICATED, True, True
                            label = "insult (said of you)"
                            insult_hits.append(i)
                        elif said == lx.DENIED:
                            denied = True  # "vous n'êtes pas incompétents"
                    if not aimed:
                        w -= _UNAIMED_PENALTY
                        unaimed_insult = True
                elif entry.category == lx.PROFANITY:
                    swear_hits.append(i)
                    label = "profanity"
                elif entry.category == lx.THREAT:
                    label = "threat"
                else:
                    label = "identity attack"
                cats[entry.category] = max(cats[entry.category], w)
                evidence.append((w, f"{label}: {quote}"))

        # Words that are insults only when said of the addressee ("you are worthless",
        # "vous êtes des lâches"); elsewhere they are ordinary words.
        if not quoting and flags & _PREDICATE:
            for i, key in enumerate(keys):
                if key not in lx.PREDICATE_WORDS:
                    continue
                said = lx.predicated_of_addressee(keys, i, STAFF)
                if said == lx.SAID:
                    said_of_you = True
                    cats[lx.INSULT] = max(cats[lx.INSULT], _PREDICATED)
                    insult_hits.append(i)
                    evidence.append((_PREDICATED, f"insult (said of you): {_quote(shown[i])}"))
                elif said == lx.DENIED:
                    denied = True

        # A handle that is really a word masked with "@" ("you @ssh0le").
        for word in norm.masked_handles:
            key = squeeze(word)
            for entry in lex.lookup([key], 0, code) if key in lex.starts else ():
                if entry.category == lx.INSULT and entry.weight >= 0.75:
                    cats[lx.INSULT] = max(cats[lx.INSULT], entry.weight)
                    insult_hits.append(0)
                    evidence.append((entry.weight, f"insult: {_quote('@' + word[1:])} ({word})"))

        # Threats of violence: patterns over the squeezed token string.
        if flags & _THREAT:
            joined = " ".join(keys)
            match = (lx.THREAT_RE if flags & _GROUP else lx.THREAT_RE_NO_GROUP).search(joined)
            if match:
                a = joined.count(" ", 0, match.start())
                b = a + match.group(0).count(" ") + 1
                weapon = any(k.startswith("x") and k.endswith("x") for k in keys[a:b])
                # A text that quotes someone ("you can write '…' but …") is more often
                # reporting a threat than making one: hostile, but it does not page.
                w = 0.8 if weapon or quoting else 0.95
                cats[lx.THREAT] = max(cats[lx.THREAT], w)
                span = " ".join(shown[a:b]) if b - a <= 8 else " ".join(shown[a : a + 8]) + " …"
                evidence.append((w + 0.01, f"threat: {_quote(span)}"))

        # An insult or swearing next to a group word is an attack on the group, and so is
        # "sale(s) <group>" ("sales migrants").
        groups = [i for i, k in enumerate(keys) if k in lx.GROUPS] if flags & _GROUP else []
        for g in groups:
            if g > 0 and keys[g - 1] in ("sale", "sales", "dirty", "filthy"):
                cats[lx.IDENTITY] = max(cats[lx.IDENTITY], 0.95)
                evidence.append(
                    (0.95, f"identity attack: {_quote(' '.join(shown[g - 1 : g + 1]))}")
                )
        # Stereotypes or dehumanising nouns near a group word, calls for exclusion or death
        # just before one ("renvoyez les migrants", "mort aux juifs").
        for g in groups:
            lo = max(0, g - _GROUP_WINDOW)
            near = [
                h
                for h in range(lo, min(len(keys), g + _GROUP_WINDOW + 1))
                if keys[h] in lx.DEHUMANISING
            ]
            before = [
                h
                for h in range(lo, g)
                if keys[h] in lx.EXCLUSION
                or (keys[h] == "mort" and h + 1 < len(keys) and keys[h + 1] in ("aux", "a"))
            ]
            if near or before:
                a, b = min(g, *near, *before), max(g, *near, *before) + 1
                cats[lx.IDENTITY] = max(cats[lx.IDENTITY], 0.8)
                evidence.append((0.8, f"identity attack: {_quote(' '.join(shown[a:b]))}"))
                break
        # "<person> de merde", "sale <person>" ("ce gauchiste de merde", "sale facho").
        for i, key in enumerate(keys if flags & _PEOPLE else ()):
            if key in lx.PEOPLE:
                if keys[i + 1 : i + 3] == ["de", "merde"]:
                    a, b = i, i + 3
                elif i > 0 and keys[i - 1] in ("sale", "sales"):
                    a, b = i - 1, i + 1
                else:
                    continue
                cats[lx.INSULT] = max(cats[lx.INSULT], 0.75)
                insult_hits.append(i)
                evidence.append((0.75, f"insult: {_quote(' '.join(shown[a:b]))}"))
        if groups and (insult_hits or swear_hits):
            for g in groups:
                near = [h for h in insult_hits + swear_hits if abs(h - g) <= _GROUP_WINDOW]
                if near:
                    a, b = min(g, *near), max(g, *near) + 1
                    cats[lx.IDENTITY] = max(cats[lx.IDENTITY], 0.85)
                    evidence.append((0.86, f"identity attack: {_quote(' '.join(shown[a:b]))}"))
                    break

        strong = max(cats[lx.INSULT], cats[lx.THREAT], cats[lx.IDENTITY])
        swearing = cats[lx.PROFANITY] > 0
        h_lex = max(strong, _PROFANITY_SHARE if swearing else 0.0)

        gated = lx.gate(keys, code) if flags & _GATE else keys
        # (each token's share unscaled: scaled below only when the model's words are quoted)
        logit, unscaled, scale = self._model.logit_parts(gated)
        p_model = _sigmoid(logit)
        # The model's probability is rescaled so that the language's cut becomes 0.5; the
        # lexicon keeps its own calibrated weights.
        p = _rescale(p_model, self.cut(code or "und"))
        if (swearing or unaimed_insult or denied) and strong < _MILD and not groups:
            # Swearing alone, an insult word the lexicon found aimed at no one ("this is
            # stupid", "c'est débile") or denied of the addressee ("you are not useless"):
            # the model may not overrule the lexicon's reading.
            p = min(p, _PROFANITY_CAP)
        score = max(h_lex, p)
        if blocked:
            score = 1.0
        score = min(1.0, max(0.0, score))

        if p > h_lex and p >= _MILD:
            # The model drove the decision: say which words pushed it (its probability on the
            # scale of the score, i.e. calibrated).
            shown_p = self.calibrate(p, code or "und")
            cat = lx.IDENTITY if groups else lx.INSULT
            cats[cat] = max(cats[cat], round(shown_p, 4))
            ranked = sorted(
                (c, i)
                for i, c in enumerate(map(scale.__mul__, unscaled))
                if c > _EVIDENCE_MIN and len(keys[i]) > 2 and keys[i] != USER
            )
            picked = [shown[i] for _, i in reversed(ranked[-3:])]
            rank = p if strong < _MILD else 0.0  # the lexicon's reasons read better
            if picked:
                words_q = ", ".join(_quote(t) for t in dict.fromkeys(picked))
                evidence.append((rank, f"model {shown_p:.2f}: {words_q}"))
            else:
                evidence.append((rank, f"model {shown_p:.2f}"))

        # At whom: a group (identity attack), the addressee (second person, a handle, a
        # vocative, "your staff", a one/two-word message) or someone else.
        group_attack = cats[lx.IDENTITY] >= _MILD
        aimed = second or said_of_you or words <= 2 or flags & _VOCATIVE != 0 or _staff(keys, flags)
        return _Raw(
            score, h_lex, p_model, cats, evidence, code or "und", bool(blocked), group_attack, aimed
        )

    @staticmethod
    def _severity(
        score: float,
        hostile: bool,
        cats: dict[str, float],
        blocked: bool,
        bands: tuple[float, float],
    ) -> Severity:
        if not hostile:
            return Severity.NONE
        if cats[lx.THREAT] >= 0.9:
            return Severity.CRITICAL
        medium, high = bands
        if cats[lx.THREAT] >= 0.5 or cats[lx.IDENTITY] >= 0.8 or score >= high:
            return Severity.HIGH
        if score >= medium or blocked:
            return Severity.MEDIUM
        return Severity.LOW


def _staff(keys: list[str], flags: int) -> bool:
    if not flags & _STAFF:
        return False
    return any(k in STAFF and i > 0 and keys[i - 1] in _POSSESSIVE for i, k in enumerate(keys))


def _rescale(raw: float, cut: float) -> float:
    """Map the model's probability so that ``cut`` (the language's operating point) becomes 0.5,
    piecewise linearly (monotone, 0 and 1 fixed)."""
    if cut <= 0.0 or cut >= 1.0:
        return raw
    if raw < cut:
        return 0.5 * raw / cut
    return 0.5 + 0.5 * (raw - cut) / (1.0 - cut)


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)
