"""Cases: open one per hostile mention (once, whatever the path), post and refresh its card."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from assistant import blocks
from assistant.escalation import CRITICAL, Pager
from assistant.logs import bound_case
from assistant.models import Case, CaseScore, Mention
from assistant.settings import Settings
from assistant.slack import SlackGateway
from assistant.store import Store

if TYPE_CHECKING:
    from assistant.scoring import Scorer

log = logging.getLogger(__name__)

CARD_LOOKBACK_SECONDS = 600  # look for a lost card this long before the case opened (clocks)
APPROVE_EMOJI = ("white_check_mark", "heavy_check_mark", "+1")
VETO_EMOJI = ("x", "no_entry")


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    status: Literal["opened", "duplicate", "not_hostile"]
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
    ) -> None:
        self.settings = settings
        self.store = store
        self.slack = slack
        self.scorer = scorer
        self.on_due = on_due
        self.clock = clock
        self.paused: Callable[[], Awaitable[float | None]] | None = None  # /ops pause
        self.changed: Callable[[], Awaitable[None]] | None = None  # App Home shows cases

    async def ingest(self, mention: Mention) -> IngestOutcome:
        """Score a mention; open a case (card and SLA timer queued) if it is hostile."""
        assessment = self.scorer.score(mention.text, lang=mention.lang)
        if not assessment.hostile:
            return IngestOutcome(
                "not_hostile",
                None,
                assessment.score,
                f"score {assessment.score:.2f} is below the threshold "
                f"{self.settings.ASSISTANT_HOSTILITY_THRESHOLD:.2f}",
            )
        now = self.clock()
        case = Case(
            case_id=mention.case_id,
            mention=mention,
            assessment=CaseScore(
                score=assessment.score,
                severity=str(assessment.severity),
                categories=dict(assessment.categories),
                evidence=list(assessment.evidence),
            ),
            channel=self.settings.ASSISTANT_CHANNEL,
            opened_at=now,
            sla_deadline=now + self.settings.ASSISTANT_SLA_SECONDS,
        )
        # a credible threat goes to on-call at once; anything else when the SLA runs out
        escalate_at = now if case.assessment.severity == CRITICAL else case.sla_deadline
        opened, case_id = await self.store.open_case(case, escalate_at=escalate_at)
        if not opened:
            return IngestOutcome("duplicate", case_id, assessment.score, "mention already seen")
        with bound_case(case_id):
            log.info("case opened for %s (score %.2f)", mention.key, assessment.score)
        self.on_due()
        return IngestOutcome("opened", case_id, assessment.score, "hostile mention")

    def render(
        self, case: Case, *, paused_until: float | None = None
    ) -> tuple[str, list[blocks.Block]]:
        return blocks.case_card(
            case,
            approvals_required=self.settings.ASSISTANT_APPROVALS_REQUIRED,
            manager_approvals_required=self.settings.ASSISTANT_MANAGER_APPROVALS_REQUIRED,
            approve_emoji=APPROVE_EMOJI,
            veto_emoji=VETO_EMOJI,
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
        tag = card_metadata(case_id)
        ts = None
        if case.card_attempts:
            ts = await slack.find_own_message(
                case.channel, tag, oldest=case.opened_at - CARD_LOOKBACK_SECONDS
            )
            if ts is not None:
                log.info("the card of an earlier attempt was found: %s", ts)
        if ts is None:
            text, card = self.cases.render(case, paused_until=await self.cases.paused_until())
            await store.count_attempt(case_id, "card_attempts")
            ts = await slack.post(case.channel, text, card, metadata=tag)
        await store.card_posted(case_id, case.channel, ts, self.cases.clock())

    async def give_up(self, case_id: str, reason: str) -> None:
        log.error("the card could not be posted: %s", reason)
        case = await self.cases.store.get_case(case_id)
        if case is not None:
            await self.pager.page(case.channel, blocks.card_failed_text(case, reason))


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
            await self.pager.page(case.channel, text, thread_ts=case.card_ts)
