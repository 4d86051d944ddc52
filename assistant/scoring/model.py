"""The learned half of the scorer: a logistic regression over words, character n-grams and
target-aware features.

Features of a text (already normalised and squeezed into ``keys``):

* for each token ``t``: ``w:t`` and the character 2- to 5-grams of ``" " + t + " "`` (tokens
  longer than 24 characters are cut, ``@user`` contributes only ``w:@user``);
* for each pair of consecutive tokens: ``b:t1 t2``;
* **target** features: after an addressee marker (second person ``you``/``tu``/``vous``…, a
  handle, a vocative ``sale``/``espèce``/``bande``, or ``your``/``votre`` + a staff noun such
  as ``ceo``/``conseiller``), each of the next ``TARGET_WINDOW`` tokens adds ``y:<word>``
  (plural stripped) and, when the model ships a word-category lexicon (HurtLex),
  ``yh:<category>`` for each category of that word. (Categories of unaimed words are not
  features: HurtLex is noisy — *pur*, *simple* — and an insult word aimed at no one is what
  the lexicon rules already weigh down.) "you are a disgrace"
  thus carries ``y:disgrace`` and "vous êtes des minables" ``yh:dmc``, which is the same
  feature as in English: the lexicon categories are the bridge between the two languages.
  A text with an aimed token also has ``t:aimed``.

All counts are multiplied by ``1 / sqrt(number of features)``, so a long text is not hostile
just because it is long. The score is ``sigmoid(intercept + sum(weights))``.

Every character n-gram and lexicon feature lives inside one token, so a token's contribution
is cached; the few target features are looked up per text. That is what makes pure Python
fast enough (and gives per-word evidence: a target feature counts for the word it points at).
``features`` is the reference definition, used by the training script; ``Model.contributions``
(and ``Model.logit_parts``, the same before the shares are scaled) is the fast path and must
agree with it (tests check that, and that it is the plain loop's float to the last bit).
"""

from __future__ import annotations

import bisect
import functools
import itertools
import json
import math
import operator
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path

from assistant.scoring.normalize import USER, squeeze, strip_plural

__all__ = [
    "MODEL_FILE",
    "STAFF",
    "TARGET_WINDOW",
    "Calibration",
    "Model",
    "features",
    "target_positions",
]

MODEL_FILE = "model.json"
_MAX_TOKEN = 24
_NGRAMS = (2, 3, 4, 5)
# Lengths of a padded token (" " + token + " "), and for each the slices of its character
# n-grams in the order ``token_features`` lists them.
_PADDED = range(_MAX_TOKEN + 3)
_SLICES = [[slice(i, i + n) for n in _NGRAMS for i in range(size - n + 1)] for size in _PADDED]
_GET = dict.get
_SUM = operator.itemgetter(0)
_COUNT = operator.itemgetter(1)
_PAIRS = operator.itemgetter(2)
_NO_PAIRS: dict[str, float] = {}
_CACHE_MAX = 200_000
_REPEAT = itertools.repeat
_SLICE: Callable[[str, slice], str] = operator.getitem
_NOT = operator.not_


if sys.version_info >= (3, 12):

    def _sum_in_order(values: Iterable[float]) -> float:
        """The floats added left to right from 0.0, as a Python loop adds them (not
        ``math.fsum`` nor 3.12's compensated ``sum``): ``reduce`` does that at C speed."""
        return functools.reduce(operator.add, values, 0.0)

else:

    def _sum_in_order(values: Iterable[float]) -> float:
        """Before 3.12, ``sum`` of floats adds them in order into one C double: the same
        float as a Python loop, without ``reduce``'s call per item."""
        return sum(values, 0.0)


TARGET_WINDOW = 4

Categories = Mapping[str, tuple[str, ...]]


def _set(block: str) -> frozenset[str]:
    return frozenset(squeeze(w) for w in block.split())


# Someone is addressed: second person (EN/FR), a handle, a vocative.
_MARKERS = _set(
    f"""
    you u ur your youre yours yourself yourselves yall thou
    tu te toi ton ta tes vous vos votre {USER}
    espece bande
    """
)
# "t'es", "t'as": the elided "tu" (but not the "t" of "don't").
_T_VERBS = _set("es as etais avais auras seras")
_POSSESSIVE = _set("your ur yours votre vos ton ta tes")
# The brand's staff: "your CEO", "vos conseillers" point at the brand's people.
STAFF = _set(
    """
    ceo ceos boss bosses manager managers staff employee employees agent agents rep reps
    team support owner owners founder management executives people
    pdg patron patrons directeur directeurs dirigeant dirigeants conseiller conseillers
    conseillere conseilleres employe employes equipe equipes vendeur vendeurs technicien
    techniciens responsable responsables gens service
    """
)

_MAYBE_MARKER = _MARKERS | STAFF | {"t"}


def target_positions(keys: list[str]) -> list[int]:
    """Positions of the tokens that follow an addressee marker (within ``TARGET_WINDOW``)."""
    out: list[int] = []
    if _MARKERS.isdisjoint(keys) and "t" not in keys:
        return out  # no addressee marker at all (most texts): nothing to scan
    last = -1
    n = len(keys)
    # Only the tokens that can be a marker are tested (found at C speed), in order.
    for i in itertools.compress(range(n), map(_MAYBE_MARKER.__contains__, keys)):
        key = keys[i]
        marker = (
            key in _MARKERS
            or (key == "t" and i + 1 < n and keys[i + 1] in _T_VERBS)
            or (key in STAFF and i > 0 and keys[i - 1] in _POSSESSIVE)
        )
        if not marker:
            continue
        for j in range(max(i + 1, last + 1), min(n, i + 1 + TARGET_WINDOW)):
            if keys[j] not in _MARKERS:
                out.append(j)
            last = j
    return out


def _stem(key: str) -> str:
    """A plural's singular, crudely: the final ``s``/``x`` dropped (``minables``, ``idiots``)."""
    return key[:-1] if len(key) > 3 and key[-1] in "sx" else key


def categories_of(key: str, cats: Categories) -> tuple[str, ...]:
    hit = cats.get(key)
    if hit is None and len(key) > 3 and key[-1] in "sx":
        hit = cats.get(key[:-1])
        if hit is None:
            singular = strip_plural(key)
            if singular is not None:
                hit = cats.get(singular)
    return hit or ()


def token_features(token: str, cats: Categories | None = None) -> list[str]:
    if token == USER:
        return ["w:" + USER]
    token = token[:_MAX_TOKEN]
    padded = f" {token} "
    out = ["w:" + token]
    size = len(padded)
    for n in _NGRAMS:
        for i in range(size - n + 1):
            out.append(padded[i : i + n])
    return out


def _target_features(key: str, cats: Categories) -> list[str]:
    return ["y:" + _stem(key), *("yh:" + c for c in categories_of(key, cats))]


def features(keys: list[str], cats: Categories | None = None) -> dict[str, float]:
    """Reference feature vector (name -> value) of squeezed tokens ``keys``."""
    cats = cats or {}
    counts: dict[str, float] = {}
    for key in keys:
        for f in token_features(key, cats):
            counts[f] = counts.get(f, 0.0) + 1.0
    for a, b in itertools.pairwise(keys):
        f = f"b:{a} {b}"
        counts[f] = counts.get(f, 0.0) + 1.0
    aimed = target_positions(keys)
    for j in aimed:
        for f in _target_features(keys[j], cats):
            counts[f] = counts.get(f, 0.0) + 1.0
    if aimed:
        counts["t:aimed"] = 1.0
    total = sum(counts.values())
    if total:
        scale = 1.0 / math.sqrt(total)
        for f in counts:
            counts[f] *= scale
    return counts


class Calibration:
    """A language's calibration map: the uncalibrated score (lexicon and rescaled model
    combined, 0.5 = the language's cut) to the probability that the text is hostile.

    Piecewise linear through ``knots`` (strictly increasing in both coordinates, fitted by
    isotonic regression on cross-validated scores at training time, see training.py), so it
    is monotone and keeps the order of the scores; constant beyond the first and last knot.
    """

    __slots__ = ("xs", "ys")

    def __init__(self, knots: Sequence[Sequence[float]]) -> None:
        xs = [float(k[0]) for k in knots]
        ys = [float(k[1]) for k in knots]
        if len(xs) < 2 or any(len(k) != 2 for k in knots):
            raise ValueError("a calibration needs at least two [x, y] knots")
        if any(b <= a for a, b in itertools.pairwise(xs)) or any(
            b < a for a, b in itertools.pairwise(ys)
        ):
            raise ValueError("calibration knots must increase")
        if not (ys[0] >= 0.0 and ys[-1] <= 1.0):
            raise ValueError("calibrated values must lie in [0, 1]")
        self.xs = xs
        self.ys = ys

    def __call__(self, s: float) -> float:
        xs, ys = self.xs, self.ys
        if s <= xs[0]:
            return ys[0]
        if s >= xs[-1]:
            return ys[-1]
        j = bisect.bisect_right(xs, s)
        x0, x1 = xs[j - 1], xs[j]
        y0 = ys[j - 1]
        return y0 + (ys[j] - y0) * (s - x0) / (x1 - x0)


class Model:
    """Weights loaded from the shipped JSON; thread-compatible (the caches only grow).

    ``cuts``: the model probability per language that the uncalibrated score maps to 0.5
    (chosen for the civil-complaint target); ``calibration``: per language, the map from that
    score to a probability; ``thresholds``: per language, the calibrated operating point (the
    calibrated value of the cut). A model without calibration (a bare test model) scores on
    the uncalibrated scale, with 0.5 as the operating point.
    """

    def __init__(
        self,
        weights: dict[str, float],
        intercept: float,
        *,
        categories: Categories | None = None,
        cuts: Mapping[str, float] | None = None,
        calibration: Mapping[str, Calibration] | None = None,
        thresholds: Mapping[str, float] | None = None,
    ) -> None:
        self.weights = weights
        self.intercept = intercept
        self.categories: Categories = categories or {}
        self.cuts: dict[str, float] = dict(cuts or {})
        self.calibration: dict[str, Calibration] = dict(calibration or {})
        self.thresholds: dict[str, float] = dict(thresholds or {})
        # Per token (cached: tokens repeat): the sum of its features' weights, their number,
        # and the weights of the bigrams it starts, by the token that follows (``_NO_PAIRS``:
        # none), so one lookup serves the three.
        self._memo: dict[str, tuple[float, int, dict[str, float]]] = {}
        self._tcache: dict[str, tuple[float, int]] = {}
        # Half bigram weights by first and second token (no pair nor string built); word weights
        # by token (no "w:" string built); the other weights by the length of their name, so
        # that a character n-gram is looked up in a table of its length's features only (the
        # 2- and 3-gram tables stay in the CPU cache, where a miss in the table of all 80,000
        # weights cost ~250 ns). For a name of length n, ``by_len[n].get`` answers exactly
        # what ``weights.get`` does.
        self._pairs: dict[str, dict[str, float]] = {}
        self._words: dict[str, float] = {}
        by_len: dict[int, dict[str, float]] = {n: {} for n in _NGRAMS}
        for f, w in weights.items():
            if f[1:2] == ":":
                if f[0] == "b":
                    first, _, second = f[2:].partition(" ")
                    self._pairs.setdefault(first, {})[second] = w / 2  # (each token's half)
                elif f[0] == "w":
                    self._words[f[2:]] = w
            table = by_len.get(len(f))
            if table is not None:
                table[f] = w
        # Per length of a padded token: the tables each of its n-grams is looked up in, in
        # the order of ``token_features`` (so the weights add up in the same order).
        self._tables = [
            [by_len[n] for n in _NGRAMS for _ in range(size - n + 1)] for size in _PADDED
        ]

    @classmethod
    def load(cls, path: Path | None = None) -> Model:
        if path is None:
            raw = resources.files("assistant.scoring").joinpath(MODEL_FILE).read_bytes()
        else:
            raw = path.read_bytes()
        model = cls.from_dict(json.loads(raw))
        model.warm()
        return model

    def warm(self) -> None:
        """Compute the per-token memo entry of every word the model has a weight for (its
        vocabulary, ~11,500 words: ~130 ms, done by ``load``). A process's first texts then
        do not pay ~15 µs for each common word they meet: on our own fixtures, which the model
        was never trained on, 79 % of the distinct words are in the vocabulary. The rare words
        of a text (most of them not in it) are still computed on first sight."""
        memo = self._memo
        fill = self._fill
        for word in self._words:
            if word not in memo:
                fill(word)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Model:
        weights = data["weights"]
        if not isinstance(weights, dict):
            raise ValueError("model file: 'weights' must be an object")
        lex = data.get("categories") or {}
        if not isinstance(lex, dict):
            raise ValueError("model file: 'categories' must be an object")
        cats = {k: tuple(str(v).split()) for k, v in lex.items()}
        intercept = data["intercept"]
        if not isinstance(intercept, int | float):
            raise ValueError("model file: 'intercept' must be a number")
        maps: dict[str, dict[str, object]] = {}
        for name in ("cuts", "thresholds", "calibration"):
            value = data.get(name) or {}
            if not isinstance(value, dict):
                raise ValueError(f"model file: {name!r} must be an object")
            maps[name] = value
        calibration = {}
        for lang, knots in maps["calibration"].items():
            if not isinstance(knots, list):
                raise ValueError("model file: 'calibration' maps a language to [[x, y], ...]")
            calibration[str(lang)] = Calibration(knots)
        return cls(
            weights,
            float(intercept),
            categories=cats,
            cuts={str(k): float(v) for k, v in maps["cuts"].items()},  # type: ignore[arg-type]
            calibration=calibration,
            thresholds={str(k): float(v) for k, v in maps["thresholds"].items()},  # type: ignore[arg-type]
        )

    def token(self, key: str) -> tuple[float, int]:
        """(sum of the weights of the token's features, number of features)."""
        hit = self._memo.get(key)
        if hit is None:
            if len(self._memo) >= _CACHE_MAX:
                self._memo.clear()
            hit = self._fill(key)
        return hit[0], hit[1]

    def _fill(self, key: str) -> tuple[float, int, dict[str, float]]:
        """Compute and cache the token's sum, feature count and bigrams: ``token_features``
        without building its list, every n-gram sliced and looked up at C speed, added in the
        same order (so the float is the same to the last bit)."""
        if key == USER:
            total = 0 + self.weights.get("w:" + USER, 0.0)
            count = 1
        else:
            token = key[:_MAX_TOKEN]
            padded = f" {token} "
            size = len(padded)
            slices = _SLICES[size]
            # 0 + w: what ``sum`` starts with (int 0), so a -0.0 weight adds up the same.
            # (``operator.getitem`` with the string repeated slices without a bound method
            # wrapper's call per n-gram: ~10 % of a new token's cost.)
            total = sum(
                map(
                    _GET,
                    self._tables[size],
                    map(_SLICE, _REPEAT(padded), slices),
                    _REPEAT(0.0),
                ),
                0 + self._words.get(token, 0.0),
            )
            count = len(slices) + 1
        hit = (total, count, self._pairs.get(key, _NO_PAIRS))
        self._memo[key] = hit
        return hit

    def _target(self, key: str) -> tuple[float, int]:
        hit = self._tcache.get(key)
        if hit is None:
            get = self.weights.get
            feats = _target_features(key, self.categories)
            hit = (sum(get(f, 0.0) for f in feats), len(feats))
            if len(self._tcache) >= _CACHE_MAX:
                self._tcache.clear()
            self._tcache[key] = hit
        return hit

    def contributions(self, keys: list[str]) -> tuple[float, list[float]]:
        """Logit and each token's share of it (bigram weights split between the two tokens,
        a target feature counted for the word it points at)."""
        logit, unscaled, scale = self.logit_parts(keys)
        return logit, list(map(scale.__mul__, unscaled))

    def logit_parts(self, keys: list[str]) -> tuple[float, list[float], float]:
        """``(logit, unscaled, scale)``: the logit, and each token's share of it before the
        ``1 / sqrt(number of features)`` scaling (the share is ``scale * unscaled[i]``, the
        float ``contributions`` gives). The scorer scales the shares only when it quotes the
        model's words (about a quarter of texts)."""
        memo = self._memo
        hits = list(map(memo.get, keys))
        if None in hits:
            # Tokens not seen yet (a few per text): compute and cache them, visiting only their
            # positions (the cache is cleared first if they would overflow it). A token seen
            # twice in the text is computed once: the second time it is in the memo.
            if len(memo) + hits.count(None) > _CACHE_MAX:
                memo.clear()
                hits = [None] * len(keys)
            fill = self._fill
            for i in itertools.compress(range(len(keys)), map(_NOT, hits)):
                key = keys[i]
                hits[i] = memo.get(key) or fill(key)
        entries: list[tuple[float, int, dict[str, float]]] = hits  # type: ignore[assignment]
        per: list[float] = list(map(_SUM, entries))
        count: int = sum(map(_COUNT, entries))
        n = len(keys)
        if n > 1:
            # Each pair's half bigram weight (or None), from the first token's bigrams.
            ws: list[float | None] = list(
                map(_GET, map(_PAIRS, entries), itertools.islice(keys, 1, None))
            )
            # Only the pairs with a weight, found at C speed, in order (so each token's share
            # adds up in the same order as a loop over every pair): their positions and their
            # weights, side by side.
            for i, w in zip(itertools.compress(range(n - 1), ws), filter(None, ws), strict=True):
                per[i] += w
                per[i + 1] += w
            count += n - 1
        aimed = target_positions(keys)
        extra = 0.0
        if aimed:
            extra = self.weights.get("t:aimed", 0.0)
            count += 1
            tcache = self._tcache
            for j in aimed:
                w, c = tcache.get(keys[j]) or self._target(keys[j])
                per[j] += w
                count += c
        if not count:
            return self.intercept, per, 1.0
        scale = 1.0 / math.sqrt(count)
        # In order, as the reference sums; each product as ``contributions`` gives it (a
        # product is the same either way round), without building the list.
        total = _sum_in_order(map(scale.__mul__, per))
        return self.intercept + total + extra * scale, per, scale

    def logit(self, keys: list[str]) -> float:
        return self.logit_parts(keys)[0]

    def probability(self, keys: list[str]) -> float:
        return _sigmoid(self.logit(keys))


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)
