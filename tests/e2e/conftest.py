from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from assistant.sandbox import Sandbox, sandbox

SandboxFactory = Callable[..., AbstractAsyncContextManager[Sandbox]]


@pytest.fixture
def make_world(
    redis: aioredis.Redis, redis_url: str, redis_cluster: bool, tmp_path: Path
) -> SandboxFactory:
    """Start the real app + emulators on the test Redis (flushed), with setting overrides."""

    def factory(**overrides: Any) -> AbstractAsyncContextManager[Sandbox]:
        overrides.setdefault("REDIS_CLUSTER", redis_cluster)
        return sandbox(tmp_path, redis_url=redis_url, **overrides)

    return factory


@pytest.fixture
async def world(make_world: SandboxFactory) -> AsyncIterator[Sandbox]:
    async with make_world() as w:
        yield w
