"""Each of normalisation's fast paths gives what its plain definition gives, on made-up and
random input (the definitions are written out here as the module first had them)."""

from __future__ import annotations

import random
import re
import unicodedata

import pytest

from assistant.scoring import normalize as nz
from assistant.scoring.normalize import USER, normalize

# The plain definitions.
_LEET_WORD = re.compile(r"[a-z0-9@$€!|*]+")
_LEET_CANDIDATE = re.compile(r"(?<![a-z0-9@$€!|*])[a-z]*[0-9@$€!|*][a-z0-9@$€!|*]*")
_REPEAT2 = re.compile(r"([a-z])\1+")


def _squeeze(token: str) -> str:
    return _REPEAT2.sub(r"\1", token)


def _shown(token: str) -> str:
    return USER if token == "\x01" else nz._REPEAT3.sub(r"\1", token)


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.translate(nz._CONFUSABLES))
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def _handles(text: str) -> tuple[list[str], str, int]:
    found = nz._HANDLE.findall(text)
    text, n = nz._HANDLE.subn(" \x01 ", text)
    return found, text, n


def _hashtags(text: str) -> str:
    return nz._HASHTAG.sub(
        lambda m: " " + nz._CAMEL.sub(" ", m.group(1)).replace("_", " ") + " ", text
    )


def _random_text(rng: random.Random, pieces: list[str], most: int = 30) -> str:
    return "".join(rng.choice(pieces) for _ in range(rng.randint(0, most)))


_LEET_PIECES = [*"abezst", *"0123456789@$€!|*", " ", ".", "_", "'", "é", "aa", "c0nn@rd", "1st"]
_LEET_PIECES += ["2020", "!!", "b!tch", "l|l", "h24", "a*1", "bitch!", "$h1t"]


def test_leet_runs_with_a_trigger_are_the_only_ones_deleet_changes() -> None:
    rng = random.Random(8)
    triggered = 0
    for _ in range(30_000):
        text = _random_text(rng, _LEET_PIECES, 12)
        plain = _LEET_CANDIDATE.sub(nz._deleet, text)
        assert nz._LEET_RUN.sub(nz._deleet, text) == plain, repr(text)
        if nz._LEET_TRIGGER.search(text):
            triggered += 1
        else:
            assert plain == text, repr(text)
        # A handle read as a masked word: every run of leet-word characters.
        word = "a" + re.sub(r"[^a-z0-9_.]", "", text)
        assert nz._LEET_RUN.sub(nz._deleet, word) == _LEET_WORD.sub(nz._deleet, word), word
    assert 1_000 < triggered < 29_000  # both branches are exercised
    assert nz._LEET_RUN.sub(nz._deleet, "c0nn@rd bitch! 2020 b!tch 1st") == (
        "connard bitch! 2020 bitch 1st"
    )


def test_masked_handle_is_the_folded_deleeted_word() -> None:
    for handle in ("@ssh0le", "@Cr4zy_guy", "@s0n.of.b1tch", "@___", "@12", "@Ab_C.d3", "@x"):
        word = _fold("a" + handle[1:].lower())
        assert nz._masked(handle) == _LEET_WORD.sub(nz._deleet, word), handle
    assert nz._masked("@ssh0le") == "asshole"


def test_one_split_finds_the_handles_and_hashtags_the_substitutions_did() -> None:
    pieces = ["@", "#", "a", "B", "x_y", "1", ".", " ", "@@", "##", "é", "Camel", "ABc", "_"]
    rng = random.Random(9)
    for _ in range(20_000):
        text = _random_text(rng, pieces)
        found, replaced, n = _handles(text)
        parts = nz._HANDLE_SPLIT.split(text)
        assert (parts[1::2], " \x01 ".join(parts[::2]), len(parts) >> 1) == (found, replaced, n)
        parts = nz._HASHTAG.split(text)
        parts[1::2] = map(nz._hashtag, parts[1::2])
        assert "".join(parts) == _hashtags(text), repr(text)


def test_fold_and_emoji_hint_match_their_definitions() -> None:
    pieces = ["a", "E", " ", "é", "ç", "Ü", "\u0301", "\u0327", "ß", "œ", "о", "ѕ", "İ", "ﬁ"]
    pieces += ["Ⅳ", "ｆ", "𝐟", "α", "中", "\u05b0", "\u0f39", "😂", "⚰", "⚯", "❤", *nz._EMOJI]
    rng = random.Random(10)
    for _ in range(20_000):
        text = _random_text(rng, pieces, 12)
        assert nz._fold(text) == _fold(text), repr(text)
        if not nz._EMOJI_HINT.search(text):
            assert not nz._EMOJI_RE.search(text), repr(text)


@pytest.mark.parametrize("seed", [11, 12])
def test_token_keys_learnt_in_batches_match_the_definition(seed: int) -> None:
    rng = random.Random(seed)
    pieces = ["a", "aa", "aaa", "b", "bbbb", "c", "oo", "*", " ", " \x01 ", "z", "yy", "é"]
    for _ in range(10_000):
        text = _random_text(rng, pieces, 16)
        tokens, keys = nz._tokens_fast(text)
        raw = [t for t in re.findall(r"[a-z*\x01]+", text) if t.strip("*")]
        assert tokens == [_shown(t) for t in raw], repr(text)
        assert keys == [_squeeze(t) for t in tokens], repr(text)
    for token in ("connard", "connnnard", "aabbcc", "abc", "z", "****", "f**k", "aaa*bb"):
        assert nz.squeeze(token) == _squeeze(token)


def test_memo_bound_keeps_handles_as_users(monkeypatch: pytest.MonkeyPatch) -> None:
    # Past the bound the memo starts again; a handle is still the token and the key "@user".
    monkeypatch.setattr(nz, "_KEYS_MAX", 20)
    rng = random.Random(13)
    for i in range(300):
        words = " ".join("".join(rng.choice("abcdeo") for _ in range(5)) for _ in range(6))
        text = f"@bob{i} {words} connnnard" if i % 2 else f"{words} @alice"
        norm = normalize(text)
        assert norm.keys.count(USER) == norm.tokens.count(USER) == 1, text
        assert norm.keys == [_squeeze(t) for t in norm.tokens], text
        assert "conard" in norm.tokens or i % 2 == 0


def test_normalize_still_decodes_what_it_did() -> None:
    norm = normalize(
        "@Cr4zy_guy &amp; #FreeMobileDeMerde c0nn@rd!! f*ck n.t.m connnnard 🖕 éçà "
        "http://x.com/a ѕhit"
    )
    assert norm.tokens == [
        USER, "free", "mobile", "de", "merde", "connard", "f*ck", "ntm", "conard",
        "xmiddlefingerx", "eca", "shit",
    ]  # fmt: skip
    assert norm.handles == 1
    assert norm.masked_handles == ["acrazy_guy"]
    assert norm.keys == [_squeeze(t) for t in norm.tokens]
    # Handles next to punctuation and to each other stand alone.
    for text, tokens in (
        ("@bob,@Alice:salut @x y", [USER, USER, "salut", USER, "y"]),
        ("@bob,@Alice:salut @x\x01 y", [USER, USER, "salut", USER, USER, "y"]),  # (its own \x01)
    ):
        norm = normalize(text)
        assert (norm.tokens, norm.handles, norm.masked_handles) == (
            tokens,
            3,
            ["abob", "aalice", "ax"],
        )
    norm = normalize("@josé *@bob* x")
    assert (norm.tokens, norm.masked_handles) == ([USER, "e", USER, "x"], ["ajos", "abob"])
