"""The durable job queue on a real Redis and a real Redis Cluster: jobs of any kind with a
payload, fair claims across shards, periodic jobs, the sweep that repairs a crash between two
steps, and the move from the old single queue."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest
from redis import exceptions as redis_exceptions

from assistant.jobs import JobRunner, Sweeper
from assistant.models import CaseStatus
from assistant.store import Job, Store, keys
from tests.conftest import BACKENDS
from tests.store.test_store import NOW, make_case, open_with_proposal, vote


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def ids_in_shard(shard: int, count: int) -> list[str]:
    found = (f"id{i}" for i in itertools.count() if keys.job_shard(f"id{i}") == shard)
    return list(itertools.islice(found, count))


async def test_a_job_is_a_kind_an_id_and_a_payload(store: Store) -> None:
    await store.enqueue("report", "weekly", NOW, '{"week": "2026-W48"}')
    (job,) = (await store.claim_jobs(NOW, lease_seconds=60, limit=5)).jobs
    assert (job.kind, job.id, job.payload) == ("report", "weekly", '{"week": "2026-W48"}')
    assert await store.finish_job(job)
    assert await store.pending_jobs() == {}
    assert await store.job_payload("report", "weekly") is None  # no payload left behind
    with pytest.raises(ValueError, match="payload"):
        await store.enqueue("report", "big", NOW, "x" * 5000)
    with pytest.raises(ValueError, match="colon"):
        await store.enqueue("re:port", "x", NOW)


async def test_queuing_again_moves_the_job_unless_kept(store: Store) -> None:
    await store.enqueue("home", "U1", NOW + 10)
    assert not await store.enqueue("home", "U1", NOW + 99, keep=True)
    assert await store.pending_jobs() == {"home:U1": NOW + 10}
    await store.enqueue("home", "U1", NOW + 5)
    assert await store.pending_jobs() == {"home:U1": NOW + 5}
    # re-queued while running: the running worker cannot settle it, it runs once more
    (job,) = (await store.claim_jobs(NOW + 5, lease_seconds=60, limit=5)).jobs
    await store.enqueue("home", "U1", NOW + 6)
    assert not await store.finish_job(job)
    assert await store.pending_jobs() == {"home:U1": NOW + 6}
    assert await store.cancel_job("home", "U1")
    assert await store.pending_jobs() == {}


async def test_a_renewed_lease_is_settled_with_its_new_score_unless_requeued(
    store: Store,
) -> None:
    await store.enqueue("card", "c1", NOW)
    (job,) = (await store.claim_jobs(NOW, lease_seconds=2, limit=5)).jobs
    renewed = await store.renew_job(job, NOW + 30)
    assert renewed is not None and renewed.lease > job.lease
    assert await store.pending_jobs() == {"card:c1": NOW + 30}
    assert not (await store.claim_jobs(NOW + 3, lease_seconds=2, limit=5)).jobs  # still held
    assert not await store.finish_job(job), "the old lease no longer settles it"
    assert await store.finish_job(renewed)
    # re-queued while running (queue_job 'set'): not renewed, it stays due and runs again
    await store.enqueue("card", "c2", NOW)
    (job,) = (await store.claim_jobs(NOW, lease_seconds=2, limit=5)).jobs
    await store.enqueue("card", "c2", NOW + 1)
    assert await store.renew_job(job, NOW + 30) is None
    assert await store.pending_jobs() == {"card:c2": NOW + 1}


async def test_a_job_slower_than_its_lease_runs_once(store: Store) -> None:
    """The runner renews the lease while the handler runs: a second runner (a replica)
    polling the same queue never claims it, and the job is settled once done."""
    runs: list[str] = []

    class Slow:
        async def run(self, job: Job) -> None:
            runs.append(job.id)
            await asyncio.sleep(2.5)

        async def give_up(self, job: Job, reason: str) -> None:
            raise AssertionError(reason)

    replicas = [
        JobRunner(store, {"slow": Slow()}, lease_seconds=1, poll_seconds=0.05) for _ in range(2)
    ]
    await store.enqueue("slow", "s1", time.time())
    for runner in replicas:
        runner.start()
    try:
        for _ in range(200):
            if runs and not await store.pending_jobs():
                break
            await asyncio.sleep(0.05)
    finally:
        for runner in replicas:
            await runner.stop()
    assert runs == ["s1"]
    assert await store.pending_jobs() == {}, "settled with the renewed lease"


async def test_a_job_whose_lease_ran_out_during_a_redis_outage_is_not_run_twice(
    store: Store,
) -> None:
    """Redis went away mid-job (no renewal then) for longer than the lease: when it is back,
    the runner claims the job again; the worker that kept it runs it with the new lease
    instead of a second run starting beside it."""
    active, runs, most = 0, 0, 0

    class Flaky:
        async def run(self, job: Job) -> None:
            nonlocal active, runs, most
            runs += 1
            active += 1
            most = max(most, active)
            try:
                if runs == 1:  # the outage outlasts the lease: the job is due again
                    await store.redis.zadd(keys.jobs_due(job.shard), {job.member: 0}, xx=True)
                    raise redis_exceptions.ConnectionError("Connection reset by peer")
                await asyncio.sleep(0.5)
            finally:
                active -= 1

        async def give_up(self, job: Job, reason: str) -> None:
            raise AssertionError(reason)

    runner = JobRunner(store, {"flaky": Flaky()}, lease_seconds=5, poll_seconds=0.02)
    await store.enqueue("flaky", "f1", time.time())
    runner.start()
    try:
        for _ in range(100):
            if runs >= 2 and not await store.pending_jobs():
                break
            await asyncio.sleep(0.05)
    finally:
        await runner.stop()
    assert (runs, most) == (2, 1), "one run after the outage, never two at once"
    assert await store.pending_jobs() == {}


async def test_claims_are_fair_across_shards(store: Store) -> None:
    busy, quiet = ids_in_shard(0, 40), ids_in_shard(5, 1)
    for ident in busy:
        await store.enqueue("surge", ident, NOW - 10)  # older, all in one shard
    await store.enqueue("surge", quiet[0], NOW)
    first = await store.claim_jobs(NOW, lease_seconds=60, limit=4)
    assert len(first.jobs) == 4
    assert quiet[0] in {j.id for j in first.jobs}, "a busy shard must not starve the others"
    assert first.next_due is not None and first.next_due <= NOW  # more due: claim again
    claimed = {j.id for j in first.jobs}
    while len(claimed) < 41:
        more = (await store.claim_jobs(NOW, lease_seconds=60, limit=16)).jobs
        assert more, "every due job is claimed in the end"
        claimed |= {j.id for j in more}
    assert claimed == set(busy) | set(quiet)


async def test_runner_runs_any_kind_and_periodic_jobs(store: Store) -> None:
    seen: list[tuple[str, str]] = []

    class Report:
        async def run(self, job: Job) -> None:
            seen.append((job.id, job.payload))

        async def give_up(self, job: Job, reason: str) -> None:
            raise AssertionError(reason)

    class Tick:
        runs = 0

        async def run(self, job: Job) -> float | None:
            self.runs += 1
            return time.time() + 0.05 if self.runs < 3 else None

        async def give_up(self, job: Job, reason: str) -> None:
            raise AssertionError(reason)

    tick = Tick()
    runner = JobRunner(store, {"report": Report(), "tick": tick}, poll_seconds=0.05)
    await store.enqueue("report", "monthly", time.time(), '{"month": 11}')
    await store.enqueue("tick", "t", time.time())
    runner.start()
    try:
        for _ in range(100):
            if tick.runs == 3 and seen and not await store.pending_jobs():
                break
            await asyncio.sleep(0.02)
    finally:
        await runner.stop()
    assert seen == [("monthly", '{"month": 11}')]
    assert tick.runs == 3, "a periodic job runs again at the time it returns, until it stops"
    assert await store.pending_jobs() == {}


async def test_jobs_waiting_for_a_busy_channel_come_back_one_token_apart(store: Store) -> None:
    """Cards queued behind a channel's limiter are sent back one token apart (in the order
    they were refused), not all to the next token; a priority post is not queued behind."""
    from assistant.errors import Throttled

    class Card:
        async def run(self, job: Job) -> None:
            raise Throttled("C1", 1.0, 1.0 if job.kind == "card" else 0.0)

        async def give_up(self, job: Job, reason: str) -> None:
            raise AssertionError(reason)

    now = time.time()
    runner = JobRunner(store, {"card": Card(), "surgecard": Card()}, clock=lambda: now)
    for n in range(5):
        await store.enqueue("card", f"c{n}", now - 1)
    await store.enqueue("surgecard", "C1", now - 1)
    claim = await store.claim_jobs(now, lease_seconds=60, limit=10)
    assert len(claim.jobs) == 6
    for job in sorted(claim.jobs, key=lambda j: j.id):
        await runner._execute(job)
    pending = await store.pending_jobs()
    cards = sorted(pending[f"card:c{n}"] - now for n in range(5))
    assert cards == pytest.approx([1.0, 2.0, 3.0, 4.0, 5.0], abs=0.01)
    assert pending["surgecard:C1"] - now == pytest.approx(1.0, abs=0.01)


async def test_sweep_requeues_what_a_crash_between_two_steps_left_out(store: Store) -> None:
    # a decided case whose publish job was never queued (the process died right after vote.lua)
    decided = await open_with_proposal(store)
    await vote(store, decided, "U1", n=1, m=0)
    await store.cancel_job(keys.JOB_PUBLISH, decided.case_id)
    await store.cancel_job(keys.JOB_SLA, decided.case_id)
    # a case written without its jobs (died after open_case.lua)
    bare = make_case("222")
    await store.open_case(bare)
    await store.cancel_job(keys.JOB_POST_CARD, bare.case_id)
    await store.cancel_job(keys.JOB_SLA, bare.case_id)
    # a published case whose card update and index removal were cut short
    done = make_case("333")
    await store.open_case(done)
    await store.card_posted(done.case_id, "C1", "900.1", NOW)
    await store.proposal(
        "add", event_id="E9", case_id=done.case_id, channel="C1", ts="901.1", now=NOW,
        user="UP", text="ok",
    )  # fmt: skip
    await vote(store, done, "U1", n=1, m=0, ts="901.1")
    await store.finish_case(done.case_id, "published", NOW, detail="https://x/1", status_id="1")
    for kind in (keys.JOB_UPDATE_CARD, keys.JOB_PUBLISH):
        await store.cancel_job(kind, done.case_id)
    await store.redis.zadd(keys.open_cases(keys.shard_of(done.case_id)), {done.case_id: 1})
    # a case whose data expired
    await store.redis.zadd(keys.open_cases(0), {"gone": 1})
    # and a case opened just now, whose steps may still be in flight
    young = make_case("444")
    young = young.model_copy(update={"opened_at": NOW + 100})
    await store.open_case(young)
    await store.cancel_job(keys.JOB_POST_CARD, young.case_id)

    before = await store.pending_jobs()
    assert f"publish:{decided.case_id}" not in before and f"card:{bare.case_id}" not in before
    for shard in range(keys.SHARDS):
        await store.repair_open_cases(shard, now=NOW + 1, settled_before=NOW + 50)
    after = await store.pending_jobs()
    assert after[f"publish:{decided.case_id}"] == NOW + 1
    assert f"sla:{decided.case_id}" in after  # not escalated yet: the timer is back
    assert after[f"card:{bare.case_id}"] == NOW + 1
    assert after[f"sla:{bare.case_id}"] == bare.sla_deadline
    assert f"cardupd:{done.case_id}" in after  # the card will show the link
    assert f"publish:{done.case_id}" not in after and f"sla:{done.case_id}" not in after
    assert f"card:{young.case_id}" not in after, "young cases are left to their own steps"
    open_ids = await store.open_case_ids()
    assert done.case_id not in open_ids and "gone" not in open_ids
    assert {decided.case_id, bare.case_id, young.case_id} <= set(open_ids)
    stored = await store.get_case(decided.case_id)
    assert stored is not None and stored.status == CaseStatus.APPROVED


async def test_a_publish_outcome_is_recorded_with_its_follow_up_job(store: Store) -> None:
    """The outcome and its ``settled`` job (thread note, on-call, figures, memory) are one
    step on one node, two right after each other on a cluster: either way the job is queued
    when finish_case returns, once, and a second outcome queues nothing."""
    case = await open_with_proposal(store)
    await vote(store, case, "U1", n=1, m=0)
    await store.cancel_job(keys.JOB_UPDATE_CARD, case.case_id)
    assert await store.finish_case(case.case_id, "published", NOW + 5, detail="https://x/1")
    pending = await store.pending_jobs()
    assert pending[f"settled:{case.case_id}"] == NOW + 5
    assert pending[f"cardupd:{case.case_id}"] == NOW + 5
    await store.cancel_job(keys.JOB_SETTLED, case.case_id)
    assert not await store.finish_case(case.case_id, "failed", NOW + 6, detail="late")
    assert f"settled:{case.case_id}" not in await store.pending_jobs()
    # an escalation is no publish outcome: no follow-up job (the page is its own)
    other = make_case("555")
    await store.open_case(other)
    assert await store.finish_case(other.case_id, "escalated", NOW + 7)
    assert f"settled:{other.case_id}" not in await store.pending_jobs()


async def test_the_sweep_requeues_lost_follow_ups_and_drafts(store: Store) -> None:
    """A cluster crash between finish_case.lua and the queue (or between card_posted.lua and
    the drafts job): the sweep queues them from the case's state; drafts only when configured,
    only for a card that wanted them, and never once they were asked for."""
    done = await open_with_proposal(store)
    await vote(store, done, "U1", n=1, m=0)
    await store.finish_case(done.case_id, "failed", NOW, detail="refused")
    await store.cancel_job(keys.JOB_SETTLED, done.case_id)
    await store.redis.zadd(keys.open_cases(keys.shard_of(done.case_id)), {done.case_id: 1})
    wanting, asked, before = make_case("601"), make_case("602"), make_case("603")
    for case, ts in ((wanting, "1.1"), (asked, "1.2")):
        await store.open_case(case)
        await store.card_posted(case.case_id, "C1", ts, NOW, drafts=True)
        await store.cancel_job(keys.JOB_DRAFTS, case.case_id)
    await store.redis.hset(keys.case(asked.case_id), "drafts", "[]")  # the drafts job ran
    await store.open_case(before)
    await store.card_posted(before.case_id, "C1", "1.3", NOW)  # drafts were not configured
    pending = await store.pending_jobs()
    assert not {f"drafts:{c.case_id}" for c in (wanting, asked, before)} & set(pending)

    for shard in range(keys.SHARDS):
        await store.repair_open_cases(shard, now=NOW + 1, settled_before=NOW + 50)
    assert f"drafts:{wanting.case_id}" not in await store.pending_jobs(), "drafts are off"
    for shard in range(keys.SHARDS):
        await store.repair_open_cases(shard, now=NOW + 1, settled_before=NOW + 50, drafts=True)
    after = await store.pending_jobs()
    assert after[f"settled:{done.case_id}"] == NOW + 1
    assert after[f"drafts:{wanting.case_id}"] == NOW + 1
    assert f"drafts:{asked.case_id}" not in after and f"drafts:{before.case_id}" not in after


async def test_the_sweep_is_queued_once_per_shard_by_any_number_of_replicas(
    store: Store,
) -> None:
    await asyncio.gather(*(Sweeper(store).ensure() for _ in range(3)))
    pending = await store.pending_jobs()
    assert sorted(m for m in pending if m.startswith("sweep:")) == sorted(
        f"sweep:{n}" for n in range(keys.SHARDS)
    )


async def test_jobs_of_the_old_single_queue_move_to_the_shards(store: Store) -> None:
    await store.redis.zadd(keys.legacy_jobs(), {"sla:abc": 1_000, "publish:def": 2_000})
    assert await store.migrate_legacy_jobs(NOW) == 2
    assert await store.pending_jobs() == {"sla:abc": 1.0, "publish:def": 2.0}
    assert not await store.redis.exists(keys.legacy_jobs())
    assert set(await store.open_case_ids()) == {"abc", "def"}
    assert await store.migrate_legacy_jobs(NOW) == 0


async def test_queue_stats_tell_the_depth_and_the_lag_of_the_oldest_due_job(store: Store) -> None:
    assert await store.queue_stats(NOW) == (0, 0.0)
    await store.enqueue("report", "a", NOW - 7)
    await store.enqueue("report", "b", NOW + 60)
    assert await store.queue_stats(NOW) == (2, 7.0)
    await store.claim_jobs(NOW, lease_seconds=30, limit=5)  # a claimed job is not waiting
    assert await store.queue_stats(NOW) == (2, 0.0)
    assert await store.queue_stats(NOW + 40) == (2, 10.0)  # its worker died: waiting again
