"""Surge mode: when hostile mentions come faster than a rate, one live card instead of a flood.

Policy (pure functions, unit-tested, executed atomically by surge_step.lua on the same rule):
- a channel is in a surge once it received ``threshold`` hostile mentions within ``window``
  seconds (by default 50 within 10 minutes; 0 turns surges off);
- during a surge a mention gets its own card only if it deserves one (:func:`deserves_card`):
  a credible threat always; else, within ``cards_per_minute`` cards a minute, an author
  whose followers reach ``reach``, or a mention that ranks above every mention grouped so far
  by :func:`priority` (severity × reach). The rest are grouped under the surge card (a case
  stored with status ``grouped``, no card, no SLA timer) and can be promoted with a button;
- the surge ends after ``quiet`` seconds without a hostile mention, with a summary.

Work (all through the durable job queue, so any replica does it once): the surge card is
posted ahead of anything queued for the channel (a priority token of the channel's limiter),
then refreshed in place at most every ``refresh`` seconds (updates coalesce: one job per
channel); on-call is paged once per surge, in the card's thread; the end job posts the
summary and the card's final state. The ingest answer makes no Slack call.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from assistant import surge_blocks
from assistant.jobs import RetryLater
from assistant.ratelimit import ChannelLimiter, priority
from assistant.settings import Settings
from assistant.store import Job, Store, keys

if TYPE_CHECKING:
    from assistant.escalation import Pager
    from assistant.models import Case
    from assistant.slack import SlackGateway

log = logging.getLogger(__name__)

SAMPLES = 5  # sample texts kept and shown
AUTHORS = 5  # most-followed authors kept and shown
PROMOTABLE = 5  # grouped mentions shown with a Promote button
SAMPLE_CHARS = 280  # a sample text is cut to this before it is stored
CARD_LOOKBACK_SECONDS = 600
PAGE_SAFETY_SECONDS = 30.0  # the page job is also queued this late, should the card job die
CRITICAL = "critical"  # the scorer's severity for a credible threat (as escalation.CRITICAL)
SEVERITY_WEIGHT = {"critical": 4.0, "high": 3.0, "medium": 2.0, "low": 1.0}

Reason = Literal["threat", "reach", "top"]


@dataclass(frozen=True, slots=True)
class SurgePolicy:
    threshold: int
    window: float
    quiet: float
    reach: int
    cards_per_minute: int
    refresh: float

    @classmethod
    def from_settings(cls, s: Settings) -> SurgePolicy:
        return cls(
            threshold=s.ASSISTANT_SURGE_THRESHOLD,
            window=s.ASSISTANT_SURGE_WINDOW_SECONDS,
            quiet=s.ASSISTANT_SURGE_QUIET_SECONDS,
            reach=s.ASSISTANT_SURGE_REACH,
            cards_per_minute=s.ASSISTANT_SURGE_CARDS_PER_MINUTE,
            refresh=s.ASSISTANT_SURGE_REFRESH_SECONDS,
        )


def priority_of(severity: str, score: float, followers: int) -> float:
    """How much a mention deserves attention: severity and score, times the author's reach
    (log10 of followers, so 10× the audience adds one step, not ten times the weight)."""
    weight = SEVERITY_WEIGHT.get(severity, 0.5)
    return round((weight + score) * math.log10(10 + max(0, followers)), 4)


def in_surge(hostile_in_window: int, threshold: int) -> bool:
    """Whether ``hostile_in_window`` mentions within the window make a surge."""
    return threshold > 0 and hostile_in_window >= threshold


def deserves_card(
    *,
    threat: bool,
    followers: int,
    priority: float,
    cards_this_minute: int,
    best_grouped: float | None,
    policy: SurgePolicy,
) -> Reason | None:
    """During a surge: why this mention gets its own card, or None (it is grouped)."""
    if threat:
        return "threat"
    if cards_this_minute >= policy.cards_per_minute:
        return None
    if followers >= policy.reach:
        return "reach"
    if best_grouped is None or priority > best_grouped:
        return "top"
    return None


def surge_over(last_mention: float, now: float, quiet: float) -> bool:
    return now - last_mention >= quiet


@dataclass(frozen=True, slots=True)
class SurgeStep:
    decision: Literal["none", "card", "group", "duplicate"]  # none: no surge in the channel
    reason: str
    surge_id: str
    entered: bool
    refresh: bool
    stored: bool  # a grouped case already written by the step (one node)


@dataclass(frozen=True, slots=True)
class PromoteOutcome:
    status: str  # promoted, open, approved, published, failed, missing
    case_id: str

    @property
    def user_message(self) -> str:
        return surge_blocks.promote_answer(self.status)


class SurgeService:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        slack: SlackGateway,
        pager: Pager,
        limiter: ChannelLimiter,
        *,
        on_due: Callable[[], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.policy = SurgePolicy.from_settings(settings)
        self.store = store
        self.slack = slack
        self.pager = pager
        self.limiter = limiter
        self.on_due = on_due
        self.clock = clock

    @property
    def enabled(self) -> bool:
        return self.policy.threshold > 0

    async def observe(
        self, case: Case, *, escalate_at: float, count_day: str | None = None
    ) -> SurgeStep:
        """Count a new hostile mention (not yet stored) for its channel; during a surge, say
        whether it gets a card or is grouped (on one node, a grouped case is stored by the
        same call, and counted in the day's mentions on ``count_day``). A mention already seen
        is a 'duplicate', not counted. Queues the surge's jobs; no Slack call."""
        p, m, now = self.policy, case.mention, self.clock()
        cats = sorted(case.assessment.categories, key=lambda c: -case.assessment.categories[c])
        answer = await self.store.surge_step(
            case.channel,
            [
                int(now * 1000),
                int(p.window * 1000),
                p.threshold,
                case.case_id,
                m.platform,
                m.author.handle[:320],
                m.author.followers,
                " ".join(c.replace(" ", "_")[:40] for c in cats[:3]),
                " ".join(m.text.split())[:SAMPLE_CHARS],
                1 if case.assessment.severity == CRITICAL else 0,
                priority_of(case.assessment.severity, case.assessment.score, m.author.followers),
                p.reach,
                p.cards_per_minute,
                self.store.retention,
                int(p.refresh * 1000),
                SAMPLES,
                AUTHORS,
            ],
            case=case,
            escalate_at=escalate_at,
            count_day=count_day,
        )
        decision, reason, surge_id, entered, refresh, stored = answer
        step = SurgeStep(
            str(decision),  # type: ignore[arg-type]
            str(reason),
            str(surge_id),
            bool(entered),
            bool(refresh),
            bool(stored),
        )
        channel = case.channel
        if step.entered:
            log.warning(
                "surge in %s: %d hostile mentions within %ds", channel, p.threshold, p.window
            )
            await self.limiter.hold(channel)  # the surge card goes ahead of queued posts
            await self.store.enqueue(keys.JOB_SURGE_CARD, channel, now)
            await self.store.enqueue(keys.JOB_SURGE_END, channel, now + p.quiet, step.surge_id)
            await self.store.enqueue(
                keys.JOB_SURGE_PAGE, channel, now + PAGE_SAFETY_SECONDS, step.surge_id
            )
            self.on_due()
        elif step.refresh:  # coalesced: at most one refresh per interval, one job per channel
            await self.store.enqueue(keys.JOB_SURGE_CARD, channel, now + p.refresh, keep=True)
        return step

    async def view(self, channel: str) -> surge_blocks.SurgeView | None:
        snap = await self.store.surge_snapshot(channel, top=PROMOTABLE)
        if snap is None:
            return None
        grouped = []
        for case_id in snap.grouped:
            case = await self.store.get_case(case_id)
            if case is not None:
                grouped.append(case)
        return surge_blocks.SurgeView.from_state(
            channel,
            snap.state,
            snap.authors,
            snap.samples,
            grouped,
            snap.waiting,
            window=self.policy.window,
        )

    async def summary(self) -> str | None:
        """The team channel's live surge in one line (App Home, ``/ops status``), or None.
        Reads the surge's own state only (no case lookups): cheap enough before an ack."""
        channel = self.settings.ASSISTANT_CHANNEL
        snap = await self.store.surge_snapshot(channel, top=1)
        if snap is None:
            return None
        view = surge_blocks.SurgeView.from_state(
            channel,
            snap.state,
            snap.authors,
            snap.samples,
            [],
            snap.waiting,
            window=self.policy.window,
        )
        return surge_blocks.surge_line(view)

    async def promote(self, case_id: str, user: str) -> PromoteOutcome:
        """The Promote button: the grouped mention becomes a case with its own card."""
        case = await self.store.get_case(case_id)
        if case is None:
            return PromoteOutcome("missing", case_id)
        now = self.clock()
        escalate_at = (
            now
            if case.assessment.severity == CRITICAL
            else now + self.settings.ASSISTANT_SLA_SECONDS
        )
        status = await self.store.promote_case(case_id, escalate_at=escalate_at, user=user, now=now)
        if status == "promoted":
            log.info("grouped mention %s promoted to a case by %s", case_id, user)
            await self.store.ungroup(case.channel, case_id)
            view = await self.view(case.channel)
            if view is not None:
                await self.store.surge_mark(case.channel, view.surge_id, promoted="+1")
            await self.store.enqueue(keys.JOB_SURGE_CARD, case.channel, now + 1.0, keep=True)
            self.on_due()
        return PromoteOutcome(status, case_id)


class SurgeCard:
    """Job (id: channel): post the surge card (priority, look-before-retry) or refresh it."""

    def __init__(self, surges: SurgeService) -> None:
        self.surges = surges

    async def run(self, job: Job) -> None:
        s, channel = self.surges, job.id
        view = await s.view(channel)
        if view is None:
            return
        text, blocks = surge_blocks.surge_card(view)
        if view.card_ts:
            await s.slack.update(channel, view.card_ts, text, blocks)
            return
        tag = {"event_type": "surge_card", "event_payload": {"surge_id": view.surge_id}}
        ts = None
        if view.card_attempts:
            ts = await s.slack.find_own_message(
                channel, tag, oldest=view.started - CARD_LOOKBACK_SECONDS
            )
        if ts is None:
            with priority():
                ts = await s.slack.post(
                    channel,
                    text,
                    blocks,
                    metadata=tag,
                    before_send=lambda: s.store.surge_mark(
                        channel, view.surge_id, card_attempts="+1"
                    ),
                )
        await s.store.surge_mark(channel, view.surge_id, card_ts=ts)
        await s.store.enqueue(keys.JOB_SURGE_PAGE, channel, s.clock(), view.surge_id)
        log.info("surge card posted in %s: %s", channel, ts)

    async def give_up(self, job: Job, reason: str) -> None:
        log.error("the surge card of %s could not be posted or updated: %s", job.id, reason)
        await self.surges.pager.page(job.id, surge_blocks.surge_failed_text(reason))


class SurgePage:
    """Job (id: channel, payload: surge id): page on-call once for the surge, in its card's
    thread, ahead of the posts waiting for the channel."""

    def __init__(self, surges: SurgeService) -> None:
        self.surges = surges

    async def run(self, job: Job) -> None:
        s, channel = self.surges, job.id
        view = await s.view(channel)
        if view is None or view.surge_id != job.payload or view.paged:
            return
        if not view.card_ts:
            raise RetryLater("the surge card is not posted yet")
        with priority():
            await s.pager.page(
                channel,
                surge_blocks.surge_page_text(view, oncall=s.settings.ASSISTANT_ONCALL),
                thread_ts=view.card_ts,
            )
        await s.store.surge_mark(channel, view.surge_id, paged=str(int(s.clock())))

    async def give_up(self, job: Job, reason: str) -> None:
        log.error("on-call could not be paged about the surge in %s: %s", job.id, reason)


class SurgeEnd:
    """Job (id: channel, payload: surge id): end the surge once quiet, with a summary."""

    def __init__(self, surges: SurgeService) -> None:
        self.surges = surges

    async def run(self, job: Job) -> float | None:
        s, channel = self.surges, job.id
        verdict, when = await s.store.surge_end(channel, job.payload, s.clock(), s.policy.quiet)
        if verdict == "wait":
            return when  # mentions kept coming: look again when it could be quiet
        if verdict == "none":
            return None
        view = await s.view(channel)
        if view is None or view.surge_id != job.payload:
            return None
        if not view.card_ts:
            raise RetryLater("the surge card is not posted yet")
        if not view.summary_posted:  # once, even when Slack's answer to the post is lost
            await s.slack.post_once_in_thread(
                channel,
                view.card_ts,
                surge_blocks.surge_summary_text(view),
                case_id=view.surge_id,
                what="surge_summary",
                event_type="surge_summary",
            )
            await s.store.surge_mark(channel, view.surge_id, summary_posted="1")
        await s.store.enqueue(keys.JOB_SURGE_CARD, channel, s.clock())
        log.warning("surge in %s over: %d hostile mentions", channel, view.count)
        return None

    async def give_up(self, job: Job, reason: str) -> None:
        log.error("the end of the surge in %s could not be shown: %s", job.id, reason)
