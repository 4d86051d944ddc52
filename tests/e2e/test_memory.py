"""Reply memory end to end: a published reply is remembered, suggested on the card of a
similar mention (same language, shared words shown), and proposed with one click as the
clicker's proposal, voted like any other."""

from __future__ import annotations

import json

from assistant.memory_blocks import PROPOSE_ACTION
from assistant.models import Case
from assistant.sandbox import ALICE, BOB, CAROL, CHANNEL, DAVE, MAX, Sandbox
from tests.e2e.conftest import SandboxFactory
from tests.e2e.helpers import card_message, open_case, propose, published, react

FIRST = "Bande de connards, votre réseau est encore en panne <!channel> <@UMAX>"
REPLY = "Notre réseau a eu un coup de mou, il repart : merci de votre patience 💙"
SIMILAR = "encore une panne de réseau, vous êtes vraiment des connards"


async def remember_one(world: Sandbox, text: str = FIRST, reply: str = REPLY) -> Case:
    case = await open_case(world, text)
    ts = await propose(world, case, ALICE, reply)
    await react(world, BOB, ts)
    await react(world, MAX, ts)
    await published(world, case)
    memory = world.app.store.memory
    await world.wait_for(lambda: memory.size("fr"), what="the reply remembered")
    return case


def suggestion_sections(world: Sandbox, case: Case) -> list[dict[str, object]]:
    blocks = card_message(world, case).blocks or []
    return [b for b in blocks if isinstance(b.get("accessory"), dict)]


def proposals_by_bot(world: Sandbox, case: Case) -> list[object]:
    assert case.card_ts
    return [m for m in world.slack.thread(CHANNEL, case.card_ts)[1:] if m.by_bot]


async def test_a_published_reply_is_suggested_and_proposed_with_one_click(
    world: Sandbox,
) -> None:
    first = await remember_one(world)
    case = await open_case(world, SIMILAR)
    (section,) = suggestion_sections(world, case)
    text = str(section["text"]["text"])  # type: ignore[index]
    assert "coup de mou" in text and "réseau" in text and "panne" in text
    assert "shared words" in text and "%" in text
    button = section["accessory"]
    assert button["action_id"] == PROPOSE_ACTION  # type: ignore[index]
    assert json.loads(button["value"])["entry"] == first.case_id  # type: ignore[index]
    # the old mention's hostile text is inert on the card
    assert "<!channel>" not in text and "<@UMAX>" not in text and "&lt;!channel&gt;" in text

    assert case.card_ts
    delivery = await world.slack.click_button(CAROL, CHANNEL, case.card_ts, PROPOSE_ACTION)
    assert delivery.status == 200, delivery.attempts

    async def posted() -> object:
        found = [m for m in proposals_by_bot(world, case) if "Proposal by" in m.text]  # type: ignore[attr-defined]
        return found[0] if found else None

    message = await world.wait_for(posted, what="the past reply proposed")
    assert f"<@{CAROL}>" in message.text  # type: ignore[attr-defined]
    # recorded right after Slack answered the post: wait for it (a cluster takes longer)
    prop = await world.wait_for(
        lambda: world.app.store.get_proposal(case.case_id, message.ts),  # type: ignore[attr-defined]
        what="the proposal recorded",
    )
    assert prop.user == CAROL and prop.text == REPLY

    # a second click (anyone) does not post it again, and says so
    again = await world.slack.click_button(DAVE, CHANNEL, case.card_ts, PROPOSE_ACTION)
    assert again.status == 200
    await world.wait_for(
        lambda: any("already proposed" in e.text for e in world.slack.ephemerals if e.user == DAVE),
        what="the second clicker told",
    )
    assert len([m for m in proposals_by_bot(world, case) if "Proposal by" in m.text]) == 1  # type: ignore[attr-defined]

    # voted like any proposal: the clicker's own vote does not count
    await react(world, CAROL, message.ts)  # type: ignore[attr-defined]
    await react(world, MAX, message.ts)  # type: ignore[attr-defined]
    assert (await world.case(case.case_id)).status == "open"
    await react(world, BOB, message.ts)  # type: ignore[attr-defined]
    done = await published(world, case)
    assert done.approved_text == REPLY
    assert REPLY in world.mastodon.created_statuses[-1].text


async def test_no_suggestion_across_languages_or_for_unrelated_mentions(world: Sandbox) -> None:
    await remember_one(world)
    english = await open_case(world, "your network is down again, you bunch of idiots")
    assert suggestion_sections(world, english) == []
    unrelated = await open_case(world, "espèce de crétins, vos factures sont fausses")
    assert suggestion_sections(world, unrelated) == []


async def test_a_suggestion_is_refused_once_the_case_is_settled(world: Sandbox) -> None:
    await remember_one(world)
    case = await open_case(world, SIMILAR)
    assert suggestion_sections(world, case)
    ts = await propose(world, case, ALICE, "On s'en occupe, promis.")
    await react(world, BOB, ts)
    await react(world, MAX, ts)
    await published(world, case)
    # the card no longer offers the button …
    await world.wait_for(
        lambda: not suggestion_sections(world, case), what="buttons gone from the card"
    )
    # … and a click on a stale card is refused to the clicker alone
    value = json.dumps({"case": case.case_id, "entry": "x", "lang": "fr"})
    assert case.card_ts
    world.slack.message(CHANNEL, case.card_ts).blocks = [
        {
            "type": "actions",
            "elements": [{"type": "button", "action_id": PROPOSE_ACTION, "value": value}],
        }
    ]
    delivery = await world.slack.click_button(DAVE, CHANNEL, case.card_ts, PROPOSE_ACTION)
    assert delivery.status == 200
    await world.wait_for(
        lambda: any("already settled" in e.text for e in world.slack.ephemerals if e.user == DAVE),
        what="the clicker told",
    )


async def test_a_malformed_click_is_refused_with_400_and_changes_nothing(world: Sandbox) -> None:
    from urllib.parse import urlencode

    payload = {
        "type": "block_actions",
        "user": {"id": "<!channel>"},
        "container": {"channel_id": CHANNEL, "message_ts": "1.2"},
        "actions": [{"action_id": PROPOSE_ACTION, "value": "{}"}],
        "team": {"id": "T1"},
        "api_app_id": "A1",
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    answer = await world.slack.deliver_raw(
        body, {"Content-Type": "application/x-www-form-urlencoded"}, sign=True
    )
    assert answer.status == 400, answer.body
    assert "user" in answer.body


async def test_suggestions_can_be_turned_off(make_world: SandboxFactory) -> None:
    async with make_world(ASSISTANT_MEMORY_SUGGESTIONS=0) as world:
        await remember_one(world)  # still remembered
        case = await open_case(world, SIMILAR)
        assert suggestion_sections(world, case) == [] and not case.suggestions
