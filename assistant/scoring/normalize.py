"""Text normalisation shared by the lexicon, the learned model and the training script.

Everything here is pure, deterministic and cheap (a few regex passes and ``str.translate``).
The output is a list of lowercase ASCII tokens in which obfuscation has been undone as far as
it can be without guessing:

* HTML entities (``&#128553;``, ``&amp;``) are decoded, URLs dropped;
* ``@handles`` become the token ``@user`` (an addressee marker), ``#HashTags`` are split on
  case changes (``#FreeMobileDeMerde`` -> ``free mobile de merde``);
* a few emoji that carry hostility become pseudo-words (``🖕`` -> ``xmiddlefingerx``);
* accents and look-alike letters are folded (``é`` -> ``e``, Cyrillic ``о`` -> ``o``);
* leetspeak inside words is decoded (``c0nn@rd`` -> ``connard``, ``$h1t`` -> ``shit``);
* runs of three or more identical letters collapse (``connaaaard`` -> ``connard``);
* letters spelled out with separators are joined (``n.t.m`` / ``f-d-p`` / ``n t m`` -> ``ntm``);
* masking stars stay inside the token (``f*ck``) so the lexicon can match them as wildcards.

``squeeze`` (every run of a repeated letter collapsed to one) is the key the lexicon is indexed
on, so ``connnnard``, ``conard`` and ``connard`` all meet.
"""

from __future__ import annotations

import html
import re
import unicodedata
from typing import cast

__all__ = ["USER", "NormalizedText", "normalize", "squeeze", "squeeze_all", "strip_plural"]

USER = "@user"

_URL = re.compile(r"(?:https?://|www\.)\S+|\b[a-z0-9.-]+\.(?:com|fr|net|org|ly|co)/\S*", re.I)
# (The "@" and "#" come first, the look-behind after them: a pattern that starts with a
# literal is searched for that character at C speed, not tried at every position.)
_HANDLE = re.compile(r"@(?<![\w@]@)[A-Za-z0-9_.]+")
_HASHTAG = re.compile(r"#(?<![\w#]#)(\w+)")
_CAMEL = re.compile(r"(?<=[a-zà-ÿ])(?=[A-ZÀ-Þ])|(?<=[A-ZÀ-Þ])(?=[A-ZÀ-Þ][a-zà-ÿ])")
_APOSTROPHE_CHARS = ("’", "`", "´", "‘", "ʼ")  # each read as "'"

# Emoji that carry hostility (or its typical context) -> pseudo-words the lexicon knows.
_EMOJI = {
    "🖕": " xmiddlefingerx ",
    "🔪": " xknifex ",
    "🗡": " xknifex ",
    "🔫": " xgunx ",
    "💣": " xbombx ",
    "⚰": " xcoffinx ",
    "🤬": " xcursingx ",
    "🤡": " xclownx ",
    "💩": " xpoopx ",
    "🐷": " xpigx ",
    "🐖": " xpigx ",
    "🐒": " xmonkeyx ",
    "🐵": " xmonkeyx ",
    "🦍": " xmonkeyx ",
}
_EMOJI_RE = re.compile("|".join(re.escape(e) for e in sorted(_EMOJI, key=len, reverse=True)))

# Look-alike letters from other scripts and fancy forms that NFKD does not fold.
_CONFUSABLES = str.maketrans(
    {
        "а": "a",
        "е": "e",
        "о": "o",
        "р": "p",
        "с": "c",
        "у": "y",
        "х": "x",
        "і": "i",
        "ј": "j",
        "ѕ": "s",
        "к": "k",
        "м": "m",
        "т": "t",
        "н": "h",
        "в": "b",
        "ß": "ss",
        "æ": "ae",
        "œ": "oe",
        "ø": "o",
        "đ": "d",
        "ł": "l",
    }
)

# Leet substitutions, applied only to characters inside a word (next to a letter).
_LEET = {
    "0": "o",
    "1": "i",
    "3": "e",
    "4": "a",
    "5": "s",
    "7": "t",
    "8": "b",
    "@": "a",
    "$": "s",
    "€": "e",
    "!": "i",
    "|": "l",
}
# A "word" candidate for leet decoding: letters mixed with leet characters and masking stars.
_LEET_WORD = re.compile(r"[a-z0-9@$€!|*]+")
# The same runs, but only those holding a non-letter (a letters-only run is never changed by
# ``_deleet``): the Python callback then runs for a few words per text, not all of them.
_LEET_CANDIDATE = re.compile(r"(?<![a-z0-9@$€!|*])[a-z]*[0-9@$€!|*][a-z0-9@$€!|*]*")
# A letter next to a leet character: without one, ``_LEET_CANDIDATE`` changes nothing (a run
# with a letter and a non-letter has such a pair), and this simple scan is much cheaper.
_LEET_HINT = re.compile(r"[0-9@$€!|*](?:(?<=[a-z].)|(?=[a-z]))")
# Ordinals, units and network names that must not be leet-decoded (1er, 2eme, 4g, 5g, h24, 3j).
_NOT_LEET = re.compile(r"^(?:\d+[a-z]{0,3}|[a-z]\d+)$")
# Letters spelled out: n.t.m, f-d-p, f_d_p, n t m (spaces need three or more letters).
_SPELLED = re.compile(r"(?<![a-z])(?:[a-z][.\-_*/]){1,}[a-z](?![a-z])")
_SPELLED_SPACES = re.compile(r"(?<![a-z'])(?:[a-z] ){2,}[a-z](?![a-z'])")
# Cheap necessary conditions for the three passes above (a search that starts on a rare
# character is far quicker than the full pattern, whose look-behind runs at every position):
# a leet character at all; a separator after a letter that no letter precedes, then a letter;
# a lone letter between spaces followed by a lone letter.
_LEET_CHAR = re.compile(r"[0-9@$€!|*]")
_SPELLED_HINT = re.compile(r"[.\-_*/](?<![a-z][a-z].)(?<=[a-z].)[a-z]")
_SPACES_HINT = re.compile(r" [a-z] [a-z](?![a-z'])")
_REPEAT3 = re.compile(r"([a-z])\1\1+")  # same as \1{2,}, a quarter faster
_REPEAT2 = re.compile(r"([a-z])\1+")
_TOKEN = re.compile(r"@user|[a-z*]+")


class NormalizedText:
    """Tokens of a text after normalisation, plus what was noticed on the way."""

    __slots__ = ("handles", "keys", "masked_handles", "tokens")

    def __init__(
        self, tokens: list[str], handles: int, masked_handles: list[str], keys: list[str]
    ) -> None:
        self.tokens = tokens
        self.handles = handles
        # Each short handle read as a word masked with "@" ("@ssh0le" -> "asshole").
        self.masked_handles = masked_handles
        # ``squeeze_all(tokens)``: the tokens as the lexicon and the model index them.
        self.keys = keys

    @property
    def text(self) -> str:
        return " ".join(self.tokens)


# Characters already classified for ``_fold``, and the combining marks among them (which it
# drops). Unicode is finite, so both stay bounded.
_CLASSIFIED: set[str] = set()
_DROP_MARKS: set[str] = set()
# The marks seen so far as one character class: a regex substitution drops them at C speed
# (``str.translate`` looks every character of the text up in a dict, which costs far more).
_MARKS_RE: re.Pattern[str] | None = None
# Any character ``_CONFUSABLES`` maps (most texts hold none: the translation is skipped).
_CONFUSABLE_RE = re.compile("[" + "".join(re.escape(chr(c)) for c in _CONFUSABLES) + "]")


def _fold(text: str) -> str:
    global _MARKS_RE
    if _CONFUSABLE_RE.search(text):
        text = text.translate(_CONFUSABLES)
    text = unicodedata.normalize("NFKD", text)
    if text.isascii():
        return text
    new = set(text).difference(_CLASSIFIED)
    if new:
        combining = unicodedata.combining
        # Combining marks all lie at U+0300 and above: the comparison spares most calls.
        marks = {ch for ch in new if ch >= "\u0300" and combining(ch)}
        if marks:
            _DROP_MARKS.update(marks)
            _MARKS_RE = re.compile("[" + "".join(map(re.escape, sorted(_DROP_MARKS))) + "]")
        _CLASSIFIED.update(new)  # (last: a character classified is one the pattern knows)
    return text if _MARKS_RE is None else _MARKS_RE.sub("", text)


def _hashtag(match: re.Match[str]) -> str:
    return " " + _CAMEL.sub(" ", match.group(1)).replace("_", " ") + " "


def _deleet(match: re.Match[str]) -> str:
    word = match.group(0)
    if word.isalpha() or _NOT_LEET.match(word):
        return word
    letters = sum(ch.isalpha() for ch in word)
    if letters < 1 or (letters < 2 and "*" not in word):
        return word
    chars = list(word)
    n = len(chars)
    for i, ch in enumerate(chars):
        sub = _LEET.get(ch)
        if sub is None:
            continue
        left = i > 0 and (chars[i - 1].isalpha() or chars[i - 1] in _LEET)
        right = i + 1 < n and (chars[i + 1].isalpha() or chars[i + 1] in _LEET)
        # "!" and "|" count as letters only between two letters (c!té), never as punctuation.
        if ch in "!|" and not (0 < i < n - 1 and chars[i - 1].isalpha() and chars[i + 1].isalpha()):
            continue
        if left or right:
            chars[i] = sub
    return "".join(chars)


def _join_spelled(match: re.Match[str]) -> str:
    return re.sub(r"[^a-z]", "", match.group(0))


_MASKED: dict[str, str] = {}
_MASKED_MAX = 100_000


def _masked(handle: str) -> str:
    """A short handle read as a word masked with "@" (memoised: handles repeat)."""
    hit = _MASKED.get(handle)
    if hit is None:
        hit = _fold("a" + handle[1:].lower())
        if not hit.isalpha():  # ``_deleet`` leaves a run of letters alone
            hit = _LEET_WORD.sub(_deleet, hit)
        if len(_MASKED) >= _MASKED_MAX:
            _MASKED.clear()
        _MASKED[handle] = hit
    return hit


def normalize(text: str) -> NormalizedText:
    """Normalise ``text`` into tokens (see the module docstring for what is undone)."""
    if "&" in text:
        text = html.unescape(text)
    plain = "\x01" not in text  # (the handles' placeholder below)
    ascii_only = text.isascii()
    if not ascii_only:
        # (``str.translate`` looks every character up: a scan per apostrophe is far cheaper)
        for apostrophe in _APOSTROPHE_CHARS:
            if apostrophe in text:
                text = text.replace(apostrophe, "'")
    elif "`" in text:
        text = text.replace("`", "'")
    # Every URL form holds "/" or "www." (the checks are far cheaper than the regex).
    if "/" in text or "www." in text.lower():
        text = _URL.sub(" ", text)
    handles = 0
    masked: list[str] = []
    if "@" in text:
        for h in _HANDLE.findall(text):
            if len(h) <= 16:
                masked.append(_masked(h))
        text, handles = _HANDLE.subn(" \x01 ", text)
    if "#" in text:
        text = _HASHTAG.sub(_hashtag, text)
    if not ascii_only:
        text = _EMOJI_RE.sub(lambda m: _EMOJI[m.group(0)], text)
        text = _fold(text.lower()) if not text.isascii() else text.lower()
    else:
        text = text.lower()
    if _LEET_CHAR.search(text) and _LEET_HINT.search(text):
        text = _LEET_CANDIDATE.sub(_deleet, text)
    if _SPELLED_HINT.search(text):
        text = _SPELLED.sub(_join_spelled, text)
    if _SPACES_HINT.search(text):
        text = _SPELLED_SPACES.sub(_join_spelled, text)
    if not plain:
        # A control character \x01 of the text's own: the general (slower) tokenizer.
        tokens = _tokens_general(text)
        return NormalizedText(tokens, handles, masked, squeeze_all(tokens))
    tokens, keys = _tokens_fast(text)
    return NormalizedText(tokens, handles, masked, keys)


def _tokens_general(text: str) -> list[str]:
    """The tokens of a normalised text: runs of [a-z*] (not only stars) and handles."""
    text = _REPEAT3.sub(r"\1", text)
    text = text.replace("\x01", USER)
    tokens = _TOKEN.findall(text)
    if "*" in text:
        tokens = [t for t in tokens if t.strip("*")]
    return tokens


def _tokens_fast(text: str) -> tuple[list[str], list[str]]:
    """``_tokens_general`` and their keys, for a text whose every \x01 is a handle's (standing
    alone) and that holds no "@" before a letter (which the leet pass guarantees)."""
    # The tokens are the runs of [a-z*] and each handle's \x01: every other character
    # becomes a space, then one split, all at C speed.
    if not text.isascii():
        text = text.encode("ascii", "replace").decode("ascii")
    raw = text.translate(_SEPARATORS).split()
    if "*" in text:
        raw = [t for t in raw if t.strip("*")]
    # Runs of three or more letters collapse (``_REPEAT3``) within a token, so it is done per
    # distinct token, remembered with the token's squeezed key.
    found = list(map(_KEYS.get, raw))
    if None in found:
        _learn(raw)
        keys = list(map(_KEYS.__getitem__, raw))
    else:
        keys = cast(list[str], found)
    tokens = raw if _SHOWN.keys().isdisjoint(raw) else [_SHOWN.get(t, t) for t in raw]
    return tokens, keys


# Every ASCII character that is not part of a token, mapped to a space.
_SEPARATORS = {i: " " for i in range(128) if chr(i) not in "abcdefghijklmnopqrstuvwxyz*\x01"}
# Per raw token (a run of [a-z*] as split): its squeezed key, and, for the few that change,
# the token once runs of three or more letters collapse ("connnard" -> "connard"; the
# handle's "\x01" -> "@user"). Bounded like the other memos.
_KEYS: dict[str, str] = {"\x01": USER}
_SHOWN: dict[str, str] = {"\x01": USER}
_KEYS_MAX = 200_000


def _learn(raw: list[str]) -> None:
    """Remember the key (and the collapsed form) of each token of ``raw`` not seen yet."""
    new = set(raw).difference(_KEYS)
    if len(_KEYS) + len(new) > _KEYS_MAX:
        _KEYS.clear()
        _SHOWN.clear()
        _KEYS["\x01"] = _SHOWN["\x01"] = USER
        new = set(raw)
    for token in new:
        shown = _REPEAT3.sub(r"\1", token) if _REPEAT3.search(token) else token
        if shown is not token:
            _SHOWN[token] = shown
        _KEYS[token] = squeeze(shown)


_SQUEEZED: dict[str, str] = {}
_SQUEEZED_MAX = 200_000


def squeeze(token: str) -> str:
    """Collapse every run of a repeated letter: ``connard`` -> ``conard`` (memoised: tokens
    repeat, and a regex substitution per token was a sixth of the scoring time)."""
    hit = _SQUEEZED.get(token)
    if hit is None:
        # (a search is cheaper than a substitution, and most tokens double no letter)
        hit = _REPEAT2.sub(r"\1", token) if _REPEAT2.search(token) else token
        if len(_SQUEEZED) >= _SQUEEZED_MAX:
            _SQUEEZED.clear()
        _SQUEEZED[token] = hit
    return hit


def squeeze_all(tokens: list[str]) -> list[str]:
    """``[squeeze(t) for t in tokens]``, reading the memo in one C-level pass."""
    keys = list(map(_SQUEEZED.get, tokens))
    if None in keys:
        return [squeeze(t) if k is None else k for k, t in zip(keys, tokens, strict=True)]
    return keys  # type: ignore[return-value]


def strip_plural(key: str) -> str | None:
    """The singular candidate of a squeezed token (``bitches`` -> ``bitch``), if any."""
    if len(key) > 4 and key.endswith("es"):
        return key[:-2]
    if len(key) > 3 and key[-1] in "sx":
        return key[:-1]
    return None
