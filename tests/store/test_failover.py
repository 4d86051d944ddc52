"""A master of a real Redis Cluster is SIGKILLed mid-run: what the product does.

Until the killed master's replica is promoted (about cluster-node-timeout plus an election,
1–3 s here), a store step on that master's slots waits: redis-py's cluster client retries,
re-reads the slot map and lands on the promoted replica (past its retries it raises a Redis
error: a Slack listener then answers an error and Slack retries the event, a job keeps its
lease and runs again). Nothing is applied twice (event markers, leases) and nothing is dropped
that was acknowledged *and replicated*. Steps on the other masters' slots go on at once. After
the promotion the decision is still taken exactly once.

Replication is asynchronous: a write acknowledged by the master just before it died may not
have reached the replica, and is then lost. This test WAITs for the replica before the kill so
that it checks the failover itself; README "Deploy" says what covers the loss (the publish
path's Idempotency-Key and the look for an earlier reply on the network, the sweep).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.exceptions import RedisError

from assistant.store import Store, keys
from assistant.store.connect import connect
from assistant.store.localcluster import LocalCluster
from tests.store.test_store import make_case, open_with_proposal, vote

pytestmark = pytest.mark.cluster


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[LocalCluster]:
    cluster = LocalCluster(tmp_path, masters=3, replicas=1, node_timeout_ms=1000)
    await cluster.start()
    yield cluster
    await cluster.stop()


async def test_killing_a_master_mid_run(cluster: LocalCluster) -> None:
    client = await connect(cluster.url, cluster=True)
    store = Store(client, retention_seconds=600)
    case = await open_with_proposal(store)
    other = make_case("elsewhere-1")
    for n in range(2, 50):  # a case whose slot another master serves
        other = make_case(f"elsewhere-{n}")
        if await cluster.master_of(keys.case(other.case_id)) != await cluster.master_of(
            keys.case(case.case_id)
        ):
            break
    assert (await store.open_case(other))[0]
    assert (await vote(store, case, "U1", n=3, m=0)).outcome == "recorded"
    victim = await cluster.master_of(keys.case(case.case_id))
    async with victim.client() as direct:
        assert await direct.execute_command("WAIT", 1, 2000) == 1  # replicated before the kill

    cluster.kill(victim)
    killed_at = time.monotonic()
    # the other masters go on serving their slots (a step that also touches a global
    # structure, e.g. opening a case, waits if one of its shards was on the dead master)
    assert await store.get_case(other.case_id) is not None
    assert time.monotonic() - killed_at < 1.0
    # the victim's slots: the step waits out the failover (or fails, and its retry succeeds)
    while True:
        try:
            result = await vote(store, case, "U2", n=3, m=0, event_id="Ev-during-failover")
            break
        except RedisError:
            assert time.monotonic() - killed_at < 20, "no failover within 20 s"
            await asyncio.sleep(0.2)
    assert (result.outcome, result.approvals) == ("recorded", 2)  # U1's vote survived
    await cluster.wait_healthy()  # every node's view has caught up with the promotion
    promoted = await cluster.master_of(keys.case(case.case_id))
    assert promoted.port != victim.port, "the slot is now served by the promoted replica"
    # exactly one decision after the failover, however many voters race
    results = await asyncio.gather(*(vote(store, case, f"U{i}", n=3, m=0) for i in range(3, 13)))
    assert sum(r.outcome == "approved" for r in results) == 1
    assert f"publish:{case.case_id}" in await store.pending_jobs()
    # a retry of the event applied during the failover stays a no-op
    again = await vote(store, case, "U2", n=3, m=0, event_id="Ev-during-failover")
    assert again.outcome == "duplicate"
    await client.aclose()
