"""``assistant demo``: the whole loop, played on the emulators over real HTTP, as a timeline.

One case on each network: Mastodon (through the signed webhook), then Bluesky and X (polled),
each reply checked against that network's own length rule. Everything is real but Slack and
the networks themselves: the assistant runs on an embedded Redis
(under ``.assistant/demo``) and talks HTTP to the package's emulators; the "people" are the
emulators sending signed Slack events and a monitoring tool calling the signed webhook. Each
step is checked against what the emulators received; the demo exits 1 at the first step that
did not really happen.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from assistant.models import CaseStatus
from assistant.networks import rule_for
from assistant.oncall_blocks import ACK_ACTION
from assistant.sandbox import (
    ALICE,
    BOB,
    CAROL,
    CHANNEL,
    MANON,
    MAX,
    OLIVIA,
    OTHER_BOT,
    Sandbox,
    sandbox,
    webhook_body,
)

DEMO_DIR = Path(".assistant/demo")
SLA_SECONDS = 4
POLL_SECONDS = 0.2
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
    await _oncall(world, tl, other)

    await _hostile_edges(world, tl)
    return str(reply.url)


# 290 characters: within Bluesky's 300 graphemes, over X's 280 weighted characters.
LONG_REPLY = (
    "Merci pour votre message. " + "On regarde votre ligne. " * 10 + "Bonne journée, merci !!!"
)


async def play_network(world: Sandbox, tl: Timeline, platform: str, number: int) -> str:
    """One case on Bluesky or X, from the poller to the reply: returns the reply's URL."""
    slack = world.slack
    rule = rule_for(platform)
    assert rule is not None
    insult = "bande de connards, toujours pas de réseau, vous êtes des escrocs"
    created: list[Any]
    tl.section(f"{number}. The same loop on {rule.name} (polled, {rule.limit} {rule.unit})")
    if platform == "bluesky":
        post = world.bluesky.add_mention("rageux.bsky.social", insult, followers=830)
        network_id, created = post.uri, world.bluesky.created
        tl.say("@rageux (Bluesky)", f"« {insult} »")
    else:
        tweet = world.x.add_mention("rageux", insult, followers=5400)
        network_id, created = tweet.id, world.x.created
        tl.say("@rageux (X)", f"« {insult} »")
    case_id = hashlib.sha256(f"{platform}:{network_id}".encode()).hexdigest()[:16]
    case = await _step(world, lambda: _card(world, case_id), f"the {rule.name} case card")
    tl.say("assistant", f"the poller found it: case card posted (reply limit {rule.limit})")

    before = len(slack.ephemerals)
    long_ts = await slack.post_message(CAROL, LONG_REPLY, channel=CHANNEL, thread_ts=case.card_ts)
    tl.say("Carol", f"proposes a {len(LONG_REPLY)}-character reply")
    if rule.overflow("", LONG_REPLY):
        await _step(world, lambda: len(slack.ephemerals) > before, "the refusal")
        tl.say("assistant", f"only to Carol: « {slack.ephemerals[before].text[:90]}… »")
    else:
        await _step(
            world,
            lambda: slack.message(CHANNEL, long_ts).reactions.get("memo"),
            "the acknowledgement",
        )
        tl.say("assistant", f":memo: accepted: it fits {rule.name}'s {rule.limit}")
    short = "Trois jours sans réseau, on comprend la colère 😉 Écrivez-nous en DM."
    ts = await slack.post_message(ALICE, short, channel=CHANNEL, thread_ts=case.card_ts)
    tl.say("Alice", f"proposes « {short} » (Slack sends the emoji as :wink:)")
    await _react(world, tl, BOB, ts, "white_check_mark", "approves")
    await _react(world, tl, MAX, ts, "+1", "approves (a manager)")
    published = await _step(world, lambda: _published(world, case_id), f"the reply on {rule.name}")
    await slack.drain()
    if len(created) != 1 or created[0].text != short:
        raise DemoFailed(f"expected exactly one reply on {rule.name} with the approved text")
    tl.say(rule.name, f"one reply, the approved text with its 😉: {published.published_url}")
    return str(published.published_url)


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


async def _oncall(world: Sandbox, tl: Timeline, case: Any) -> None:
    """The page's Acknowledge button, App Home and ``/ops``."""
    tl.section("5b. On call acknowledges; App Home and /ops")
    slack = world.slack
    page = next(
        m
        for m in slack.thread(CHANNEL, case.card_ts)[1:]
        if m.by_bot and ACK_ACTION in json.dumps(m.blocks or [])
    )
    tl.say("assistant", "the page carries an Acknowledge button (re-escalates until pressed)")
    status = await slack.slash_command(OLIVIA, "/ops", "status", channel=CHANNEL)
    if status.status != 200:
        raise DemoFailed("/ops status was not answered")
    tl.say("olivia", f"/ops status → « {' '.join(slack.ephemerals[-1].text.split())[:120]} »")
    await slack.click_button(OLIVIA, CHANNEL, page.ts, ACK_ACTION)
    await _step(
        world,
        lambda: "Acknowledged by" in json.dumps(slack.message(CHANNEL, page.ts).blocks),
        "the acknowledgement on the page",
    )
    tl.say("olivia", "presses Acknowledge → page acknowledged, re-escalation stopped")
    await slack.open_home(OLIVIA)
    home = await _step(world, lambda: slack.homes.get(OLIVIA), "App Home")
    tl.say("assistant", f"App Home published for Olivia ({len(home['blocks'])} blocks)")


def _escalation(world: Sandbox, card_ts: str) -> str | None:
    for message in world.slack.thread(CHANNEL, card_ts)[1:]:
        if message.by_bot and "subteam^" in message.text:
            return message.text
    return None


async def run_demo(data_dir: Path = DEMO_DIR) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    shutil.rmtree(data_dir, ignore_errors=True)
    print(
        "Community ops assistant — demo on embedded Redis and the Slack, Mastodon, Bluesky "
        "and X emulators"
    )
    tl = Timeline()
    try:
        async with sandbox(
            data_dir,
            ASSISTANT_SLA_SECONDS=SLA_SECONDS,
            BLUESKY_POLL_SECONDS=POLL_SECONDS,
            X_POLL_SECONDS=POLL_SECONDS,
        ) as world:
            tl.say("setup", f"assistant on {world.base_url}, Slack API {world.slack.api_url}")
            url = await play(world, tl)
            others = [
                await play_network(world, tl, platform, number)
                for number, platform in enumerate(("bluesky", "x"), start=7)
            ]
    except DemoFailed as exc:
        print(f"\nDEMO FAILED: {exc}", file=sys.stderr)
        return 1
    print()
    for other in others:
        print(f"Published reply: {other}")
    print(f"Published reply: {url}")
    return 0
