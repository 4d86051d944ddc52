"""Surge policy (pure) and the surge card builder: the rule that decides who gets a card, and
hostile text kept inert on the card."""

from __future__ import annotations

import json

from assistant.models import Author, Case, CaseScore, Mention
from assistant.surge import SurgePolicy, deserves_card, in_surge, priority_of, surge_over
from assistant.surge_blocks import PROMOTE_ACTION, SurgeView, surge_card

POLICY = SurgePolicy(
    threshold=50, window=600, quiet=600, reach=100_000, cards_per_minute=3, refresh=5
)


def decide(**kw: object) -> str | None:
    args: dict[str, object] = dict(
        threat=False,
        followers=10,
        priority=1.0,
        cards_this_minute=0,
        best_grouped=2.0,
        policy=POLICY,
    )
    args.update(kw)
    return deserves_card(**args)  # type: ignore[arg-type]


def test_who_deserves_a_card_during_a_surge() -> None:
    assert decide() is None  # an ordinary mention is grouped
    assert decide(threat=True, cards_this_minute=99) == "threat"  # threats always
    assert decide(followers=100_000) == "reach"
    assert decide(followers=100_000, cards_this_minute=3) is None  # the cap holds
    assert decide(priority=2.5) == "top"  # worse than anything grouped so far
    assert decide(priority=2.0) is None
    assert decide(best_grouped=None) == "top"


def test_detection_and_priority() -> None:
    assert not in_surge(49, 50) and in_surge(50, 50) and not in_surge(10**6, 0)
    assert surge_over(100.0, 700.0, 600) and not surge_over(100.0, 699.0, 600)
    # severity and score, times reach on a log scale
    assert priority_of("high", 0.9, 10) > priority_of("low", 0.6, 10)
    assert priority_of("low", 0.6, 1_000_000) > priority_of("low", 0.6, 10)
    assert priority_of("critical", 0.9, 10) > priority_of("low", 0.9, 10)


def hostile_case(text: str, handle: str) -> Case:
    mention = Mention(
        platform="mastodon",
        id="1",
        url="https://social.example/@x/1",  # type: ignore[arg-type]
        text=text,
        author=Author(id="1", handle=handle, display_name="<!here>", followers=5),
        created_at="2026-11-30T00:00:00Z",  # type: ignore[arg-type]
    )
    return Case(
        case_id="c1",
        mention=mention,
        assessment=CaseScore(score=0.9, severity="high"),
        channel="C1",
        opened_at=0,
        sla_deadline=1,
    )


def test_hostile_text_is_inert_on_the_surge_card() -> None:
    evil = "<!channel> <@U123> <https://evil.example|click> &amp; *bold*"
    view = SurgeView(
        channel="C1",
        surge_id="1",
        started=1_790_000_000,
        last=1_790_000_300,
        ended=None,
        count=120,
        window_count=120,
        window=600,
        carded=3,
        grouped_count=117,
        promoted=0,
        networks={"mastodon": 100, "<!here>": 20},
        categories={"insult": 90, "<@U1>": 3},
        authors=[("<!channel>@evil", 10_000)],
        samples=[evil],
        grouped=[hostile_case(evil, "<!everyone>")],
        waiting=117,
    )
    text, blocks = surge_card(view)
    dumped = json.dumps(blocks)
    for raw in ("<!channel>", "<@U123>", "<https://evil", "<!here>", "<!everyone>", "<@U1>"):
        assert raw not in dumped and raw not in text
    assert "&lt;!channel&gt;" in dumped and "&amp;amp;" in dumped
    mrkdwn = [b["text"] for b in blocks if b.get("type") == "section"]
    assert all(t["verbatim"] for t in mrkdwn)
    assert f'"action_id": "{PROMOTE_ACTION}"' in dumped and '"value": "c1"' in dumped
    assert "*120* hostile mentions" in dumped
    assert "*24.0*/min" in dumped  # 120 within the 5 minutes the surge has lasted
