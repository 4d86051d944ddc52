"""Audit trail, tone check, reports and the weekly digest on the real app over HTTP, with the
Slack emulator's file upload flow and real Redis (one node and a Cluster)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from assistant import reports
from assistant.errors import SlackError
from assistant.models import CaseStatus
from assistant.oncall_blocks import ACK_ACTION
from assistant.reports import WeeklyDigest
from assistant.sandbox import ALICE, BOB, BOT_TOKEN, CAROL, CHANNEL, MANON, MAX, OLIVIA, Sandbox
from tests.conftest import BACKENDS
from tests.e2e.conftest import SandboxFactory
from tests.e2e.helpers import card_message, open_case, propose, published, react
from tests.e2e.test_oncall import ack_in_home, ops, wait_page
from tests.store.test_store import make_case
from tests.unit.test_reports import png_size

HOSTILE_PROPOSAL = "Ferme ta gueule, espèce de connard"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_a_hostile_proposal_is_marked_and_needs_one_more_manager(world: Sandbox) -> None:
    case = await open_case(world)
    ts = await propose(world, case, ALICE, HOSTILE_PROPOSAL)
    await world.wait_for(
        lambda: world.slack.message(CHANNEL, ts).reactions.get("warning"), 5, "tone warning"
    )
    await world.wait_for(
        lambda: (
            "Tone check:* 1 proposal flagged as hostile: it needs 1 more manager approval"
            in json.dumps(card_message(world, case).blocks, ensure_ascii=False)
        ),
        5,
        "the card shows the flag",
    )
    await react(world, CAROL, ts)
    await react(world, MAX, ts)  # the usual quorum: 2 approvals, 1 manager
    await world.slack.drain()
    assert (await world.case(case.case_id)).status == CaseStatus.OPEN
    assert world.mastodon.created_statuses == []
    await react(world, MANON, ts)  # the second manager
    await published(world, case)
    history = await world.app.store.case_history(case.case_id)
    added = next(e for e in history if e.action == "proposal_added")
    assert added.actor == ALICE and added.details["tone_flagged"] is True
    approved = next(e for e in history if e.action == "approved")
    assert approved.details["manager_approvals"] == 2 and approved.details["tone_flagged"]


async def test_the_tone_surcharge_is_configurable(make_world: SandboxFactory) -> None:
    async with make_world(ASSISTANT_TONE_EXTRA_MANAGER_APPROVALS=0) as world:
        case = await open_case(world)
        ts = await propose(world, case, ALICE, HOSTILE_PROPOSAL)
        await react(world, CAROL, ts)
        await react(world, MAX, ts)
        await published(world, case)  # marked, but the usual quorum passes it
        assert world.slack.message(CHANNEL, ts).reactions.get("warning")


async def test_the_loop_leaves_a_complete_trail(world: Sandbox) -> None:
    case = await open_case(world)
    ts = await propose(world, case, ALICE, "Merci pour ce retour, on regarde 🙂")
    await react(world, ALICE, ts)  # self-vote
    await react(world, BOB, ts)
    await react(world, MAX, ts)
    await published(world, case)
    history = await world.app.store.case_history(case.case_id)
    assert [(e.actor, e.action) for e in history] == [
        ("assistant", "case_opened"),
        ("assistant", "card_attempt"),
        ("assistant", "card_posted"),
        (ALICE, "proposal_added"),
        (ALICE, "vote_ignored"),
        (BOB, "vote_counted"),
        (MAX, "vote_counted"),
        ("assistant", "approved"),
        ("assistant", "publish_attempt"),
        ("assistant", "published"),
    ]
    assert history[0].details["evidence"] and history[0].details["severity"]


async def test_weekly_digest_posts_the_report_and_a_png_once(world: Sandbox) -> None:
    case = await open_case(world)
    ts = await propose(world, case, ALICE, "Merci pour ce retour, on regarde 🙂")
    await react(world, BOB, ts)
    await react(world, MAX, ts)
    await published(world, case)
    now = time.time()
    settings = world.settings.model_copy(update={"ASSISTANT_DIGEST_DAY": "mon"})
    digests = [WeeklyDigest(settings, r.store, r.slack, clock=lambda: now) for r in (world.app,)]
    await digests[0].ensure()
    await digests[0].ensure()  # another replica starting: still one job
    pending = [m for m in await world.app.store.pending_jobs() if m.startswith("digest:")]
    assert pending == ["digest:weekly"]

    job = reports.Job("digest", "weekly")
    next_run = await digests[0].run(job)
    assert next_run == reports.next_digest(now, "mon", settings.ASSISTANT_DIGEST_HOUR)
    assert await digests[0].run(job) == next_run  # a second run in the same week: no post
    uploads = [c for c in world.slack.calls if c.method == "files.completeUploadExternal"]
    assert len(uploads) == 1 and uploads[0].ok
    (file,) = world.slack.files.values()
    assert file.content is not None and file.shared and file.channel == CHANNEL
    assert png_size(file.content) == reports.CHART_SIZE
    message = world.slack.message(CHANNEL, str(file.message_ts))
    assert message.files and message.files[0]["id"] == file.id
    assert "Weekly digest" in message.text and "Replies published       1" in message.text


@pytest.mark.parametrize("fault", ["5xx after the share", "connection dropped after the share"])
async def test_a_lost_answer_on_the_digest_upload_yields_one_digest(
    world: Sandbox, fault: str
) -> None:
    """The upload is shared in the channel but Slack's answer is lost: the job fails, and its
    retry looks for the shared file before uploading again."""
    if fault.startswith("5xx"):
        world.slack.fail_after_commit("files.completeUploadExternal")
    else:
        world.slack.drop_after_commit("files.completeUploadExternal")
    now = time.time()
    settings = world.settings.model_copy(update={"ASSISTANT_DIGEST_DAY": "mon"})
    digest = WeeklyDigest(settings, world.app.store, world.app.slack, clock=lambda: now)
    job = reports.Job("digest", "weekly")
    with pytest.raises(SlackError) as lost:
        await digest.run(job)
    assert lost.value.transient  # the job runner retries it
    await digest.run(job)
    shares = [c for c in world.slack.calls if c.method == "files.completeUploadExternal"]
    assert len(shares) == 1 and shares[0].response.get("committed")
    shared = [m for m in world.slack.bot_messages(CHANNEL) if m.files]
    assert len(shared) == 1 and "Weekly digest" in shared[0].text


async def test_a_disabled_digest_queues_nothing(world: Sandbox) -> None:
    assert world.settings.ASSISTANT_DIGEST_DAY is None
    assert not [m for m in await world.app.store.pending_jobs() if m.startswith("digest:")]


def cli(*args: str, redis_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REDIS_URL": redis_url}
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.mark.parametrize("backend", ["single"])
async def test_audit_and_report_commands(world: Sandbox, redis_url: str, tmp_path: Path) -> None:
    case = await open_case(world)
    ts = await propose(world, case, ALICE, "Merci pour ce retour, on regarde 🙂")
    await react(world, BOB, ts)
    await react(world, MAX, ts)
    await published(world, case)

    shown = cli("audit", case.case_id, redis_url=redis_url)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert "case_opened" in lines[0] and "published" in lines[-1]
    assert any(BOB in line and "vote_counted" in line for line in lines)

    exported = cli("audit", "--since", "1d", "--format", "csv", redis_url=redis_url)
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert {r["case"] for r in rows} == {case.case_id} and len(rows) == len(lines)

    chart = tmp_path / "chart.png"
    report = cli("report", "--since", "7d", "--chart", str(chart), redis_url=redis_url)
    assert report.returncode == 0, report.stderr
    assert "Replies published       1" in report.stdout
    assert "Mentions seen           1 (1 hostile)" in report.stdout
    assert png_size(chart.read_bytes()) == reports.CHART_SIZE

    for args, message in [
        (("audit", "nope"), "no case 'nope'"),
        (("audit", "--since", "7x"), "--since '7x': expected a duration"),
        (("audit",), "give either a case id or --since"),
        (("report", "--since", "2999-01-01"), "is in the future"),
    ]:
        bad = cli(*args, redis_url=redis_url)
        assert bad.returncode == 2 and bad.stdout == ""
        assert len(bad.stderr.splitlines()) == 1 and message in bad.stderr, bad.stderr


async def test_the_digest_job_runs_once_across_replicas(make_world: SandboxFactory) -> None:
    async with make_world(ASSISTANT_DIGEST_DAY="sun", ASSISTANT_DIGEST_HOUR=23) as world:
        replicas = [world.app, await world.add_replica(ASSISTANT_DIGEST_DAY="sun")]
        (due,) = [v for m, v in (await world.app.store.pending_jobs()).items() if "digest" in m]
        assert due == reports.next_digest(time.time(), "sun", 23)
        # the day comes: both replicas' job runners see the job due at once
        await world.app.store.enqueue("digest", "weekly", time.time())
        for replica in replicas:
            replica.jobs.wake()

        async def rescheduled() -> bool:
            pending = await world.app.store.pending_jobs()
            return pending.get("digest:weekly", 0) > time.time() + 3600

        await world.wait_for(rescheduled, 15, "the digest posted and rescheduled")
        for replica in replicas:
            replica.jobs.wake()
        await asyncio.sleep(0.5)
        uploads = world.slack.calls_to("files.completeUploadExternal")
        assert [c.ok for c in uploads] == [True]
        assert len(world.slack.calls_to("files.getUploadURLExternal")) == 1


async def test_the_emulator_refuses_uploads_as_slack_does(world: Sandbox) -> None:
    client = AsyncWebClient(token=BOT_TOKEN, base_url=world.slack.api_url)
    with pytest.raises(SlackApiError) as err:
        await client.files_completeUploadExternal(files=[{"id": "FNOPE"}], channel_id=CHANNEL)
    assert err.value.response["error"] == "file_not_found"
    with pytest.raises(SlackApiError) as err:
        await client.files_getUploadURLExternal(filename="x.png", length=0)
    assert err.value.response["error"] == "invalid_arguments"
    reserved = await client.files_getUploadURLExternal(filename="x.png", length=4)
    async with aiohttp.ClientSession() as http:
        short = await http.post(str(reserved["upload_url"]), data=b"abc")
        assert short.status == 400  # not the announced size
    with pytest.raises(SlackApiError) as err:  # nothing was uploaded under that id
        await client.files_completeUploadExternal(
            files=[{"id": reserved["file_id"]}], channel_id=CHANNEL
        )
    assert err.value.response["error"] == "file_not_found"
    done = await client.files_upload_v2(
        channel=CHANNEL, content=b"\x89PNG....", filename="a.png", initial_comment="hi"
    )
    assert done["files"][0]["name"] == "a.png"
    assert world.slack.files[done["files"][0]["id"]].content == b"\x89PNG...."


async def test_mentions_seen_count_each_mention_once(world: Sandbox) -> None:
    """The report's "mentions seen / hostile": a webhook retry of the same hostile mention (or
    the poller seeing it again) is not a second mention."""
    from datetime import UTC, datetime

    from assistant.sandbox import webhook_body

    hostile = webhook_body(world.mastodon.add_mention("r@m.social", "bande de connards"))
    calm = webhook_body(world.mastodon.add_mention("c@m.social", "merci pour votre aide"))
    assert (await world.ingest(hostile))[0] == 202
    assert (await world.ingest(hostile))[1]["status"] == "duplicate"
    assert (await world.ingest(calm))[0] == 200
    today = datetime.now(UTC).date().isoformat()
    assert await world.app.store.mention_counts([today]) == (2, 1)


@pytest.mark.parametrize("backend", ["single"])
async def test_an_ack_a_pause_and_a_resume_each_write_one_entry_shown_and_exported(
    make_world: SandboxFactory, redis_url: str
) -> None:
    """Over Slack (the page's button, ``/ops``): each decision is one entry of the ops trail;
    a second ack, an ack by command of an acked page and a resume with no pause write none.
    ``assistant audit CASE`` shows the ack among the case's own entries, in time order, and
    the export carries the ops entries."""
    policy = f"{OLIVIA} after 30s; {MAX} after 30s"
    async with make_world(ASSISTANT_SLA_SECONDS=1, ASSISTANT_ESCALATION_POLICY=policy) as w:
        start = time.time()
        case = await open_case(w)
        cid = case.case_id
        page = await wait_page(w, case)
        assert (await w.slack.click_button(OLIVIA, CHANNEL, page.ts, ACK_ACTION)).status == 200
        await ack_in_home(w, MAX, f"case.{cid}")  # a second press (App Home): changes nothing
        assert "already acknowledged" in await ops(w, BOB, f"ack {cid}")
        assert "Paused for 5 min" in await ops(w, ALICE, "pause 5")
        assert "Resumed" in await ops(w, BOB, "resume")
        assert "Not paused" in await ops(w, BOB, "resume")
        entries = await w.app.pages.audit_entries(start - 1, time.time() + 1)
        assert [(e.actor, e.action, e.case_id) for e in entries] == [
            ("assistant", "paged", cid),
            ("assistant", "page_sent", cid),
            (OLIVIA, "acknowledged", cid),
            (ALICE, "paused", ""),
            (BOB, "resumed", ""),
        ]
        acked = entries[2].details
        assert acked["page"] == f"case.{cid}" and 0 < acked["after_ms"] < 10_000

        shown = cli("audit", cid, redis_url=redis_url)
        assert shown.returncode == 0, shown.stderr
        lines = shown.stdout.splitlines()
        actions = [line.split()[2] for line in lines]
        assert actions.count("acknowledged") == 1 and actions.count("paged") == 1
        assert actions[0] == "case_opened" and actions[-1] == "acknowledged", actions
        assert actions.index("card_posted") < actions.index("paged")
        assert OLIVIA in lines[-1] and f"case.{cid}" in lines[-1]
        assert [line.split()[0] for line in lines] == sorted(line.split()[0] for line in lines)
        assert "paused" not in actions  # about no case

        exported = cli("audit", "--since", "1h", redis_url=redis_url)
        assert exported.returncode == 0, exported.stderr
        rows = [json.loads(line) for line in exported.stdout.splitlines()]
        ops_rows = [(r["actor"], r["action"], r["case"]) for r in rows if r["actor"] != "assistant"]
        assert ops_rows == [
            (OLIVIA, "acknowledged", cid),
            (ALICE, "paused", ""),
            (BOB, "resumed", ""),
        ]
        assert [r["time"] for r in rows] == sorted(r["time"] for r in rows)
        assert {r["case"] for r in rows} == {cid, ""}
        as_csv = cli("audit", "--since", "1h", "--format", "csv", redis_url=redis_url)
        csv_rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
        assert [(r["case"], r["action"]) for r in csv_rows] == [
            (r["case"], r["action"]) for r in rows
        ]
        report = cli("report", "--since", "1h", redis_url=redis_url)
        assert "Pages                   1; time to ack median" in report.stdout, report.stdout


def a_zone_whose_day_is_not_utcs(now: float) -> str:
    """A time zone whose midnight is hours away from UTC's, and whose time of day leaves an
    hour on each side of now (so a case can be opened on either side of its midnight)."""
    utc_midnight = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0)
    for zone in ("Asia/Tokyo", "America/New_York", "Pacific/Kiritimati", "Pacific/Honolulu"):
        local = datetime.fromtimestamp(now, ZoneInfo(zone))
        midnight = reports.day_start(now, zone)
        if 2 <= local.hour < 22 and abs(midnight - utc_midnight.timestamp()) >= 7200:
            return zone
    raise AssertionError("no zone fits")  # one of them always does


def report_figures(text: str) -> tuple[str, str, str]:
    """(cases, replies published, median mention → publish) of ``assistant report``."""
    lines = {line[:24].strip(): line[24:].strip() for line in text.splitlines()}
    median = lines["Mention → publish"].removeprefix("median ").split(",")[0]
    return lines["Cases"], lines["Replies published"], median


@pytest.mark.parametrize("backend", ["single"])
async def test_app_home_shows_the_reports_figures_for_today_in_the_team_time_zone(
    make_world: SandboxFactory, redis_url: str
) -> None:
    zone = a_zone_whose_day_is_not_utcs(time.time())
    async with make_world(ASSISTANT_TIME_ZONE=zone) as w:
        now = time.time()
        midnight = reports.day_start(now, zone)
        for n, opened in enumerate((midnight - 1800, midnight + 1800)):  # yesterday's, today's
            earlier = make_case(f"77{n}").model_copy(
                update={"opened_at": opened, "channel": CHANNEL, "sla_deadline": now + 3600}
            )
            assert (await w.app.store.open_case(earlier))[0]
        case = await open_case(w)
        ts = await propose(w, case, ALICE, "Merci pour ce retour, on regarde 🙂")
        await react(w, BOB, ts)
        await react(w, MAX, ts)
        await published(w, case)
        assert (await w.slack.open_home(ALICE)).status == 200

        def today() -> str | None:
            home = json.dumps(w.slack.homes.get(ALICE, {}), ensure_ascii=False)
            start = home.find(f"*Today ({zone})*")
            return home[start : home.find('"', start)] if start >= 0 else None

        line = await w.wait_for(
            lambda: (t := today()) and "1 reply(ies) published" in t and t, 5, "App Home"
        )
        since = datetime.fromtimestamp(midnight, ZoneInfo(zone)).isoformat()
        report = cli("report", "--since", since, redis_url=redis_url)
        assert report.returncode == 0, report.stderr
        cases, replies, median = report_figures(report.stdout)
        assert (cases, replies) == ("2", "1")  # the case opened before midnight is yesterday's
        assert line == (
            f"*Today ({zone})*: {cases} case(s) opened · {replies} reply(ies) published · "
            f"median time to reply {median}"
        )
