"""Escalation: on-call is paged once per case — at once for a credible threat of violence
(severity critical), else when the SLA runs out with no published reply — and about failures
that need a human (a card Slack refuses, a publish that failed for good, the app's own
trouble). The page then follows the escalation policy (assistant/oncall.py).

The case timer is a ``sla`` job in Redis, queued when the case opens (so it survives restarts
and is claimed by one replica); finish_case.lua records the escalation once. Publishing a
reply removes the timer and resolves the case's page.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable, Callable

from assistant import blocks
from assistant.jobs import RetryLater
from assistant.models import CaseStatus
from assistant.oncall_policy import deliver_at
from assistant.settings import Settings
from assistant.slack import SlackGateway
from assistant.store import Store, keys
from assistant.store.oncall import OncallStore

log = logging.getLogger(__name__)

CRITICAL = "critical"  # the scorer's severity for a credible threat of violence


class Pager:
    """Pages on-call about something that needs a human: the entry point every part calls.

    A page is a durable record in Redis (store/oncall.py) and a ``page`` job on the queue: the
    job posts one message with an **Acknowledge** button (in the channel, in the thread when
    there is one; by direct message to the level's people when Slack refuses the channel),
    then pages the next level of the escalation policy after the level's delay, and repeats,
    until someone acknowledges or the case is settled (oncall.PageJob). Non-critical pages
    wait for the end of quiet hours. ``key`` names the page (retries and replicas paging the
    same thing make one page); by default the channel, thread and text do. ``case_id``: the
    case whose settling resolves the page; ``about`` (by default ``case_id``): the case the
    page concerns, named by its entries in the ops audit trail (opened, sent, acknowledged,
    resolved: store/oncall.py). Returns True once the page is recorded (it is then delivered
    whatever happens to this process).
    """

    def __init__(
        self,
        settings: Settings,
        slack: SlackGateway,
        pages: OncallStore,
        *,
        on_change: Callable[[], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.oncall = settings.ASSISTANT_ONCALL
        self.quiet = settings.quiet_hours
        self.slack = slack
        self.pages = pages
        self.on_change = on_change
        self.clock = clock

    async def page(
        self,
        channel: str,
        text: str,
        *,
        thread_ts: str | None = None,
        key: str | None = None,
        case_id: str | None = None,
        critical: bool = False,
        about: str | None = None,
    ) -> bool:
        now = self.clock()
        page_id = (
            key
            or "p" + hashlib.sha256(f"{channel}|{thread_ts or ''}|{text}".encode()).hexdigest()[:24]
        )
        created = await self.pages.open_page(
            page_id,
            text=text,
            channel=channel,
            thread_ts=thread_ts,
            case_id=case_id,
            critical=critical,
            now=now,
            about=about,
        )
        # queued even when the record existed (keep: a queued timer is left as it is), so a
        # crash between the two steps is healed by the retry that comes here again
        due = deliver_at(self.quiet, critical=critical, now=now)
        await self.pages.store.enqueue(keys.JOB_PAGE, page_id, due, keep=True)
        if created:
            log.info("on-call paged (%s)%s", page_id, " — critical" if critical else "")
            if self.on_change is not None:
                await self.on_change()
        return True

    async def resolve_case(self, case_id: str) -> int:
        """The case is settled: resolve its open pages (their messages show it)."""
        resolved = 0
        for page_id in await self.pages.case_page_ids(case_id):
            if await self.pages.resolve(page_id, "settled", self.clock()):
                resolved += 1
                await self.pages.store.cancel_job(keys.JOB_PAGE, page_id)
                await self.pages.store.enqueue(keys.JOB_PAGE_UPDATE, page_id, self.clock())
        if resolved and self.on_change is not None:
            await self.on_change()
        return resolved


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
        critical = case.assessment.severity == CRITICAL and self.clock() < case.sla_deadline
        oncall = self.settings.ASSISTANT_ONCALL
        if critical:
            note = blocks.threat_text(oncall, case, paged=True)
        else:
            note = blocks.escalation_text(
                oncall, case, self.settings.ASSISTANT_SLA_SECONDS, paged=True
            )
        # The page (one per case, by its key) is durable: its job posts it exactly once
        # (look-before-retry with message metadata) and re-escalates until acknowledged.
        await self.pager.page(
            case.channel,
            note,
            thread_ts=case.card_ts,
            key=f"case.{case_id}",
            case_id=case_id,
            critical=critical,
        )
        await self.store.finish_case(case_id, "escalated", self.clock())
        log.info("escalated to on-call")

    async def give_up(self, case_id: str, reason: str) -> None:
        log.error("escalation could not be posted: %s", reason)
        case = await self.store.get_case(case_id)
        if case is not None:
            text = blocks.card_failed_text(case, reason, escalating=True)
            await self.pager.page(case.channel, text, thread_ts=case.card_ts, about=case.case_id)
