"""Unit tests for assistant.blocks: the case card and thread texts are inert and valid."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from assistant.blocks import (
    Block,
    case_card,
    escalation_text,
    oncall_mention,
    proposal_too_long,
    publish_failed_text,
    published_note,
    slack_date,
    slack_link,
)
from assistant.models import Author, Case, CaseScore, CaseStatus, Mention

HOSTILE = "<!channel> <!here> <@U123> <!subteam^S1|@ops> <https://evil.example|click> &amp; x"
HOSTILE_ESCAPED = (
    "&lt;!channel&gt; &lt;!here&gt; &lt;@U123&gt; &lt;!subteam^S1|@ops&gt; "
    "&lt;https://evil.example|click&gt; &amp;amp; x"
)
OPENED = 1_714_564_800.0  # 2024-05-01T12:00:00Z
DEADLINE = OPENED + 1800

# Our own control sequences are the only <…> allowed in any text we produce.
ALLOWED_CONTROL = re.compile(
    r"<!date\^\d+\^[^|<>]+\|[^<>]+>|<https?://[^\s<>|]+(?:\|[^<>]+)?>|<@[UW][A-Z0-9]+>"
    r"|<!subteam\^S[A-Z0-9]+>"
)


def make_case(
    *,
    text: str = "Bande de nuls, encore une panne !",
    display_name: str = "Colère Noire",
    handle: str = "colere@mastodon.social",
    url: str = "https://mastodon.social/@colere/112233",
    status: CaseStatus = CaseStatus.OPEN,
    evidence: list[str] | None = None,
    categories: dict[str, float] | None = None,
    severity: str = "high",
    **case_fields: Any,
) -> Case:
    mention = Mention(
        platform="mastodon",
        id="112233",
        url=url,
        text=text,
        author=Author(id="42", handle=handle, display_name=display_name, followers=12345),
        created_at=datetime(2024, 5, 1, 11, 58, tzinfo=UTC),
    )
    assessment = CaseScore(
        score=0.873,
        severity=severity,
        categories=categories if categories is not None else {"insult": 0.87, "profanity": 0.4},
        evidence=evidence if evidence is not None else ["insult: « nuls »"],
    )
    return Case(
        case_id=mention.case_id,
        mention=mention,
        assessment=assessment,
        channel="C0123",
        status=status,
        opened_at=OPENED,
        sla_deadline=DEADLINE,
        **case_fields,
    )


def card(case: Case) -> tuple[str, list[Block]]:
    return case_card(
        case,
        approvals_required=2,
        manager_approvals_required=1,
        approve_emoji=["white_check_mark"],
        veto_emoji=[":x:"],
    )


def texts(blocks: list[Block]) -> Iterator[tuple[str, str]]:
    """(type, text) of every text object in the blocks."""

    def walk(node: Any) -> Iterator[tuple[str, str]]:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
                yield node["type"], node["text"]
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    yield from walk(blocks)


def all_text(fallback: str, blocks: list[Block]) -> str:
    return "\n".join([fallback, *(t for _, t in texts(blocks))])


def assert_inert(text: str) -> None:
    """No <…> sequence other than our own date/link/on-call forms and quote prefixes."""
    stripped = re.sub(r"(?m)^> ", "", ALLOWED_CONTROL.sub("", text))
    assert "<" not in stripped and ">" not in stripped, stripped
    for forbidden in ("<!channel>", "<!here>", "<!everyone>", "<@U123>", "<!subteam^S1"):
        assert forbidden not in text
    for link in re.findall(r"<(https?://[^<>]*)>", text):
        assert not link.endswith("|click"), link


def assert_valid_blocks(blocks: list[Block]) -> None:
    assert 1 <= len(blocks) <= 50
    for block in blocks:
        kind = block["type"]
        if kind == "header":
            assert block["text"]["type"] == "plain_text"
            assert 1 <= len(block["text"]["text"]) <= 150
        elif kind == "section":
            assert 1 <= len(block["text"]["text"]) <= 3000
            assert len(block.get("fields", [])) <= 10
            for field in block.get("fields", []):
                assert len(field["text"]) <= 2000
        elif kind == "context":
            assert 1 <= len(block["elements"]) <= 10
            for element in block["elements"]:
                assert 1 <= len(element["text"]) <= 3000
        else:
            assert kind == "divider"
    for kind, _ in texts(blocks):
        assert kind in ("mrkdwn", "plain_text")
    for block in blocks:
        for obj in [block.get("text"), *block.get("elements", []), *block.get("fields", [])]:
            if obj and obj["type"] == "mrkdwn":
                assert obj["verbatim"] is True


# --------------------------------------------------------------------------- the card


def test_open_card_contents() -> None:
    case = make_case(proposals=3)
    fallback, blocks = card(case)
    assert_valid_blocks(blocks)
    body = all_text(fallback, blocks)

    assert blocks[0]["type"] == "header"
    assert "Hostile mention on Mastodon" in blocks[0]["text"]["text"]
    assert "open" in blocks[0]["text"]["text"]
    assert "> Bande de nuls, encore une panne !" in body
    assert "*Colère Noire* @colere@mastodon.social" in body
    assert "12,345 followers" in body
    assert "<https://mastodon.social/@colere/112233|View on Mastodon>" in body
    assert "87%" in body and "high" in body
    assert "insult 87%" in body and "profanity 40%" in body
    assert "• insult: « nuls »" in body
    assert "<!date^1714566600^{date_short_pretty} at {time}|2024-05-01T12:30:00Z>" in body
    assert "reply in this thread" in body
    assert ":white_check_mark:" in body and ":x:" in body
    assert "2 approvals incl. 1 manager publish it" in body
    assert "3 proposals so far" in body
    assert "Escalated" not in body
    assert fallback.startswith("🔥 Hostile mention on Mastodon")
    assert "Colère Noire" in fallback


def test_multiline_mention_is_quoted_line_by_line() -> None:
    _, blocks = card(make_case(text="ligne 1\nligne 2\n\n> fake quote"))
    quote = blocks[1]["text"]["text"]
    assert quote == "> ligne 1\n> ligne 2\n> \n> &gt; fake quote"


def test_hostile_text_in_every_field_is_escaped() -> None:
    case = make_case(
        text=HOSTILE,
        display_name=HOSTILE,
        handle="<!channel>@<@U123>",
        url="https://evil.example/a|b<c>?q=<!here>&r=|s",
        evidence=[HOSTILE, "threat: <@U123>"],
        categories={"<!channel>": 0.9},
        severity="<!here>",
        status=CaseStatus.FAILED,
        failure="HTTP 422: " + HOSTILE,
        approved_text="<!everyone> " + HOSTILE,
        escalated_at=DEADLINE,
    )
    fallback, blocks = card(case)
    assert_valid_blocks(blocks)
    body = all_text(fallback, blocks)
    assert_inert(body)
    assert HOSTILE_ESCAPED in blocks[1]["text"]["text"]
    assert "&lt;!channel&gt;@&lt;@U123&gt;" in body  # handle
    assert "HTTP 422: " + HOSTILE_ESCAPED in body  # failure
    assert "&lt;!everyone&gt;" in body  # approved text
    assert "&lt;!here&gt;" in fallback or "&lt;!channel&gt;" in fallback
    # The post link survives, but cannot be split by | nor closed by > from the network.
    links = re.findall(r"<(https?://[^<>]*)\|View on Mastodon>", body)
    assert len(links) == 1
    assert "|" not in links[0] and "%7C" in links[0]


def test_open_card_hostile_text_is_inert_too() -> None:
    fallback, blocks = card(make_case(text=HOSTILE, display_name=HOSTILE, evidence=[HOSTILE]))
    assert_inert(all_text(fallback, blocks))


def test_approved_card() -> None:
    fallback, blocks = card(
        make_case(status=CaseStatus.APPROVED, approved_text="Désolés & on répare ! <3")
    )
    assert_valid_blocks(blocks)
    body = all_text(fallback, blocks)
    assert "approved" in blocks[0]["text"]["text"]
    assert "Approved" in body and "publishing" in body
    assert "> Désolés &amp; on répare ! &lt;3" in body
    assert "reply in this thread" not in body  # voting is over


def test_published_card() -> None:
    case = make_case(
        status=CaseStatus.PUBLISHED,
        approved_text="Merci !",
        published_url="https://mastodon.social/@freemobile/998877",
        published_at=OPENED + 600,
    )
    fallback, blocks = card(case)
    assert_valid_blocks(blocks)
    status = blocks[-1]["text"]["text"]
    assert "published" in blocks[0]["text"]["text"]
    assert "<https://mastodon.social/@freemobile/998877|Published on Mastodon>" in status
    assert "<!date^1714565400^" in status
    assert_inert(all_text(fallback, blocks))


def test_failed_card() -> None:
    _, blocks = card(make_case(status=CaseStatus.FAILED, failure="422 <b>Validation</b>"))
    assert_valid_blocks(blocks)
    status = blocks[-1]["text"]["text"]
    assert "failed" in blocks[0]["text"]["text"]
    assert "Publishing failed" in status
    assert "422 &lt;b&gt;Validation&lt;/b&gt;" in status


def test_failed_card_without_reason() -> None:
    _, blocks = card(make_case(status=CaseStatus.FAILED))
    assert "unknown error" in blocks[-1]["text"]["text"]


def test_escalated_card() -> None:
    _, blocks = card(make_case(escalated_at=DEADLINE + 5, proposals=1))
    status = blocks[-1]["text"]["text"]
    assert "1 proposal so far" in status
    assert "Escalated to on-call <!date^1714566605^" in status


def test_quorum_wording_without_managers() -> None:
    _, blocks = case_card(
        make_case(),
        approvals_required=1,
        manager_approvals_required=0,
        approve_emoji=["+1", "white_check_mark"],
        veto_emoji=["x"],
    )
    body = all_text("", blocks)
    assert "1 approval publish it" in body
    assert ":+1: or :white_check_mark:" in body


def test_huge_mention_still_gives_valid_blocks() -> None:
    text = ("<!channel> & " * 1600)[:20_000]
    evidence = [f"insult <@U{i}> " + "x" * 500 for i in range(40)]
    case = make_case(
        text=text,
        display_name="N" * 512,
        handle="h" * 320,
        evidence=evidence,
        categories={f"cat{i}" + "<" * 90: i / 40 for i in range(40)},
        status=CaseStatus.FAILED,
        failure="&" * 5000,
        approved_text="<" * 5000,
        escalated_at=DEADLINE,
    )
    fallback, blocks = card(case)
    assert_valid_blocks(blocks)
    assert_inert(all_text(fallback, blocks))
    quote = blocks[1]["text"]["text"]
    assert quote.endswith("…") and len(quote) <= 3000
    assert re.search(r"&[a-z]{0,3}…$", quote) is None  # never cut inside &amp;
    assert len(fallback) <= 300
    assert "… and 30 more" in all_text("", blocks)


def test_newline_flood_mention_stays_within_limits() -> None:
    _, blocks = card(make_case(text="\n" * 19_999 + "x"))
    assert_valid_blocks(blocks)


# --------------------------------------------------------------------------- helpers


def test_slack_link_encodes_breakout_characters() -> None:
    assert slack_link("https://a.example/p?x=1&y=2", "lbl") == (
        "<https://a.example/p?x=1&amp;y=2|lbl>"
    )
    assert slack_link("https://a.example/a|b>c<d e", "x") == (
        "<https://a.example/a%7Cb%3Ec%3Cd%20e|x>"
    )
    assert slack_link("https://a.example/ü") == "<https://a.example/%C3%BC>"
    assert slack_link("https://a.example/%41") == "<https://a.example/%41>"


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "<!channel>", "ftp://x.example/|y", "slack://open"]
)
def test_slack_link_refuses_other_schemes(url: str) -> None:
    out = slack_link(url, "View")
    assert not re.search(r"<[^&]", out)
    assert_inert(out)


def test_slack_date() -> None:
    assert slack_date(0) == "<!date^0^{date_short_pretty} at {time}|1970-01-01T00:00:00Z>"


@pytest.mark.parametrize(
    ("oncall", "mention"),
    [("U024BE7LH", "<@U024BE7LH>"), ("W0ABC", "<@W0ABC>"), ("S0ONCALL", "<!subteam^S0ONCALL>")],
)
def test_oncall_mention(oncall: str, mention: str) -> None:
    assert oncall_mention(oncall) == mention


@pytest.mark.parametrize("bad", ["", "C123", "u123", "U1", "U123>", "<!channel>", "S1|x"])
def test_oncall_mention_rejects_anything_else(bad: str) -> None:
    with pytest.raises(ValueError):
        oncall_mention(bad)


# --------------------------------------------------------------------------- thread texts


def test_published_note() -> None:
    assert published_note("https://mastodon.social/@freemobile/1", platform="mastodon") == (
        "✅ Published on Mastodon: <https://mastodon.social/@freemobile/1>"
    )
    assert published_note("https://x.com/brand/status/1", platform="x").startswith(
        "✅ Published on X: "
    )
    assert_inert(published_note("https://x.example/a|<!channel>", platform="bluesky"))
    assert "&lt;!channel&gt;" in published_note("<!channel>", platform="x")


def test_proposal_too_long() -> None:
    text = proposal_too_long(12, 500, platform="mastodon")
    assert "12 characters over" in text and "500" in text and "Mastodon's" in text
    assert "23" in text  # explains the Mastodon way of counting
    assert "1 character over" in proposal_too_long(1, 500, platform="mastodon")
    assert "X's 280" in proposal_too_long(3, 280, platform="x")


@pytest.mark.parametrize(
    ("oncall", "ping"),
    [("U024BE7LH", "<@U024BE7LH>"), ("W0ABC", "<@W0ABC>"), ("S0ONCALL", "<!subteam^S0ONCALL>")],
)
def test_escalation_text_mentions_oncall(oncall: str, ping: str) -> None:
    text = escalation_text(oncall, make_case(), 1800)
    assert text.startswith(ping + " ")
    assert "30 min" in text
    assert "<!date^1714566600^" in text
    assert "@colere@mastodon.social" in text
    assert "<https://mastodon.social/@colere/112233|the post>" in text


def test_escalation_text_without_oncall_is_still_clear() -> None:
    text = escalation_text(None, make_case(handle="<!channel>"), 7200)
    assert "needs attention" in text and "2 hours" in text
    assert "No on-call" in text
    assert "<@" not in text and "subteam" not in text
    assert_inert(text)


def test_publish_failed_text() -> None:
    text = publish_failed_text("503 <!here> " + "z" * 2000, "S0ONCALL")
    assert text.startswith("<!subteam^S0ONCALL> ")
    assert "&lt;!here&gt;" in text
    assert len(text) < 700
    assert_inert(publish_failed_text("<@U123>", None))
    assert not publish_failed_text("x", None).startswith("<")
