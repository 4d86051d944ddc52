"""Unit tests for assistant.text: Slack escaping/parsing, Mastodon HTML and length."""

from __future__ import annotations

import pytest

from assistant.networks.mastodon import (
    MASTODON_MAX_CHARS,
    MASTODON_URL_LENGTH,
    mastodon_length,
    mastodon_overflow,
    mastodon_reply_text,
)
from assistant.text import (
    escape_slack,
    grapheme_count,
    html_to_text,
    slack_to_plain,
    slack_user_ids,
    truncate,
)

# --------------------------------------------------------------------------- escape_slack


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("<!channel>", "&lt;!channel&gt;"),
        (
            "<!here> <@U123> <!subteam^S1|@ops>",
            "&lt;!here&gt; &lt;@U123&gt; &lt;!subteam^S1|@ops&gt;",
        ),
        ("<https://evil.example|click me>", "&lt;https://evil.example|click me&gt;"),
        ("Tom & Jerry", "Tom &amp; Jerry"),
        ("&amp;", "&amp;amp;"),
        ("&lt;!channel&gt;", "&amp;lt;!channel&amp;gt;"),
        ("plain *bold* _it_ @here", "plain *bold* _it_ @here"),
        ("", ""),
    ],
)
def test_escape_slack(raw: str, escaped: str) -> None:
    assert escape_slack(raw) == escaped


def test_escape_slack_leaves_no_angle_brackets_and_is_not_idempotent() -> None:
    hostile = "<<!channel>>&<@U1|x>"
    once = escape_slack(hostile)
    assert "<" not in once and ">" not in once
    assert escape_slack(once) != once
    assert escape_slack(once) == once.replace("&", "&amp;")


@pytest.mark.parametrize(
    "raw",
    ["<!channel>", "a & b < c > d", "&amp; &lt; &gt; &amp;lt;", "<https://x.example|y>", "é👍"],
)
def test_escape_then_slack_to_plain_round_trips(raw: str) -> None:
    # What Slack delivers for typed text is the escaped form; reading it back is lossless.
    assert slack_to_plain(escape_slack(raw), {}) == raw


# --------------------------------------------------------------------------- slack_user_ids


def test_slack_user_ids() -> None:
    text = "ping <@U024BE7LH> and <@U0ABC|bob>, enterprise <@W123ABC>, not <#C123|general> <!here>"
    assert slack_user_ids(text) == {"U024BE7LH", "U0ABC", "W123ABC"}


def test_slack_user_ids_ignores_escaped_and_groups() -> None:
    assert slack_user_ids("&lt;@U999&gt; <!subteam^S123|@team> @U777 <mailto:a@b.c>") == set()


# --------------------------------------------------------------------------- slack_to_plain


def test_slack_to_plain_real_payload() -> None:
    # Text as Slack delivers it in a message event for a typed proposal.
    delivered = (
        "Merci &amp; désolé pour la panne &lt;3 — suivez <https://status.example.com/i?id=1&amp;lang=fr|"
        "status.example.com/i?id=1&amp;lang=fr> ou écrivez à <mailto:support@example.com|"
        "support@example.com> (cc <@U024BE7LH> <@U0ABC|bob.old>)"
    )
    assert slack_to_plain(delivered, {"U024BE7LH": "Alice"}) == (
        "Merci & désolé pour la panne <3 — suivez https://status.example.com/i?id=1&lang=fr "
        "ou écrivez à support@example.com (cc @Alice @bob.old)"
    )


@pytest.mark.parametrize(
    ("delivered", "plain"),
    [
        ("<https://x.example/a|label>", "https://x.example/a"),
        ("<https://x.example/a>", "https://x.example/a"),
        ("<mailto:a@b.c|a@b.c>", "a@b.c"),
        ("voir <http://sncf.fr|sncf.fr> !", "voir sncf.fr !"),  # Slack linked a typed domain
        ("<http://sncf.fr/aide|sncf.fr/aide>", "sncf.fr/aide"),
        ("<http://a.example/x|a.example>", "http://a.example/x"),  # a label: the URL wins
        ("<@U123>", "@Ann"),
        ("<@U123|old>", "@Ann"),
        ("<@U456|old>", "@old"),
        ("<@U456>", "@U456"),
        ("<#C123|general>", "#general"),
        ("<#C123>", "#C123"),
        ("<!here>", "@here"),
        ("<!channel>", "@channel"),
        ("<!everyone>", "@everyone"),
        ("<!here|here>", "@here"),
        ("<!subteam^S123|@team>", "@team"),
        (
            "<!date^1392734382^{date_num} {time_secs}|Posted 2014-02-18 6:39:42 AM PST>",
            "Posted 2014-02-18 6:39:42 AM PST",
        ),
        ("&amp;lt;", "&lt;"),
        ("&amp;amp;", "&amp;"),
        ("&lt;@U123&gt;", "<@U123>"),
        ("a\n\n  b\t c ", "a\n\n  b\t c "),
    ],
)
def test_slack_to_plain_forms(delivered: str, plain: str) -> None:
    assert slack_to_plain(delivered, {"U123": "Ann"}) == plain


def test_slack_to_plain_inserts_names_verbatim() -> None:
    # A display name is not Slack-escaped text: it must not be unescaped.
    assert slack_to_plain("<@U1> &amp;", {"U1": "R&amp;D"}) == "@R&amp;D &"


# --------------------------------------------------------------------------- html_to_text

MASTODON_HTML = (
    '<p><span class="h-card" translate="no"><a href="https://mastodon.social/@freemobile" '
    'class="u-url mention">@<span>freemobile</span></a></span> Encore une panne, bande de '
    "nuls &amp; menteurs !!! &lt;3 pas du tout</p><p>Regardez "
    '<a href="https://downdetector.fr/statut/free-mobile/" target="_blank" '
    'rel="nofollow noopener noreferrer" translate="no"><span class="invisible">https://</span>'
    '<span class="ellipsis">downdetector.fr/statut/free-mo</span><span class="invisible">'
    'bile/</span></a><br />ça dure depuis ce matin<br>ras le bol</p><p><a href="https://'
    'mastodon.social/tags/panne" class="mention hashtag" rel="tag">#<span>panne</span></a></p>'
)


def test_html_to_text_realistic_mastodon_status() -> None:
    assert html_to_text(MASTODON_HTML) == (
        "@freemobile Encore une panne, bande de nuls & menteurs !!! <3 pas du tout\n\n"
        "Regardez https://downdetector.fr/statut/free-mobile/\n"
        "ça dure depuis ce matin\nras le bol\n\n#panne"
    )


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>one</p><p>two</p>", "one\n\ntwo"),
        ("<p>one</p>\n<p>two</p>", "one\n\ntwo"),
        ("<p>a<br>b<br/>c<br />d</p>", "a\nb\nc\nd"),
        ("<p>a<br><br>b</p>", "a\n\nb"),
        ("<p>x &quot;y&quot; &#39;z&#39; &eacute; &#x1F600;</p>", "x \"y\" 'z' é 😀"),
        ("plain text, no tags", "plain text, no tags"),
        ("<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>", "<script>alert(1)</script>"),
        ("<p>a<script>evil()</script>b</p>", "ab"),
        ("<ul><li>un</li><li>deux</li></ul>", "un\ndeux"),
        ("<p>quote:</p><blockquote><p>hi</p></blockquote>", "quote:\n\nhi"),
        ("", ""),
    ],
)
def test_html_to_text_cases(html: str, text: str) -> None:
    assert html_to_text(html) == text


# --------------------------------------------------------------------------- graphemes


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("abc", 3),
        ("é", 1),  # precomposed
        ("e\u0301", 1),  # e + combining acute
        ("a\u0301\u0327", 1),  # two combining marks
        ("👍", 1),
        ("👍🏽", 1),  # skin tone modifier
        ("👨\u200d👩\u200d👧\u200d👦", 1),  # ZWJ family
        ("🏳️\u200d🌈", 1),  # VS16 + ZWJ
        ("❤️", 1),  # heart + VS16
        ("🇫🇷", 1),
        ("🇫🇷🇩🇪", 2),
        ("🇫🇷🇩", 2),
        ("1️⃣", 1),  # keycap
        ("\r\n", 1),
        ("\n\r", 2),
        ("\n\u0301", 2),  # a mark does not join a control
        ("🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f", 1),  # England
        ("\u1100\u1161\u11a8", 1),  # conjoining Hangul jamo
        ("ab\u200dcd", 4),  # a ZWJ joins emoji, not letters: it stays with the "b"
        ("❤️\u200d🔥", 1),  # heart on fire
        ("🧑🏽\u200d💻", 1),
        ("น้ำ", 1),  # Thai SARA AM is a spacing mark
        ("\u0600abc", 3),  # an Arabic number sign prepends to what follows
    ],
)
def test_grapheme_count(text: str, count: int) -> None:
    assert grapheme_count(text) == count


# --------------------------------------------------------------------------- mastodon length


def test_constants() -> None:
    assert MASTODON_MAX_CHARS == 500
    assert MASTODON_URL_LENGTH == 23


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("hello", 5),
        ("https://example.com", 23),
        ("https://example.com/" + "a" * 200, 23),
        ("http://x.co", 23),  # short URLs count 23 too
        ("see https://example.com/path.", 4 + 23 + 1),  # trailing period is not the URL
        ("(https://en.wikipedia.org/wiki/Foo_(bar))", 1 + 23 + 1),
        ("https://a.example/x https://b.example/y", 23 + 1 + 23),
        ("example.com", 11),  # no protocol: counted as text
        ("https://localhost/abc", 21),  # no TLD: not a URL for Mastodon
        ("@colere@mastodon.social", 7),
        ("@colere", 7),
        ("@colere@mastodon.social merci", 7 + 6),
        ("mail me: bob@example.com", 24),  # not a mention (preceded by a word char)
        ("https://mastodon.social/@colere", 23),  # no mention inside a URL
        ("café", 4),
        ("cafe\u0301", 4),
        ("👨\u200d👩\u200d👧 ok", 4),
        ("", 0),
    ],
)
def test_mastodon_length(text: str, length: int) -> None:
    assert mastodon_length(text) == length


def test_mastodon_reply_text() -> None:
    assert mastodon_reply_text("colere@mastodon.social", "Bonjour") == (
        "@colere@mastodon.social Bonjour"
    )
    assert mastodon_reply_text("@colere", "Bonjour") == "@colere Bonjour"
    assert mastodon_reply_text("@@odd", "x") == "@@odd x"  # only one @ stripped


def test_mastodon_overflow_exact_boundary() -> None:
    acct = "colere@mastodon.social"  # counts "@colere " = 8
    fits = "x" * (MASTODON_MAX_CHARS - 8)
    assert mastodon_length(mastodon_reply_text(acct, fits)) == 500
    assert mastodon_overflow(acct, fits) == 0
    assert mastodon_overflow(acct, fits + "y") == 1
    assert mastodon_overflow(acct, fits + "yz") == 2
    assert mastodon_overflow(acct, "court") == 0


def test_mastodon_overflow_counts_urls_and_graphemes_like_mastodon() -> None:
    acct = "colere@mastodon.social"
    url = "https://status.example.com/incidents/2024-05-01/very-long-slug-" + "z" * 300
    # 8 (mention) + 23 (url) + 1 (space) + N family emoji, each one cluster.
    text = url + " " + "👨\u200d👩\u200d👧" * (500 - 8 - 23 - 1)
    assert len(text) > 1000
    assert mastodon_overflow(acct, text) == 0
    assert mastodon_overflow(acct, text + "e\u0301") == 1


# --------------------------------------------------------------------------- truncate


def test_truncate() -> None:
    assert truncate("short", 10) == "short"
    assert truncate("exactly10!", 10) == "exactly10!"
    out = truncate("a" * 20, 10)
    assert out == "a" * 9 + "…" and len(out) == 10
    assert truncate("hello world", 7) == "hello…"  # no trailing space before the ellipsis
    assert truncate("abc", 0) == ""


def test_truncate_does_not_split_clusters() -> None:
    assert truncate("abcde\u0301fgh", 6) == "abcd…"
    assert truncate("ab👨\u200d👩\u200d👧xyz", 5) == "ab…"
    assert truncate("🇫🇷🇩🇪🇮🇹", 4) == "🇫🇷…"
