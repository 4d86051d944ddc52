"""The loop on a real 3-master Redis Cluster, where it differs from one node: the cluster
client is used, a case's keys and the sharded queue spread over the masters, duplicate events
race on two replicas, and an app restarted mid-publish recovers from the queue."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio.cluster import RedisCluster

from assistant import reports
from assistant.app import Assistant
from assistant.models import CaseStatus
from assistant.oncall_blocks import ACK_ACTION
from assistant.sandbox import ALICE, BOB, CHANNEL, MAX, OLIVIA, Sandbox
from assistant.store import keys
from assistant.store.connect import connect
from tests.conftest import all_keys
from tests.e2e.conftest import SandboxFactory
from tests.e2e.helpers import open_case, propose, published, react, thread_texts

pytestmark = pytest.mark.cluster


@pytest.fixture
def backend() -> str:
    return "cluster"


async def test_the_app_runs_on_the_cluster_client_and_spreads_the_keys(
    world: Sandbox, cluster_redis_url: str
) -> None:
    assert isinstance(world.app.store.redis, RedisCluster)
    for text in ("bande de connards", "vous êtes des nuls, connards", "connards de service"):
        case = await open_case(world, text)
        ts = await propose(world, case, ALICE, f"Réponse à {case.case_id}")
        await react(world, BOB, ts)
        await react(world, MAX, ts)
        await published(world, case)
    # every master holds part of the state: no single slot carries the queue or the cases
    client = await connect(cluster_redis_url, cluster=True)
    assert isinstance(client, RedisCluster)
    async with client:
        sizes = [await client.dbsize(target_nodes=p) for p in client.get_primaries()]
        slots = {client.keyslot(keys.jobs_due(n)) for n in range(keys.SHARDS)}
    assert len(sizes) == 3 and all(int(n) > 0 for n in sizes), sizes
    assert len(slots) == keys.SHARDS, "each queue shard in a slot of its own"
    assert all(":{" in k for k in await all_keys(world.app.store.redis) if ":evt:" in k)


async def test_duplicate_deciding_events_race_on_two_replicas_and_publish_once(
    world: Sandbox,
) -> None:
    replica = await world.add_replica()
    case = await open_case(world)
    ts = await propose(world, case, ALICE, "Deux replicas, une seule réponse")
    await react(world, BOB, ts)
    # the deciding reaction's envelope is delivered to both replicas at once, three times each
    # (a Slack retry reaching another replica behind the load balancer)
    app_url = world.slack.events_url
    world.slack.events_url = None
    await world.slack.add_reaction(MAX, CHANNEL, ts, "white_check_mark")
    world.slack.events_url = app_url
    deciding = world.slack.deliveries[-1]
    urls = [f"http://127.0.0.1:{a.port}/slack/events" for a in (world.app, replica)]
    answers = await asyncio.gather(
        *(
            world.slack.deliver_raw(deciding.body, {"X-Slack-Retry-Num": str(i)}, sign=True, url=u)
            for u in urls
            for i in range(3)
        )
    )
    assert [a.status for a in answers] == [200] * 6
    case = await published(world, case)
    await world.slack.drain()
    await asyncio.sleep(0.3)  # a (wrong) second publish would surface by now
    assert len(world.mastodon.requests_to("POST", "/api/v1/statuses")) == 1
    assert case.winner_ts == ts


async def test_an_app_restarted_mid_publish_publishes_once_from_the_queue(
    make_world: SandboxFactory,
) -> None:
    async with make_world(ASSISTANT_JOB_LEASE_SECONDS=1) as world:
        case = await open_case(world)
        ts = await propose(world, case, ALICE, "Publiée après le redémarrage")
        world.mastodon.delay(3, path="/api/v1/statuses")  # the first attempt hangs
        await react(world, BOB, ts)
        await react(world, MAX, ts)
        await world.wait_for(
            lambda: world.mastodon.requests_to("POST", "/api/v1/statuses"), 5, "publish attempt"
        )
        # the replica that claimed the publish job goes away mid-request (its lease stays)
        await world.app.jobs.stop(timeout=0)
        assert (await world.case(case.case_id)).status == CaseStatus.APPROVED
        successor = Assistant(world.settings)
        await successor.start()
        try:
            case = await published(world, case, timeout=15)
            await asyncio.sleep(3.5)  # let the hung first attempt complete on Mastodon too
        finally:
            await successor.stop()
        assert len(world.mastodon.created_statuses) == 1
        url = case.published_url
        assert url and any(url in t for t in thread_texts(world, case))


async def test_a_page_re_escalates_and_is_acknowledged_on_the_cluster(
    make_world: SandboxFactory,
) -> None:
    policy = f"{OLIVIA} after 1s; {MAX} after 1s"
    async with make_world(ASSISTANT_SLA_SECONDS=1, ASSISTANT_ESCALATION_POLICY=policy) as world:
        case = await open_case(world)
        await world.wait_for(lambda: len(thread_texts(world, case)) >= 2, 8, "two levels")
        assert case.card_ts
        (page,) = [
            m for m in world.slack.thread(CHANNEL, case.card_ts)[1:] if ACK_ACTION in str(m.blocks)
        ]
        assert (await world.slack.click_button(OLIVIA, CHANNEL, page.ts, ACK_ACTION)).ok
        stored = await world.app.pages.get_page(f"case.{case.case_id}")
        assert stored is not None and stored.status == "acked"
        assert await world.app.pages.open_page_ids() == []
        trail = await reports.case_trail(world.app.store, case.case_id, time.time())
        assert [(e.actor, e.action) for e in trail if e.actor == OLIVIA] == [
            (OLIVIA, "acknowledged")  # written by the ack's own Lua step, in the pages' slot
        ]
