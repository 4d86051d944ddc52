"""The outbox: publish an approved reply on the case's network, exactly once.

The decision (vote.lua) queues a ``publish`` job in the same atomic step. This handler looks
up the case's network in the registry (it never names one) and posts with that network's own
mechanism for exactly once: a reference chosen once per case and reused by every attempt
(Mastodon's Idempotency-Key, Bluesky's record key), and, before any retry after an attempt
whose outcome is unknown (a crash, a lost answer), a look for the reply an earlier attempt
may have posted. finish_case.lua then records the outcome once. Transient failures are
retried by the job runner with backoff (at least the network's retry time); a permanent one
is reported in the thread and pings on-call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

from assistant import blocks
from assistant.errors import PublishError, SlackError
from assistant.escalation import Pager
from assistant.jobs import RetryLater
from assistant.models import Case, CaseStatus
from assistant.networks import rule_for
from assistant.networks.base import Network
from assistant.settings import Settings
from assistant.slack import SlackGateway
from assistant.store import Store, keys

if TYPE_CHECKING:
    from assistant.memory import ReplyMemory

log = logging.getLogger(__name__)


class PublishHooks(Protocol):
    """What on-call adds to publishing: the pause, pages, health, figures."""

    pager: Pager

    async def paused_until(self) -> float | None: ...

    async def published(self, case_id: str, seconds_to_reply: float) -> None: ...

    def health(self, dependency: str, worked: bool) -> None: ...


class Publisher:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        slack: SlackGateway,
        networks: Mapping[str, Network],
        *,
        clock: Callable[[], float] = time.time,
        hooks: PublishHooks | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.slack = slack
        self.networks = networks
        self.clock = clock
        self.memory: ReplyMemory | None = None  # published replies are remembered there
        self.hooks = hooks

    async def run(self, case_id: str) -> None:
        case = await self.store.get_case(case_id)
        if case is None or case.status != CaseStatus.APPROVED or case.approved_text is None:
            return  # already published or failed: nothing to do
        platform = case.mention.platform
        network = self.networks.get(platform)
        if network is None:
            rule = rule_for(platform)
            name = rule.name if rule else platform
            await self._fail(case, f"publishing to {name} is not configured")
            return
        if self.hooks is not None and (until := await self.hooks.paused_until()) is not None:
            # /ops pause: wait for its end (re-queued now → this job stays queued till then)
            await self.store.enqueue(keys.JOB_PUBLISH, case_id, until)
            return
        text = network.rule.reply_text(case.mention.author.handle, case.approved_text)
        try:
            ref = case.publish_ref
            if ref is None and (candidate := network.new_publish_ref()) is not None:
                ref = await self.store.publish_ref(case_id, candidate)
            # An earlier attempt may have posted without us learning it (crash, lost answer).
            posted = None
            if case.publish_attempts:
                posted = await network.find_reply(case, ref)
            if posted is None:
                await self.store.count_attempt(case_id, "publish_attempts", now=self.clock())
                posted = await network.publish(case, text, ref)
        except PublishError as exc:
            if self.hooks is not None:
                self.hooks.health(platform, not exc.transient)
            if exc.transient:
                raise RetryLater(str(exc), exc.retry_after) from exc
            await self._fail(case, str(exc))
            return
        if await self.store.finish_case(
            case_id, "published", self.clock(), detail=posted.url, status_id=posted.id
        ):
            log.info("published: %s", posted.url)
            await self._thread_note(case, blocks.published_note(posted.url, platform=platform))
            if self.hooks is not None:  # (a crash before: the page job sees the case settled)
                self.hooks.health(platform, True)
                await self.hooks.published(case_id, self.clock() - case.opened_at)
            await self._remember(case)

    async def _remember(self, case: Case) -> None:
        if self.memory is None or case.approved_text is None:
            return
        try:
            await self.memory.remember(case, case.approved_text)
        except Exception as exc:  # the reply is out: a memory miss must not retry the job
            log.warning("the published reply was not remembered: %s", exc)

    async def give_up(self, case_id: str, reason: str) -> None:
        case = await self.store.get_case(case_id)
        if case is not None:
            await self._fail(case, f"gave up after repeated failures: {reason}")

    async def _fail(self, case: Case, reason: str) -> None:
        if await self.store.finish_case(case.case_id, "failed", self.clock(), detail=reason):
            log.error("publishing failed: %s", reason)
            if self.hooks is None:
                note = blocks.publish_failed_text(reason, self.settings.ASSISTANT_ONCALL)
                await self._thread_note(case, note)
                return
            # the case is settled (its SLA page resolved); the failure is a page of its own,
            # in the thread, with its Acknowledge button
            await self.hooks.pager.resolve_case(case.case_id)
            note = blocks.publish_failed_text(reason, None, paged=True)
            await self.hooks.pager.page(
                case.channel,
                note,
                thread_ts=case.card_ts,
                key=f"publish.{case.case_id}",
                case_id=None,  # settled already: a page about it is not resolved by settling
                about=case.case_id,  # its audit entries name the case
            )

    async def _thread_note(self, case: Case, note: str) -> None:
        if not case.card_ts:
            return
        try:
            await self.slack.post_in_thread(case.channel, case.card_ts, note)
        except SlackError as exc:  # the card update (a durable job) still shows it
            log.warning("thread note not posted: %s", exc)
