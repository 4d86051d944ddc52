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
BRAND_VOICE = "Vouvoiement, humour léger, jamais de sarcasme ; on propose toujours une solution."
SLA_SECONDS = 4
POLL_SECONDS = 0.2
NAMES = {
    ALICE: "Alice",
    BOB: "Bob",
    CAROL: "Carol",
    MAX: "Max (manager)",
    MANON: "Manon (manager)",
    OLIVIA: "Olivia (on call)",
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


async def play_memory(world: Sandbox, tl: Timeline) -> str:
    """Reply memory and drafts: a mention like case 1's gets Bob's reply suggested, two
    drafts from the LLM emulator, and Carol proposes the past reply with one click."""
    from assistant.memory_blocks import PROPOSE_ACTION

    slack, mastodon = world.slack, world.mastodon
    tl.section("9. Reply memory and drafts")
    insult = "encore sans réseau depuis ce matin, bande de connards"
    notification = mastodon.add_mention("rechute@mastodon.social", insult, followers=300)
    _, answer = await world.ingest(webhook_body(notification))
    tl.say("@rechute (Mastodon)", f"« {insult} »")
    case = await _step(world, lambda: _card(world, str(answer["case"])), "the memory card")
    if not case.suggestions:
        raise DemoFailed("no past reply suggested for a mention like case 1's")
    best = case.suggestions[0]
    tl.say(
        "assistant",
        f"card suggests a past reply ({round(best.similarity * 100)} % similar, shared words: "
        f"{', '.join(best.shared)}): « {best.reply[:60]}… »",
    )

    def drafts() -> list[Any]:
        found = [m for m in slack.thread(CHANNEL, case.card_ts)[1:] if "by the assistant" in m.text]
        return found if len(found) == 2 else []

    for message in await _step(world, drafts, "two drafts in the thread"):
        prop = await world.app.store.get_proposal(case.case_id, message.ts)
        if prop is None or prop.user != world.app.slack.bot_user_id:
            raise DemoFailed("a draft is not the assistant's proposal")
        tl.say("assistant", f"draft (LLM emulator, in French, a proposal): « {prop.text[:60]}… »")
    await slack.click_button(CAROL, CHANNEL, str(case.card_ts), PROPOSE_ACTION)
    tl.say("Carol", "clicks « Propose this » on the suggestion")

    def carols() -> str | None:
        for m in slack.thread(CHANNEL, case.card_ts)[1:]:
            if f"Proposal by <@{CAROL}>" in m.text:
                return m.ts
        return None

    ts = await _step(world, carols, "Carol's proposal in the thread")
    tl.say("assistant", "posts it in the thread as Carol's proposal (her own vote won't count)")
    await _react(world, tl, CAROL, ts, "white_check_mark", "on her own proposal — does not count")
    await _react(world, tl, BOB, ts, "white_check_mark", "approves (1 of 2)")
    await _react(world, tl, MAX, ts, "white_check_mark", "approves (2 of 2, a manager)")
    done = await _step(world, lambda: _published(world, case.case_id), "the past reply published")
    if done.approved_text != best.reply:
        raise DemoFailed("the published text is not the suggested reply")
    tl.say("Mastodon", f"the remembered reply is published again: {done.published_url}")
    return str(done.published_url)


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


async def play_learning(world: Sandbox, tl: Timeline, data_dir: Path) -> None:
    """Tone check, audit trail, report and the weekly digest (issue 10)."""
    from assistant import reports

    slack, mastodon = world.slack, world.mastodon
    tl.section("Learn: tone check, audit trail, report with a chart")
    notification = mastodon.add_mention("troll@mastodon.social", "bande de guignols incompétents")
    status, answer = await world.ingest(webhook_body(notification))
    if status != 202:
        raise DemoFailed(f"ingest answered {status}: {answer}")
    case_id = str(answer["case"])
    case = await _step(world, lambda: _card(world, case_id), "the case card in Slack")
    rude = "Les guignols, c'est vous, espèce de connard."
    ts = await slack.post_message(CAROL, rude, channel=CHANNEL, thread_ts=case.card_ts)
    tl.say("Carol", f"proposes « {rude} »")
    await _step(
        world, lambda: slack.message(CHANNEL, ts).reactions.get("warning"), "the tone warning"
    )
    tl.say("assistant", ":warning: on it — the tone check finds it hostile: one more manager")
    await _react(world, tl, BOB, ts, "white_check_mark", "approves")
    await _react(world, tl, MAX, ts, "white_check_mark", "approves (the usual quorum)")
    await slack.drain()
    if (await world.case(case_id)).status != CaseStatus.OPEN:
        raise DemoFailed("a tone-flagged proposal passed with the usual quorum")
    tl.say("assistant", "not enough for a flagged proposal: still open")
    await _react(world, tl, MANON, ts, "white_check_mark", "approves (the second manager)")
    await _step(world, lambda: _published(world, case_id), "the flagged reply published")
    tl.say("Mastodon", "published after the second manager's approval")

    history = await world.app.store.case_history(case_id)
    tl.say("audit", f"`assistant audit {case_id}` — {len(history)} entries:")
    for entry in history:
        who = NAMES.get(entry.actor, entry.actor)
        print(f"{'':>14}{reports.entry_row(entry)['time'][11:23]}  {who:<16} {entry.action}")
    now = time.time()
    report = await reports.period_report(world.app.store, now - 7 * 86400, now)
    tl.say("report", "`assistant report --since 7d`:")
    for line in reports.format_report(report, names=NAMES).splitlines():
        print(f"{'':>14}{line}")
    digest = reports.WeeklyDigest(world.settings, world.app.store, world.app.slack)
    file_id = await digest.post(now - 7 * 86400, now)
    file = slack.files.get(file_id)
    if file is None or not file.shared or not (file.content or b"").startswith(b"\x89PNG"):
        raise DemoFailed("the digest's chart was not uploaded to Slack")
    chart = data_dir / "digest-chart.png"
    chart.write_bytes(file.content or b"")
    tl.say(
        "digest",
        f"posted in #{CHANNEL} with its chart ({len(file.content or b'')} bytes "
        f"PNG via files.getUploadURLExternal + completeUploadExternal), copy: {chart}",
    )


async def play_second_opinion(world: Sandbox, tl: Timeline) -> None:
    """A borderline mention decided by the optional moderation service (its emulator here)."""
    mastodon, moderation = world.mastodon, world.moderation
    if moderation is None:
        raise DemoFailed("the moderation emulator is not running")
    tl.section("6b. A borderline mention: the second opinion decides")
    body = webhook_body(mastodon.add_mention("agace@m.social", "votre service est lamentable"))
    text = str(body["text"])  # as the webhook carries it
    scorer = world.app.cases.scorer
    local = scorer.score(text)
    low, high = scorer.band(local.lang)
    if local.hostile or not low <= local.score < high:
        raise DemoFailed(f"« {text} » is not borderline for the shipped model: {local}")
    tl.say(
        "@agace (Mastodon)",
        f"« {text} » — local score {local.score:.2f}, below the {local.lang} threshold "
        f"{local.threshold:.2f} but in the borderline band [{low:.2f}, {high:.2f})",
    )
    before = len(moderation.requests)
    status, answer = await world.ingest(body)
    if moderation.requests[before:] != [text]:
        raise DemoFailed(f"the second opinion was not asked: {moderation.requests[before:]}")
    if status != 202:
        raise DemoFailed(f"a mention the service flagged opened no case: {status} {answer}")
    verdict = moderation.verdict(text)
    top = max(verdict["category_scores"].items(), key=lambda kv: kv[1])
    tl.say(
        "moderation API",
        f"POST /moderations (ASSISTANT_MODERATION_URL, the emulator) → flagged "
        f"({top[0]} {top[1]:.2f})",
    )
    case = await _step(world, lambda: _card(world, str(answer["case"])), "the borderline card")
    opinion = case.assessment.second_opinion or ""
    card = world.slack.message(CHANNEL, case.card_ts or "")
    if "flagged" not in opinion or opinion not in json.dumps(card.blocks, ensure_ascii=False):
        raise DemoFailed(f"the card does not show the second opinion: {opinion!r}")
    tl.say(
        "assistant", f"case {case.case_id} opened, severity {case.assessment.severity}: {opinion}"
    )


async def _card(world: Sandbox, case_id: str) -> Any:
    case = await world.app.store.get_case(case_id)
    return case if case is not None and case.card_ts else None


async def _published(world: Sandbox, case_id: str) -> Any:
    case = await world.app.store.get_case(case_id)
    return case if case is not None and case.status == CaseStatus.PUBLISHED else None


SURGE_SETTINGS: dict[str, Any] = {  # a short surge: 5 mentions within a minute start one
    "ASSISTANT_SURGE_THRESHOLD": 5,
    "ASSISTANT_SURGE_WINDOW_SECONDS": 60,
    "ASSISTANT_SURGE_QUIET_SECONDS": 2,
    "ASSISTANT_SURGE_CARDS_PER_MINUTE": 2,
    "ASSISTANT_SURGE_REFRESH_SECONDS": 0.5,
    "ASSISTANT_SLACK_POSTS_PER_SECOND": 1,  # Slack's rate, on the app's side…
    "ASSISTANT_SLACK_POST_BURST": 2,
    "slack_post_rate_limit": 1.0,  # … and enforced by the Slack emulator (429 beyond)
}


def _surge_cards(world: Sandbox) -> list[Any]:
    return [
        m
        for m in world.slack.bot_messages(CHANNEL)
        if (m.metadata or {}).get("event_type") == "surge_card"
    ]


async def play_surge(world: Sandbox, tl: Timeline) -> None:
    """A crowd after an outage: 14 hostile mentions in a few seconds. One live surge card
    (ahead of the queued cards), one page, most mentions grouped, one promoted by a click,
    the end after a quiet period, and Slack never answering 429."""
    from assistant.surge_blocks import PROMOTE_ACTION

    tl.say("crowd", "an outage: 14 hostile mentions arrive within seconds")
    bodies = []
    for i in range(14):
        followers = 250_000 if i == 6 else 30 + i
        notification = world.mastodon.add_mention(
            f"furieux{i}@mastodon.social",
            f"bande de connards, rendez-nous le réseau <!channel> ({i})",
            followers=followers,
            language=None,
        )
        bodies.append(webhook_body(notification))
    answers = []
    for i, body in enumerate(bodies[:4]):  # one request each ...
        status, answer = await world.ingest(body)
        if status != 202:
            raise DemoFailed(f"mention {i} answered {status}: {answer}")
        answers.append(answer)
    # ... then the tool catches up with the rest in one signed request (the batch form)
    status, batch = await world.ingest({"mentions": bodies[4:]}, path="/ingest/mentions/batch")
    if status != 200 or len(batch.get("results", [])) != len(bodies) - 4:
        raise DemoFailed(f"the batch answered {status}: {batch}")
    answers.extend(batch["results"])
    tl.say("webhook", "the first 4 one by one, the other 10 in one batch request")
    statuses = [a["status"] for a in answers]
    tl.say(
        "assistant",
        f"{statuses.count('opened')} own cases (the first 4, the worst, a 250k-follower "
        f"author), {statuses.count('grouped')} grouped under the surge card",
    )
    cards = await _step(world, lambda: _surge_cards(world), "the surge card")
    card = cards[0]
    tl.say("assistant", "🌊 live surge card posted, ahead of the case cards still queued")
    await _step(world, lambda: _escalation(world, card.ts), "the surge page")
    tl.say("assistant", "on-call paged once, in the surge card's thread")
    grouped = next(a["case"] for a in answers if a["status"] == "grouped")
    await world.slack.click_button(ALICE, CHANNEL, card.ts, PROMOTE_ACTION, value=grouped)
    await _card(world, grouped)
    tl.say(NAMES[ALICE], "clicks « Open a case » on a grouped mention → its own card")

    def over() -> str | None:
        blocks = json.dumps(world.slack.message(CHANNEL, card.ts).blocks)
        if "Surge over" not in blocks:
            return None
        thread = world.slack.thread(CHANNEL, card.ts)[1:]
        return next((m.text for m in thread if m.text.startswith("✅ Surge over")), None)

    summary = await _step(world, over, "the end of the surge", timeout=15)
    tl.say("assistant", summary)
    if "<!channel>" in json.dumps(world.slack.message(CHANNEL, card.ts).blocks):
        raise DemoFailed("hostile text pinged the channel from the surge card")
    refused = len(world.slack.rate_limited())
    if refused:
        raise DemoFailed(f"Slack answered 429 {refused} times")
    posts = len([c for c in world.slack.calls if c.method.startswith("chat.") and c.ok])
    tl.say("slack", f"{posts} posts and updates at ≤ 1 a second: zero 429s")


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
    from assistant import reports

    trail = await reports.case_trail(world.app.store, case.case_id, time.time())
    if [e.actor for e in trail if e.action == "acknowledged"] != [OLIVIA]:
        raise DemoFailed("the acknowledgement is not in the case's audit trail, once")
    steps = " → ".join(NAMES.get(e.actor, e.actor) + " " + e.action for e in trail[-4:])
    tl.say("audit", f"`assistant audit {case.case_id}` ends with: {steps}")
    await slack.open_home(OLIVIA)
    home = await _step(world, lambda: slack.homes.get(OLIVIA), "App Home")
    tl.say("assistant", f"App Home published for Olivia ({len(home['blocks'])} blocks)")


def _escalation(world: Sandbox, card_ts: str) -> str | None:
    for message in world.slack.thread(CHANNEL, card_ts)[1:]:
        if message.by_bot and "subteam^" in message.text:
            return message.text
    return None


def _brand_voice_file(data_dir: Path) -> Path:
    """The demo team's brand voice (ASSISTANT_BRAND_VOICE_FILE), given to the drafts."""
    data_dir.mkdir(parents=True, exist_ok=True)
    voice = data_dir / "brand-voice.txt"
    voice.write_text(BRAND_VOICE, encoding="utf-8")
    return voice


async def run_demo(data_dir: Path = DEMO_DIR) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    shutil.rmtree(data_dir, ignore_errors=True)
    print(
        "Community ops assistant — demo on embedded Redis and the Slack, Mastodon, Bluesky "
        "and X emulators"
    )
    tl = Timeline()
    voice = _brand_voice_file(data_dir)
    try:
        async with sandbox(
            data_dir,
            drafts=True,  # the LLM emulator: nothing leaves the machine
            moderation=True,  # ASSISTANT_MODERATION_URL → the moderation emulator
            ASSISTANT_BRAND_VOICE_FILE=voice,
            ASSISTANT_SLA_SECONDS=SLA_SECONDS,
            BLUESKY_POLL_SECONDS=POLL_SECONDS,
            X_POLL_SECONDS=POLL_SECONDS,
        ) as world:
            tl.say("setup", f"assistant on {world.base_url}, Slack API {world.slack.api_url}")
            url = await play(world, tl)
            await play_second_opinion(world, tl)
            others = [
                await play_network(world, tl, platform, number)
                for number, platform in enumerate(("bluesky", "x"), start=7)
            ]
            await play_learning(world, tl, data_dir)
            remembered = await play_memory(world, tl)
        tl.section("Surge: a crowd at Slack's rate limit")
        async with sandbox(data_dir / "surge", **SURGE_SETTINGS) as world:
            await play_surge(world, tl)
    except DemoFailed as exc:
        print(f"\nDEMO FAILED: {exc}", file=sys.stderr)
        return 1
    print()
    print(f"Published reply (from the reply memory): {remembered}")
    for other in others:
        print(f"Published reply: {other}")
    print(f"Published reply: {url}")
    return 0
