"""The durable job runner: one queue for every kind of deferred work.

A job is a kind, an id and a small payload (``Store.enqueue``): today the case jobs (post the
card, update it, publish the approved reply — the outbox —, escalate at the SLA) and the sweep;
escalation levels, surge cards, home refreshes and reports ride the same queue. There is one
job per (kind, id): queuing it again moves it, so repeated requests coalesce.

The queue is sharded in Redis (keys.SHARDS sorted sets under their own hash tags, score = due
time): Redis Cluster spreads it, and claims take from every shard fairly. A worker claims due
jobs atomically under a lease (claim_jobs.lua), renewed while the job runs (a slow Slack or
network call does not hand the job to a second worker); a worker that dies mid-job leaves the
lease to expire and any replica picks the job up again. Handlers are idempotent and say "later" by
raising RetryLater or a transient ExternalError (any other exception counts the same); the
runner then reschedules with exponential backoff (settle_job.lua), and after MAX_ATTEMPTS
hands the job to give_up. A permanent ExternalError (e.g. Slack's ``channel_not_found``) is
not retried: the job goes to give_up at once. A handler that returns a time is run again
then (periodic jobs such as the sweep). A job interrupted by a Redis outage is kept by its
worker and run again as soon as Redis answers, rather than waiting out its lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Protocol

from assistant.errors import ExternalError, Throttled
from assistant.logs import bound_case
from assistant.store import Job, Store, is_unavailable, keys

if TYPE_CHECKING:
    from assistant.metrics import Metrics

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 12  # about five minutes of retries (0.5 s, 1 s, 2 s … 60 s) before giving up
BASE_DELAY = 0.5  # the n-th failure waits BASE_DELAY * 2^(n-1) (±20 % jitter) …
MAX_DELAY = 60.0  # … at most this, and at least the network's Retry-After
STORE_WAIT_MAX = 2.0  # a job interrupted by a Redis outage is tried again this often, at most
GAVE_UP = -2  # retry_job's answer once MAX_ATTEMPTS is reached
SWEEP_SECONDS = 60.0  # how often each open-case shard is swept
SWEEP_GRACE = 15.0  # cases younger than this are left to the steps in flight


class RetryLater(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class JobHandler(Protocol):
    """Runs one kind of job. ``run`` returns None when the job is done, or the time (Unix s)
    at which to run it again (a periodic job)."""

    async def run(self, job: Job) -> float | None: ...

    async def give_up(self, job: Job, reason: str) -> None: ...


class CaseHandler(Protocol):
    """A job about one case: its id is the case id."""

    async def run(self, case_id: str) -> None: ...

    async def give_up(self, case_id: str, reason: str) -> None: ...


class CaseJob:
    """Adapts a case handler to the queue: the job's id is the case id, bound on log lines."""

    def __init__(self, handler: CaseHandler) -> None:
        self.handler = handler

    async def run(self, job: Job) -> None:
        await self.handler.run(job.id)

    async def give_up(self, job: Job, reason: str) -> None:
        await self.handler.give_up(job.id, reason)


class Sweeper:
    """Periodic job (one per open-case shard): re-queues what a crash between two store steps
    left out — a decided case without its publish job, a case without its card, drafts or
    timer job, a settled case whose card update or follow-ups were lost — and drops settled
    cases from the index."""

    def __init__(
        self,
        store: Store,
        *,
        every: float = SWEEP_SECONDS,
        grace: float = SWEEP_GRACE,
        clock: Callable[[], float] = time.time,
        drafts: bool = False,
    ) -> None:
        self.store = store
        self.every = every
        self.grace = grace
        self.clock = clock
        self.drafts = drafts  # drafts are configured: a card's lost drafts job is re-queued

    async def ensure(self) -> None:
        """Queue the sweep of every shard unless queued (each replica calls this at start)."""
        now = self.clock()
        await self.store.enqueue_many(
            [(keys.JOB_SWEEP, str(n), now + self.grace) for n in range(keys.SHARDS)], keep=True
        )

    async def run(self, job: Job) -> float:
        now = self.clock()
        await self.store.repair_open_cases(
            int(job.id), now=now, settled_before=now - self.grace, drafts=self.drafts
        )
        return now + self.every

    async def give_up(self, job: Job, reason: str) -> None:
        log.error(
            "the sweep of open-case shard %s stopped until the next start: %s", job.id, reason
        )


class _Lease:
    """A running job's lease, renewed every third of it while its handler runs, so that a
    handler slower than the lease (a Slack or network call under load) keeps its job instead
    of another worker claiming it and doing the work a second time. Only a worker that stops
    (a crash, a frozen process) lets its lease run out. Fast jobs cost nothing: the renewal
    task starts only when a first renewal is due."""

    def __init__(self, runner: JobRunner, job: Job) -> None:
        self.runner = runner
        self.job = job  # with the lease score to settle it with
        self._next: Job | None = None
        self._stop = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None

    def adopt(self, job: Job) -> None:
        """This runner claimed the job again while running it: re-queued meanwhile, or its
        lease ran out while Redis was away. The worker runs it once more with the new lease
        (never two runs of one job in one process)."""
        self._next = job

    @property
    def claimed_again(self) -> bool:
        return self._next is not None

    def start(self) -> None:
        if self._next is not None:  # a run with the newest claim
            self.job, self._next = self._next, None
        self._stop.clear()
        self._timer = asyncio.get_running_loop().call_later(self._period, self._begin)

    async def stop(self) -> Job:
        """Stop renewing (a renewal in flight completes first); the job with its lease now."""
        self._stop.set()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._task is not None:
            await self._task
            self._task = None
        return self.job

    @property
    def _period(self) -> float:
        return self.runner.lease_seconds / 3

    def _begin(self) -> None:
        self._timer = None
        self._task = asyncio.create_task(self._renew(), name=f"lease {self.job.member}")

    async def _renew(self) -> None:
        while not self._stop.is_set():
            until = self.runner.clock() + self.runner.lease_seconds
            try:
                renewed = await self.runner.store.renew_job(self.job, until)
            except Exception as exc:  # Redis away: try again at the next period
                log.warning("the lease of job %s was not renewed: %s", self.job.member, exc)
            else:
                if renewed is None:
                    return  # re-queued (or claimed again): it runs once more after this run
                self.job = renewed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._period)


class JobRunner:
    def __init__(
        self,
        store: Store,
        handlers: dict[str, JobHandler],
        *,
        lease_seconds: float = 60.0,
        poll_seconds: float = 0.5,
        concurrency: int = 16,
        clock: Callable[[], float] = time.time,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.handlers = handlers
        self.metrics = metrics
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.clock = clock
        self._concurrency = concurrency  # claims never exceed the free slots
        self._wake = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        self._leases: dict[str, _Lease] = {}  # the jobs this runner is running, by member
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None
        self._store_down = False  # logs an outage once, not at every poll
        self._slots: dict[str, float] = {}  # channel -> last slot given to a throttled job

    def wake(self) -> None:
        """Something is due now (a decision, a new case): look at once, not at the next poll."""
        self._wake.set()

    def start(self) -> None:
        if self.metrics is not None:
            self.metrics.job_kinds(self.handlers)
        self._loop_task = asyncio.create_task(self._loop(), name="job-runner")

    async def stop(self, timeout: float = 15.0) -> None:
        """Stop claiming, let in-flight jobs finish (their leases cover a hard stop)."""
        self._stopping = True
        self._wake.set()
        if self._loop_task:
            await self._loop_task
        if self._running:
            _, pending = await asyncio.wait(set(self._running), timeout=timeout)
            for task in pending:
                task.cancel()

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            free = self._concurrency - len(self._running)
            next_due: float | None = None
            try:
                claim = await self.store.claim_jobs(self.clock(), self.lease_seconds, free)
                jobs, next_due = claim.jobs, claim.next_due
            except Exception as exc:  # Redis away: keep the loop alive, try again soon
                if not self._store_down:
                    log.error("claiming jobs failed (will keep trying): %s", exc)
                self._store_down = is_unavailable(exc)
                jobs = []
            else:
                if self._store_down:
                    log.warning("claiming jobs works again")
                self._store_down = False
            for job in jobs:
                if (held := self._leases.get(job.member)) is not None:
                    # ours already: its lease ran out while Redis was away (no renewal then);
                    # the running worker takes the new lease instead of a second run starting
                    held.adopt(job)
                    continue
                task = asyncio.create_task(self._execute(job), name=f"job {job.member}")
                self._running.add(task)
                task.add_done_callback(self._running.discard)
            if jobs and len(jobs) == free:
                await asyncio.sleep(0)  # more may be due: claim again at once
                continue
            await self._sleep(next_due)

    async def _sleep(self, next_due: float | None) -> None:
        timeout = self.poll_seconds
        if next_due is not None:
            timeout = max(0.0, min(timeout, next_due - self.clock()))
        if timeout == 0.0 and len(self._running) >= self._concurrency:
            timeout = self.poll_seconds  # due work but no free slot: a finishing job wakes us
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    async def _execute(self, job: Job) -> None:
        """Run a claimed job. When Redis goes away in the middle, this worker keeps the job
        (its lease is still ours) and runs it again once Redis answers — handlers are
        idempotent — rather than leaving it to wait for the lease to run out."""
        bound: AbstractContextManager[object] = (
            bound_case(job.id) if job.kind in keys.CASE_JOBS else nullcontext()
        )
        lease = _Lease(self, job)
        self._leases[job.member] = lease
        try:
            with bound:
                await self._hold(lease)
        finally:
            del self._leases[job.member]

    async def _hold(self, lease: _Lease) -> None:
        wait = BASE_DELAY / 2
        while True:
            try:
                await self._run(lease)
                if not lease.claimed_again or self._stopping:
                    return
                continue  # claimed again while it ran: once more, under the new lease
            except Exception as exc:
                if not is_unavailable(exc) or self._stopping:  # the lease covers it
                    log.error("job %s not settled (it will run again): %s", lease.job.member, exc)
                    return
                log.warning("job %s waits for the store: %s", lease.job.member, exc)
            await asyncio.sleep(wait)
            wait = min(wait * 2, STORE_WAIT_MAX)

    async def _run(self, lease: _Lease) -> None:
        lease.start()
        job = lease.job
        handler = self.handlers.get(job.kind)
        if handler is None:
            await lease.stop()
            log.error("dropping job %s: no handler for %r", job.member, job.kind)
            await self.store.finish_job(job)
            return
        try:
            try:
                again = await handler.run(job)
            finally:  # settled below with the lease as renewed while it ran
                job = await lease.stop()
        except RetryLater as exc:
            await self._retry(job, handler, str(exc), exc.retry_after)
            return
        except Throttled as exc:  # waits for the channel's rate limiter: not a failure
            self._count(job, "throttled")
            await self.store.reschedule_job(job, self._slot(exc))
            return
        except ExternalError as exc:
            if exc.transient:
                await self._retry(job, handler, str(exc), exc.retry_after)
                return
            log.error("job %s failed for good (not retried): %s", job.member, exc)
            self._count(job, "gave_up")
            await handler.give_up(job, str(exc))
            await self.store.finish_job(job)
            return
        except Exception as exc:
            if is_unavailable(exc):
                raise  # not the job's fault: _execute runs it again when Redis is back
            log.exception("job %s failed", job.member)
            await self._retry(job, handler, f"{type(exc).__name__}: {exc}", None)
            return
        if again is not None:
            self._count(job, "again")
            await self.store.reschedule_job(job, again)
            return
        self._count(job, "done")
        await self.store.finish_job(job)
        self.wake()  # a finished job often queues another (e.g. a card update) due now

    def _slot(self, exc: Throttled) -> float:
        """When a throttled job comes back: when the channel frees a token, or one token
        after the last job this runner sent back for that channel. Jobs waiting for a busy
        channel (cards queued behind a backlog) come back one per token, roughly in order,
        instead of all at every token to be refused again (each woken job reads its case
        first: with thousands waiting that was most of the process's CPU)."""
        due = self.clock() + exc.retry_after
        if exc.interval <= 0:  # a priority post does not queue behind the others
            return due
        slot = max(due, self._slots.get(exc.channel, 0.0) + exc.interval)
        self._slots[exc.channel] = slot
        return slot

    def _count(self, job: Job, outcome: str) -> None:
        if self.metrics is not None:  # kinds are the handlers' keys: a bounded label
            kind = job.kind if job.kind in self.handlers else "unknown"
            self.metrics.job_runs.labels(kind, outcome).inc()

    async def _retry(
        self, job: Job, handler: JobHandler, reason: str, retry_after: float | None
    ) -> None:
        attempts = await self.store.retry_job(
            job,
            now=self.clock(),
            base_delay=BASE_DELAY * random.uniform(0.8, 1.2),
            max_delay=MAX_DELAY,
            min_delay=retry_after or 0.0,
            max_attempts=MAX_ATTEMPTS,
        )
        self._count(job, "gave_up" if attempts == GAVE_UP else "retry")
        if attempts == GAVE_UP:
            log.error("job %s gave up after %d attempts: %s", job.member, MAX_ATTEMPTS, reason)
            await handler.give_up(job, reason)
            await self.store.finish_job(job)
        elif attempts > 0:
            log.warning("job %s failed (attempt %d): %s", job.member, attempts, reason)
