"""Cases: open one per hostile mention (once, whatever the path), post and refresh its card."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from assistant import blocks
from assistant.errors import SlackUnavailable
from assistant.escalation import CRITICAL
from assistant.jobs import RetryLater
from assistant.logs import bound_case
from assistant.models import Case, CaseScore, Mention
from assistant.settings import Settings
from assistant.slack import SlackGateway
from assistant.store import Store

if TYPE_CHECKING:
    from assistant.scoring import Assessment, Scorer
    from assistant.scoring.moderation import Moderation, SecondOpinion

log = logging.getLogger(__name__)

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
        moderation: Moderation | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.slack = slack
        self.scorer = scorer
        self.on_due = on_due
        self.clock = clock
        self.moderation = moderation

    async def ingest(self, mention: Mention) -> IngestOutcome:
        """Score a mention; open a case (card and SLA timer queued) if it is hostile."""
        assessment = self.scorer.score(mention.text, lang=mention.lang)
        hostile, severity, opinion = await self._second_opinion(mention, assessment)
        if not hostile:
            return IngestOutcome(
                "not_hostile",
                None,
                assessment.score,
                opinion.describe()
                if opinion
                else f"score {assessment.score:.2f} is below the threshold "
                f"{self.settings.ASSISTANT_HOSTILITY_THRESHOLD:.2f}",
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
        opened, case_id = await self.store.open_case(case, escalate_at=escalate_at)
        if not opened:
            return IngestOutcome("duplicate", case_id, assessment.score, "mention already seen")
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
        threshold = self.scorer.threshold
        if self.moderation is None or not self.moderation.borderline(assessment.score, threshold):
            return local
        opinion = await self.moderation.review(mention.text)
        if opinion is None:
            return local
        if opinion.flagged and not assessment.hostile:
            return True, "low", opinion
        if not opinion.flagged and assessment.severity == "critical":
            return True, str(assessment.severity), opinion  # a threat still pages
        return opinion.flagged, str(assessment.severity), opinion

    def render(self, case: Case) -> tuple[str, list[blocks.Block]]:
        return blocks.case_card(
            case,
            approvals_required=self.settings.ASSISTANT_APPROVALS_REQUIRED,
            manager_approvals_required=self.settings.ASSISTANT_MANAGER_APPROVALS_REQUIRED,
            approve_emoji=APPROVE_EMOJI,
            veto_emoji=VETO_EMOJI,
        )


class PostCard:
    """Job: post a case's card in the channel (once; a lost race keeps the first card)."""

    def __init__(self, cases: CaseService) -> None:
        self.cases = cases

    async def run(self, case_id: str) -> None:
        case = await self.cases.store.get_case(case_id)
        if case is None or case.card_ts:
            return
        text, card = self.cases.render(case)
        try:
            ts = await self.cases.slack.post(case.channel, text, card)
        except SlackUnavailable as exc:
            raise RetryLater(str(exc)) from exc
        await self.cases.store.card_posted(case_id, case.channel, ts, self.cases.clock())

    async def give_up(self, case_id: str, reason: str) -> None:
        log.error("the card could not be posted: %s", reason)


class UpdateCard:
    """Job: re-render a card from the stored state (coalesces: one job per case)."""

    def __init__(self, cases: CaseService) -> None:
        self.cases = cases

    async def run(self, case_id: str) -> None:
        case = await self.cases.store.get_case(case_id)
        if case is None or not case.card_ts:
            return  # the card is not posted yet: it will be posted with the current state
        text, card = self.cases.render(case)
        try:
            await self.cases.slack.update(case.channel, case.card_ts, text, card)
        except SlackUnavailable as exc:
            raise RetryLater(str(exc)) from exc

    async def give_up(self, case_id: str, reason: str) -> None:
        log.error("the card could not be updated: %s", reason)
