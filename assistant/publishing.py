"""The outbox: publish an approved reply on the case's network, exactly once.

The decision (vote.lua) queues a ``publish`` job in the same atomic step. This handler looks
up the case's network in the registry (it never names one) and posts with that network's own
mechanism for exactly once: a reference chosen once per case and reused by every attempt
(Mastodon's Idempotency-Key, Bluesky's record key), and, before any retry after an attempt
whose outcome is unknown (a crash, a lost answer), a look for the reply an earlier attempt
may have posted. finish_case.lua then records the outcome once. Transient failures are
retried by the job runner with backoff (at least the network's retry time); a permanent one
fails the case.

What follows an outcome — the thread note, on-call (the case's pages resolved; a failure
paged), reply memory — is not done in this process after the outcome is
recorded, where a crash would lose it: finish_case.lua queues a ``settled`` job with the
outcome (in the same step on one node; right after on a cluster, where the sweep re-queues
it). :class:`Settled` runs it; each of its steps is idempotent, so a run again (a crash, a
retry, the sweep) does each once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

from assistant import blocks
from assistant.errors import PublishError
from assistant.escalation import Pager
from assistant.jobs import RetryLater
from assistant.models import Case, CaseStatus
from assistant.networks import rule_for
from assistant.networks.base import Network
from assistant.settings import Settings
from assistant.slack import SlackGateway
from assistant.store import Store, is_unavailable, keys

if TYPE_CHECKING:
    from assistant.memory import ReplyMemory

log = logging.getLogger(__name__)


class PublishHooks(Protocol):
    """What on-call adds to publishing: the pause, pages, health, figures."""

    pager: Pager

    async def paused_until(self) -> float | None: ...

    async def published(self, case_id: str) -> None:
        """A reply is out: resolve the case's pages and refresh App Home (idempotent: the
        ``settled`` job may run again; the day's figures are read from the audit trail)."""
        ...

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
        if self.hooks is not None:
            self.hooks.health(platform, True)
        # records the outcome and queues its follow-ups (the ``settled`` job): see Settled
        if await self.store.finish_case(
            case_id, "published", self.clock(), detail=posted.url, status_id=posted.id
        ):
            log.info("published: %s", posted.url)

    async def give_up(self, case_id: str, reason: str) -> None:
        case = await self.store.get_case(case_id)
        if case is not None:
            await self._fail(case, f"gave up after repeated failures: {reason}")

    async def _fail(self, case: Case, reason: str) -> None:
        if await self.store.finish_case(case.case_id, "failed", self.clock(), detail=reason):
            log.error("publishing failed: %s", reason)


class Settled:
    """Job ``settled`` (id: case id): what follows a recorded publish outcome, queued with it
    by finish_case.lua. Every step is idempotent, so a run again after a crash, a transient
    Slack error or the sweep does each once:

    - published: the case's pages resolved (PublishHooks.published), the reply remembered
      (keyed by the case), then the note with the public URL in the case thread (posted once:
      a marker, then a look in the thread for the note's metadata before any second attempt);
    - failed: the case's pages resolved, and the failure paged in the thread with its
      Acknowledge button (a page keyed by the case: one page whatever the runs); without
      on-call hooks, a note in the thread (posted once, likewise).

    A Slack error on the note is retried by the job runner like any job's (transient) or
    ends it with a log line (permanent: the card, a durable job of its own, shows the outcome).
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        slack: SlackGateway,
        *,
        hooks: PublishHooks | None = None,
        memory: ReplyMemory | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.slack = slack
        self.hooks = hooks
        self.memory = memory  # published replies are remembered there

    async def run(self, case_id: str) -> None:
        case = await self.store.get_case(case_id)
        if case is None:
            return
        if case.status == CaseStatus.PUBLISHED and case.published_url:
            await self._published(case, case.published_url)
        elif case.status == CaseStatus.FAILED:
            await self._failed(case, case.failure or "unknown error")

    async def _published(self, case: Case, url: str) -> None:
        if self.hooks is not None:
            await self.hooks.published(case.case_id)
        await self._remember(case)
        note = blocks.published_note(url, platform=case.mention.platform)
        await self._note(case, "published", note)

    async def _remember(self, case: Case) -> None:
        if self.memory is None or case.approved_text is None:
            return
        try:
            await self.memory.remember(case, case.approved_text)
        except Exception as exc:
            if is_unavailable(exc):
                raise  # Redis away: the job runs again when it is back
            log.warning("the published reply was not remembered: %s", exc)

    async def _failed(self, case: Case, reason: str) -> None:
        if self.hooks is None:
            note = blocks.publish_failed_text(reason, self.settings.ASSISTANT_ONCALL)
            await self._note(case, "failed", note)
            return
        # the case is settled (its SLA page resolved); the failure is a page of its own, in
        # the thread, with its Acknowledge button
        await self.hooks.pager.resolve_case(case.case_id)
        await self.hooks.pager.page(
            case.channel,
            blocks.publish_failed_text(reason, None, paged=True),
            thread_ts=case.card_ts,
            key=f"publish.{case.case_id}",
            case_id=None,  # settled already: a page about it is not resolved by settling
            about=case.case_id,  # its audit entries name the case
        )

    async def _note(self, case: Case, outcome: str, note: str) -> None:
        if not case.card_ts:
            return  # no thread to post in (the card shows the outcome)
        await self.slack.post_once_in_thread(
            case.channel,
            case.card_ts,
            note,
            case_id=case.case_id,
            what=f"outcome.{outcome}",
            event_type="case_outcome",
        )

    async def give_up(self, case_id: str, reason: str) -> None:
        log.error("the outcome's thread note was not posted: %s", reason)
