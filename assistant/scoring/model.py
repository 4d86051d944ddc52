"""The learned half of the scorer: a logistic regression over character n-grams.

Features of a text (already normalised and squeezed into ``keys``):

* for each token ``t``: ``w:t`` and the character 2- to 5-grams of ``" " + t + " "``
  (tokens longer than 24 characters are cut, ``@user`` contributes only ``w:@user``);
* for each pair of consecutive tokens: ``b:t1 t2``.

All counts are multiplied by ``1 / sqrt(number of features)``, so a long text is not hostile
just because it is long. The score is ``sigmoid(intercept + scale * sum(weights))``.

Because every character n-gram lives inside one token, a token's contribution is a number
that can be cached; that is what makes pure Python fast enough (and gives per-word evidence).
``features`` is the reference definition, used by the training script; ``Model.logit`` is the
fast path and must agree with it (a test checks that).
"""

from __future__ import annotations

import itertools
import json
import math
from importlib import resources
from pathlib import Path

from assistant.scoring.normalize import USER

__all__ = ["MODEL_FILE", "Model", "features"]

MODEL_FILE = "model.json"
_MAX_TOKEN = 24
_NGRAMS = (2, 3, 4, 5)
_CACHE_MAX = 200_000


def token_features(token: str) -> list[str]:
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


def features(keys: list[str]) -> dict[str, float]:
    """Reference feature vector (name -> value) of squeezed tokens ``keys``."""
    counts: dict[str, float] = {}
    for key in keys:
        for f in token_features(key):
            counts[f] = counts.get(f, 0.0) + 1.0
    for a, b in itertools.pairwise(keys):
        f = f"b:{a} {b}"
        counts[f] = counts.get(f, 0.0) + 1.0
    total = sum(counts.values())
    if total:
        scale = 1.0 / math.sqrt(total)
        for f in counts:
            counts[f] *= scale
    return counts


class Model:
    """Weights loaded from the shipped JSON; thread-compatible (the cache only grows)."""

    def __init__(self, weights: dict[str, float], intercept: float) -> None:
        self.weights = weights
        self.intercept = intercept
        self._cache: dict[str, tuple[float, int]] = {}

    @classmethod
    def load(cls, path: Path | None = None) -> Model:
        if path is None:
            raw = resources.files("assistant.scoring").joinpath(MODEL_FILE).read_bytes()
        else:
            raw = path.read_bytes()
        data = json.loads(raw)
        weights = data["weights"]
        if not isinstance(weights, dict):
            raise ValueError("model file: 'weights' must be an object")
        return cls(weights, float(data["intercept"]))

    def token(self, key: str) -> tuple[float, int]:
        """(sum of the weights of the token's features, number of features)."""
        hit = self._cache.get(key)
        if hit is None:
            get = self.weights.get
            feats = token_features(key)
            hit = (sum(get(f, 0.0) for f in feats), len(feats))
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[key] = hit
        return hit

    def contributions(self, keys: list[str]) -> tuple[float, list[float]]:
        """Logit and each token's share of it (bigram weights split between the two tokens)."""
        total = 0.0
        count = 0
        per = [0.0] * len(keys)
        token = self.token
        for i, key in enumerate(keys):
            w, n = token(key)
            per[i] = w
            count += n
        if len(keys) > 1:
            get = self.weights.get
            for i in range(len(keys) - 1):
                w = get(f"b:{keys[i]} {keys[i + 1]}", 0.0)
                if w:
                    per[i] += w / 2
                    per[i + 1] += w / 2
            count += len(keys) - 1
        if not count:
            return self.intercept, per
        scale = 1.0 / math.sqrt(count)
        for i in range(len(per)):
            per[i] *= scale
            total += per[i]
        return self.intercept + total, per

    def logit(self, keys: list[str]) -> float:
        return self.contributions(keys)[0]

    def probability(self, keys: list[str]) -> float:
        return _sigmoid(self.logit(keys))


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)
