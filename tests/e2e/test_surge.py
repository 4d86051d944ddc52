"""Surge mode end to end, on two replicas sharing one Redis, with the Slack emulator
rate-limiting posts as Slack does (1 a second per channel): a crowd of hostile mentions
through the webhook of both replicas opens ONE live surge card ahead of the queued cards,
pages on-call once, gives own cards only to the mentions that deserve one, groups the rest
(promotable with a button), never draws a 429, and ends after the quiet period with a
summary. Hostile text stays inert on the surge card."""

from __future__ import annotations

import json
from typing import Any

import pytest

from assistant.emulators.slack import EmulatedMessage
from assistant.models import CaseStatus
from assistant.sandbox import ALICE, CHANNEL, Sandbox, webhook_body
from assistant.surge_blocks import PROMOTE_ACTION
from tests.e2e.conftest import SandboxFactory

SURGE = {
    "ASSISTANT_SURGE_THRESHOLD": 4,
    "ASSISTANT_SURGE_WINDOW_SECONDS": 60,
    "ASSISTANT_SURGE_QUIET_SECONDS": 3,
    "ASSISTANT_SURGE_REACH": 50_000,
    "ASSISTANT_SURGE_CARDS_PER_MINUTE": 3,
    "ASSISTANT_SURGE_REFRESH_SECONDS": 0.5,
    "ASSISTANT_SLACK_POSTS_PER_SECOND": 1,
    "ASSISTANT_SLACK_POST_BURST": 2,
    "slack_post_rate_limit": 1.0,  # the emulator: Slack's 1 message a second per channel
}


def surge_cards(world: Sandbox) -> list[EmulatedMessage]:
    return [
        m
        for m in world.slack.bot_messages(CHANNEL)
        if (m.metadata or {}).get("event_type") == "surge_card"
    ]


def card_text(message: EmulatedMessage) -> str:
    return json.dumps(message.blocks, ensure_ascii=False)


async def test_a_surge_on_two_replicas(make_world: SandboxFactory) -> None:
    async with make_world(**SURGE) as world:
        replica = await world.add_replica()
        ports = [world.app.port, replica.port]
        assert None not in ports
        answers: list[dict[str, Any]] = []

        async def mention(i: int, text: str, followers: int = 40) -> dict[str, Any]:
            notification = world.mastodon.add_mention(
                f"angry{i}@mastodon.social", text, followers=followers, language=None
            )
            status, answer = await world.ingest(webhook_body(notification), port=ports[i % 2])
            assert status == 202, answer
            answers.append(answer)
            return answer

        # 3 mentions: normal cases. The 4th starts the surge.
        for i in range(3):
            await mention(i, f"bande de connards, encore une panne ({i})")
        assert {a["status"] for a in answers} == {"opened"}
        await mention(3, "bande de connards, rendez-nous le réseau")
        # a far-reaching author: an own card (within the cap of 3 a minute)
        star = await mention(4, "bande d'incapables, des abrutis", followers=2_000_000)
        for i in range(5, 15):
            await mention(i, f"bande de connards <!channel> <https://evil.example|cliquez> ({i})")
        statuses = [a["status"] for a in answers]
        assert statuses.count("grouped") >= 6, statuses  # most of the crowd is grouped
        assert star["status"] == "opened"

        # one surge card, posted ahead of the cards still waiting for the channel
        card = await world.wait_for(lambda: surge_cards(world), 10, "the surge card")
        # /ops status and App Home show the live surge in one line
        await world.slack.slash_command(ALICE, "/ops", "status", channel=CHANNEL)
        assert "Surge: since" in world.slack.ephemerals[-1].text
        await world.slack.open_home(ALICE)
        home = await world.wait_for(lambda: world.slack.homes.get(ALICE), 5, "App Home")
        assert "*Surge*: since" in json.dumps(home, ensure_ascii=False)
        opened = [a["case"] for a in answers if a["status"] == "opened"]
        cases = [await world.case(c) for c in opened]
        assert any(c.card_ts is None or c.card_ts > card[0].ts for c in cases[1:])

        # on-call paged once, in the surge card's thread
        def pages() -> list[EmulatedMessage]:
            return [m for m in world.slack.thread(CHANNEL, card[0].ts)[1:] if "subteam" in m.text]

        await world.wait_for(pages, 10, "the surge page")

        # the card is refreshed in place with the figures; hostile text stays inert
        def counted() -> EmulatedMessage | None:
            m = world.slack.message(CHANNEL, card[0].ts)
            return m if "*12* hostile mentions" in card_text(m) else None

        live = await world.wait_for(counted, 10, "the card counting the surge")
        text = card_text(live)
        assert "<!channel>" not in text and "<https://evil" not in text
        assert "&lt;!channel&gt;" in text
        assert "angry4@mastodon.social (2,000,000)" in text  # most-followed authors
        assert PROMOTE_ACTION in text

        # promote a grouped mention from the card (the button, as a colleague clicks it)
        grouped = next(a["case"] for a in answers if a["status"] == "grouped")
        assert (await world.case(grouped)).status is CaseStatus.GROUPED
        click = await world.slack.click_button(
            ALICE, CHANNEL, card[0].ts, PROMOTE_ACTION, value=grouped
        )
        assert click.ok, click.attempts
        promoted = await world.card(grouped, timeout=15)
        assert promoted.status is CaseStatus.OPEN and promoted.card_ts
        again = await world.slack.click_button(
            ALICE, CHANNEL, card[0].ts, PROMOTE_ACTION, value=grouped
        )
        assert again.ok

        def answers_seen() -> list[str]:  # sent through the response_url after the answer
            return [r.payload.get("text", "") for r in world.slack.responses]

        await world.wait_for(lambda: len(answers_seen()) >= 2, 5, "the two ephemeral notes")
        assert any("now a case" in t for t in answers_seen())
        assert any("already a case" in t for t in answers_seen())

        # quiet for 3 s: the surge ends with a summary, the card shows its final state
        def ended() -> EmulatedMessage | None:
            m = world.slack.message(CHANNEL, card[0].ts)
            return m if "Surge over" in card_text(m) else None

        def summaries() -> list[str]:
            thread = world.slack.thread(CHANNEL, card[0].ts)
            return [m.text for m in thread if m.ts != card[0].ts and "Surge over" in m.text]

        await world.wait_for(ended, 15, "the end of the surge")
        summary = await world.wait_for(summaries, 5, "the summary")
        assert len(summary) == 1 and "12 hostile mentions" in summary[0]  # the 4th to the 15th

        # exactly one card, one page, and Slack never had to say 429
        await world.slack.drain()
        assert len(surge_cards(world)) == 1
        assert len(pages()) == 1
        assert world.slack.rate_limited() == []


@pytest.mark.parametrize("value", ["", "x" * 3000])
async def test_a_malformed_promote_click_is_refused(make_world: SandboxFactory, value: str) -> None:
    async with make_world(**SURGE) as world:
        for i in range(9):  # 4 start the surge, 3 own cards a minute at most: some grouped
            notification = world.mastodon.add_mention(
                f"angry{i}@mastodon.social", f"bande de connards ({i})", language=None
            )
            status, _ = await world.ingest(webhook_body(notification))
            assert status == 202

        def with_button() -> list[EmulatedMessage]:
            return [m for m in surge_cards(world) if PROMOTE_ACTION in card_text(m)]

        card = await world.wait_for(with_button, 10, "the surge card with a Promote button")
        click = await world.slack.click_button(
            ALICE, CHANNEL, card[0].ts, PROMOTE_ACTION, value=value
        )
        assert click.attempts[-1].status == 400
        grouped = await world.app.store.surge_snapshot(CHANNEL, top=10)
        assert grouped is not None and grouped.waiting == int(grouped.state["grouped"]) > 0


async def test_a_429_slows_the_channel_instead_of_retrying_blindly(
    make_world: SandboxFactory,
) -> None:
    """Slack answers 429 Retry-After 2 to a card: no replica posts to the channel for 2 s (the
    SDK does not retry it at once), and every card still gets posted exactly once."""
    async with make_world() as world:
        world.slack.rate_limit("chat.postMessage", times=1, retry_after=2)
        ids = []
        for i in range(3):
            notification = world.mastodon.add_mention(
                f"angry{i}@mastodon.social", f"bande de connards ({i})", language=None
            )
            status, answer = await world.ingest(webhook_body(notification))
            assert status == 202
            ids.append(answer["case"])
        cases = [await world.card(case_id, timeout=15) for case_id in ids]
        posts = [
            c
            for c in world.slack.calls
            if c.method == "chat.postMessage" and c.params.get("channel") == CHANNEL
        ]
        (refused,) = [c for c in posts if c.status == 429]
        after = [c.time - refused.time for c in posts if c.time > refused.time]
        # posts already in flight when the 429 came may land just after it; none was sent
        # after that until the Retry-After ran out
        assert after and not [t for t in after if 0.2 < t < 1.9], after
        assert max(after) >= 1.9
        assert len({c.card_ts for c in cases}) == 3
        cards = [m for m in world.slack.bot_messages(CHANNEL) if not m.thread_ts]
        assert len(cards) == 3  # nothing dropped, nothing twice
