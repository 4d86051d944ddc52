"""Pure text functions: Slack escaping and parsing, Mastodon HTML and length rules.

No I/O here. Everything is a total function over ``str`` so it can be unit-tested in
isolation and reused by the sources, the Slack handlers and the Block Kit builders.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from html.parser import HTMLParser

__all__ = [
    "escape_slack",
    "grapheme_count",
    "graphemes",
    "html_to_text",
    "known_tld",
    "rich_text_to_plain",
    "rich_text_user_ids",
    "slack_channel_names",
    "slack_to_plain",
    "slack_user_ids",
    "truncate",
    "unescape_entities",
    "url_spans",
]

ELLIPSIS = "…"

# --------------------------------------------------------------------------------------
# Slack
# --------------------------------------------------------------------------------------


def escape_slack(text: str) -> str:
    """Escape ``&``, ``<`` and ``>`` the way Slack requires for message text.

    After this, user text can neither ping (``<!channel>``, ``<@U…>``, ``<!subteam^…>``) nor
    forge a link (``<https://evil|label>``): Slack only parses control sequences written
    with literal angle brackets. ``&`` is escaped first. Deliberately not idempotent:
    ``&amp;`` becomes ``&amp;amp;`` so that the reader sees exactly what the author typed.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_SLACK_ENTITY_RE = re.compile(r"&(amp|lt|gt);")
_SLACK_UNESCAPE = {"amp": "&", "lt": "<", "gt": ">"}


def unescape_entities(text: str) -> str:
    """Single-pass inverse of :func:`escape_slack` (``&amp;lt;`` → ``&lt;``, not ``<``): Slack's
    three entities, which X's API also sends for ``&``, ``<`` and ``>``."""
    return _SLACK_ENTITY_RE.sub(lambda m: _SLACK_UNESCAPE[m.group(1)], text)


# Inside Slack's control sequences ``<`` and ``>`` never occur (they are escaped in text).
_SLACK_CONTROL_RE = re.compile(r"<([^<>]*)>")
_SLACK_USER_RE = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^<>]*)?>")


def slack_user_ids(text: str) -> set[str]:
    """User ids referenced as ``<@U…>``, ``<@U…|name>`` or ``<@W…>`` in Slack message text."""
    return set(_SLACK_USER_RE.findall(text))


def _split_label(body: str) -> tuple[str, str | None]:
    target, sep, label = body.partition("|")
    return target, (label if sep else None)


def _slack_control_to_plain(body: str, names: Mapping[str, str]) -> str:
    """One ``<…>`` control sequence (without the brackets) → what a reader sees."""
    target, label = _split_label(body)
    plain_label = unescape_entities(label) if label is not None else None
    if target.startswith("@"):
        user_id = target[1:]
        if user_id in names:
            return "@" + names[user_id]
        return "@" + (plain_label if plain_label else user_id)
    if target.startswith("#"):
        return "#" + (plain_label if plain_label else target[1:])
    if target.startswith("!"):
        command, _, arg = target[1:].partition("^")
        if command in ("here", "channel", "everyone"):
            return "@" + command
        if plain_label:
            # <!subteam^S123|@team>, <!date^…|fallback>: the label is what clients show.
            return plain_label
        if command == "subteam" and arg:
            return "@" + arg
        return "@" + command
    return _link_to_plain(unescape_entities(target), plain_label)


def _link_to_plain(url: str, label: str | None) -> str:
    """A Slack link → what is published: the URL wins over a label (the network needs the
    link), but a bare domain that Slack linked itself (typed ``sncf.fr``, delivered as
    ``<http://sncf.fr|sncf.fr>``) stays as typed, as the voters saw it; a mailto: link is
    its address."""
    if url.lower().startswith("mailto:"):
        return url[len("mailto:") :]
    if label and url == "http://" + label:
        return label
    return url


def slack_to_plain(text: str, names: Mapping[str, str]) -> str:
    """Slack's delivered message text → the plain text a reader sees.

    ``names`` maps user ids to display names for ``<@U…>`` mentions (falling back to the
    mention's ``|label``, then to the id). Links become their URL, channel, broadcast and
    user-group mentions their visible form, ``<!date^…|fallback>`` its fallback. ``&lt;``,
    ``&gt;`` and ``&amp;`` are unescaped in a single pass, outside and inside the control
    sequences alike; names from ``names`` are inserted verbatim. Whitespace is preserved.
    """
    out: list[str] = []
    pos = 0
    for match in _SLACK_CONTROL_RE.finditer(text):
        out.append(unescape_entities(text[pos : match.start()]))
        out.append(_slack_control_to_plain(match.group(1), names))
        pos = match.end()
    out.append(unescape_entities(text[pos:]))
    return "".join(out)


SKIN_TONES = {2: "\U0001f3fb", 3: "\U0001f3fc", 4: "\U0001f3fd", 5: "\U0001f3fe", 6: "\U0001f3ff"}
_SKIN_NAME_RE = re.compile(r"::skin-tone-([2-6])$")


def _emoji_text(element: Mapping[str, object]) -> str | None:
    """A rich-text ``emoji`` element → its Unicode (with the skin tone); None if custom."""
    code = element.get("unicode")
    if not isinstance(code, str) or not code:
        return None
    try:
        out = "".join(chr(int(part, 16)) for part in code.split("-"))
    except ValueError:
        return None
    tone = element.get("skin_tone")
    if not isinstance(tone, int):
        match = _SKIN_NAME_RE.search(str(element.get("name", "")))
        tone = int(match.group(1)) if match else None
    modifier = SKIN_TONES.get(tone) if isinstance(tone, int) else None
    if modifier and not any(0x1F3FB <= ord(c) <= 0x1F3FF for c in out):
        first = out[0]
        rest = out[1:].removeprefix("\ufe0f")
        out = first + modifier + rest
    return out


_SLACK_CHANNEL_RE = re.compile(r"<#([CG][A-Z0-9]+)\|([^<>|]+)>")


def slack_channel_names(text: str) -> dict[str, str]:
    """Channel names from ``<#C…|name>`` in Slack message text (the rich text has only ids)."""
    return {cid: unescape_entities(name) for cid, name in _SLACK_CHANNEL_RE.findall(text)}


def _inline(elements: object, names: Mapping[str, str], custom: list[str]) -> str:
    out: list[str] = []
    for element in elements if isinstance(elements, list) else []:
        if not isinstance(element, dict):
            continue
        kind = element.get("type")
        if kind == "text":
            out.append(str(element.get("text", "")))
        elif kind == "link":
            label = element.get("text")
            out.append(_link_to_plain(str(element.get("url", "")), str(label) if label else None))
        elif kind == "user":
            uid = str(element.get("user_id", ""))
            out.append("@" + names.get(uid, uid))
        elif kind == "usergroup":
            out.append("@" + str(element.get("usergroup_id", "")))
        elif kind == "channel":
            cid = str(element.get("channel_id", ""))
            out.append("#" + names.get(cid, cid))
        elif kind == "broadcast":
            out.append("@" + str(element.get("range", "here")))
        elif kind == "emoji":
            unicode = _emoji_text(element)
            if unicode is None:
                custom.append(str(element.get("name", "?")))
                out.append(f":{element.get('name', '')}:")
            else:
                out.append(unicode)
        elif kind == "date":
            out.append(str(element.get("fallback", "")))
        elif kind == "color":
            out.append(str(element.get("value", "")))
    return "".join(out)


def _rich_element(
    element: Mapping[str, object], names: Mapping[str, str], custom: list[str]
) -> str:
    kind = element.get("type")
    if kind in ("rich_text_section", "rich_text_preformatted"):
        return _inline(element.get("elements"), names, custom)
    if kind == "rich_text_quote":
        quoted = _inline(element.get("elements"), names, custom)
        return "\n".join("> " + line for line in quoted.split("\n"))
    if kind == "rich_text_list":
        lines = []
        indent = element.get("indent")
        pad = "  " * (indent if isinstance(indent, int) else 0)
        start = element.get("offset")
        number = (start if isinstance(start, int) else 0) + 1
        items = element.get("elements")
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict):
                continue
            bullet = f"{number}." if element.get("style") == "ordered" else "•"
            lines.append(f"{pad}{bullet} {_inline(item.get('elements'), names, custom)}")
            number += 1
        return "\n".join(lines)
    return ""


def rich_text_user_ids(blocks: object) -> set[str]:
    """User ids mentioned in a message's ``rich_text`` blocks."""
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "user" and isinstance(node.get("user_id"), str):
                found.add(node["user_id"])
            walk(node.get("elements"))
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(
        [b for b in blocks if isinstance(b, dict) and b.get("type") == "rich_text"]
        if isinstance(blocks, list)
        else []
    )
    return found


def rich_text_to_plain(blocks: object, names: Mapping[str, str]) -> tuple[str, list[str]] | None:
    """A message's ``rich_text`` blocks → (the plain text a reader sees, custom emoji names).

    Slack sends a typed emoji as ``:shortcode:`` in the message ``text`` but as an ``emoji``
    element with its Unicode (and skin tone) in the rich text, so the rich text is what the
    voters saw. Links become their URL, user mentions ``@name`` and channel mentions
    ``#name`` (from ``names``, which maps user and channel ids to names), lists one
    line per item (``•`` or ``1.``), quotes ``> `` lines; formatting (bold, italic, code) is
    kept as plain text. Custom emoji (no Unicode) are listed so the caller can refuse them.
    None when the message has no rich_text block (then read its text field).
    """
    if not isinstance(blocks, list):
        return None
    rich = [b for b in blocks if isinstance(b, dict) and b.get("type") == "rich_text"]
    if not rich:
        return None
    custom: list[str] = []
    parts: list[str] = []
    for block in rich:
        elements = block.get("elements")
        for element in elements if isinstance(elements, list) else []:
            if not isinstance(element, dict):
                continue
            piece = _rich_element(element, names, custom)
            if parts and not parts[-1].endswith("\n"):
                parts.append("\n")
            parts.append(piece)
    return "".join(parts).strip(), custom


# --------------------------------------------------------------------------------------
# Mastodon HTML
# --------------------------------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    {"p", "div", "blockquote", "pre", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6"}
)
_SKIP_TAGS = frozenset({"script", "style", "template"})
_WS_RUN_RE = re.compile(r"[ \t\r\n\f]+")
_WS_AROUND_NL_RE = re.compile(r"[ \t]*\n[ \t]*")


class _MastodonHTML(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.pending_newlines = 0
        self.pre_depth = 0
        self.skip_depth = 0

    def _trailing_newlines(self) -> int:
        count = 0
        for part in reversed(self.parts):
            stripped = part.rstrip("\n")
            count += len(part) - len(stripped)
            if stripped:
                break
        return count

    def _flush(self) -> None:
        if self.pending_newlines and self.parts:
            missing = self.pending_newlines - self._trailing_newlines()
            if missing > 0:
                self.parts.append("\n" * missing)
        self.pending_newlines = 0

    def _boundary(self, newlines: int) -> None:
        self.pending_newlines = max(self.pending_newlines, newlines)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self.skip_depth += 1
        elif tag == "br":
            self._flush()
            self.parts.append("\n")
        elif tag in _BLOCK_TAGS:
            self._boundary(2)
            if tag == "pre":
                self.pre_depth += 1
        elif tag == "li":
            self._boundary(1)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._flush()
            self.parts.append("\n")
        # Other self-closing tags (<img/>, <hr/>) carry no text.

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in _BLOCK_TAGS:
            self._boundary(2)
            if tag == "pre":
                self.pre_depth = max(0, self.pre_depth - 1)
        elif tag == "li":
            self._boundary(1)

    def handle_data(self, data: str) -> None:
        if self.skip_depth:
            return
        if not self.pre_depth:
            # HTML semantics: source newlines and runs of spaces render as one space.
            data = _WS_RUN_RE.sub(" ", data)
            if data == " " and (not self.parts or self.pending_newlines):
                return
        if data:
            self._flush()
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Mastodon status ``content`` HTML → plain text.

    ``<br>`` becomes a newline, paragraph (and other block) boundaries a blank line, list
    items a newline; every tag is dropped and HTML entities are unescaped (the stdlib
    ``html.parser`` does the tokenising). Text inside links is kept whole, so a mention
    ``<a …>@<span>brand</span></a>`` reads ``@brand`` and a link whose text Mastodon splits
    into ``<span class="invisible">`` / ``<span class="ellipsis">`` parts reads as the
    **full URL** (the invisible parts are kept): that is what the post links to and what a
    reviewer needs, rather than Mastodon's shortened display. Outside ``<pre>``, runs of
    source whitespace collapse to one space as a browser renders them.
    """
    parser = _MastodonHTML()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    if not parser.pre_depth:
        text = _WS_AROUND_NL_RE.sub("\n", text)
    return text.strip()


# --------------------------------------------------------------------------------------
# URLs and graphemes (shared by the networks' length rules)
# --------------------------------------------------------------------------------------

# Approximation of Mastodon's twitter-text based URL extraction with
# ``extract_url_without_protocol: false`` (see config/initializers/twitter_regex.rb):
# a protocol Mastodon recognises, a host whose last label looks like a TLD, then any
# non-space run, minus trailing punctuation that twitter-text does not let a URL end on.
# Deliberately linear (no nested quantifiers) because it runs over user text.
_URL_RE = re.compile(
    r"(?<![A-Za-z0-9@＠$#＃])(?:https?|dat|dweb|ipfs|ipns|ssb|gopher|gemini)://[^\s<>]+",
    re.IGNORECASE,
)
_URL_BAD_END = frozenset("()?!*\"'「」<>;:=,.$%[]~&|@")
_TLD_RE = re.compile(r"(?:[^\W\d_]{2,}|xn--[a-z0-9-]+)", re.IGNORECASE)


# Generic top-level domains a link without ``https://`` may end in, for the counters and
# facets that recognise such links (X, Bluesky): the common ones (the networks know every
# IANA TLD); any two-letter country code counts too.
_GENERIC_TLD_NAMES = (
    "com net org info biz edu gov mil int mobi name pro tel travel jobs asia aero cat coop "
    "museum app dev page new blog shop store online site website xyz news live media cloud "
    "club tech technology digital agency company group global world today one top vip win "
    "link click help email chat social network services solutions support systems software "
    "studio design photo video tube fun game games art bio eco green energy bank money market "
    "sale promo plus pics wiki zone team work works city family life love care health fit "
    "school academy press radio film music fans bar cafe restaurant wine beer pizza paris "
    "bzh alsace corsica swiss berlin london nyc brussels quebec"
)
_GENERIC_TLDS = frozenset(_GENERIC_TLD_NAMES.split())


def known_tld(label: str) -> bool:
    """Whether ``label`` is a top-level domain a bare link may end in."""
    label = label.lower()
    return (len(label) == 2 and label.isascii() and label.isalpha()) or label in _GENERIC_TLDS


def _trim_url(url: str) -> str:
    while url and url[-1] in _URL_BAD_END:
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break  # balanced parentheses may end a URL (Wikipedia links)
        url = url[:-1]
    return url


def _valid_url(url: str) -> bool:
    rest = url.split("://", 1)[1]
    host = re.split(r"[/?#]", rest, maxsplit=1)[0]
    host = host.rsplit("@", 1)[-1].split(":", 1)[0]
    labels = host.split(".")
    return len(labels) >= 2 and all(labels) and _TLD_RE.fullmatch(labels[-1]) is not None


def url_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each URL with a protocol, as twitter-text based counters find them."""
    spans: list[tuple[int, int]] = []
    for m in _URL_RE.finditer(text):
        url = _trim_url(m.group(0))
        if "://" in url and _valid_url(url):
            spans.append((m.start(), m.start() + len(url)))
    return spans


def _is_extend(ch: str) -> bool:
    """Characters that never start a grapheme cluster of their own (approximation)."""
    cp = ord(ch)
    return (
        unicodedata.category(ch) in ("Mn", "Me", "Mc")  # combining marks, enclosing keycap
        or cp in (0x200C, 0x200D)  # ZWNJ, ZWJ
        or 0xFE00 <= cp <= 0xFE0F  # variation selectors
        or 0xE0100 <= cp <= 0xE01EF  # variation selectors supplement
        or 0x1F3FB <= cp <= 0x1F3FF  # emoji skin-tone modifiers
        or 0xE0020 <= cp <= 0xE007F  # tag characters (subdivision flags)
        or 0xFF9E <= cp <= 0xFF9F  # halfwidth katakana voiced marks
        or cp in (0x0E33, 0x0EB3)  # Thai and Lao SARA AM (spacing marks, category Lo)
    )


_PREPEND = frozenset(
    [*range(0x0600, 0x0606), 0x06DD, 0x070F, 0x0890, 0x0891, 0x08E2, 0x0D4E, 0x110BD, 0x110CD]
)


def _is_pictographic(ch: str) -> bool:
    """Extended_Pictographic, approximately: what an emoji ZWJ sequence joins."""
    cp = ord(ch)
    return (
        0x1F000 <= cp <= 0x1FAFF
        or 0x1FC00 <= cp <= 0x1FFFD
        or 0x2190 <= cp <= 0x21FF
        or 0x2300 <= cp <= 0x23FF
        or 0x25A0 <= cp <= 0x27BF
        or 0x2900 <= cp <= 0x2BFF
        or cp in (0xA9, 0xAE, 0x203C, 0x2049, 0x2122, 0x2139, 0x3030, 0x303D, 0x3297, 0x3299)
    )


def _is_regional_indicator(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _is_hangul_vt(ch: str) -> bool:
    cp = ord(ch)
    return 0x1160 <= cp <= 0x11FF or 0xD7B0 <= cp <= 0xD7FF


def _is_hangul(ch: str) -> bool:
    cp = ord(ch)
    return 0x1100 <= cp <= 0x11FF or 0xAC00 <= cp <= 0xD7A3 or 0xD7B0 <= cp <= 0xD7FF


def _is_control(ch: str) -> bool:
    return ch in "\r\n" or unicodedata.category(ch) in ("Cc", "Zl", "Zp")


def grapheme_count(text: str) -> int:
    """Approximate count of extended grapheme clusters (UAX #29) without a dependency.

    A new cluster starts at every code point except: ``\\n`` after ``\\r`` (CRLF is one);
    combining marks (Mn/Mc/Me), ZWNJ/ZWJ, variation selectors, emoji skin-tone modifiers
    and tag characters after a non-control; a pictograph right after a ZWJ (emoji ZWJ
    sequences; a letter after a ZWJ starts a cluster); the second regional indicator of a
    pair (flags); Hangul medial/final jamo after a Hangul syllable or jamo; anything after a
    Prepend character. Extended_Pictographic is approximated by ranges and Unicode 15.1's
    Indic conjunct rule is not applied, so counts can differ from Ruby's
    ``each_grapheme_cluster`` or Bluesky's segmenter on exotic input.
    """
    count = 0
    prev = ""
    after_zwj = False
    ri_run = 0  # regional indicators in the current run
    for ch in text:
        if not prev or not _joins(prev, ch, after_zwj=after_zwj, ri_run=ri_run):
            count += 1
        ri_run = ri_run + 1 if _is_regional_indicator(ch) else 0
        after_zwj = ch == "\u200d" and not _is_control(prev)
        prev = ch
    return count


def graphemes(text: str) -> list[str]:
    """``text`` split into the grapheme clusters :func:`grapheme_count` counts."""
    clusters: list[str] = []
    prev = ""
    after_zwj = False
    ri_run = 0
    for ch in text:
        if clusters and prev and _joins(prev, ch, after_zwj=after_zwj, ri_run=ri_run):
            clusters[-1] += ch
        else:
            clusters.append(ch)
        ri_run = ri_run + 1 if _is_regional_indicator(ch) else 0
        after_zwj = ch == "\u200d" and not _is_control(prev)
        prev = ch
    return clusters


def _joins(prev: str, ch: str, *, after_zwj: bool, ri_run: int) -> bool:
    """Whether ``ch`` continues the cluster that ``prev`` is in (no break between them)."""
    if prev == "\r" and ch == "\n":
        return True
    if _is_control(prev) or _is_control(ch):
        return False
    if _is_extend(ch) or (after_zwj and _is_pictographic(ch)) or ord(prev) in _PREPEND:
        return True
    if _is_regional_indicator(ch):
        return ri_run % 2 == 1
    return _is_hangul_vt(ch) and _is_hangul(prev)


# --------------------------------------------------------------------------------------
# Generic
# --------------------------------------------------------------------------------------


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending with ``…`` when cut.

    The cut backs off over trailing whitespace and never leaves a dangling combining
    mark or ZWJ at the end. ``limit`` below 1 gives an empty string.
    """
    if limit < 1:
        return ""
    if len(text) <= limit:
        return text
    end = limit - 1
    # Back off so that the cut does not split a grapheme cluster (approximately).
    while end > 0 and (_is_extend(text[end]) or text[end - 1] == "\u200d"):
        end -= 1
    if end > 0 and _is_regional_indicator(text[end]) and _is_regional_indicator(text[end - 1]):
        run = 0
        while run < end and _is_regional_indicator(text[end - 1 - run]):
            run += 1
        if run % 2:
            end -= 1
    return text[:end].rstrip() + ELLIPSIS
