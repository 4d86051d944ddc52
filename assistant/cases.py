"""Cases: open one per hostile mention (once, whatever the path), post and refresh its card."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from assistant import blocks, memory_blocks
from assistant.escalation import CRITICAL, Pager
from assistant.logs import bound_case
from assistant.models import Case, CaseScore, Mention
from assistant.settings import Settings
from assistant.slack import SlackGateway
from assistant.store import Store
from assistant.store.oncall import day_of

if TYPE_CHECKING:
    from assistant.memory import ReplyMemory
    from assistant.scoring import Assessment, Scorer
    from assistant.scoring.moderation import Moderation, SecondOpinion
    from assistant.surge import SurgeService

log = logging.getLogger(__name__)

CARD_LOOKBACK_SECONDS = 600  # look for a lost card this long before the case opened (clocks)
APPROVE_EMOJI = ("white_check_mark", "heavy_check_mark", "+1")
VETO_EMOJI = ("x", "no_entry")


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    status: Literal["opened", "grouped", "duplicate", "not_hostile"]
    case_id: str | None
    score: float
    reason: str


class CaseService:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        slack: SlackGateway,
        scorer: Scorer,
        *,
        on_due: Callable[[], None],
        clock: Callable[[], float] = time.time,
        moderation: Moderation | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.slack = slack
        self.scorer = scorer
        self.on_due = on_due
        self.clock = clock
        self.moderation = moderation
        self.surges: SurgeService | None = None  # set by the composition root
        self.memory: ReplyMemory | None = None  # reply memory: suggestions on the card
        self.paused: Callable[[], Awaitable[float | None]] | None = None  # /ops pause
        self.changed: Callable[[], Awaitable[None]] | None = None  # App Home shows cases

    async def ingest(self, mention: Mention) -> IngestOutcome:
        """Score a mention; open a case (card and SLA timer queued) if it is hostile."""
        assessment = self.scorer.score(mention.text, lang=mention.lang)
        hostile, severity, opinion = await self._second_opinion(mention, assessment)
        if not hostile:
            await self.store.count_mention(day_of(self.clock()), hostile=False)  # for reports
            return IngestOutcome(
                "not_hostile",
                None,
                assessment.score,
                opinion.describe()
                if opinion
                else f"score {assessment.score:.2f} is below the threshold "
                f"{assessment.threshold:.2f}",
            )
        now = self.clock()
        case = Case(
            case_id=mention.case_id,
            mention=mention,
            assessment=CaseScore(
                score=assessment.score,
                severity=severity,
                categories=dict(assessment.categories),
                evidence=list(assessment.evidence),
                target=assessment.target.value,
                second_opinion=opinion.describe() if opinion else None,
            ),
            channel=self.settings.ASSISTANT_CHANNEL,
            opened_at=now,
            sla_deadline=now + self.settings.ASSISTANT_SLA_SECONDS,
        )
        # a credible threat goes to on-call at once; anything else when the SLA runs out
        escalate_at = now if case.assessment.severity == CRITICAL else case.sla_deadline
        grouped = False
        day = day_of(now)  # a stored mention is counted that day, in the step that stores it
        if self.surges is not None and self.surges.enabled:
            # counted once per mention (a resent one is a duplicate), then its fate decided
            step = await self.surges.observe(case, escalate_at=escalate_at, count_day=day)
            if step.decision == "duplicate":
                return IngestOutcome(
                    "duplicate", case.case_id, assessment.score, "mention already seen"
                )
            grouped = step.decision == "group"
            if step.stored:  # one node: the step stored (and counted) the grouped case too
                return IngestOutcome(
                    "grouped", case.case_id, assessment.score, "grouped under the surge card"
                )
        opened, case_id = await self.store.open_case(
            case, escalate_at=escalate_at, grouped=grouped, count_day=day
        )
        if not opened:  # duplicates are not counted
            return IngestOutcome("duplicate", case_id, assessment.score, "mention already seen")
        if grouped:
            return IngestOutcome(
                "grouped", case_id, assessment.score, "grouped under the surge card"
            )
        with bound_case(case_id):
            log.info("case opened for %s (score %.2f)", mention.key, assessment.score)
        self.on_due()
        return IngestOutcome("opened", case_id, assessment.score, "hostile mention")

    async def _second_opinion(
        self, mention: Mention, assessment: Assessment
    ) -> tuple[bool, str, SecondOpinion | None]:
        """(hostile, severity, opinion): a borderline local score asks the optional moderation
        service, whose verdict then decides; unset, skipped or failing, the local score does."""
        local = (assessment.hostile, str(assessment.severity), None)
        if self.moderation is None or not self.moderation.borderline(
            assessment.score, self.scorer.band(assessment.lang)
        ):
            return local
        opinion = await self.moderation.review(mention.text)
        if opinion is None:
            return local
        if opinion.flagged and not assessment.hostile:
            return True, "low", opinion
        if not opinion.flagged and assessment.severity == "critical":
            return True, str(assessment.severity), opinion  # a threat still pages
        return opinion.flagged, str(assessment.severity), opinion

    def render(
        self, case: Case, *, paused_until: float | None = None
    ) -> tuple[str, list[blocks.Block]]:
        text, card = self._card(case, paused_until)
        if case.suggestions:  # before the divider and the status, which stay last
            card = card[:-2] + memory_blocks.suggestion_blocks(case) + card[-2:]
        return text, card[: blocks.MAX_BLOCKS]

    def _card(self, case: Case, paused_until: float | None) -> tuple[str, list[blocks.Block]]:
        return blocks.case_card(
            case,
            approvals_required=self.settings.ASSISTANT_APPROVALS_REQUIRED,
            manager_approvals_required=self.settings.ASSISTANT_MANAGER_APPROVALS_REQUIRED,
            approve_emoji=APPROVE_EMOJI,
            veto_emoji=VETO_EMOJI,
            tone_extra_managers=self.settings.tone_extra_managers,
            paused_until=paused_until,
        )

    async def paused_until(self) -> float | None:
        """Until when ``/ops pause`` holds (shown on every card), if it does."""
        return await self.paused() if self.paused is not None else None


def card_metadata(case_id: str) -> dict[str, Any]:
    """Slack message metadata on a case's card: how a retry finds a card whose post had an
    unknown outcome (a 5xx after a partial success, a dropped connection, a crash)."""
    return {"event_type": "case_card", "event_payload": {"case_id": case_id}}


class PostCard:
    """Job: post a case's card in the channel, exactly once.

    Slack has no idempotency key: each attempt is counted in Redis before the call, and an
    attempt after one whose outcome is unknown first looks in the channel for the card's
    metadata. A Slack error the job runner sorts: transient → retried; permanent (e.g.
    ``channel_not_found``, ``not_in_channel``, ``invalid_blocks``) → no retry, on-call paged.
    """

    def __init__(self, cases: CaseService, pager: Pager) -> None:
        self.cases = cases
        self.pager = pager

    async def run(self, case_id: str) -> None:
        store, slack = self.cases.store, self.cases.slack
        case = await store.get_case(case_id)
        if case is None or case.card_ts:
            return
        # queued behind a busy channel (a surge): back to the queue before any other work
        await slack.check_rate(case.channel)
        tag = card_metadata(case_id)
        ts = None
        if case.card_attempts:
            ts = await slack.find_own_message(
                case.channel, tag, oldest=case.opened_at - CARD_LOOKBACK_SECONDS
            )
            if ts is not None:
                log.info("the card of an earlier attempt was found: %s", ts)
        if ts is None:
            if self.cases.memory is not None:  # looked up once, kept with the case
                case = await self.cases.memory.with_suggestions(case)
            text, card = self.cases.render(case, paused_until=await self.cases.paused_until())
            # the attempt is counted once the channel's limiter let the call go
            ts = await slack.post(
                case.channel,
                text,
                card,
                metadata=tag,
                before_send=lambda: store.count_attempt(
                    case_id, "card_attempts", now=self.cases.clock()
                ),
            )
        # the drafts (when configured) go in the card's thread: queued with the card's record
        drafts = self.cases.settings.drafts_enabled
        await store.card_posted(case_id, case.channel, ts, self.cases.clock(), drafts=drafts)

    async def give_up(self, case_id: str, reason: str) -> None:
        log.error("the card could not be posted: %s", reason)
        case = await self.cases.store.get_case(case_id)
        if case is not None:
            text = blocks.card_failed_text(case, reason)
            await self.pager.page(case.channel, text, about=case_id)


class UpdateCard:
    """Job: re-render a card from the stored state (coalesces: one job per case)."""

    def __init__(self, cases: CaseService, pager: Pager) -> None:
        self.cases = cases
        self.pager = pager

    async def run(self, case_id: str) -> None:
        case = await self.cases.store.get_case(case_id)
        if case is None or not case.card_ts:
            return  # the card is not posted yet: it will be posted with the current state
        text, card = self.cases.render(case, paused_until=await self.cases.paused_until())
        await self.cases.slack.update(case.channel, case.card_ts, text, card)
        if self.cases.changed is not None:  # proposals, decisions: App Home refreshes too
            await self.cases.changed()

    async def give_up(self, case_id: str, reason: str) -> None:
        log.error("the card could not be updated: %s", reason)
        case = await self.cases.store.get_case(case_id)
        if case is not None:
            text = blocks.card_failed_text(case, reason, updating=True)
            await self.pager.page(case.channel, text, thread_ts=case.card_ts, about=case_id)
