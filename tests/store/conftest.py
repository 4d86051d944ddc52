"""The store over the test's Redis (the ``redis`` fixture: one node, or a cluster in modules
that run on both backends)."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from assistant.store import Store


@pytest.fixture
def store(redis: aioredis.Redis) -> Store:
    return Store(redis, retention_seconds=3600)
