"""The audit trail on a real Redis (one node and a Cluster): every decision is written with it,
once, in the same Lua step; the cases-by-time index finds a period's trails without SCAN; the
tone rule of vote.lua is the pure rule of voting.py."""

from __future__ import annotations

import itertools
import random

import pytest
import redis.asyncio as aioredis

from assistant import voting
from assistant.models import CaseStatus
from assistant.store import Store, keys
from tests.conftest import BACKENDS, all_keys
from tests.store.test_store import NOW, make_case, open_with_proposal, vote


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def actions(store: Store, case_id: str) -> list[tuple[str, str]]:
    return [(e.actor, e.action) for e in await store.case_history(case_id)]


async def test_every_decision_of_a_case_is_in_its_trail_once(
    store: Store, redis: aioredis.Redis
) -> None:
    case = await open_with_proposal(store)
    cid = case.case_id
    await vote(store, case, "UPROP")  # self-vote: ignored, and why
    await vote(store, case, "U1")
    await vote(store, case, "U1")  # the same Slack event again: no second entry
    await vote(store, case, "U2", kind="veto", emoji="x")  # not a manager: ignored
    await vote(store, case, "U1", op="remove")
    await vote(store, case, "U1", event_id="Ev-again")
    await vote(store, case, "U3")
    assert (await vote(store, case, "UMGR", manager=True)).outcome == "approved"
    await vote(store, case, "U4")  # after the decision: ignored, case approved
    await store.count_attempt(cid, "publish_attempts", now=NOW + 5)
    await store.finish_case(cid, "published", NOW + 6, detail="https://x/1", status_id="1")
    assert await actions(store, cid) == [
        ("assistant", "case_opened"),
        ("assistant", "card_posted"),
        ("UPROP", "proposal_added"),
        ("UPROP", "vote_ignored"),
        ("U1", "vote_counted"),
        ("U2", "vote_ignored"),
        ("U1", "vote_retracted"),
        ("U1", "vote_counted"),
        ("U3", "vote_counted"),
        ("UMGR", "vote_counted"),
        ("assistant", "approved"),
        ("U4", "vote_ignored"),
        ("assistant", "publish_attempt"),
        ("assistant", "published"),
    ]
    history = await store.case_history(cid)
    opened = history[0].details
    assert opened["severity"] == "high" and opened["score"] == 0.9
    assert opened["platform"] == "mastodon" and opened["author"] == "colere@mastodon.social"
    assert [h.details["reason"] for h in history if h.action == "vote_ignored"] == [
        "self-vote",
        "veto by a non-manager",
        "case approved",
    ]
    assert history[10].details["text"] == "Merci pour ce retour constructif 🙂"
    assert history[-1].details["url"] == "https://x/1" and history[-1].at == NOW + 6
    assert await redis.ttl(keys.audit(cid)) > 0
    for key in await all_keys(redis):
        assert await redis.ttl(key) > 0, f"{key} has no retention"


async def test_edit_and_withdraw_are_audited_and_duplicates_are_not(store: Store) -> None:
    case = await open_with_proposal(store)
    cid = case.case_id
    for event_id in ("Ev-e1", "Ev-e1"):
        await store.proposal(
            "edit",
            event_id=event_id,
            case_id=cid,
            channel="C1",
            ts="200.000001",
            now=NOW + 1,
            user="UPROP",
            text="v2",
        )
    await store.proposal(
        "delete", event_id="Ev-d", case_id=cid, channel="C1", ts="200.000001", now=NOW + 2
    )
    history = await store.case_history(cid)
    assert [(e.actor, e.action) for e in history][3:] == [
        ("UPROP", "proposal_edited"),
        ("UPROP", "proposal_withdrawn"),
    ]
    assert history[3].details["version"] == 2 and history[3].details["votes_cleared"]


async def test_no_entry_without_a_case_and_none_without_a_decision(
    store: Store, redis: aioredis.Redis
) -> None:
    assert not await store.audit("mastodon-nope", "noted", actor="U1", now=NOW)
    assert not await redis.exists(keys.audit("mastodon-nope"))
    case = make_case()
    await store.open_case(case)
    await store.open_case(case)  # the same mention again: no second case_opened
    assert await store.finish_case(case.case_id, "escalated", NOW)
    assert not await store.finish_case(case.case_id, "escalated", NOW)
    assert not await store.finish_case(case.case_id, "published", NOW)  # not approved
    assert await actions(store, case.case_id) == [
        ("assistant", "case_opened"),
        ("assistant", "escalated"),
    ]
    # the plain API for what other features record about a case
    assert await store.audit(
        case.case_id, "noted", actor="UONCALL", now=NOW + 60, details={"level": 1}
    )
    last = (await store.case_history(case.case_id))[-1]
    assert (last.actor, last.action, last.details, last.at) == (
        "UONCALL",
        "noted",
        {"level": 1},
        NOW + 60,
    )


async def test_cases_by_time_index_serves_a_period(redis: aioredis.Redis) -> None:
    store = Store(redis, retention_seconds=86400)
    opened = []
    for i in range(12):
        case = make_case(str(1000 + i)).model_copy(update={"opened_at": NOW + i * 3600})
        await store.open_case(case)
        opened.append(case.case_id)
    assert await store.cases_opened(NOW + 3 * 3600, NOW + 6 * 3600) == opened[3:6]
    assert await store.cases_opened(0, NOW + 100 * 3600) == opened
    trails = await store.histories(opened[:3])
    assert [trails[c][0].action for c in opened[:3]] == ["case_opened"] * 3
    # an index shard drops the entries older than the retention as new cases come in
    short = Store(redis, retention_seconds=3 * 3600)
    for i in range(12, 40):
        await short.open_case(
            make_case(str(1000 + i)).model_copy(update={"opened_at": NOW + i * 3600})
        )
    for n in range(keys.SHARDS):
        scores = [s for _, s in await redis.zrange(keys.opened_cases(n), 0, -1, withscores=True)]
        assert scores and max(scores) - min(scores) <= 3 * 3600 * 1000


async def test_tone_flag_is_counted_on_the_case_and_follows_edits(store: Store) -> None:
    case = await open_with_proposal(store)
    cid = case.case_id
    await store.proposal(
        "add",
        event_id="Ev-p2",
        case_id=cid,
        channel="C1",
        ts="300.1",
        now=NOW,
        user="U9",
        text="ferme-la, abruti",
        tone_flagged=True,
        tone_score=0.93,
    )
    stored = await store.get_case(cid)
    assert stored is not None and (stored.proposals, stored.flagged_proposals) == (2, 1)
    proposal = await store.get_proposal(cid, "300.1")
    assert proposal is not None and proposal.tone_flagged
    await store.proposal(
        "edit",
        event_id="Ev-p2e",
        case_id=cid,
        channel="C1",
        ts="300.1",
        now=NOW,
        user="U9",
        text="merci du retour",
        tone_flagged=False,
    )
    stored = await store.get_case(cid)
    assert stored is not None and stored.flagged_proposals == 0
    added = [e for e in await store.case_history(cid) if e.details.get("ts") == "300.1"]
    assert [e.details["tone_flagged"] for e in added] == [True, False]


async def test_vote_lua_executes_the_pure_quorum_rule(store: Store, backend: str) -> None:
    """Random vote sequences on flagged and unflagged proposals: vote.lua decides exactly
    when voting.tally + voting.decide (with managers_required) say so."""
    rng = random.Random(10)
    people = ["U1", "U2", "U3", "UM1", "UM2", "UM3"]
    rounds = 12 if backend == "cluster" else 30
    for r, flagged, extra in itertools.product(range(rounds), (False, True), (0, 1, 2)):
        n, m = rng.randint(1, 4), rng.randint(0, 2)
        case = make_case(f"{r}{int(flagged)}{extra}").model_copy(update={"opened_at": NOW})
        await store.open_case(case)
        await store.card_posted(case.case_id, "C1", f"1.{r}{int(flagged)}{extra}", NOW)
        await store.proposal(
            "add",
            event_id=f"Ev-{case.case_id}",
            case_id=case.case_id,
            channel="C1",
            ts="5.5",
            now=NOW,
            user="UPROP",
            text="t",
            tone_flagged=flagged,
        )
        held: dict[str, str] = {}
        for i in range(rng.randint(1, 10)):
            user = rng.choice(people)
            manager = user.startswith("UM")
            kind = rng.choice(["approve", "approve", "veto"])
            emoji = rng.choice(["+1", "white_check_mark"]) if kind == "approve" else "x"
            op = rng.choice(["add", "add", "remove"])
            result = await store.vote(
                op,  # type: ignore[arg-type]
                event_id=f"E{i}",
                case_id=case.case_id,
                proposal_ts="5.5",
                user=user,
                kind=kind,  # type: ignore[arg-type]
                emoji=emoji,
                is_manager=manager,
                approvals_required=n,
                manager_approvals_required=m,
                now=NOW,
                tone_extra_managers=extra,
            )
            field = f"{user}|{kind}|{emoji}"
            if op == "add":
                held[field] = "1" if manager else "0"
            else:
                held.pop(field, None)
            a, mm, v = voting.tally(held)
            assert (result.approvals, result.manager_approvals, result.manager_vetoes) == (
                a,
                mm,
                v,
            )
            needed = voting.managers_required(m, tone_flagged=flagged, tone_extra=extra)
            won = voting.decide(a, mm, v, approvals_required=n, managers_needed=needed)
            assert (result.outcome == "approved") == won, (n, m, flagged, extra, held)
            if won:
                stored = await store.get_case(case.case_id)
                assert stored is not None and stored.status == CaseStatus.APPROVED
                break
