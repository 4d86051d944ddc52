"""The scorer's fast paths give exactly what the plain definitions give (same tokens, same
candidates, same threat match, same float), on made-up and random input."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from assistant.scoring import lexicon as lx
from assistant.scoring import model as model_module
from assistant.scoring.model import (
    STAFF,
    USER,
    Model,
    _target_features,
    target_positions,
    token_features,
)
from assistant.scoring.normalize import _tokens_fast, _tokens_general, squeeze_all


def test_fast_tokenizer_matches_the_general_one() -> None:
    # What the tokenizer sees: lowercase text after the handle, leet and spelled-out passes,
    # each handle a standalone \x01, and no "@" before a letter (leet read it as "a").
    pieces = ["a", "b", "e", "z", "aaa", "bbbb", "oo", "*", "**", " ", "  ", ".", "!", "'", "-"]
    pieces += ["_", "1", "@", "\t", "\n", "é", "🖕", "\u0301", "ß", " \x01 ", "xknifex", "?"]
    rng = random.Random(6)
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
        text = text.replace("@a", "@ a").replace("@b", "@ b").replace("@e", "@ e")
        text = text.replace("@z", "@ z").replace("@x", "@ x").replace("@o", "@ o")
        tokens, keys = _tokens_fast(text)
        assert tokens == _tokens_general(text), repr(text)
        assert keys == squeeze_all(tokens), repr(text)
    assert _tokens_fast("connnnard  \x01 f**k *** wesh")[0] == ["conard", USER, "f**k", "wesh"]


def _candidates(lex: lx.Lexicon, key: str) -> list[lx.Entry]:
    """The lexicon's candidates as first defined: the key, else its singular forms."""
    hit = lex.first.get(key)
    if hit is None:
        singular = lx.strip_plural(key)
        if singular is not None:
            hit = lex.first.get(singular)
            if hit is None and key.endswith("es"):
                hit = lex.first.get(key[:-1])
    return hit or []


def test_lexicon_start_table_holds_every_key_with_candidates() -> None:
    lex = lx.build()
    firsts = list(lex.first)
    keys = {k + end for k in firsts for end in ("", "s", "x", "es", "e", "ss", "ses")}
    keys |= {k[:-1] for k in firsts} | {"you", "vous", "merci", "the", "cons", "cones", "asses"}
    for key in keys:
        assert lex.candidates(key) == _candidates(lex, key), key
    # Entries added later update the table too.
    lex.add("banane pourrie", lx.INSULT, 0.6)
    for key in ("banane", "bananes", "bananex"):
        assert lex.candidates(key) == _candidates(lex, key) != [], key


def _lookup(lex: lx.Lexicon, keys: list[str], i: int, lang: str, raw: list[str]) -> list[lx.Entry]:
    """``Lexicon.lookup`` as first defined: every candidate of the key, tried in turn."""
    key = keys[i]
    if i > 0 and key in lx.REFLEXIVE_VERBS and keys[i - 1] in lx.REFLEXIVE:
        return []
    found = []
    for entry in lex.candidates(key):
        if entry.not_in == lang or (entry.exact is not None and raw[i] not in entry.exact):
            continue
        n = len(entry.keys)
        if n == 1 or tuple(keys[i + 1 : i + n]) == entry.keys[1:]:
            found.append(entry)
    return found


def test_lexicon_lookup_by_next_token_finds_what_trying_every_candidate_finds() -> None:
    lex = lx.build()
    phrases = [e.keys for es in lex.first.values() for e in es if len(e.keys) > 1]
    vocab = sorted({k for p in phrases for k in p} | set(lex.starts) | lx.REFLEXIVE)
    rng = random.Random(8)
    multi = 0
    for _ in range(20_000):
        keys: list[str] = []
        while len(keys) < rng.randint(1, 8):
            if rng.random() < 0.4:  # a phrase, whole or cut short
                phrase = list(rng.choice(phrases))
                keys += phrase if rng.random() < 0.7 else phrase[: rng.randint(1, len(phrase))]
            else:
                keys.append(rng.choice(vocab))
        raw = [k if rng.random() < 0.5 else k + k[-1] for k in keys]
        lang = rng.choice(("en", "fr", "und"))
        for i in range(len(keys)):
            found = lex.lookup(keys, i, lang, raw)
            assert found == _lookup(lex, keys, i, lang, raw), (keys, i, lang)
            multi += any(len(e.keys) > 1 for e in found)
    assert multi > 1_000  # phrases were found, not only single words
    # An entry added later is found too (the per-key plans are rebuilt).
    assert lex.lookup(["i", "hope", "banana", "rots"], 0) == []
    lex.add("i hope banana rots", lx.INSULT, 0.6)
    assert [e.term for e in lex.lookup(["i", "hope", "banana", "rots"], 0)] == [
        "i hope banana rots"
    ]


def test_unmask_answers_are_remembered_and_forgotten_when_the_lexicon_grows() -> None:
    lex = lx.build()
    for key in ("f*ck", "enc*le", "encul*s", "p***", "zq*x", "*ab", "ab"):
        assert lex.unmask(key) == lex._unmask(key), key
    assert lex.unmask("zq*xy") is None
    lex.add("zqaxy", lx.INSULT, 0.9)
    hit = lex.unmask("zq*xy")
    assert hit is not None and hit.term == "zqaxy"


def test_threat_patterns_without_groups_find_the_same_first_match() -> None:
    words = "i we im il je j on nous you u ur yall te vous t tu toi the al every les ces des tous"
    words += " should must be devraient etre a de @user _ re m ll will gona going va vais"
    words += " your back where live work know ou habites store"
    words += " arabesque blackx jewel"  # group words' look-alikes
    vocab = [*sorted(lx.THREAT_TRIGGERS), *words.split(" ")]
    rng = random.Random(7)
    found = 0
    for _ in range(50_000):
        keys = [rng.choice(vocab) for _ in range(rng.randint(1, 8))]
        assert lx.GROUPS.isdisjoint(keys)
        joined = " ".join(keys)
        full, fast = lx.THREAT_RE.search(joined), lx.THREAT_RE_NO_GROUP.search(joined)
        assert (full and full.span()) == (fast and fast.span()), joined
        found += full is not None
    assert found > 100  # the strings do hold threats
    for text in (
        "i wil kil you",
        "watch your back @user",
        "we know where you live",
        "bomb your store",
        "you re next",
        "je vais te buter",
        "tu vas mourir",
        "on sait ou tu habites",
        "xknifex toi",
        "t es mort",
    ):
        assert lx.THREAT_RE_NO_GROUP.search(text), text


def test_token_sum_is_the_reference_sum_to_the_last_bit() -> None:
    model = Model.load()
    tokens = ["connard", "you", "a", "_", USER, "x" * 40, "disgrace", "incompetents", "qwzx"]
    for key in tokens:
        reference = sum(map(model.weights.get, token_features(key), itertools.repeat(0.0)))
        total, count = Model.load().token(key)
        assert (total, count) == (reference, len(token_features(key))), key


def test_the_vocabulary_computed_at_load_is_what_first_sight_computes() -> None:
    """``Model.load`` computes the memo entry of every word of the model's vocabulary; each is
    the entry a model without it computes on first sight, so texts score the same."""
    warm = Model.load()
    cold = Model.load()
    cold._memo.clear()
    vocabulary = [f[2:] for f in warm.weights if f.startswith("w:")]
    assert len(vocabulary) > 10_000
    assert set(vocabulary) <= warm._memo.keys()
    for word in vocabulary[::7]:
        assert warm._memo[word] == cold._fill(word), word
    rng = random.Random(9)
    words = [*vocabulary[:2_000], "qwzx", "disgrace", "vous", USER]
    for _ in range(500):
        keys = [rng.choice(words) for _ in range(rng.randint(0, 12))]
        cold._memo.clear()
        assert warm.logit_parts(keys) == cold.logit_parts(keys), keys


def _plain_contributions(model: Model, keys: list[str]) -> tuple[float, list[float]]:
    """The logit and shares as first written: a loop over tokens, pairs and aimed words."""
    get = model.weights.get
    per = [sum(map(get, token_features(k), itertools.repeat(0.0))) for k in keys]
    count = sum(len(token_features(k)) for k in keys)
    for i, (a, b) in enumerate(itertools.pairwise(keys)):
        w = get(f"b:{a} {b}")
        if w:
            per[i] += w / 2
            per[i + 1] += w / 2
        count += 1
    aimed = target_positions(keys)
    extra = 0.0
    if aimed:
        extra = get("t:aimed", 0.0)
        count += 1
    for j in aimed:
        feats = _target_features(keys[j], model.categories)
        per[j] += sum(get(f, 0.0) for f in feats)
        count += len(feats)
    if not count:
        return model.intercept, per
    scale = 1.0 / math.sqrt(count)
    shares = [c * scale for c in per]
    total = 0.0
    for c in shares:
        total += c
    return model.intercept + total + extra * scale, shares


def test_logit_and_shares_are_the_plain_loop_to_the_last_bit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = Model.load()
    pairs = [f[2:].split(" ") for f in model.weights if f[:2] == "b:"]
    vocab = sorted({w for pair in pairs[:300] for w in pair})
    vocab += ["you", "vous", "t", "es", "your", "votre", USER, "x" * 30, "qwzx", "disgrace"]
    vocab += sorted(STAFF)[:10]
    rng = random.Random(8)
    # A small cache, so that the fast path also clears it, and one model for every text, so
    # that tokens are both new and already cached (and repeated within a text).
    monkeypatch.setattr(model_module, "_CACHE_MAX", 60)
    bigrams = 0
    for _ in range(3_000):
        keys: list[str] = []
        size = rng.randint(0, 16)
        while len(keys) < size:
            keys += rng.choice(pairs) if rng.random() < 0.3 else [rng.choice(vocab)]
        logit, shares = _plain_contributions(model, keys)
        fast_logit, unscaled, scale = model.logit_parts(keys)
        assert (fast_logit, [scale * u for u in unscaled]) == (logit, shares), keys
        assert model.contributions(keys) == (logit, shares), keys
        assert model.logit(keys) == logit
        bigrams += any(f"b:{a} {b}" in model.weights for a, b in itertools.pairwise(keys))
    assert bigrams > 500  # the texts do hold weighted bigrams
