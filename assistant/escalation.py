"""Escalation: on-call is pinged once per case — at once for a credible threat of violence
(severity critical), else when the SLA runs out with no published reply.

The timer is a ``sla`` job in Redis, queued when the case opens (so it survives restarts and
is claimed by one replica); finish_case.lua records the escalation once and cancels nothing
else. Publishing a reply removes the timer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from assistant import blocks
from assistant.errors import SlackUnavailable
from assistant.jobs import RetryLater
from assistant.models import CaseStatus
from assistant.settings import Settings
from assistant.slack import SlackGateway
from assistant.store import Store

log = logging.getLogger(__name__)

CRITICAL = "critical"  # the scorer's severity for a credible threat of violence


class Escalator:
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

    async def run(self, case_id: str) -> None:
        case = await self.store.get_case(case_id)
        if case is None or case.status == CaseStatus.PUBLISHED or case.escalated_at:
            return
        if not case.card_ts:
            raise RetryLater("the card is not posted yet")
        if case.assessment.severity == CRITICAL and self.clock() < case.sla_deadline:
            note = blocks.threat_text(self.settings.ASSISTANT_ONCALL, case)
        else:
            note = blocks.escalation_text(
                self.settings.ASSISTANT_ONCALL, case, self.settings.ASSISTANT_SLA_SECONDS
            )
        # Slack has no idempotency key: an attempt whose outcome is unknown (a crash, a lost
        # answer) is settled by looking for our tagged message in the thread first.
        tag = {"event_type": "case_escalated", "event_payload": {"case_id": case_id}}
        try:
            if not (
                case.escalation_attempts
                and await self.slack.thread_has(case.channel, case.card_ts, tag)
            ):
                await self.store.count_attempt(case_id, "escalation_attempts")
                await self.slack.post_in_thread(case.channel, case.card_ts, note, metadata=tag)
        except SlackUnavailable as exc:
            raise RetryLater(str(exc)) from exc
        await self.store.finish_case(case_id, "escalated", self.clock())
        log.info("escalated to on-call")

    async def give_up(self, case_id: str, reason: str) -> None:
        log.error("escalation could not be posted: %s", reason)
