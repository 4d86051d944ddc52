"""On-call end to end: pages with an Acknowledge button, levels, repeat, acks, resolution on
settle, quiet hours, replicas and a restart, App Home and /ops — the real app over HTTP
against the Slack emulator, on real Redis."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from assistant import oncall, reports
from assistant.app import Assistant
from assistant.emulators.slack import EmulatedMessage
from assistant.models import Case, CaseStatus
from assistant.oncall_blocks import ACK_ACTION
from assistant.sandbox import ALICE, BOB, CHANNEL, MAX, OLIVIA, Sandbox
from assistant.store import Job, keys
from tests.e2e.conftest import SandboxFactory
from tests.e2e.helpers import open_case, propose, published, react, thread_texts

TWO_LEVELS = f"{OLIVIA} after 1s; {MAX} after 1s; repeat 1"  # 4 notifications in all


def page_message(world: Sandbox, case: Case) -> EmulatedMessage | None:
    assert case.card_ts
    for msg in world.slack.thread(CHANNEL, case.card_ts)[1:]:
        if msg.by_bot and ACK_ACTION in json.dumps(msg.blocks or []):
            return msg
    return None


def shown(world: Sandbox, msg: EmulatedMessage) -> str:
    return json.dumps(world.slack.message(msg.channel, msg.ts).blocks)


async def wait_page(world: Sandbox, case: Case) -> EmulatedMessage:
    return await world.wait_for(lambda: page_message(world, case), 6, "the page message")


async def ops(world: Sandbox, user: str, text: str) -> str:
    before = len(world.slack.ephemerals)
    delivery = await world.slack.slash_command(user, "/ops", text, channel=CHANNEL)
    assert delivery.status == 200, delivery.attempts
    (answer,) = world.slack.ephemerals[before:]
    assert answer.user == user
    return answer.text


async def ack_in_home(world: Sandbox, user: str, page_id: str) -> None:
    """Press a page's Acknowledge button in App Home (a view: no response_url)."""
    click = {
        "type": "block_actions",
        "user": {"id": user, "team_id": "T0001"},
        "container": {"type": "view", "view_id": f"V{user}"},
        "view": {"type": "home"},
        "actions": [{"action_id": ACK_ACTION, "value": page_id}],
    }
    form = urlencode({"payload": json.dumps(click)}).encode()
    raw = await world.slack.deliver_raw(form, FORM, sign=True)
    assert raw.status == 200, raw.body


async def test_page_re_escalates_to_the_next_level_until_acknowledged(
    make_world: SandboxFactory,
) -> None:
    async with make_world(ASSISTANT_SLA_SECONDS=1, ASSISTANT_ESCALATION_POLICY=TWO_LEVELS) as w:
        case = await open_case(w)
        page = await wait_page(w, case)
        assert page.text.startswith(f"<@{OLIVIA}> ") and f"<@{MAX}>" not in page.text
        await w.wait_for(
            lambda: any(t.startswith(f"<@{MAX}>") for t in thread_texts(w, case)), 5, "level 2"
        )
        delivery = await w.slack.click_button(OLIVIA, CHANNEL, page.ts, ACK_ACTION)
        assert delivery.status == 200, delivery.attempts
        # the clicker's note comes through the response_url after the answer to Slack
        await w.wait_for(
            lambda: any("You acknowledged" in r.payload.get("text", "") for r in w.slack.responses),
            5,
            "the ephemeral note",
        )
        await w.wait_for(lambda: "Acknowledged by" in shown(w, page), 5, "the page updated")
        assert ACK_ACTION not in shown(w, page) and f"<@{OLIVIA}>" in shown(w, page)
        stored = await w.app.pages.get_page(f"case.{case.case_id}")
        assert stored is not None and stored.status == "acked" and stored.acked_by == OLIVIA
        notes = thread_texts(w, case)
        await asyncio.sleep(2.5)  # past the next level's time: nothing more
        assert thread_texts(w, case) == notes
        assert f"page:case.{case.case_id}" not in await w.app.store.pending_jobs()


async def test_unacknowledged_page_goes_round_the_levels_then_repeats_then_stops(
    make_world: SandboxFactory,
) -> None:
    async with make_world(ASSISTANT_SLA_SECONDS=1, ASSISTANT_ESCALATION_POLICY=TWO_LEVELS) as w:
        case = await open_case(w)
        page = await wait_page(w, case)
        await w.wait_for(lambda: len(thread_texts(w, case)) >= 4, 8, "four notifications")
        await asyncio.sleep(2.0)
        texts = thread_texts(w, case)
        assert len(texts) == 4, texts  # the page + level 2 + (repeat) level 1 + level 2
        # the page itself (its message now names who is paged last), then one note per step
        assert [t.split(" ", 1)[0] for t in texts[1:]] == [f"<@{MAX}>", f"<@{OLIVIA}>", f"<@{MAX}>"]
        assert "round 2" in texts[2]
        assert [c.params.get("channel") for c in w.slack.calls_to("chat.postMessage")].count(
            CHANNEL
        ) == 5  # the card and four notifications: nothing posted twice
        await w.wait_for(lambda: "notification 4 of 4" in shown(w, page), 5, "the count")
        assert ACK_ACTION in shown(w, page)  # still open: someone can still acknowledge


async def test_settling_the_case_resolves_its_page_and_a_late_ack_changes_nothing(
    make_world: SandboxFactory,
) -> None:
    async with make_world(ASSISTANT_SLA_SECONDS=1, ASSISTANT_ESCALATION_POLICY=TWO_LEVELS) as w:
        case = await open_case(w)
        page = await wait_page(w, case)
        ts = await propose(w, case, ALICE, "Merci pour ce retour")
        await react(w, BOB, ts)
        await react(w, MAX, ts)
        await published(w, case)
        await w.wait_for(lambda: "Resolved" in shown(w, page), 5, "the page resolved")
        assert ACK_ACTION not in shown(w, page)
        # the thread note is the outcome's own job: it may land after the resolution
        await w.wait_for(
            lambda: any("Published on" in t for t in thread_texts(w, case)), 5, "the note"
        )
        notes = thread_texts(w, case)
        answer = await ops(w, OLIVIA, f"ack {case.case_id}")
        assert "already resolved" in answer
        trail = await reports.case_trail(w.app.store, case.case_id, time.time())
        assert [e.action for e in trail if e.action in ("acknowledged", "page_resolved")] == [
            "page_resolved"  # resolved once; the late ack wrote nothing
        ]
        stored = await w.app.pages.get_page(f"case.{case.case_id}")
        assert stored is not None and stored.status == "resolved" and not stored.acked_by
        await asyncio.sleep(2.0)
        assert [t for t in thread_texts(w, case) if t not in notes] == []  # no re-escalation


async def test_quiet_hours_hold_ordinary_pages_but_not_threats(
    make_world: SandboxFactory,
) -> None:
    now = datetime.now(UTC)
    start, end = now - timedelta(hours=1), now + timedelta(hours=1)
    quiet = f"{start:%H:%M}-{end:%H:%M} UTC"
    async with make_world(ASSISTANT_SLA_SECONDS=1, ASSISTANT_QUIET_HOURS=quiet) as w:
        ordinary = await open_case(w)
        threat = await open_case(w, "je sais où tu habites, je vais te buter")
        assert threat.assessment.severity == "critical"
        await wait_page(w, threat)  # critical: at once

        async def held() -> float | None:
            return (await w.app.store.pending_jobs()).get(f"page:case.{ordinary.case_id}")

        due = await w.wait_for(held, 5, "the ordinary page recorded and held")
        assert due > time.time() + 3000  # at the end of quiet hours, about an hour from now
        await asyncio.sleep(1.0)
        assert page_message(w, ordinary) is None


async def test_two_replicas_and_a_restart_notify_each_step_once(
    make_world: SandboxFactory,
) -> None:
    policy = f"{OLIVIA} after 2s; {MAX} after 2s; repeat 1"
    async with make_world(ASSISTANT_SLA_SECONDS=1, ASSISTANT_ESCALATION_POLICY=policy) as w:
        replica = await w.add_replica(ASSISTANT_SLA_SECONDS=1, ASSISTANT_ESCALATION_POLICY=policy)
        case = await open_case(w)
        await wait_page(w, case)
        # restart the replica that receives Slack's requests; the other one keeps running
        settings = w.app.settings
        await w.app.stop()
        w.app = Assistant(settings)
        await w.app.start()
        w.slack.events_url = f"http://127.0.0.1:{w.app.port}/slack/events"
        await replica.stop()
        w.replicas.remove(replica)
        await w.wait_for(lambda: len(thread_texts(w, case)) >= 4, 12, "four notifications")
        await asyncio.sleep(2.5)
        texts = thread_texts(w, case)
        assert len(texts) == 4, texts
        page = page_message(w, case)
        assert page is not None
        delivery = await w.slack.click_button(MAX, CHANNEL, page.ts, ACK_ACTION)
        assert delivery.status == 200
        await w.wait_for(lambda: "Acknowledged by" in shown(w, page), 5, "ack after restart")


async def test_app_home_lists_cases_pages_and_figures_and_stays_inert(
    make_world: SandboxFactory,
) -> None:
    async with make_world(ASSISTANT_SLA_SECONDS=1) as w:
        case = await open_case(w, "<!channel> <@UALICE> vous êtes des connards *gras* &amp;")
        delivery = await w.slack.open_home(ALICE)
        assert delivery.status == 200, delivery.attempts
        await w.wait_for(lambda: w.slack.homes.get(ALICE), 5, "App Home published")
        await wait_page(w, case)

        def home() -> str:
            return json.dumps(w.slack.homes[ALICE])

        # refreshed on its own (the page opened): it now shows the page and its button
        await w.wait_for(lambda: ACK_ACTION in home(), 5, "App Home refreshed with the page")
        text = home()
        assert "Open cases* (1)" in text and "connards" in text
        assert "<!channel>" not in text and "<@UALICE>" not in text
        assert "&lt;!channel&gt;" in text and "&amp;amp;" in text
        assert "1 case(s) opened" in text and "0 reply(ies) published" in text
        assert "http" in text and "|card>" in text  # a link to the card
        assert "On call" in text and "<!subteam^SONCALL>" in text
        assert "*Proposals awaiting votes*: 0" in text
        await ack_in_home(w, OLIVIA, f"case.{case.case_id}")
        await w.wait_for(lambda: ACK_ACTION not in home(), 5, "App Home without the open page")
        page = await w.app.pages.get_page(f"case.{case.case_id}")
        assert page is not None and page.acked_by == OLIVIA
        await propose(w, case, BOB, "Une proposition")
        await w.wait_for(
            lambda: "*Proposals awaiting votes*: 1" in home(), 5, "App Home refreshed on a proposal"
        )


async def test_ops_help_status_oncall_and_unknown(world: Sandbox) -> None:
    help_text = await ops(world, ALICE, "help")
    for sub in ("status", "oncall", "ack CASE", "pause MINUTES", "resume"):
        assert sub in help_text
    assert await ops(world, ALICE, "frobnicate <!channel>") == help_text
    assert await ops(world, ALICE, "") == help_text
    await open_case(world)
    status = await ops(world, ALICE, "status")
    assert "*1* open case(s)" in status and "*0* open page(s)" in status
    assert "<!subteam^SONCALL>" in status
    assert "SONCALL" in await ops(world, ALICE, "oncall")


async def test_ops_ack_a_case_page(make_world: SandboxFactory) -> None:
    async with make_world(ASSISTANT_SLA_SECONDS=1) as w:
        case = await open_case(w)
        page = await wait_page(w, case)
        assert "No open page" in await ops(w, ALICE, "ack nosuchcase")
        assert "Which case" in await ops(w, ALICE, "ack")
        assert "You acknowledged" in await ops(w, ALICE, f"ack {case.case_id}")
        await w.wait_for(lambda: "Acknowledged by" in shown(w, page), 5, "the page updated")
        assert "already acknowledged by <@UALICE>" in await ops(w, BOB, f"ack {case.case_id}")


async def test_ops_pause_stops_publishing_shows_on_cards_and_resume_publishes(
    world: Sandbox,
) -> None:
    case = await open_case(world)
    assert "between" not in (answer := await ops(world, ALICE, "pause 0")) and "from 1" in answer
    assert "from 1" in await ops(world, ALICE, "pause soon")
    assert "Paused for 5 min" in await ops(world, ALICE, "pause 5")

    def card() -> str:
        assert case.card_ts
        return json.dumps(world.slack.message(CHANNEL, case.card_ts).blocks)

    await world.wait_for(lambda: "Paused" in card(), 5, "the banner on the card")
    ts = await propose(world, case, ALICE, "Bonne journée")
    await react(world, BOB, ts)
    await react(world, MAX, ts)

    async def approved() -> bool:
        return (await world.case(case.case_id)).status == CaseStatus.APPROVED

    await world.wait_for(approved, 5, "the decision")
    await asyncio.sleep(1.0)
    assert world.mastodon.created_statuses == []  # paused: nothing published
    assert "paused" in (await ops(world, ALICE, "status")).lower()
    assert "Resumed" in await ops(world, ALICE, "resume")
    await published(world, case)
    await world.wait_for(lambda: "Paused" not in card(), 5, "the banner gone")
    assert "Not paused" in await ops(world, ALICE, "resume")


def command_body(world: Sandbox, user: str, text: str, team: str = "T0001") -> bytes:
    fields = {
        "token": "t",
        "team_id": team,
        "channel_id": CHANNEL,
        "user_id": user,
        "command": "/ops",
        "text": text,
        "response_url": f"{world.slack.base_url}/response/none",
        "trigger_id": "1.2.3",
    }
    return urlencode(fields).encode()


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def test_ops_refuses_non_members_and_changes_nothing(world: Sandbox) -> None:
    for user, team in (("UOUTSIDER", "T0001"), (ALICE, "TOTHER")):
        raw = await world.slack.deliver_raw(
            command_body(world, user, "pause 60", team), FORM, sign=True
        )
        assert raw.status == 200, raw.body
        assert "members" in json.loads(raw.body)["text"]
    assert await world.app.pages.paused_until(time.time()) is None


async def test_forged_stale_and_malformed_requests_are_refused(world: Sandbox) -> None:
    body = command_body(world, ALICE, "pause 60")
    forged = await world.slack.deliver_raw(body, {**FORM, "X-Slack-Signature": "v0=" + "0" * 64})
    assert forged.status == 401
    stale = await world.slack.deliver_raw(body, FORM, sign=True, timestamp=int(time.time()) - 600)
    assert stale.status == 401
    assert await world.app.pages.paused_until(time.time()) is None
    bad_clicks: list[dict[str, Any]] = [
        {"type": "block_actions", "user": {"id": ALICE}, "actions": []},
        {"type": "block_actions", "user": {}, "actions": [{"action_id": ACK_ACTION}]},
        {"type": "block_actions", "user": {"id": "<@x>"}, "actions": [{"action_id": "a"}]},
    ]
    for payload in bad_clicks:
        raw = await world.slack.deliver_raw(
            urlencode({"payload": json.dumps(payload)}).encode(), FORM, sign=True
        )
        assert raw.status == 400, (payload, raw.body)
    malformed = await world.slack.deliver_raw(
        urlencode({"command": "/ops", "text": "status"}).encode(), FORM, sign=True
    )
    assert malformed.status == 400, malformed.body


async def test_an_ack_for_an_unknown_page_changes_nothing(world: Sandbox) -> None:
    payload = {
        "type": "block_actions",
        "user": {"id": ALICE},
        "team": {"id": "T0001"},
        "response_url": f"{world.slack.base_url}/response/none",
        "actions": [{"action_id": ACK_ACTION, "value": "case.nope"}],
    }
    raw = await world.slack.deliver_raw(
        urlencode({"payload": json.dumps(payload)}).encode(), FORM, sign=True
    )
    assert raw.status == 200
    assert await world.app.pages.get_page("case.nope") is None


async def test_the_apps_own_trouble_pages_once_across_replicas(world: Sandbox) -> None:
    replica = await world.add_replica()
    t = [time.time()]
    watches = [world.app.trouble, replica.trouble]
    for watch in watches:
        watch.clock = lambda: t[0]
        watch.record("mastodon", False)
        assert await watch.check() == []  # failing, not for long yet
    t[0] += 400
    for watch in watches:
        watch.record("mastodon", False)
    assert await world.app.trouble.check() == ["mastodon"]
    assert await replica.trouble.check() == ["mastodon"]  # the same episode: the same page

    def pages() -> list[EmulatedMessage]:
        return [
            m
            for m in world.slack.bot_messages(CHANNEL)
            if "calls to *mastodon*" in m.text and not m.thread_ts
        ]

    await world.wait_for(pages, 5, "the trouble page")
    await asyncio.sleep(0.5)
    (page,) = pages()
    assert ACK_ACTION in json.dumps(page.blocks)
    world.app.trouble.record("mastodon", True)
    await world.app.trouble.check()
    assert await world.app.pages.troubles(["mastodon"]) == {}  # the episode is over


async def test_ops_pause_stops_polling_until_resume(make_world: SandboxFactory) -> None:
    async with make_world(BLUESKY_POLL_SECONDS=0.2) as w:
        assert "Paused" in await ops(w, ALICE, "pause 5")
        w.bluesky.add_mention("colere.bsky.social", "bande de connards, vous êtes nuls")
        await asyncio.sleep(1.0)  # five polls' worth: none happened
        assert await w.app.store.open_case_ids() == []
        assert "Resumed" in await ops(w, ALICE, "resume")

        async def opened() -> list[str]:
            return await w.app.store.open_case_ids()

        await w.wait_for(opened, 5, "the mention polled after resume")


async def test_a_poll_in_flight_when_the_pause_starts_ingests_nothing(
    make_world: SandboxFactory,
) -> None:
    """A poll that began before ``/ops pause`` and is answered after it ingests nothing (seen
    on a Redis Cluster, where a poll takes longer): the pause is looked at again before
    ingesting, the cursor stays, and the poll after the resume reads the mention."""
    notifications = "app.bsky.notification.listNotifications"
    async with make_world(BLUESKY_POLL_SECONDS=0.2) as w:
        before = len(w.bluesky.requests_to(notifications))
        w.bluesky.delay(1.0, path=notifications)
        await w.wait_for(
            lambda: len(w.bluesky.requests_to(notifications)) > before, 5, "a poll in flight"
        )
        assert "Paused" in await ops(w, ALICE, "pause 5")
        w.bluesky.add_mention("colere.bsky.social", "bande de connards, vous êtes nuls")
        await asyncio.sleep(1.3)  # the delayed poll is answered, with the mention
        assert await w.app.store.open_case_ids() == []
        assert "Resumed" in await ops(w, ALICE, "resume")

        async def opened() -> list[str]:
            return await w.app.store.open_case_ids()

        await w.wait_for(opened, 5, "the mention polled after resume")


async def test_ops_and_the_acknowledge_button_work_over_socket_mode(
    make_world: SandboxFactory,
) -> None:
    async with make_world(socket_mode=True, ASSISTANT_SLA_SECONDS=1) as w:
        await w.slack.wait_for_socket()
        case = await open_case(w)
        page = await wait_page(w, case)
        assert "pause MINUTES" in await ops(w, ALICE, "help")
        assert (await w.slack.click_button(OLIVIA, CHANNEL, page.ts, ACK_ACTION)).ok
        await w.wait_for(lambda: "Acknowledged by" in shown(w, page), 5, "the page updated")


async def test_a_page_that_gave_up_is_tried_again_later_and_one_bad_viewer_blocks_no_home(
    world: Sandbox,
) -> None:
    handler = world.app.jobs.handlers[keys.JOB_PAGE]
    await handler.give_up(Job(keys.JOB_PAGE, "trouble.slack.1"), "Slack down")
    due = (await world.app.store.pending_jobs())["page:trouble.slack.1"]
    assert 250 < due - time.time() <= 300

    await world.app.pages.add_viewer("UNOBODY", time.time())  # gone from the workspace
    await world.app.pages.add_viewer(ALICE, time.time())
    await open_case(world)  # a change App Home shows
    await world.wait_for(lambda: world.slack.homes.get(ALICE), 5, "Alice's Home refreshed")


async def test_a_page_whose_case_settled_without_its_resolution_resolves_itself(
    make_world: SandboxFactory,
) -> None:
    async with make_world(ASSISTANT_SLA_SECONDS=1, ASSISTANT_ESCALATION_POLICY=TWO_LEVELS) as w:
        case = await open_case(w)
        page = await wait_page(w, case)
        # what a crash between the publish and the page's resolution leaves: a settled case
        await w.app.store.redis.hset(keys.case(case.case_id), "status", "published")
        await w.wait_for(lambda: "Resolved" in shown(w, page), 5, "the page resolved")
        await asyncio.sleep(1.5)
        assert not any(t.startswith(f"<@{MAX}>") for t in thread_texts(w, case))


async def test_the_trouble_watch_stops_even_when_a_check_swallows_the_cancel(
    world: Sandbox, monkeypatch: Any
) -> None:
    """SIGTERM's drain stops the watch. A check may swallow the cancellation (Python 3.11's
    asyncio.wait_for inside redis-py can, under load): the watch still ends, where a full
    test run once hung in its stop() for good."""
    monkeypatch.setattr(oncall, "TROUBLE_CHECK_SECONDS", 0.01)
    checking = asyncio.Event()
    swallowed: list[bool] = []

    class Swallowing(oncall.TroubleWatch):
        async def check(self) -> list[str]:
            checking.set()
            try:
                await asyncio.sleep(0.2)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed.append(True)  # once: what redis-py's wait_for may do
            return []

    watch = Swallowing(world.settings, world.app.trouble.pages, world.app.trouble.pager)
    watch.start()
    await asyncio.wait_for(checking.wait(), 5)
    stopping = asyncio.create_task(watch.stop())
    done, _ = await asyncio.wait({stopping}, timeout=2)
    assert swallowed and done, "stop() still waits for the watch"
