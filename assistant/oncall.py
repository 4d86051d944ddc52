"""On-call: the page jobs (notify, re-escalate, repeat), acknowledgements, App Home, ``/ops``,
the pause, and the watch on the app's own trouble.

A page (escalation.Pager.page) is a record in Redis and a ``page`` job. Each run of the job
notifies the page's next step of the policy (oncall_policy.step_at) exactly once — the
attempt is counted in Redis first, and a retry after an unknown outcome looks for the
message's metadata before posting again —, records the step (page.lua ``advance``, a
compare-and-set) and returns the time of the next step: the job runner keeps it queued
until then. An ack (page.lua ``ack``) or the case being settled (``resolve``) stops it:
the next run finds the page no longer open. Across replicas and restarts this is the job
queue's lease and the idempotent steps, as for the case jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from assistant import oncall_blocks as ob
from assistant import reports
from assistant.errors import SlackError
from assistant.models import CaseStatus
from assistant.oncall_policy import deliver_at, oncall_now, step_at
from assistant.ratelimit import priority
from assistant.settings import Settings
from assistant.slack import SlackGateway
from assistant.store import Job, Store, keys
from assistant.store.oncall import OncallStore, Page

log = logging.getLogger(__name__)

LOOKBACK_SECONDS = 600  # look for a lost top-level page message this long before the page
MAX_DIRECT_PAGES = 10  # members of a user group paged by direct message, at most
HOME_COALESCE_SECONDS = 1.0  # changes within this window make one App Home refresh
HOME_VIEWERS_MAX = 50
TROUBLE_CHECK_SECONDS = 10.0
PAUSE_MAX_MINUTES = 1440
PAGE_RETRY_SECONDS = 300  # a page whose delivery gave up is tried again this much later


def page_tag(page_id: str, step: int) -> dict[str, object]:
    return {"event_type": "oncall_page", "event_payload": {"page_id": page_id, "step": step}}


class PageJob:
    """Job ``page`` (id: page id): notify the page's next step, return when the next is due."""

    def __init__(
        self,
        settings: Settings,
        pages: OncallStore,
        slack: SlackGateway,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.policy = settings.escalation_policy
        self.quiet = settings.quiet_hours
        self.pages = pages
        self.slack = slack
        self.clock = clock

    async def run(self, job: Job) -> float | None:
        page = await self.pages.get_page(job.id)
        if page is None or page.status != "open":
            return None
        if page.case_id:  # settled meanwhile (even if a crash kept its resolution from running)
            case = await self.pages.store.get_case(page.case_id)
            if case is None or case.status in (CaseStatus.PUBLISHED, CaseStatus.FAILED):
                if await self.pages.resolve(page.id, "settled", self.clock()):
                    await self.pages.store.enqueue(keys.JOB_PAGE_UPDATE, page.id, self.clock())
                return None
        step = step_at(self.policy, page.step)
        if step is None and page.step > 0:
            return None  # every level was paged: the page stays open (App Home, /ops)
        now = self.clock()
        due = deliver_at(self.quiet, critical=page.critical, now=now)
        if due > now:
            return due  # quiet hours: a non-critical page waits for their end
        tag = page_tag(page.id, page.step)
        with priority():  # a page goes ahead of the cards waiting for the channel's limiter
            if page.step == 0:
                where, ts = await self._first(page, tag)
            else:
                assert step is not None
                where, ts = page.msg_channel, page.ts
                await self._next_level(page, tag)
        await self.pages.advance(page.id, page.step, where, ts, now)
        if page.step > 0:
            await self.pages.store.enqueue(keys.JOB_PAGE_UPDATE, page.id, now)
        if step is None or step_at(self.policy, page.step + 1) is None:
            return None
        return now + step.delay

    async def _first(self, page: Page, tag: dict[str, object]) -> tuple[str, str]:
        """The page's message (with the button), once: (conversation, ts)."""
        step = step_at(self.policy, 0)
        text, blocks = ob.page_message(page, step, self.policy)
        if await self.pages.attempts(page.id, 0):  # an earlier attempt's outcome is unknown
            found = (
                await self.slack.find_in_thread(page.channel, page.thread_ts, tag)
                if page.thread_ts
                else await self.slack.find_own_message(
                    page.channel, tag, oldest=page.created_at - LOOKBACK_SECONDS
                )
            )
            if found is not None:
                return page.channel, found
        await self.pages.count_attempt(page.id, 0)
        extra: dict[str, object] = {"metadata": tag}
        if page.thread_ts:
            extra["thread_ts"] = page.thread_ts
        try:
            return await self.slack.post_where(page.channel, text, blocks, **extra)
        except SlackError as exc:
            if exc.transient:
                raise
            log.warning("paging in the channel failed (%s); trying direct messages", exc.error)
        told = await self._direct(step.targets if step else (), text, blocks, tag)
        if told is None:
            log.error("nobody could be paged for %s", page.id)
            return "", ""
        return told

    async def _next_level(self, page: Page, tag: dict[str, object]) -> None:
        step = step_at(self.policy, page.step)
        assert step is not None
        prev = step_at(self.policy, page.step - 1)
        note = ob.next_level_text(step, prev.delay if prev else 0)
        thread = page.thread_ts or page.ts
        where = page.msg_channel or page.channel
        if (
            await self.pages.attempts(page.id, page.step)
            and thread
            and await self.slack.find_in_thread(where, thread, tag) is not None
        ):
            return
        await self.pages.count_attempt(page.id, page.step)
        try:
            if thread and where == page.channel:
                await self.slack.post_in_thread(where, thread, note, metadata=tag)
                return
        except SlackError as exc:
            if exc.transient:
                raise
        text, blocks = ob.page_message(page, step, self.policy)
        await self._direct(step.targets, text, blocks, tag)

    async def _direct(
        self, targets: tuple[str, ...], text: str, blocks: list[ob.Block], tag: dict[str, object]
    ) -> tuple[str, str] | None:
        first: tuple[str, str] | None = None
        for user in await self._users(targets):
            try:
                where = await self.slack.post_where(user, text, blocks, metadata=tag)
                first = first or where
            except SlackError as exc:
                log.warning("paging %s by direct message failed: %s", user, exc.error)
        return first

    async def _users(self, targets: tuple[str, ...]) -> list[str]:
        users: list[str] = []
        for target in targets:
            if not target.startswith("S"):
                users.append(target)
                continue
            try:
                users.extend(await self.slack.usergroup_users(target))
            except SlackError as exc:
                log.warning("the members of %s are unknown: %s", target, exc.error)
        return list(dict.fromkeys(users))[:MAX_DIRECT_PAGES]

    async def give_up(self, job: Job, reason: str) -> None:
        """A page is never dropped: after the runner's retries (e.g. Slack down for
        minutes), it is tried again later (queued now, the runner leaves it queued)."""
        log.error(
            "page %s could not be delivered (again in %d s): %s", job.id, PAGE_RETRY_SECONDS, reason
        )
        await self.pages.store.enqueue(keys.JOB_PAGE, job.id, self.clock() + PAGE_RETRY_SECONDS)


class PageUpdate:
    """Job ``pageupd`` (id: page id): re-render the page's message (acked, resolved, level)."""

    def __init__(self, settings: Settings, pages: OncallStore, slack: SlackGateway) -> None:
        self.policy = settings.escalation_policy
        self.pages = pages
        self.slack = slack

    async def run(self, job: Job) -> None:
        page = await self.pages.get_page(job.id)
        if page is None or not page.ts or not page.msg_channel:
            return
        step = step_at(self.policy, max(0, page.step - 1))
        text, blocks = ob.page_message(page, step, self.policy)
        await self.slack.update(page.msg_channel, page.ts, text, blocks)

    async def give_up(self, job: Job, reason: str) -> None:
        log.error("the message of page %s could not be updated: %s", job.id, reason)


@dataclass(frozen=True, slots=True)
class Answer:
    """What a listener shows the person (ephemeral); ``ok`` False for a refusal."""

    text: str
    ok: bool = True


class OncallService:
    """What the Slack surfaces (actions, ``/ops``, App Home) call: one method per request,
    returning an Answer (a refusal is an answer, never an exception)."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        pages: OncallStore,
        slack: SlackGateway,
        *,
        on_due: Callable[[], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.policy = settings.escalation_policy
        self.quiet = settings.quiet_hours
        self.store = store
        self.pages = pages
        self.slack = slack
        self.on_due = on_due
        self.clock = clock
        self.surge: Callable[[], Awaitable[str | None]] | None = None  # the live surge, a line
        self.today = reports.TodayReport(store, settings.ASSISTANT_TIME_ZONE)

    # -- who may act ----------------------------------------------------------------------

    async def refusal(self, user: str, team_id: str | None) -> Answer | None:
        """A refusal for someone who is not a member of this workspace's team (another
        team, a bot, a deactivated or unknown account); None for a member."""
        if team_id and self.slack.team_id and team_id != self.slack.team_id:
            return Answer("This command only works for members of the team's workspace.", False)
        try:
            person = await self.slack.user(user)
        except SlackError as exc:
            if exc.transient:
                raise
            return Answer("Only members of this workspace can do this.", False)
        if person.is_bot:
            return Answer("Bots cannot do this.", False)
        return None

    # -- acks -----------------------------------------------------------------------------

    async def ack(self, page_id: str, user: str, team_id: str | None = None) -> Answer:
        refused = await self.refusal(user, team_id)
        if refused is not None:
            return refused
        outcome, by, _ = await self.pages.ack(page_id, user, self.clock())
        if outcome == "acked":
            log.info("page %s acknowledged by %s", page_id, user)
            await self.store.cancel_job(keys.JOB_PAGE, page_id)
            await self.store.enqueue(keys.JOB_PAGE_UPDATE, page_id, self.clock())
            await self.changed()
        return Answer(ob.ack_answer(outcome, page_id, by), outcome == "acked")

    async def ack_case(self, ident: str, user: str, team_id: str | None) -> Answer:
        """``/ops ack CASE``: the open pages of a case (or one page by its id)."""
        refused = await self.refusal(user, team_id)
        if refused is not None:
            return refused
        ids = await self.pages.case_page_ids(ident)
        if not ids:
            if await self.pages.get_page(ident) is not None:
                return await self.ack(ident, user, team_id)
            return Answer(ob.ack_answer("no_page", ident, ""), False)
        answers = [await self.ack(page_id, user, team_id) for page_id in ids]
        acked = [a for a in answers if a.ok]
        return acked[0] if acked else answers[-1]

    # -- the pause --------------------------------------------------------------------------

    async def pause(self, minutes: str, user: str, team_id: str | None) -> Answer:
        refused = await self.refusal(user, team_id)
        if refused is not None:
            return refused
        # ASCII digits only: str.isdigit() also takes '²' or '١٢', which int() may refuse
        if (
            not (minutes.isascii() and minutes.isdigit())
            or not 1 <= int(minutes) <= PAUSE_MAX_MINUTES
        ):
            return Answer(f"Give the pause in minutes, from 1 to {PAUSE_MAX_MINUTES}.", False)
        now = self.clock()
        until = now + int(minutes) * 60
        await self.pages.pause(user, until, now)
        log.warning("publishing and polling paused for %s min by %s", minutes, user)
        await self._refresh_cards(resume=False)
        return Answer(
            f"⏸️ Paused for {int(minutes)} min: nothing is published or polled until then "
            "(every card says so). `/ops resume` restarts now."
        )

    async def resume(self, user: str, team_id: str | None) -> Answer:
        refused = await self.refusal(user, team_id)
        if refused is not None:
            return refused
        was = await self.pages.resume(user, self.clock())
        await self._refresh_cards(resume=True)
        return Answer("▶️ Resumed: publishing and polling run again." if was else "Not paused.")

    async def paused_until(self) -> float | None:
        return await self.pages.paused_until(self.clock())

    async def _refresh_cards(self, *, resume: bool) -> None:
        now = self.clock()
        jobs: list[tuple[str, str, float]] = []
        for case_id in await self.store.open_case_ids():
            jobs.append((keys.JOB_UPDATE_CARD, case_id, now))
            if resume:
                case = await self.store.get_case(case_id)
                if case is not None and case.status == CaseStatus.APPROVED:
                    jobs.append((keys.JOB_PUBLISH, case_id, now))  # waiting for the pause end
        await self.store.enqueue_many(jobs)
        await self.changed()

    # -- what is going on -----------------------------------------------------------------

    async def home_data(self, *, with_links: bool = True, with_today: bool = True) -> ob.HomeData:
        """What App Home (and, without links nor today's figures, ``/ops status``) shows.
        Today's figures are the report's (reports.TodayReport), not a copy of them."""
        now = self.clock()
        ids = await self.store.open_case_ids()
        cases = [c for c in [await self.store.get_case(i) for i in ids[: ob.HOME_CASES_MAX]] if c]
        links: dict[str, str] = {}
        for case in cases if with_links else []:
            if case.card_ts:
                with contextlib.suppress(SlackError):
                    links[case.case_id] = await self.slack.permalink(case.channel, case.card_ts)
        pages = [
            p for p in [await self.pages.get_page(i) for i in await self.pages.open_page_ids()] if p
        ]
        today = await self.today.report(now) if with_today else None
        return ob.HomeData(
            cases=cases,
            open_count=len(ids),
            pages=pages,
            policy=self.policy,
            quiet=self.quiet,
            paused_until=await self.pages.paused_until(now),
            today=today,
            zone=self.today.zone,
            links=links,
            surge=await self.surge() if self.surge else None,
        )

    async def status(self) -> Answer:
        data = await self.home_data(with_links=False, with_today=False)  # within 3 s
        return Answer(ob.ops_status(data))

    def oncall(self) -> Answer:
        return Answer(ob.ops_oncall(self.policy, self.quiet))

    def help(self) -> Answer:
        return Answer(ob.ops_help(self.settings.ASSISTANT_COMMAND))

    async def home_opened(self, user: str) -> None:
        """``app_home_opened``: remember the viewer (refreshed on changes) and queue the
        publication of their Home (a job: after the ack, retried, coalesced)."""
        now = self.clock()
        await self.pages.add_viewer(user, now)
        await self.store.enqueue(keys.JOB_HOME, f"user.{user}", now, keep=True)
        self.on_due()

    async def command(self, text: str, user: str, team_id: str | None) -> Answer:
        """``/ops SUBCOMMAND [ARG]``; anything unknown gets the help."""
        sub, arg = parse_ops(text)
        if sub in ("status", "oncall", "ack", "pause", "resume"):
            refused = await self.refusal(user, team_id)
            if refused is not None:
                return refused
        if sub == "status":
            return await self.status()
        if sub == "oncall":
            return self.oncall()
        if sub == "ack":
            if not arg:
                return Answer("Which case? `ack CASE` (the case id shown on its card).", False)
            return await self.ack_case(arg, user, team_id)
        if sub == "pause":
            return await self.pause(arg, user, team_id)
        if sub == "resume":
            return await self.resume(user, team_id)
        return self.help()

    async def changed(self) -> None:
        """Something App Home shows changed: one refresh job, coalesced."""
        await self.store.enqueue(
            keys.JOB_HOME, "all", self.clock() + HOME_COALESCE_SECONDS, keep=True
        )
        self.on_due()

    def first_level(self) -> tuple[str, ...]:
        return oncall_now(self.policy)


class HomeRefresh:
    """Job ``home`` (id ``all``): publish App Home again for its recent viewers."""

    def __init__(self, service: OncallService) -> None:
        self.service = service

    async def run(self, job: Job) -> None:
        if job.id.startswith("user."):  # someone opened the Home tab
            user = job.id.removeprefix("user.")
            await self.service.slack.publish_home(
                user, ob.home_view(await self.service.home_data())
            )
            return
        viewers = await self.service.pages.viewers(self.service.clock())
        if not viewers:
            return
        view = ob.home_view(await self.service.home_data())
        for user in viewers[:HOME_VIEWERS_MAX]:
            try:
                await self.service.slack.publish_home(user, view)
            except SlackError as exc:
                if exc.transient:
                    raise  # retried: publishing again is harmless
                log.warning("App Home of %s not published: %s", user, exc.error)

    async def give_up(self, job: Job, reason: str) -> None:
        log.warning("App Home refresh failed: %s", reason)


class TroubleWatch:
    """The app's own trouble: Slack or a network failing for longer than
    ``ASSISTANT_TROUBLE_SECONDS`` pages on-call (critical), once per episode across
    replicas (the episode's start is shared in Redis and names the page)."""

    def __init__(
        self,
        settings: Settings,
        pages: OncallStore,
        pager: object,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.pages = pages
        self.pager = pager
        self.clock = clock
        self._failing: dict[str, bool] = {}  # since the last check: did it fail, did it work
        self._worked: dict[str, bool] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def record(self, dependency: str, worked: bool) -> None:
        if worked:
            self._worked[dependency] = True
        else:
            self._failing[dependency] = True

    async def check(self) -> list[str]:
        """Flush what was seen to Redis; page for what fails for too long. Returns the
        dependencies paged about."""
        now = self.clock()
        failing, worked = self._failing, self._worked
        self._failing, self._worked = {}, {}
        paged: list[str] = []
        for dep in set(failing) | set(worked):
            if failing.get(dep) and not worked.get(dep):
                since = await self.pages.failing_since(dep, now)
                if now - since >= self.settings.ASSISTANT_TROUBLE_SECONDS:
                    minutes = max(1, round((now - since) / 60))
                    text = (
                        f"🔥 The assistant's own trouble: calls to *{dep}* have been failing "
                        f"for {minutes} min. Cases may wait; check the service's status page "
                        "and the app's logs."
                    )
                    await self.pager.page(  # type: ignore[attr-defined]
                        self.settings.ASSISTANT_CHANNEL,
                        text,
                        key=f"trouble.{dep}.{int(since)}",
                        critical=True,
                    )
                    paged.append(dep)
            elif worked.get(dep):
                await self.pages.working(dep)
        return paged

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="trouble-watch")

    async def stop(self) -> None:
        # The flag ends the loop even when a check swallows the cancellation (Python 3.11's
        # asyncio.wait_for inside redis-py can): a bare cancel once left stop() waiting forever.
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while not self._stopping:
            await asyncio.sleep(TROUBLE_CHECK_SECONDS)
            try:
                await self.check()
            except Exception as exc:  # Redis away: the next check tries again
                log.warning("trouble watch: %s", exc)


def parse_ops(text: str) -> tuple[str, str]:
    """(subcommand, argument) of ``/ops`` text, lower-cased subcommand; "" when empty."""
    parts = text.strip().split(None, 1)
    if not parts:
        return "", ""
    return parts[0].lower()[:20], (parts[1].strip() if len(parts) > 1 else "")[:200]
