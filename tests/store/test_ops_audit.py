"""The ops audit trail on a real Redis (one node and a Cluster): every step of a page (opened,
sent, acknowledged, resolved) and every pause and resume writes exactly one entry in the ops
stream of its day, in the same Lua step (page.lua, pause.lua: one slot, {pages}); a step that
changes nothing writes none; ``assistant audit CASE`` merges a case's entries in time order."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis

from assistant import reports
from assistant.store import Store, keys
from assistant.store.oncall import OncallStore
from tests.conftest import BACKENDS, all_keys
from tests.store.test_store import NOW, make_case

RETENTION = 3600
DAY = datetime.fromtimestamp(NOW, UTC).date().isoformat()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def pages(redis: aioredis.Redis) -> OncallStore:
    return OncallStore(Store(redis, retention_seconds=RETENTION))


async def ops(pages: OncallStore) -> list[tuple[str, str, str]]:
    """(actor, action, case) of every ops entry around NOW, oldest first."""
    entries = await pages.audit_entries(NOW - 86400, NOW + 86400)
    return [(e.actor, e.action, e.case_id) for e in entries]


async def open_page(pages: OncallStore, page_id: str, case_id: str | None, at: float) -> bool:
    return await pages.open_page(
        page_id,
        text="<!subteam^SONCALL> case waiting",
        channel="C1",
        thread_ts="1.1",
        case_id=case_id,
        critical=False,
        now=at,
    )


async def test_each_page_step_writes_one_entry_and_a_no_op_writes_none(
    pages: OncallStore, redis: aioredis.Redis
) -> None:
    assert await open_page(pages, "case.c1", "c1", NOW)
    assert not await open_page(pages, "case.c1", "c1", NOW + 1)  # a retry: no second page
    assert await pages.advance("case.c1", 0, "C1", "9.9", NOW + 2)
    assert not await pages.advance("case.c1", 0, "C1", "9.9", NOW + 3)  # the same step again
    assert (await pages.ack("case.c1", "UOLIVIA", NOW + 60))[0] == "acked"
    assert (await pages.ack("case.c1", "UMAX", NOW + 61))[0] == "already"
    assert not await pages.resolve("case.c1", "settled", NOW + 62)  # acked: not open
    assert await ops(pages) == [
        ("assistant", "paged", "c1"),
        ("assistant", "page_sent", "c1"),
        ("UOLIVIA", "acknowledged", "c1"),
    ]
    paged, sent, acked = await pages.audit_entries(NOW - 1, NOW + 100)
    assert paged.details == {
        "page": "case.c1",
        "critical": False,
        "channel": "C1",
        "text": "<!subteam^SONCALL> case waiting",
    }
    assert sent.details == {"page": "case.c1", "notification": 1, "delivered": True}
    assert acked.at == NOW + 60
    assert acked.details == {"page": "case.c1", "after_ms": 60_000, "notifications": 1}

    # a page about no case; resolved, then an ack comes too late
    assert await open_page(pages, "trouble.slack.1", None, NOW + 70)
    assert await pages.resolve("trouble.slack.1", "settled", NOW + 80)
    assert (await pages.ack("trouble.slack.1", "UOLIVIA", NOW + 90))[0] == "resolved"
    assert (await pages.ack("nope", "UOLIVIA", NOW + 91))[0] == "unknown"
    assert (await ops(pages))[3:] == [
        ("assistant", "paged", ""),
        ("assistant", "page_resolved", ""),
    ]
    stream = keys.ops_audit(DAY)
    assert 0 < await redis.ttl(stream) <= RETENTION
    for key in await all_keys(redis):
        assert await redis.ttl(key) > 0, f"{key} has no retention"


async def test_a_page_about_a_case_it_does_not_resolve_names_it(pages: OncallStore) -> None:
    """A failed publish is paged after the case settled (case_id unset: settling it again must
    not resolve the page), yet its entries name the case."""
    assert await pages.open_page(
        "publish.c2", text="failed", channel="C1", thread_ts=None, case_id=None,
        critical=False, now=NOW, about="c2",
    )  # fmt: skip
    await pages.ack("publish.c2", "UMAX", NOW + 5)
    assert await ops(pages) == [("assistant", "paged", "c2"), ("UMAX", "acknowledged", "c2")]
    assert await pages.case_page_ids("c2") == []
    stored = await pages.get_page("publish.c2")
    assert stored is not None and stored.about == "c2" and stored.case_id == ""


async def test_pause_and_resume_each_write_one_entry(
    pages: OncallStore, redis: aioredis.Redis
) -> None:
    assert not await pages.resume("UALICE", NOW)  # not paused: nothing to record
    assert await ops(pages) == []
    await pages.pause("UALICE", NOW + 300, NOW)
    assert await pages.paused_until(NOW + 1) == NOW + 300
    await pages.pause("UBOB", NOW + 600, NOW + 10)  # extended: the entry says what it replaced
    assert await pages.resume("UALICE", NOW + 20)
    assert not await pages.resume("UBOB", NOW + 21)
    assert await pages.paused_until(NOW + 22) is None
    assert await ops(pages) == [
        ("UALICE", "paused", ""),
        ("UBOB", "paused", ""),
        ("UALICE", "resumed", ""),
    ]
    first, second, resumed = await pages.audit_entries(NOW - 1, NOW + 100)
    assert first.details == {"until": (NOW + 300) * 1000, "minutes": 5}
    assert second.details["replaced_until"] == (NOW + 300) * 1000
    assert resumed.details == {"was_until": (NOW + 600) * 1000}
    assert 0 < await redis.ttl(keys.ops_audit(DAY)) <= RETENTION


async def test_a_pause_of_an_earlier_version_is_kept(
    pages: OncallStore, redis: aioredis.Redis
) -> None:
    import time

    now = time.time()
    await redis.set(keys.legacy_paused(), str(int((now + 600) * 1000)), px=600_000)
    assert await pages.migrate_legacy_pause(now)
    until = await pages.paused_until(now)
    assert until is not None and abs(until - (now + 600)) < 1
    assert not await redis.exists(keys.legacy_paused())
    assert not await pages.migrate_legacy_pause(now)  # done: a no-op


async def test_entries_are_read_by_day_and_period_and_merged_with_the_case(
    redis: aioredis.Redis,
) -> None:
    store = Store(redis, retention_seconds=30 * 86400)
    pages = OncallStore(store)
    case = make_case()
    cid = case.case_id
    midnight = datetime(2026, 11, 25, tzinfo=UTC).timestamp()
    assert (await store.open_case(case.model_copy(update={"opened_at": midnight - 7200})))[0]
    await store.finish_case(cid, "escalated", midnight - 1)
    await open_page(pages, f"case.{cid}", cid, midnight - 2)  # 23:59:58, the day before
    await open_page(pages, "case.other", "other", midnight - 0.5)
    await pages.ack(f"case.{cid}", "UOLIVIA", midnight + 1)  # 00:00:01: the next day's stream
    await pages.pause("UALICE", midnight + 3600, midnight + 2)
    before = datetime.fromtimestamp(midnight - 2, UTC).date().isoformat()
    assert await redis.xlen(keys.ops_audit(before)) == 2
    assert await redis.xlen(keys.ops_audit("2026-11-25")) == 2
    period = await pages.audit_entries(midnight - 3, midnight + 3)
    assert [e.action for e in period] == ["paged", "paged", "acknowledged", "paused"]
    assert [e.action for e in await pages.audit_entries(midnight, midnight + 3)] == [
        "acknowledged",
        "paused",
    ]
    about = await pages.audit_entries(0, midnight + 3, case_id=cid)
    assert [e.action for e in about] == ["paged", "acknowledged"]

    trail = await reports.case_trail(store, cid, midnight + 10)
    assert [(e.actor, e.action) for e in trail] == [
        ("assistant", "case_opened"),
        ("assistant", "paged"),
        ("assistant", "escalated"),
        ("UOLIVIA", "acknowledged"),
    ]
    assert {e.case_id for e in trail} == {cid}
    assert await reports.case_trail(store, "nope", midnight) == []
    exported = await reports.period_entries(store, midnight - 7200, midnight + 10)
    assert [(e.case_id, e.action) for e in exported] == [
        (cid, "case_opened"),
        (cid, "paged"),
        (cid, "escalated"),
        ("other", "paged"),
        (cid, "acknowledged"),
        ("", "paused"),
    ]


async def settle(store: Store, n: int, at: float, *, publish: bool) -> str:
    """A case opened at ``at`` with a proposal and two approvals, published (or failed)."""
    case = make_case(f"50{n}").model_copy(update={"opened_at": at, "sla_deadline": at + 1800})
    cid = case.case_id
    await store.open_case(case)
    await store.card_posted(cid, "C1", f"{n}.1", at + 1)
    await store.proposal(
        "add", event_id=f"P{n}", case_id=cid, channel="C1", ts=f"{n}.2", now=at + 5,
        user="UPROP", text="Merci",
    )  # fmt: skip
    for user in ("U1", "UMGR"):
        await store.vote(
            "add", event_id=f"V{n}{user}", case_id=cid, proposal_ts=f"{n}.2", user=user,
            kind="approve", emoji="+1", is_manager=user == "UMGR", approvals_required=2,
            manager_approvals_required=1, now=at + 6,
        )  # fmt: skip
    outcome = "published" if publish else "failed"
    assert await store.finish_case(cid, outcome, at + 10, detail="https://x/1")
    return cid


async def test_todays_report_reads_only_open_cases_and_equals_the_report(
    redis: aioredis.Redis,
) -> None:
    """App Home's figures (reports.TodayReport) are the report of the day: the same Report as
    period_report at every step, though a settled case's trail is read only once."""
    store = Store(redis, retention_seconds=3 * 86400)
    zone = "Europe/Paris"
    midnight = reports.day_start(NOW, zone)
    today = reports.TodayReport(store, zone)
    await settle(store, 1, midnight - 600, publish=True)  # yesterday's (Paris)
    first = await settle(store, 2, midnight + 600, publish=True)
    await settle(store, 3, midnight + 700, publish=False)
    waiting = make_case("504").model_copy(update={"opened_at": midnight + 800})
    await store.open_case(waiting)
    now = midnight + 3600
    got = await today.report(now)
    assert got == await reports.period_report(store, midnight, now)
    assert (got.cases, got.published, got.failed, got.to_publish.count) == (3, 1, 1, 1)
    # a settled trail is not read again: its figures stay even if the stream went away
    await redis.delete(keys.audit(first))
    assert (await today.report(now + 1)).published == 1
    assert (await reports.period_report(store, midnight, now + 1)).published == 0
    await redis.delete(keys.audit(waiting.case_id))  # an open case is read at each refresh
    assert (await today.report(now + 2)).cases == 2
    # the next day starts from nothing
    tomorrow = await today.report(midnight + 86400 + 60)
    assert (tomorrow.cases, tomorrow.published) == (0, 0)
