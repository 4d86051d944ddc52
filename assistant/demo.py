"""``assistant demo``: the whole loop, played on the emulators over real HTTP, as a timeline.

Everything is real but Slack and Mastodon themselves: the assistant runs on an embedded Redis
(under ``.assistant/demo``) and talks HTTP to the package's emulators; the "people" are the
emulators sending signed Slack events and a monitoring tool calling the signed webhook. Each
step is checked against what the emulators received; the demo exits 1 at the first step that
did not really happen.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from assistant.models import CaseStatus
from assistant.sandbox import (
    ALICE,
    BOB,
    CAROL,
    CHANNEL,
    MANON,
    MAX,
    OTHER_BOT,
    Sandbox,
    sandbox,
    webhook_body,
)

DEMO_DIR = Path(".assistant/demo")
SLA_SECONDS = 4
NAMES = {
    ALICE: "Alice",
    BOB: "Bob",
    CAROL: "Carol",
    MAX: "Max (manager)",
    MANON: "Manon (manager)",
    OTHER_BOT: "another app's bot",
}


class DemoFailed(Exception):
    pass


class Timeline:
    def __init__(self) -> None:
        self.start = time.monotonic()

    def say(self, who: str, what: str) -> None:
        elapsed = time.monotonic() - self.start
        print(f"  {elapsed:6.2f}s  {who:<18} {what}", flush=True)

    def section(self, title: str) -> None:
        print(f"\n{title}", flush=True)


async def _step(world: Sandbox, probe: Any, what: str, timeout: float = 10.0) -> Any:
    try:
        return await world.wait_for(probe, timeout, what)
    except TimeoutError as exc:
        raise DemoFailed(str(exc)) from None


async def _react(world: Sandbox, tl: Timeline, user: str, ts: str, emoji: str, note: str) -> None:
    delivery = await world.slack.add_reaction(user, CHANNEL, ts, emoji)
    if not delivery.ok:
        raise DemoFailed(f"the app did not accept the reaction event: {delivery.attempts}")
    tl.say(NAMES[user], f":{emoji}: {note}")


async def play(world: Sandbox, tl: Timeline) -> str:
    slack, mastodon = world.slack, world.mastodon

    tl.section("1. A hostile mention arrives")
    insult = "vous êtes vraiment des connards, 3 jours sans réseau !!!"
    notification = mastodon.add_mention(
        "colere@mastodon.social", insult, display_name="Colère Noire", followers=1200
    )
    tl.say("@colere (Mastodon)", f"« {insult} »")
    status, answer = await world.ingest(webhook_body(notification))
    if status != 202:
        raise DemoFailed(f"ingest answered {status}: {answer}")
    case_id = str(answer["case"])
    tl.say("webhook", f"POST /ingest/mentions (signed) → {status}, case {case_id}")
    calm = mastodon.add_mention(
        "client@mastodon.social", "Ça fait 3 jours que je n'ai pas de réseau, c'est inadmissible."
    )
    status, answer = await world.ingest(webhook_body(calm))
    tl.say("webhook", f"an angry but civil complaint → {status} {answer['status']} (no case)")

    case = await _step(world, lambda: _card(world, case_id), "the case card in Slack")
    tl.say("assistant", f"case card posted in #{CHANNEL} — {', '.join(case.assessment.evidence)}")

    tl.section("2. Staff propose replies in the card's thread")
    first = await slack.post_message(
        ALICE,
        "On vous aime aussi 💙 Le réseau revient, promis.",
        channel=CHANNEL,
        thread_ts=case.card_ts,
    )
    tl.say("Alice", "proposes « On vous aime aussi 💙 Le réseau revient, promis. »")
    second = await slack.post_message(
        BOB,
        "Trois jours sans réseau, on comprend la colère (moins le vocabulaire 😉). "
        "Écrivez-nous en DM, on regarde votre ligne tout de suite.",
        channel=CHANNEL,
        thread_ts=case.card_ts,
    )
    tl.say("Bob", "proposes « Trois jours sans réseau, on comprend la colère (moins le … »")
    await _step(
        world,
        lambda: all(slack.message(CHANNEL, t).reactions.get("memo") for t in (first, second)),
        "the assistant's acknowledgements",
    )
    tl.say("assistant", ":memo: on both proposals (accepted, within Mastodon's 500 characters)")

    tl.section("3. The team votes with emoji")
    await _react(world, tl, BOB, second, "+1", "on his own proposal — does not count")
    await _react(world, tl, OTHER_BOT, second, "white_check_mark", "— bots never count")
    await _react(world, tl, CAROL, second, "white_check_mark", "approves (1 of 2)")
    await _react(world, tl, MANON, second, "x", "vetoes: a manager's veto blocks")
    await _react(world, tl, MAX, second, "white_check_mark", "approves (2 of 2, a manager)")
    await slack.drain()
    if mastodon.created_statuses:
        raise DemoFailed("published despite the veto")
    tl.say("assistant", "quorum reached but vetoed: nothing published")
    await slack.remove_reaction(MANON, CHANNEL, second, "x")
    tl.say(NAMES[MANON], "removes her veto")

    tl.section("4. Published, exactly once")
    published = await _step(world, lambda: _published(world, case_id), "the reply on Mastodon")
    (reply,) = mastodon.created_statuses
    tl.say("Mastodon", f"reply created in answer to {reply.in_reply_to_id}: {reply.url}")
    await _step(
        world,
        lambda: published.published_url in json.dumps(slack.message(CHANNEL, case.card_ts).blocks),
        "the card showing the link",
    )
    tl.say("assistant", "card updated: ✅ published, with the link; link posted in the thread")
    await _react(world, tl, MANON, first, "white_check_mark", "late vote on Alice's proposal")
    await _react(world, tl, CAROL, first, "white_check_mark", "late vote on Alice's proposal")
    await slack.drain()
    if len(mastodon.created_statuses) != 1:
        raise DemoFailed("a second reply was published")
    tl.say("assistant", "the case is settled: late votes publish nothing")

    tl.section(f"5. A case nobody handles (SLA {SLA_SECONDS}s in this demo)")
    second_case = mastodon.add_mention(
        "troll@piaille.fr", "bande d'escrocs de merde, allez vous faire foutre", followers=40
    )
    status, answer = await world.ingest(webhook_body(second_case))
    other = await _step(world, lambda: _card(world, str(answer["case"])), "second card")
    tl.say("assistant", f"case {other.case_id} opened; nobody proposes anything…")
    note = await _step(
        world, lambda: _escalation(world, other.card_ts), "the SLA escalation", SLA_SECONDS + 10
    )
    tl.say("assistant", f"SLA missed → on-call pinged in the thread: « {note} »")

    await _hostile_edges(world, tl)
    return str(reply.url)


async def _hostile_edges(world: Sandbox, tl: Timeline) -> None:
    slack, mastodon = world.slack, world.mastodon
    tl.section("6. Hostile requests and a flaky Slack")
    fake_line = b'{"type": "event_callback"}\n2026-11-30 03:00:00 ERROR assistant case=- fake line'
    forged = await slack.deliver_raw(fake_line)
    if forged.status != 401:
        raise DemoFailed(f"an unsigned Slack request answered {forged.status}")
    tl.say("stranger", f"unsigned POST /slack/events with a fake log line → 401 {forged.body}")
    status, answer = await world.ingest(
        webhook_body(mastodon.add_mention("x@m.social", "nuls")), secret="guessed"
    )
    if status != 401:
        raise DemoFailed(f"a forged webhook answered {status}")
    tl.say("stranger", f"webhook with a forged signature → {status} {answer}")
    bad = await slack.deliver_raw(b'{"type": "event_callback", "event": []}', sign=True)
    if bad.status != 400:
        raise DemoFailed(f"a malformed signed event answered {bad.status}")
    tl.say("Slack", f"a signed event of the wrong shape → 400 {bad.body} (never a 500)")

    slack.fail_after_commit("chat.postMessage", status=500)
    lost = mastodon.add_mention("rage@mastodon.social", "vous êtes des guignols incompétents")
    status, answer = await world.ingest(webhook_body(lost))
    case = await _step(world, lambda: _card(world, str(answer["case"])), "the third card")
    cards = [m for m in slack.bot_messages(CHANNEL) if not m.is_reply]
    if len(cards) != 3 or case.card_attempts != 1:
        raise DemoFailed(f"{len(cards)} cards after a lost answer (expected 3)")
    tl.say("Slack", "posts the third card but answers 500 (a partial success Slack documents)")
    tl.say("assistant", "retry looked for the card's metadata first: found it, no second card")


async def _card(world: Sandbox, case_id: str) -> Any:
    case = await world.app.store.get_case(case_id)
    return case if case is not None and case.card_ts else None


async def _published(world: Sandbox, case_id: str) -> Any:
    case = await world.app.store.get_case(case_id)
    return case if case is not None and case.status == CaseStatus.PUBLISHED else None


def _escalation(world: Sandbox, card_ts: str) -> str | None:
    for message in world.slack.thread(CHANNEL, card_ts)[1:]:
        if message.by_bot and "subteam^" in message.text:
            return message.text
    return None


async def run_demo(data_dir: Path = DEMO_DIR) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    shutil.rmtree(data_dir, ignore_errors=True)
    print("Community ops assistant — demo on embedded Redis and the Slack/Mastodon emulators")
    tl = Timeline()
    try:
        async with sandbox(data_dir, ASSISTANT_SLA_SECONDS=SLA_SECONDS) as world:
            tl.say("setup", f"assistant on {world.base_url}, Slack API {world.slack.api_url}")
            url = await play(world, tl)
    except DemoFailed as exc:
        print(f"\nDEMO FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"\nPublished reply: {url}")
    return 0
