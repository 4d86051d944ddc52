"""The outbox: publish an approved reply on the network, exactly once.

The decision (vote.lua) queues a ``publish`` job in the same atomic step. This handler posts
with an Idempotency-Key derived from the case, so a retry after a crash or a lost response
returns the already-created status instead of a second one; finish_case.lua then records the
outcome once. Transient failures are retried by the job runner with backoff; a permanent one
is reported in the thread and pings on-call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from assistant import blocks, text
from assistant.errors import PublishError, SlackError
from assistant.jobs import RetryLater
from assistant.models import Case, CaseStatus
from assistant.networks.mastodon import MastodonClient
from assistant.settings import Settings
from assistant.slack import SlackGateway
from assistant.store import Store

log = logging.getLogger(__name__)


def idempotency_key(case_id: str) -> str:
    return f"community-ops-assistant-{case_id}"


class Publisher:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        slack: SlackGateway,
        mastodon: MastodonClient | None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.slack = slack
        self.mastodon = mastodon
        self.clock = clock

    async def run(self, case_id: str) -> None:
        case = await self.store.get_case(case_id)
        if case is None or case.status != CaseStatus.APPROVED or case.approved_text is None:
            return  # already published or failed: nothing to do
        if case.mention.platform != "mastodon" or self.mastodon is None:
            await self._fail(case, f"publishing to {case.mention.platform} is not configured")
            return
        status = text.mastodon_reply_text(case.mention.author.handle, case.approved_text)
        try:
            # An earlier attempt may have posted without us learning it (crash, lost answer):
            # the Idempotency-Key covers that for an hour; the thread itself covers it after.
            posted = None
            if case.publish_attempts:
                posted = await self.mastodon.own_reply_to(case.mention.id)
            if posted is None:
                await self.store.count_attempt(case_id, "publish_attempts")
                posted = await self.mastodon.reply(
                    case.mention.id, status, idempotency_key(case_id)
                )
        except PublishError as exc:
            if exc.transient:
                raise RetryLater(str(exc), exc.retry_after) from exc
            await self._fail(case, str(exc))
            return
        url = posted.url or posted.uri
        if await self.store.finish_case(
            case_id, "published", self.clock(), detail=url, status_id=posted.id
        ):
            log.info("published: %s", url)
            await self._thread_note(case, blocks.published_note(url))

    async def give_up(self, case_id: str, reason: str) -> None:
        case = await self.store.get_case(case_id)
        if case is not None:
            await self._fail(case, f"gave up after repeated failures: {reason}")

    async def _fail(self, case: Case, reason: str) -> None:
        if await self.store.finish_case(case.case_id, "failed", self.clock(), detail=reason):
            log.error("publishing failed: %s", reason)
            note = blocks.publish_failed_text(reason, self.settings.ASSISTANT_ONCALL)
            await self._thread_note(case, note)

    async def _thread_note(self, case: Case, note: str) -> None:
        if not case.card_ts:
            return
        try:
            await self.slack.post_in_thread(case.channel, case.card_ts, note)
        except SlackError as exc:  # the card update (a durable job) still shows it
            log.warning("thread note not posted: %s", exc)
