"""The store's atomic steps on a real Redis: cases, proposals, the vote decision, jobs, leases."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
import redis.asyncio as aioredis

from assistant.models import Case, CaseScore, CaseStatus, Mention
from assistant.store import Store, keys
from tests.conftest import BACKENDS, all_keys

NOW = 1_764_000_000.0


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Every test here runs on one Redis and on a 3-master Redis Cluster."""
    return str(request.param)


def make_case(mention_id: str = "111") -> Case:
    mention = Mention.model_validate(
        {
            "platform": "mastodon",
            "id": mention_id,
            "url": f"https://social.example/@colere/{mention_id}",
            "text": "vous êtes des connards",
            "author": {"id": "9", "handle": "colere@mastodon.social", "followers": 12},
            "created_at": datetime(2026, 11, 24, tzinfo=UTC),
        }
    )
    return Case(
        case_id=mention.case_id,
        mention=mention,
        assessment=CaseScore(score=0.9, severity="high", categories={"insult": 0.9}),
        channel="C1",
        opened_at=NOW,
        sla_deadline=NOW + 1800,
    )


async def open_with_proposal(store: Store, *, proposer: str = "UPROP") -> Case:
    case = make_case()
    assert (await store.open_case(case))[0]
    await store.card_posted(case.case_id, "C1", "100.000001", NOW)
    outcome = await store.proposal(
        "add",
        event_id="Ev-prop",
        case_id=case.case_id,
        channel="C1",
        ts="200.000001",
        now=NOW,
        user=proposer,
        text="Merci pour ce retour constructif 🙂",
    )
    assert outcome == "added"
    return case


async def vote(
    store: Store,
    case: Case,
    user: str,
    *,
    op: str = "add",
    kind: str = "approve",
    emoji: str = "white_check_mark",
    manager: bool = False,
    event_id: str | None = None,
    n: int = 2,
    m: int = 1,
    ts: str = "200.000001",
) -> Any:
    return await store.vote(
        op,  # type: ignore[arg-type]
        event_id=event_id or f"Ev-{user}-{op}-{kind}-{emoji}-{ts}",
        case_id=case.case_id,
        proposal_ts=ts,
        user=user,
        kind=kind,  # type: ignore[arg-type]
        emoji=emoji,
        is_manager=manager,
        approvals_required=n,
        manager_approvals_required=m,
        now=NOW,
    )


async def test_open_case_once_per_mention_and_every_key_expires(
    store: Store, redis: aioredis.Redis
) -> None:
    case = make_case()
    assert await store.open_case(case) == (True, case.case_id)
    assert await store.open_case(case) == (False, case.case_id)
    stored = await store.get_case(case.case_id)
    assert stored is not None and stored.status == CaseStatus.OPEN
    assert stored.mention.author.handle == "colere@mastodon.social"
    jobs = await store.pending_jobs()
    assert jobs == {f"card:{case.case_id}": NOW, f"sla:{case.case_id}": NOW + 1800}
    for key in await all_keys(redis):
        assert await redis.ttl(key) > 0, f"{key} has no retention"


async def test_quorum_needs_distinct_humans_and_a_manager(store: Store) -> None:
    case = await open_with_proposal(store)
    assert (await vote(store, case, "U1")).outcome == "recorded"
    # the same person with a second approve emoji is still one approval
    again = await vote(store, case, "U1", emoji="+1")
    assert (again.outcome, again.approvals) == ("recorded", 1)
    # two humans but no manager: not enough
    two = await vote(store, case, "U2")
    assert (two.outcome, two.approvals, two.manager_approvals) == ("recorded", 2, 0)
    decided = await vote(store, case, "UMGR", manager=True)
    assert decided.outcome == "approved"
    stored = await store.get_case(case.case_id)
    assert stored is not None and stored.status == CaseStatus.APPROVED
    assert stored.approved_text == "Merci pour ce retour constructif 🙂"
    assert f"publish:{case.case_id}" in await store.pending_jobs()


async def test_proposer_cannot_approve_own_proposal(store: Store) -> None:
    case = await open_with_proposal(store, proposer="UMGR")
    assert (await vote(store, case, "UMGR", manager=True)).outcome == "self"
    assert (await vote(store, case, "U1", n=1, m=0)).outcome == "approved"


async def test_manager_veto_blocks_and_lifting_it_publishes(store: Store) -> None:
    case = await open_with_proposal(store)
    await vote(store, case, "UBOSS", kind="veto", emoji="x", manager=True)
    await vote(store, case, "U1")
    held = await vote(store, case, "UMGR", manager=True)
    assert (held.outcome, held.approvals, held.manager_vetoes) == ("recorded", 2, 1)
    # a non-manager's veto has no effect
    other = await vote(store, case, "U3", kind="veto", emoji="no_entry")
    assert other.manager_vetoes == 1
    lifted = await vote(store, case, "UBOSS", op="remove", kind="veto", emoji="x", manager=True)
    assert lifted.outcome == "approved"


async def test_removing_a_reaction_retracts_the_vote(store: Store) -> None:
    case = await open_with_proposal(store)
    await vote(store, case, "U1")
    removed = await vote(store, case, "U1", op="remove")
    assert removed.approvals == 0
    await vote(store, case, "U2")
    decided = await vote(store, case, "UMGR", manager=True, n=3)
    assert (decided.outcome, decided.approvals) == ("recorded", 2)


async def test_event_retries_apply_once(store: Store) -> None:
    case = await open_with_proposal(store)
    first = await vote(store, case, "U1", event_id="Ev1")
    assert first.outcome == "recorded"
    # a retry of the same event after the user removed the reaction must not re-add it
    await vote(store, case, "U1", op="remove", event_id="Ev2")
    assert (await vote(store, case, "U1", event_id="Ev1")).outcome == "duplicate"
    assert (await vote(store, case, "U2", event_id="Ev3")).approvals == 1


async def test_first_approved_proposal_wins_and_the_case_closes(store: Store) -> None:
    case = await open_with_proposal(store)
    await store.proposal(
        "add",
        event_id="Ev-prop2",
        case_id=case.case_id,
        channel="C1",
        ts="300.000001",
        now=NOW,
        user="UPROP2",
        text="Autre idée",
    )
    await vote(store, case, "U1", n=1, m=0)  # approves the first proposal
    late = await vote(store, case, "U2", n=1, m=0, ts="300.000001")
    assert late.outcome == "closed"
    stored = await store.get_case(case.case_id)
    assert stored is not None and stored.winner_ts == "200.000001"


async def test_edit_clears_votes_and_changes_the_text(store: Store) -> None:
    case = await open_with_proposal(store)
    await vote(store, case, "U1")
    await vote(store, case, "U2")
    common = {"case_id": case.case_id, "channel": "C1", "ts": "200.000001", "now": NOW}
    # an unfurl re-sends the same text: votes stay
    assert await store.proposal("edit", event_id="E1", text=common_text(), **common) == "unchanged"
    assert await store.proposal("edit", event_id="E2", text="Texte corrigé", **common) == "edited"
    after = await vote(store, case, "U3")
    assert (after.outcome, after.approvals) == ("recorded", 1)
    await vote(store, case, "UMGR", manager=True, event_id="again")
    proposal = await store.get_proposal(case.case_id, "200.000001")
    assert proposal is not None and proposal.status == "won"
    stored = await store.get_case(case.case_id)
    assert stored is not None and stored.approved_text == "Texte corrigé"


def common_text() -> str:
    return "Merci pour ce retour constructif 🙂"


async def test_deleted_proposal_is_withdrawn(store: Store) -> None:
    case = await open_with_proposal(store)
    await vote(store, case, "U1")
    common = {"case_id": case.case_id, "channel": "C1", "ts": "200.000001", "now": NOW}
    assert await store.proposal("delete", event_id="D1", **common) == "withdrawn"
    assert (await vote(store, case, "UMGR", manager=True)).outcome == "inactive"
    stored = await store.get_case(case.case_id)
    assert stored is not None and stored.proposals == 0


async def test_concurrent_votes_decide_exactly_once(store: Store) -> None:
    case = await open_with_proposal(store)
    for i in range(5):
        await store.proposal(
            "add",
            event_id=f"Ev-p{i}",
            case_id=case.case_id,
            channel="C1",
            ts=f"40{i}.000001",
            now=NOW,
            user=f"UP{i}",
            text=f"proposal {i}",
        )
    votes = [
        vote(store, case, f"U{j}", manager=True, ts=f"40{i}.000001", n=3, m=1)
        for i in range(5)
        for j in range(20)
    ]
    results = await asyncio.gather(*votes)
    assert sum(r.outcome == "approved" for r in results) == 1
    jobs = await store.pending_jobs()
    assert list(jobs).count(f"publish:{case.case_id}") == 1


async def test_job_claim_lease_and_requeue(store: Store) -> None:
    case = make_case()
    await store.open_case(case)
    claimed = (await store.claim_jobs(NOW, lease_seconds=60, limit=10)).jobs
    assert [j.kind for j in claimed] == ["card"]
    # under lease: nobody else gets it
    assert (await store.claim_jobs(NOW + 1, lease_seconds=60, limit=10)).jobs == []
    # the lease ran out (a worker died): due again
    again = (await store.claim_jobs(NOW + 61, lease_seconds=60, limit=10)).jobs
    assert [j.member for j in again] == [claimed[0].member]
    # the stale claim can no longer settle it; the fresh one can
    assert not await store.finish_job(claimed[0])
    assert await store.finish_job(again[0])
    assert f"card:{case.case_id}" not in await store.pending_jobs()


async def test_retry_backs_off_then_gives_up(store: Store) -> None:
    case = make_case()
    await store.open_case(case)
    delays = []
    now = NOW
    for _ in range(3):
        (job,) = (await store.claim_jobs(now, lease_seconds=60, limit=1)).jobs
        attempts = await store.retry_job(
            job, now=now, base_delay=1, max_delay=3, min_delay=0, max_attempts=4
        )
        due = (await store.pending_jobs())[job.member]
        delays.append((attempts, due - now))
        now = due
    assert delays == [(1, 1.0), (2, 2.0), (3, 3.0)]
    (job,) = (await store.claim_jobs(now, lease_seconds=60, limit=1)).jobs
    assert (
        await store.retry_job(job, now=now, base_delay=1, max_delay=3, min_delay=0, max_attempts=4)
        == -2
    )
    assert await store.finish_job(job)


async def test_lease_has_one_owner(store: Store) -> None:
    assert await store.acquire_lease("poller", "a", 5)
    assert not await store.acquire_lease("poller", "b", 5)
    assert await store.acquire_lease("poller", "a", 5)  # renewal
    assert not await store.release_lease("poller", "b")
    assert await store.release_lease("poller", "a")
    assert await store.acquire_lease("poller", "b", 5)


async def test_publish_outcome_recorded_once(store: Store) -> None:
    case = await open_with_proposal(store)
    await vote(store, case, "U1", n=1, m=0)
    url = "https://social.example/@brand/1"
    assert await store.finish_case(case.case_id, "published", NOW, detail=url, status_id="1")
    assert not await store.finish_case(case.case_id, "published", NOW, detail="x", status_id="2")
    stored = await store.get_case(case.case_id)
    assert stored is not None and stored.published_url == url
    pending = await store.pending_jobs()
    assert f"sla:{case.case_id}" not in pending  # no escalation once published
    assert keys.job_id("cardupd", case.case_id) in pending
    # the publish job itself is settled by the runner when the handler returns
    assert f"publish:{case.case_id}" in pending
    assert case.case_id not in await store.open_case_ids()


async def test_steps_survive_a_redis_that_forgot_its_scripts(
    store: Store, redis: aioredis.Redis
) -> None:
    """A Redis restart (or SCRIPT FLUSH) forgets the Lua scripts: every step loads them again
    and applies once (the pipelined ones of one node too)."""
    await store.open_case(make_case("0"))  # the scripts are loaded now
    await redis.script_flush()
    case = await open_with_proposal(store)  # open_case, card_posted, proposal
    assert (await vote(store, case, "U1", n=1, m=0)).outcome == "approved"
    await redis.script_flush()
    claim = await store.claim_jobs(NOW, lease_seconds=60, limit=20)
    assert {j.member for j in claim.jobs} >= {
        f"publish:{case.case_id}",
        f"card:{make_case('0').case_id}",
    }
    assert len(await store.pending_jobs()) == len({j.member for j in claim.jobs}) + 2  # 2 SLA


async def test_the_card_queues_its_drafts_in_the_same_step(store: Store) -> None:
    """With drafts configured, the card's record queues the drafts job (one step on one node,
    right after on a cluster): a crash between the card and its drafts cannot skip them."""
    case = make_case()
    await store.open_case(case)
    assert await store.card_posted(case.case_id, "C1", "100.000001", NOW, drafts=True)
    pending = await store.pending_jobs()
    assert pending[f"drafts:{case.case_id}"] == NOW
    assert f"cardupd:{case.case_id}" not in pending  # nothing moved while it was posted
    # a duplicate post queues nothing again; without drafts, no drafts job
    await store.cancel_job(keys.JOB_DRAFTS, case.case_id)
    assert not await store.card_posted(case.case_id, "C1", "100.000002", NOW, drafts=True)
    other = make_case("222")
    await store.open_case(other)
    await store.finish_case(other.case_id, "escalated", NOW)  # the state moves on meanwhile
    await store.cancel_job(keys.JOB_UPDATE_CARD, other.case_id)
    assert await store.card_posted(other.case_id, "C1", "100.000003", NOW + 1)
    pending = await store.pending_jobs()
    assert f"drafts:{case.case_id}" not in pending and f"drafts:{other.case_id}" not in pending
    assert pending[f"cardupd:{other.case_id}"] == NOW + 1  # rendered once more


async def test_each_stored_mention_is_counted_once_on_its_day(store: Store) -> None:
    """The day's mention counts (reports) grow in the step that stores the case (one node) or
    right after it (cluster): a mention resent, or ingested twice at once, counts once."""
    day = "2026-11-24"
    cases = [make_case(str(n)) for n in range(3)]
    for case in cases:
        assert (await store.open_case(case, count_day=day))[0]
    twice = await asyncio.gather(*(store.open_case(c, count_day=day) for c in cases * 2))
    assert not any(opened for opened, _ in twice)
    grouped = make_case("grouped")  # under a surge card: stored and counted all the same
    assert (await store.open_case(grouped, grouped=True, count_day=day))[0]
    assert await store.mention_counts([day]) == (4, 4)
    await store.count_mention(day, hostile=False)  # a mention scored not hostile
    assert await store.mention_counts([day]) == (5, 4)
