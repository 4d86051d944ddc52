"""Reports from the audit trail: figures of a period, a chart, exports, the weekly digest,
and today's figures App Home shows.

The audit trail is two kinds of streams: each case's own (keys.audit: its decisions) and
on-call's, one per day (keys.ops_audit: pages opened, sent, acknowledged and resolved, pauses
and resumes; an entry names the case a page is about). A period's case figures are the cohort
of cases **opened** in it (``--since 7d``: the cases opened in the last seven days, with their
whole history), found through the cases-by-time index (keys.opened_cases) without SCAN; its
pages are those opened in it, read from the ops streams of its days. The figures are pure
functions of those entries plus the daily mention counters. The chart is drawn with matplotlib
(Agg backend, imported only when a chart is drawn, so start-up and the CLI stay fast).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import math
import re
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from assistant.store import AuditEntry, Job, Store, keys
from assistant.store.oncall import OncallStore, utc_days

if TYPE_CHECKING:
    from assistant.settings import Settings
    from assistant.slack import SlackGateway

log = logging.getLogger(__name__)

CHART_SIZE = (1200, 600)  # pixels of the PNG (width, height)
_DPI = 100
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SINCE = re.compile(r"^(\d{1,5})([mhdw])$")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class RangeError(ValueError):
    """A malformed period (one line for the user)."""


def parse_since(value: str, now: float) -> float:
    """The start of a period: ``30m``, ``12h``, ``7d``, ``2w`` back from now, or a date
    (``2026-11-01``, UTC midnight) or ISO time. RangeError in one line when malformed."""
    text = value.strip()
    if match := _SINCE.match(text):
        amount = int(match.group(1))
        if amount == 0:
            raise RangeError(f"--since {value!r}: the period is empty")
        return now - amount * _UNITS[match.group(2)]
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise RangeError(
            f"--since {value!r}: expected a duration like 30m, 12h, 7d or 2w, or a date like "
            "2026-11-01"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    start = when.timestamp()
    if start >= now:
        raise RangeError(f"--since {value!r} is in the future")
    return start


# -- figures ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Spread:
    """Median and 90th percentile of durations (seconds), and how many there were."""

    count: int
    median: float | None
    p90: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            return cls(0, None, None)
        ordered = sorted(values)
        rank = max(0, math.ceil(0.9 * len(ordered)) - 1)  # nearest-rank p90
        return cls(len(ordered), statistics.median(ordered), ordered[rank])


@dataclass(frozen=True, slots=True)
class DayFigures:
    day: str  # YYYY-MM-DD (UTC)
    cases: int
    published: int
    median_to_publish: float | None  # seconds, of the cases opened that day


@dataclass(frozen=True, slots=True)
class Report:
    since: float
    until: float
    mentions_seen: int
    mentions_hostile: int
    cases: int
    by_network: dict[str, int]
    by_severity: dict[str, int]
    published: int
    failed: int
    to_card: Spread
    to_first_proposal: Spread
    to_publish: Spread
    sla_kept: int
    sla_missed: int
    pages: int
    to_ack: Spread
    approvals_by_person: dict[str, int]
    proposals: int
    flagged_proposals: int
    days: list[DayFigures] = field(default_factory=list)

    @property
    def proposals_per_case(self) -> float:
        return self.proposals / self.cases if self.cases else 0.0


@dataclass(frozen=True, slots=True)
class CaseFigures:
    """What a report reads of one case's trail (pure: ``case_figures``)."""

    platform: str
    severity: str
    day: str  # the UTC day it opened
    to_card: float | None  # seconds from the mention
    to_first_proposal: float | None
    to_publish: float | None
    published_at: float | None
    failed: bool
    sla_deadline: float | None
    proposals: int
    flagged: int
    approvals: dict[str, int]  # approvals counted (minus retracted) per person
    settled: bool  # published or failed: later entries change none of the above


def case_figures(entries: Sequence[AuditEntry]) -> CaseFigures | None:
    """One pass over a case's trail; None for a trail cut by the retention (no case_opened)."""
    firsts: dict[str, AuditEntry] = {}
    added = withdrawn = tone = 0
    approved: Counter[str] = Counter()
    for e in entries:
        action = e.action
        if action not in firsts:
            firsts[action] = e
        if action == "proposal_added":
            added += 1
            tone += bool(e.details.get("tone_flagged"))
        elif action == "proposal_withdrawn":
            withdrawn += 1
        elif action in ("vote_counted", "vote_retracted") and e.details.get("kind") == "approve":
            approved[e.actor] += 1 if action == "vote_counted" else -1
    opened = firsts.get("case_opened")
    if opened is None:
        return None
    info = opened.details
    mention_at = float(info.get("mention_at", opened.at * 1000)) / 1000

    def since_mention(action: str) -> float | None:
        entry = firsts.get(action)
        return None if entry is None else max(0.0, entry.at - mention_at)

    done = firsts.get("published")
    deadline = info.get("sla_deadline")
    return CaseFigures(
        platform=str(info.get("platform", "?")),
        severity=str(info.get("severity", "?")),
        day=datetime.fromtimestamp(opened.at, UTC).date().isoformat(),
        to_card=since_mention("card_posted"),
        to_first_proposal=since_mention("proposal_added"),
        to_publish=since_mention("published"),
        published_at=done.at if done is not None else None,
        failed="publish_failed" in firsts,
        sla_deadline=float(deadline) / 1000 if deadline is not None else None,
        proposals=added - withdrawn,
        flagged=tone,
        approvals=dict(approved),
        settled=done is not None or "publish_failed" in firsts,
    )


def build_report(
    histories: dict[str, list[AuditEntry]],
    *,
    since: float,
    until: float,
    mentions: tuple[int, int] = (0, 0),
    ops: Sequence[AuditEntry] = (),
) -> Report:
    """The figures of a period from the audit trails of the cases opened in it and the ops
    entries of the period (pages: those opened in it, and how long each waited for its
    acknowledgement) (pure)."""
    figures = [f for entries in histories.values() if (f := case_figures(entries))]
    return aggregate(figures, since=since, until=until, mentions=mentions, ops=ops)


def aggregate(
    figures: Iterable[CaseFigures],
    *,
    since: float,
    until: float,
    mentions: tuple[int, int] = (0, 0),
    ops: Sequence[AuditEntry] = (),
) -> Report:
    """The report from each case's figures and the period's ops entries (pure)."""
    by_network: Counter[str] = Counter()
    by_severity: Counter[str] = Counter()
    approvals: Counter[str] = Counter()
    to_card: list[float] = []
    to_first: list[float] = []
    to_publish: list[float] = []
    to_ack: list[float] = []
    published = failed = kept = missed = proposals = flagged = 0
    per_day: dict[str, list[float]] = defaultdict(list)
    day_cases: Counter[str] = Counter()
    day_published: Counter[str] = Counter()
    cases = 0
    for case in figures:
        cases += 1
        proposals += case.proposals
        flagged += case.flagged
        approvals.update(case.approvals)
        by_network[case.platform] += 1
        by_severity[case.severity] += 1
        day_cases[case.day] += 1
        if case.to_card is not None:
            to_card.append(case.to_card)
        if case.to_first_proposal is not None:
            to_first.append(case.to_first_proposal)
        done = case.published_at
        if case.to_publish is not None:
            published += 1
            day_published[case.day] += 1
            to_publish.append(case.to_publish)
            per_day[case.day].append(case.to_publish)
        failed += case.failed
        if case.sla_deadline is not None:
            if done is not None and done <= case.sla_deadline:
                kept += 1
            elif done is not None or case.sla_deadline <= until:
                missed += 1
    paged = {str(e.details.get("page")) for e in ops if e.action == "paged"}
    for e in ops:
        if e.action == "acknowledged" and str(e.details.get("page")) in paged:
            to_ack.append(max(0.0, float(e.details.get("after_ms", 0)) / 1000))
    pages = len(paged)
    first_day = datetime.fromtimestamp(since, UTC).date()
    last_day = datetime.fromtimestamp(until, UTC).date()
    days: list[DayFigures] = []
    current = first_day
    while current <= last_day:
        key = current.isoformat()
        times = per_day.get(key, [])
        days.append(
            DayFigures(
                key,
                day_cases[key],
                day_published[key],
                statistics.median(times) if times else None,
            )
        )
        current += timedelta(days=1)
    return Report(
        since=since,
        until=until,
        mentions_seen=mentions[0],
        mentions_hostile=mentions[1],
        cases=cases,
        by_network=dict(by_network.most_common()),
        by_severity=dict(by_severity.most_common()),
        published=published,
        failed=failed,
        to_card=Spread.of(to_card),
        to_first_proposal=Spread.of(to_first),
        to_publish=Spread.of(to_publish),
        sla_kept=kept,
        sla_missed=missed,
        pages=pages,
        to_ack=Spread.of(to_ack),
        approvals_by_person={u: n for u, n in approvals.most_common() if n > 0},
        proposals=proposals,
        flagged_proposals=flagged,
        days=days,
    )


def duration(seconds: float | None) -> str:
    """``42s``, ``3m 05s``, ``2h 10m``, ``1d 4h``; ``—`` when there is none."""
    if seconds is None:
        return "—"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def _spread(spread: Spread) -> str:
    if not spread.count:
        return "—"
    return f"median {duration(spread.median)}, p90 {duration(spread.p90)} (n={spread.count})"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "—"


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def format_report(report: Report, *, names: dict[str, str] | None = None) -> str:
    """The report as plain text lines (the CLI prints it; the digest posts it)."""
    names = names or {}
    sla_total = report.sla_kept + report.sla_missed
    sla = (
        f"{report.sla_kept}/{sla_total} ({100 * report.sla_kept / sla_total:.0f}%)"
        if sla_total
        else "—"
    )
    people = (
        ", ".join(f"{names.get(u, u)} {n}" for u, n in report.approvals_by_person.items()) or "—"
    )
    lines = [
        f"Report {_when(report.since)} → {_when(report.until)} (cases opened in the period)",
        f"Mentions seen           {report.mentions_seen} ({report.mentions_hostile} hostile)",
        f"Cases                   {report.cases}",
        f"  by network            {_counts(report.by_network)}",
        f"  by severity           {_counts(report.by_severity)}",
        f"Replies published       {report.published}"
        + (f" ({report.failed} failed)" if report.failed else ""),
        f"Mention → card          {_spread(report.to_card)}",
        f"Mention → 1st proposal  {_spread(report.to_first_proposal)}",
        f"Mention → publish       {_spread(report.to_publish)}",
        f"SLA kept                {sla}",
        f"Pages                   {report.pages}; time to ack {_spread(report.to_ack)}",
        f"Approvals per person    {people}",
        f"Proposals per case      {report.proposals_per_case:.1f}"
        + (
            f" ({report.flagged_proposals} flagged by the tone check)"
            if report.flagged_proposals
            else ""
        ),
    ]
    return "\n".join(lines)


def render_chart(report: Report) -> bytes:
    """A PNG (CHART_SIZE pixels): median time from mention to publish per day (line, minutes)
    over the volume of cases and replies per day (bars). Pure (a Figure, no pyplot state), so
    it may run in a worker thread."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # the Agg backend, no pyplot
    from matplotlib.figure import Figure

    days = [d.day[5:] for d in report.days]
    x = list(range(len(days)))
    fig = Figure(figsize=(CHART_SIZE[0] / _DPI, CHART_SIZE[1] / _DPI), dpi=_DPI)
    FigureCanvasAgg(fig)
    volume = fig.subplots()
    width = 0.4
    volume.bar([i - width / 2 for i in x], [d.cases for d in report.days], width,
               label="cases", color="#c0c4cc")  # fmt: skip
    volume.bar([i + width / 2 for i in x], [d.published for d in report.days], width,
               label="replies published", color="#4a90d9")  # fmt: skip
    volume.set_ylabel("per day")
    volume.set_xticks(x, days, rotation=45 if len(days) > 14 else 0)
    minutes = volume.twinx()
    points = [(i, d.median_to_publish / 60) for i, d in zip(x, report.days, strict=True)
              if d.median_to_publish is not None]  # fmt: skip
    if points:
        minutes.plot([p[0] for p in points], [p[1] for p in points], "o-",
                     color="#d9534f", label="median time to reply (min)")  # fmt: skip
    minutes.set_ylabel("median time to reply (minutes)")
    minutes.set_ylim(bottom=0)
    handles = volume.get_legend_handles_labels()
    more = minutes.get_legend_handles_labels()
    volume.legend(handles[0] + more[0], handles[1] + more[1], loc="upper left")
    volume.set_title(f"Time to reply and volume per day — {_when(report.since)[:10]} to "
                     f"{_when(report.until)[:10]}")  # fmt: skip
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=_DPI)
    return out.getvalue()


# -- reading the store --------------------------------------------------------------------


async def period_report(
    store: Store,
    since: float,
    until: float,
    *,
    settled: dict[str, CaseFigures] | None = None,
) -> Report:
    """The report of the cases opened in [since, until) and the pages opened then. With
    ``settled`` (a memo its caller keeps for the period), a published or failed case's
    figures are computed once and kept there: they can no longer change (later votes and
    proposals are ignored by the Lua steps), so only the open cases' trails are read again."""
    ids = await store.cases_opened(since, until)
    known = settled if settled is not None else {}
    read = await store.histories([i for i in ids if i not in known])
    figures: list[CaseFigures] = []
    for case_id in ids:
        case = known.get(case_id) or case_figures(read.get(case_id, []))
        if case is None:
            continue
        if settled is not None and case.settled:
            settled[case_id] = case
        figures.append(case)
    mentions = await store.mention_counts(utc_days(since, until))
    ops = await OncallStore(store).audit_entries(since, until)
    return aggregate(figures, since=since, until=until, mentions=mentions, ops=ops)


def day_start(now: float, zone: str) -> float:
    """Midnight of ``now``'s day in the time zone ``zone`` (an IANA name), Unix seconds."""
    local = datetime.fromtimestamp(now, ZoneInfo(zone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


class TodayReport:
    """Today's report (since midnight in ``zone``) for App Home, which refreshes it at every
    change: the figures of ``assistant report --since <that midnight>``, with the figures of
    the day's settled cases kept in process (period_report's ``settled``), so a refresh reads
    only the cases still open. bench/bench_home.py measures it."""

    def __init__(self, store: Store, zone: str) -> None:
        self.store = store
        self.zone = zone
        self._day = 0.0
        self._settled: dict[str, CaseFigures] = {}

    async def report(self, now: float) -> Report:
        since = day_start(now, self.zone)
        if since != self._day:  # a new day: yesterday's figures go
            self._day, self._settled = since, {}
        return await period_report(self.store, since, now, settled=self._settled)


async def case_trail(store: Store, case_id: str, now: float) -> list[AuditEntry]:
    """A case's whole history: its own stream merged in time order with the ops entries about
    it (its pages opened, sent, acknowledged, resolved); empty when the case is unknown."""
    own = await store.case_history(case_id)
    if not own:
        return []
    ops = await OncallStore(store).audit_entries(own[0].at, now + 1, case_id=case_id)
    return sorted([*own, *ops], key=lambda e: e.at)  # stable: the case's own first on a tie


async def period_entries(store: Store, since: float, until: float) -> list[AuditEntry]:
    """What ``assistant audit --since`` exports: every entry of the cases opened in the
    period and the ops entries of the period, in time order."""
    ids = await store.cases_opened(since, until)
    histories = await store.histories(ids)
    ops = await OncallStore(store).audit_entries(since, until)
    entries = [e for case_id in ids for e in histories.get(case_id, [])]
    return sorted([*entries, *ops], key=lambda e: e.at)


EXPORT_FIELDS = ("time", "case", "actor", "action", "details")


def entry_row(entry: AuditEntry) -> dict[str, str]:
    return {
        "time": datetime.fromtimestamp(entry.at, UTC).isoformat(timespec="milliseconds"),
        "case": entry.case_id,
        "actor": entry.actor,
        "action": entry.action,
        "details": json.dumps(entry.details, ensure_ascii=False, sort_keys=True),
    }


def export(entries: Iterable[AuditEntry], fmt: str, out: io.TextIOBase | Any) -> int:
    """Write entries as JSON lines or CSV (a header, then one row each); returns the count."""
    n = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, lineterminator="\n")
        writer.writeheader()
        for entry in entries:
            writer.writerow(entry_row(entry))
            n += 1
        return n
    for entry in entries:
        row: dict[str, Any] = entry_row(entry)
        row["details"] = entry.details
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        n += 1
    return n


# -- the weekly digest --------------------------------------------------------------------


def next_digest(now: float, day: str, hour: int) -> float:
    """The next digest time (UTC) strictly after ``now``."""
    current = datetime.fromtimestamp(now, UTC)
    target = DAYS.index(day)
    start = datetime.combine(current.date(), datetime.min.time(), UTC) + timedelta(hours=hour)
    start += timedelta(days=(target - current.weekday()) % 7)
    if start.timestamp() <= now:
        start += timedelta(days=7)
    return start.timestamp()


def week_of(ts: float) -> str:
    year, week, _ = datetime.fromtimestamp(ts, UTC).date().isocalendar()
    return f"{year}-W{week:02d}"


def digest_name(week: str) -> str:
    """The digest's file name: one per ISO week (what a retry looks for in the channel)."""
    return f"digest-{week}.png"


class WeeklyDigest:
    """Periodic job ``digest:weekly``: post last week's report with its chart in the channel.

    Exactly once across replicas: the job is one member of the durable queue (each replica
    queues it at start only if absent), claimed under a lease by one replica; a marker per
    week (SET NX) makes a run after a lost lease skip a week already posted. Off unless
    ``ASSISTANT_DIGEST_DAY`` is set (a leftover job is then dropped)."""

    ID = "weekly"

    def __init__(
        self,
        settings: Settings,
        store: Store,
        slack: SlackGateway,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.slack = slack
        self.clock = clock

    async def ensure(self) -> None:
        day = self.settings.ASSISTANT_DIGEST_DAY
        if day is None:
            return
        due = next_digest(self.clock(), day, self.settings.ASSISTANT_DIGEST_HOUR)
        await self.store.enqueue(keys.JOB_DIGEST, self.ID, due, keep=True)

    async def run(self, job: Job) -> float | None:
        day = self.settings.ASSISTANT_DIGEST_DAY
        if day is None:
            return None  # switched off: the job ends
        now = self.clock()
        week = week_of(now)
        if not await self.store.has_marker(f"digest:{week}"):
            # an upload has no idempotency key: after an attempt whose outcome is unknown (a
            # lost answer, a crash), look for the shared file before uploading again
            found = None
            if not await self.store.claim_marker(f"digest-try:{week}"):  # tried before
                found = await self.slack.find_own_file(
                    self.settings.ASSISTANT_CHANNEL, digest_name(week), oldest=now - 86400
                )
            if found is None:
                await self.post(now - 7 * 86400, now)
            await self.store.set_marker(f"digest:{week}")
        else:
            log.info("weekly digest of %s already posted", week)
        return next_digest(now, day, self.settings.ASSISTANT_DIGEST_HOUR)

    async def post(self, since: float, until: float) -> str:
        report = await period_report(self.store, since, until)
        chart = await asyncio.to_thread(render_chart, report)  # CPU work off the event loop
        text = format_report(report)
        return await self.slack.upload(
            self.settings.ASSISTANT_CHANNEL,
            digest_name(week_of(until)),
            chart,
            title="Time to reply and volume per day",
            comment="*Weekly digest*\n```\n" + text.replace("```", "'''") + "\n```",
            alt="Bar chart of cases and replies per day with the median time to reply",
        )

    async def give_up(self, job: Job, reason: str) -> None:
        log.error("the weekly digest failed: %s", reason)
