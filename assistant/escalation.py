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
from assistant.errors import SlackError
from assistant.jobs import RetryLater
from assistant.logs import outside
from assistant.models import CaseStatus
from assistant.settings import Settings
from assistant.slack import SlackGateway
from assistant.store import Store

log = logging.getLogger(__name__)

CRITICAL = "critical"  # the scorer's severity for a credible threat of violence
MAX_DIRECT_PAGES = 10  # members of an on-call group paged by direct message, at most


class Pager:
    """Pages on-call about a failure that needs a human, with the reason.

    In the case channel (in the card's thread when there is one); when Slack refuses that (the
    channel is gone, the bot was removed from it, the thread is gone), by direct message to
    the on-call person or to the members of the on-call group. Returns whether anyone was told.
    """

    def __init__(self, settings: Settings, slack: SlackGateway) -> None:
        self.oncall = settings.ASSISTANT_ONCALL
        self.slack = slack

    async def page(self, channel: str, text: str, *, thread_ts: str | None = None) -> bool:
        if self.oncall:
            text = f"{blocks.oncall_mention(self.oncall)} {text}"
        try:
            if thread_ts:
                await self.slack.post_in_thread(channel, thread_ts, text)
            else:
                await self.slack.post(channel, text)
            return True
        except SlackError as exc:
            log.warning("paging in the channel failed (%s); trying direct messages", exc.error)
        told = False
        for user in await self._oncall_users():
            try:
                await self.slack.post(user, text)  # a user id as channel: the app's DM
                told = True
            except SlackError as exc:
                log.warning("paging %s by direct message failed: %s", user, exc.error)
        if not told:
            log.error("nobody could be paged: %s", outside(text, 500))
        return told

    async def _oncall_users(self) -> list[str]:
        if not self.oncall:
            return []
        if not self.oncall.startswith("S"):
            return [self.oncall]
        try:
            return (await self.slack.usergroup_users(self.oncall))[:MAX_DIRECT_PAGES]
        except SlackError as exc:
            log.warning("the on-call group's members are unknown: %s", exc.error)
            return []


class Escalator:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        slack: SlackGateway,
        pager: Pager,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.slack = slack
        self.pager = pager
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
        # A Slack error goes to the job runner: transient → retried, permanent → give_up.
        tag = {"event_type": "case_escalated", "event_payload": {"case_id": case_id}}
        if not (
            case.escalation_attempts
            and await self.slack.thread_has(case.channel, case.card_ts, tag)
        ):
            await self.store.count_attempt(case_id, "escalation_attempts", now=self.clock())
            await self.slack.post_in_thread(case.channel, case.card_ts, note, metadata=tag)
        await self.store.finish_case(case_id, "escalated", self.clock())
        log.info("escalated to on-call")

    async def give_up(self, case_id: str, reason: str) -> None:
        log.error("escalation could not be posted: %s", reason)
        case = await self.store.get_case(case_id)
        if case is not None:
            text = blocks.card_failed_text(case, reason, escalating=True)
            await self.pager.page(case.channel, text, thread_ts=case.card_ts)
