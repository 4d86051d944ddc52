"""Text normalisation shared by the lexicon, the learned model and the training script.

Everything here is pure, deterministic and cheap (a few regex passes and ``bytes.translate``).
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
import itertools
import operator
import re
import unicodedata
from typing import cast

__all__ = ["USER", "NormalizedText", "normalize", "squeeze", "squeeze_all", "strip_plural"]

USER = "@user"

_URL = re.compile(r"(?:https?://|www\.)\S+|\b[a-z0-9.-]+\.(?:com|fr|net|org|ly|co)/\S*", re.I)
# (The "@" and "#" come first, the look-behind after them: a pattern that starts with a
# literal is searched for that character at C speed, not tried at every position.)
_HANDLE = re.compile(r"@(?<![\w@]@)[A-Za-z0-9_.]+")
_HANDLE_SPLIT = re.compile(f"({_HANDLE.pattern})")
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
# A character at or above the lowest of them (a scan ~8x cheaper than ``_EMOJI_RE``'s, which
# tries its alternation at every character): most non-ASCII texts hold only accents.
_EMOJI_HINT = re.compile("[^\x00-" + re.escape(chr(ord(min("".join(_EMOJI))) - 1)) + "]")

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
# ``_deleet`` reads the maximal runs of letters mixed with leet characters and masking stars,
# and changes a character only where a leet digit or symbol stands next to a letter or to
# another leet character, or where a "!" or "|" stands between two letters. ``_LEET_TRIGGER``
# finds such a place (a run holding none, such as "bitch!", "2020" or "!!", comes back
# unchanged: most runs with a non-letter are like that), ``_LEET_RUN`` the runs that hold one.
# (The trigger starts with its one character class: ``re`` scans for that class at C speed.)
_LEET_CHARS = re.escape("".join(_LEET))  # (for a character class)
_LEET_SYMBOLS = re.escape("".join(ch for ch in _LEET if ch not in "!|"))
_LEET_TRIGGER = re.compile(
    f"[{_LEET_CHARS}]"
    f"(?:(?<=[{_LEET_SYMBOLS}])(?:(?<=[a-z{_LEET_CHARS}].)|(?=[a-z{_LEET_CHARS}]))"
    "|(?<=[a-z][!|])(?=[a-z]))"
)
_LEET_RUN = re.compile(
    rf"(?<![a-z0-9@$€!|*])[a-z0-9@$€!|*]*?(?:{_LEET_TRIGGER.pattern})[a-z0-9@$€!|*]*"
)
# Ordinals, units and network names that must not be leet-decoded (1er, 2eme, 4g, 5g, h24, 3j).
_NOT_LEET = re.compile(r"^(?:\d+[a-z]{0,3}|[a-z]\d+)$")
# Letters spelled out: n.t.m, f-d-p, f_d_p, n t m (spaces need three or more letters).
_SPELLED = re.compile(r"(?<![a-z])(?:[a-z][.\-_*/]){1,}[a-z](?![a-z])")
_SPELLED_SPACES = re.compile(r"(?<![a-z'])(?:[a-z] ){2,}[a-z](?![a-z'])")
# Cheap necessary conditions for the two passes above (a search that starts on a rare
# character is far quicker than the full pattern, whose look-behind runs at every position):
# a separator after a letter that no letter precedes, then a letter; a lone letter between
# spaces followed by a lone letter.
_SPELLED_HINT = re.compile(r"[.\-_*/](?<![a-z][a-z].)(?<=[a-z].)[a-z]")
_SPACES_HINT = re.compile(r" [a-z] [a-z](?![a-z'])")
_REPEAT3 = re.compile(r"([a-z])\1\1+")  # same as \1{2,}, a quarter faster
# A letter the same letter follows: dropping each (a literal replacement, which ``re`` does in
# C, where a template such as r"\1" is expanded by Python code at every match) collapses every
# run of a repeated letter, as ``([a-z])\1+`` -> r"\1" would.
_REPEAT2 = re.compile(r"([a-z])(?=\1)")
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
# (what ``_fold`` drops from a text before classifying its characters: none is a mark)
_ASCII_RUNS = re.compile("[\x00-\x7f]+")
# Any character ``_CONFUSABLES`` maps (most texts hold none: the translation is skipped).
_CONFUSABLE_RE = re.compile("[" + "".join(re.escape(chr(c)) for c in _CONFUSABLES) + "]")


def _fold(text: str) -> str:
    global _MARKS_RE
    if _CONFUSABLE_RE.search(text):
        text = text.translate(_CONFUSABLES)
    text = unicodedata.normalize("NFKD", text)
    if text.isascii():
        return text
    # (only the non-ASCII characters are classified: setting them apart first is cheaper)
    new = set(_ASCII_RUNS.sub("", text)).difference(_CLASSIFIED)
    if new:
        combining = unicodedata.combining
        # Combining marks all lie at U+0300 and above: the comparison spares most calls.
        marks = {ch for ch in new if ch >= "\u0300" and combining(ch)}
        if marks:
            _DROP_MARKS.update(marks)
            _MARKS_RE = re.compile("[" + "".join(map(re.escape, sorted(_DROP_MARKS))) + "]")
        _CLASSIFIED.update(new)  # (last: a character classified is one the pattern knows)
    return text if _MARKS_RE is None else _MARKS_RE.sub("", text)


_HASHTAGS: dict[str, str] = {}
_HASHTAGS_MAX = 20_000


def _hashtag(tag: str) -> str:
    """What the hashtag ``#tag`` becomes (memoised: hashtags repeat)."""
    hit = _HASHTAGS.get(tag)
    if hit is None:
        hit = " " + _CAMEL.sub(" ", tag).replace("_", " ") + " "
        if len(_HASHTAGS) >= _HASHTAGS_MAX:
            _HASHTAGS.clear()
        _HASHTAGS[tag] = hit
    return hit


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
        # (a handle is ASCII: ``_fold`` would leave it as is)
        hit = "a" + handle[1:].lower()
        # (``_deleet`` leaves a run of letters alone, and one without a trigger)
        if not hit.isalpha() and _LEET_TRIGGER.search(hit):
            hit = _LEET_RUN.sub(_deleet, hit)
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
        # One pass: the text between the handles, and the handles (``_HANDLE_SPLIT``'s group).
        parts = _HANDLE_SPLIT.split(text)
        if len(parts) > 1:
            masked = [_masked(h) for h in parts[1::2] if len(h) <= 16]
            handles = len(parts) >> 1
            text = " \x01 ".join(parts[::2])
    if "#" in text:
        parts = _HASHTAG.split(text)
        if len(parts) > 1:
            parts[1::2] = map(_hashtag, parts[1::2])
            text = "".join(parts)
    if not ascii_only:
        if _EMOJI_HINT.search(text):
            text = _EMOJI_RE.sub(lambda m: _EMOJI[m.group(0)], text)
        text = _fold(text.lower()) if not text.isascii() else text.lower()
    else:
        text = text.lower()
    if _LEET_TRIGGER.search(text):
        text = _LEET_RUN.sub(_deleet, text)
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
    # becomes a space, then one split, all at C speed. (As bytes: ``bytes.translate`` reads a
    # 256-byte table, where ``str.translate`` looks each distinct character up in a mapping;
    # every byte of a non-ASCII character is above 127.) No "@" is left to make a token, so
    # each handle's \x01 can be its token "@user" before the split.
    line = text.encode("utf-8", "surrogatepass").translate(_SEPARATORS).decode("ascii")
    if "\x01" in line:
        line = line.replace("\x01", USER)
    raw = line.split()
    if "*" in line:
        raw = [t for t in raw if t.strip("*")]
    # Most tokens are their own shown form and are in ``_KEYS``: one lookup each.
    found = list(map(_KEYS.get, raw))
    if None in found:
        return _tokens_learning(raw, found)
    return raw, cast(list[str], found)


# Every byte that is not part of a token (ASCII outside [a-z*\x01], any byte of UTF-8 above
# 127), mapped to a space.
_SEPARATORS = bytes(i if chr(i) in "abcdefghijklmnopqrstuvwxyz*\x01" else 32 for i in range(256))
# Per raw token (a run of [a-z*] as split, or "@user"): its squeezed key, for the tokens shown
# as they are; the few in which runs of three or more letters collapse ("connnard" ->
# "connard") are in ``_SHOWN`` with their shown form and key instead. Bounded together like the
# other memos.
_KEYS: dict[str, str] = {}
_SHOWN: dict[str, tuple[str, str]] = {}
_KEYS_MAX = 200_000


def _tokens_learning(raw: list[str], found: list[str | None]) -> tuple[list[str], list[str]]:
    """``_tokens_fast``'s result when some token is not in ``_KEYS`` (``found``: each token's
    key there, else None): new tokens are learnt, collapsing ones read from ``_SHOWN``."""
    missing = set(itertools.compress(raw, map(operator.is_, found, itertools.repeat(None))))
    new = missing.difference(_SHOWN)
    if new:
        if len(_KEYS) + len(_SHOWN) + len(new) > _KEYS_MAX:
            _KEYS.clear()
            _SHOWN.clear()
            new = set(raw)
        _learn(list(new))
    keys = list(map(_KEYS.get, raw))
    if None not in keys:
        return raw, cast(list[str], keys)
    tokens = list(raw)
    for i in itertools.compress(range(len(raw)), map(operator.is_, keys, itertools.repeat(None))):
        tokens[i], keys[i] = _SHOWN[raw[i]]
    return tokens, cast(list[str], keys)


def _learn(new: list[str]) -> None:
    """Remember the key (and the collapsed form, if any) of each token of ``new``."""
    # All at once, joined by spaces (no token holds one, and no run of a letter crosses one):
    # one search, and a substitution only if some letter doubles. The key ``squeeze(shown)``
    # is ``squeeze(token)``: collapsing runs of three first changes nothing squeezing does not.
    joined = " ".join(new)
    if _REPEAT2.search(joined) is None:
        _KEYS.update(zip(new, new, strict=True))
        return
    keys = _REPEAT2.sub("", joined).split(" ")
    if _REPEAT3.search(joined) is None:
        _KEYS.update(zip(new, keys, strict=True))
        return
    shown_forms = _REPEAT3.sub(r"\1", joined).split(" ")
    for token, shown, key in zip(new, shown_forms, keys, strict=True):
        if shown == token:
            _KEYS[token] = key
        else:
            _SHOWN[token] = (shown, key)


_SQUEEZED: dict[str, str] = {}
_SQUEEZED_MAX = 200_000


def squeeze(token: str) -> str:
    """Collapse every run of a repeated letter: ``connard`` -> ``conard`` (memoised: tokens
    repeat, and a regex substitution per token was a sixth of the scoring time)."""
    hit = _SQUEEZED.get(token)
    if hit is None:
        # (a search is cheaper than a substitution, and most tokens double no letter)
        hit = _REPEAT2.sub("", token) if _REPEAT2.search(token) else token
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
