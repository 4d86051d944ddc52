"""Pure parts of the network seam: each network's length counter against the network's own
published examples, Bluesky's facets and record keys, X's OAuth 1.0a signature and budget."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from assistant.networks import RULES, bluesky, rule_for, x
from assistant.text import rich_text_to_plain

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"
THUMBS_TONE = "\U0001f44d\U0001f3fd"
RAINBOW_FLAG = "\U0001f3f3\ufe0f\u200d\U0001f308"


def test_registry_has_every_network_and_no_rule_for_the_webhook() -> None:
    assert set(RULES) == {"mastodon", "bluesky", "x"}
    assert rule_for("webhook") is None
    assert rule_for("x") is x.RULE and rule_for("bluesky") is bluesky.RULE


# --------------------------------------------------------------------------- X (twitter-text)


@pytest.mark.parametrize(
    ("text", "weighted"),
    [
        ("This is a test.", 15),  # twitter-text conformance: plain ASCII
        ("a" * 280, 280),
        ("我" * 140, 280),  # CJK weighs 2: 140 of them fill a post
        ("안녕하세요", 10),  # Hangul syllables weigh 2
        ("Привет мир", 10),  # Cyrillic is below U+10FF: 1
        ("cafe\u0301", 4),  # NFC first: the decomposed é is one character
        ("😷", 2),
        (FAMILY, 2),  # a whole ZWJ sequence is one emoji
        (THUMBS_TONE, 2),  # skin tone included
        (RAINBOW_FLAG, 2),
        ("🇫🇷", 2),
        ("…", 2),  # U+2026 is outside the light punctuation ranges
        ("\u2014", 1),  # em dash: U+2010–U+201F weigh 1
        ("https://example.com/" + "a" * 200, 23),  # every URL is 23
        ("voir https://t.co/abc.", 5 + 23 + 1),
        ("voir free.fr/aide, merci", 5 + 23 + 7),  # a link without protocol counts 23 too
        ("écrivez à support@free.fr", 25),  # an e-mail address is not a link
        ("version 2.0 ok", 14),
        # a lone name under a country code is a link for X only with a path (or .co/.tv)
        ("rdv sur sncf.fr !", 17),
        ("rdv sur sncf.fr/aide !", 8 + 23 + 2),
        ("www.sncf.fr", 23),
        ("t.co", 23),
        ("foo.co.jp", 23),
    ],
)
def test_x_weighted_length_matches_twitter_text(text: str, weighted: int) -> None:
    assert x.x_length(text) == weighted


ZWJ = "\u200d"
CJK_160 = (
    "故人西辞黄鹤楼，烟花三月下扬州。孤帆远影碧空尽，唯见长江天际流。朱雀桥边野草花，乌衣巷口夕阳斜。"
    "旧时王谢堂前燕，飞入寻常百姓家。朝辞白帝彩云间，千里江陵一日还。两岸猿声啼不住，轻舟已过万重山。"
    "泪湿罗巾梦不成，夜深前殿按歌声。红颜未老恩先断，斜倚薰笼坐到明。独在异乡为异客，每逢佳节倍思亲。"
    "遥知兄弟登高处，遍插茱萸少一人。"
)
KANA = "あいうえおかきくけこ"


@pytest.mark.parametrize(
    ("text", "weighted"),
    [
        ("Hi http://test.co", 26),
        ("http://test.co", 23),
        ("285 chars-" + "xxxxxxxxxx-" * 25, 285),
        ("285 chars- http://www.twitter.com/jack " + "xxxxxxxxxx-" * 24, 299),
        ("xxxxxxxxxx-" * 24 + " http://www.twitter.com/jack ", 289),
        ("https://www.twitter.com/aloha " * 10, 240),
        (CJK_160, 320),
        ("😷" * 160, 320),
        ("the" + CJK_160, 323),
        ("ÁB", 2),
        ("H🐱☺👨" + ZWJ + "👩" + ZWJ + "👧" + ZWJ + "👦", 7),
        ("😷👾😡🔥💩", 10),
        ("🙋🏽👨" + ZWJ + "🎤", 4),
        (
            "This is a tweet with general punctuation characters: "
            "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u200b"
            " ‐ ‑ ‒ – — ― ‖  ‗ ‘ ’ ‚ ‛ “ ” „ ‟ ′ ″ ‴ ‵ ‶ ‷",
            110,
        ),
        ("randomurl" * 7 + "s.com", 68),  # a 64-character label: not a domain, not a link
        # a host whose punycode form has a label over 63 characters is not a link either
        (KANA * 12 + " http://" + KANA * 5 + "あいう.com", 358),
        (KANA * 12 + " http://" + KANA * 5 + "あい.com", 264),
    ],
)
def test_x_length_matches_twitter_text_conformance(text: str, weighted: int) -> None:
    """twitter-text's conformance cases (validate.yml, the v3 weighted counter with emoji)."""
    assert x.x_length(text) == weighted


def test_x_limit_boundaries() -> None:
    assert x.RULE.overflow("colere", "a" * 280) == 0
    assert x.RULE.overflow("colere", "a" * 281) == 1
    assert x.RULE.overflow("colere", "我" * 141) == 2
    assert x.RULE.reply_text("colere", "Bonjour") == "Bonjour"  # no @handle: threads by id


# --------------------------------------------------------------------------- Bluesky


@pytest.mark.parametrize(
    ("text", "graphemes"),
    [
        ("a" * 300, 300),
        (FAMILY * 3, 3),
        ("e\u0301" * 10, 10),
        ("🇫🇷🇧🇪", 2),
        ("我" * 300, 300),
        ("https://example.com/" + "a" * 50, 70),  # links count in full
    ],
)
def test_bluesky_counts_graphemes(text: str, graphemes: int) -> None:
    assert bluesky.RULE.count(text) == graphemes


def test_bluesky_limits_graphemes_and_bytes() -> None:
    assert bluesky.RULE.refusal("h", "a" * 300) == (0, None)
    assert bluesky.RULE.refusal("h", "a" * 301) == (1, None)
    over, reason = bluesky.RULE.refusal("h", FAMILY * 200)  # 200 graphemes, 5,000 bytes
    assert over == 0 and reason is not None and "2000 bytes over" in reason
    assert bluesky.RULE.refusal("h", "我" * 300) == (0, None)  # 900 bytes


def test_bluesky_facets_use_utf8_byte_offsets() -> None:
    text = "💙 Merci @ami.bsky.social, voir https://status.example.com/panne. #réseau"
    found = bluesky.facets(text, {"ami.bsky.social": "did:plc:ami"})
    raw = text.encode()
    spans = {
        f["features"][0]["$type"].split("#")[1]: raw[
            f["index"]["byteStart"] : f["index"]["byteEnd"]
        ].decode()
        for f in found
    }
    assert spans == {
        "mention": "@ami.bsky.social",
        "link": "https://status.example.com/panne",
        "tag": "#réseau",
    }
    assert found[0]["index"]["byteStart"] == len("💙 Merci ".encode())
    # an unresolvable handle gets no facet
    assert [f for f in bluesky.facets("@inconnu.example", {})] == []


def test_bluesky_links_without_a_protocol_get_a_facet() -> None:
    """As Bluesky's app detects them: a bare domain with a known TLD, one trailing
    punctuation mark and an unbalanced ")" left out, the URI with https:// added."""
    text = "Numéro 💙 : sncf.fr/aide, ou (free.fr). Pas support@free.fr ni fichier.txt"
    raw = text.encode()
    links = [
        (raw[f["index"]["byteStart"] : f["index"]["byteEnd"]].decode(), f["features"][0]["uri"])
        for f in bluesky.facets(text, {})
    ]
    assert links == [("sncf.fr/aide", "https://sncf.fr/aide"), ("free.fr", "https://free.fr")]


def test_bluesky_record_keys_are_sortable_tids() -> None:
    first, second = bluesky.new_tid(), bluesky.new_tid()
    for tid in (first, second, "3jzfcijpj2z2a"):  # the last: the spec's example
        assert re.fullmatch(r"[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}", tid)
    assert first < second
    assert bluesky.new_tid(now_us=1, clock_id=0) < bluesky.new_tid(now_us=2, clock_id=0)


# --------------------------------------------------------------------------- X auth and cost


def test_oauth1_signature_matches_the_documented_example() -> None:
    """X's "Creating a signature" example (HMAC-SHA1 over the method, URL and params)."""
    header = x.oauth1_header(
        "POST",
        "https://api.twitter.com/1.1/statuses/update.json",
        [
            ("include_entities", "true"),
            ("status", "Hello Ladies + Gentlemen, a signed OAuth request!"),
        ],
        consumer_key="xvz1evFS4wEEPTGEFPHBog",
        consumer_secret="kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
        token="370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
        token_secret="LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
        nonce="kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg",
        timestamp=1318622958,
    )
    assert 'oauth_signature="hCtSmYh%2BiHYCEqBWrE7C7hYmtUk%3D"' in header


def test_budget_interval_stretches_only_when_reads_run_ahead() -> None:
    now = datetime(2026, 11, 16, tzinfo=UTC).timestamp()  # half of a 30-day month gone
    assert x.budget_interval(60, None, 10**9, now) == 60  # no budget: as configured
    assert x.budget_interval(60, 10_000, 4_000, now) == 60  # behind the allowed pace
    stretched = x.budget_interval(60, 10_000, 8_000, now)  # 8k in half, 2k for the rest
    assert stretched == pytest.approx(60 * 4, rel=0.01)
    spent = x.budget_interval(60, 10_000, 10_000, now)
    assert spent == pytest.approx(15 * 86400, rel=0.01)  # wait for next month


# --------------------------------------------------------------------------- Slack rich text


def test_rich_text_is_what_the_voters_saw() -> None:
    blocks = [
        {
            "type": "rich_text",
            "elements": [
                {
                    "type": "rich_text_section",
                    "elements": [
                        {"type": "text", "text": "Merci ", "style": {"bold": True}},
                        {"type": "user", "user_id": "UBOB"},
                        {"type": "text", "text": " "},
                        {"type": "emoji", "name": "blue_heart", "unicode": "1f499"},
                        {"type": "emoji", "name": "+1", "unicode": "1f44d", "skin_tone": 4},
                        {"type": "text", "text": " voir "},
                        {"type": "link", "url": "https://a.example/x", "text": "ici"},
                        {"type": "text", "text": " <3 & "},
                        {"type": "channel", "channel_id": "C1"},
                    ],
                },
                {
                    "type": "rich_text_list",
                    "style": "ordered",
                    "elements": [
                        {"type": "rich_text_section", "elements": [{"type": "text", "text": "un"}]},
                        {
                            "type": "rich_text_section",
                            "elements": [{"type": "text", "text": "deux"}],
                        },
                    ],
                },
                {"type": "rich_text_quote", "elements": [{"type": "text", "text": "cité"}]},
            ],
        }
    ]
    plain, custom = rich_text_to_plain(blocks, {"UBOB": "Bob"}) or ("", [])
    assert plain == ("Merci @Bob 💙👍🏽 voir https://a.example/x <3 & #C1\n1. un\n2. deux\n> cité")
    assert custom == []


def test_a_domain_slack_linked_itself_is_published_as_typed() -> None:
    """Typed ``sncf.fr``: Slack delivers a link to http://sncf.fr labelled sncf.fr; the
    voters saw sncf.fr, which is what the length rules count and the network gets."""
    section = {
        "type": "rich_text_section",
        "elements": [
            {"type": "text", "text": "voir "},
            {"type": "link", "url": "http://sncf.fr", "text": "sncf.fr"},
            {"type": "text", "text": " ou "},
            {"type": "link", "url": "https://a.example/x", "text": "ici"},
        ],
    }
    blocks = [{"type": "rich_text", "elements": [section]}]
    assert rich_text_to_plain(blocks, {}) == ("voir sncf.fr ou https://a.example/x", [])


def test_custom_emoji_are_reported_and_no_blocks_means_the_text_field() -> None:
    blocks = [
        {
            "type": "rich_text",
            "elements": [
                {
                    "type": "rich_text_section",
                    "elements": [{"type": "emoji", "name": "partyparrot"}],
                }
            ],
        }
    ]
    assert rich_text_to_plain(blocks, {}) == (":partyparrot:", ["partyparrot"])
    assert rich_text_to_plain(None, {}) is None
    assert rich_text_to_plain([{"type": "section"}], {}) is None
