"""TokenVault on a real Redis: one renewal across callers, the renewed value for late ones."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis

from assistant.networks.base import TokenVault
from assistant.store import Store, keys


async def test_one_renewal_and_late_callers_get_the_renewed_value(redis: aioredis.Redis) -> None:
    store = Store(redis, retention_seconds=3600)
    calls: list[dict[str, Any] | None] = []

    async def obtain(current: dict[str, Any] | None) -> dict[str, Any]:
        calls.append(current)
        await asyncio.sleep(0.1)  # a refresh takes a while: others pile up meanwhile
        return {"token": f"t{len(calls)}"}

    vaults = [TokenVault(store, "net:brand", ttl_seconds=600) for _ in range(2)]  # 2 replicas
    first = await vaults[0].renew(None, obtain)
    assert first == {"token": "t1"} and calls == [None]

    # the token expired: six callers on two replicas notice it at once
    results = await asyncio.gather(*(v.renew(first, obtain) for v in vaults * 3))
    assert results == [{"token": "t2"}] * 6
    assert calls == [None, {"token": "t1"}]  # renewed once, from the stored value

    # a caller that found the old token wanting only now: the renewed one, no third refresh
    assert await vaults[1].renew(first, obtain) == {"token": "t2"}
    assert len(calls) == 2
    assert 0 < await redis.ttl(keys.token("net:brand")) <= 600
