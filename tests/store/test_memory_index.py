"""The reply memory's index on a real Redis (one node and a Cluster): what is found, in which
language, in what order, with which explanation; bounded postings; every key expires."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from assistant.store import keys
from assistant.store.memory import MemoryIndex
from tests.conftest import BACKENDS, all_keys

NOW = 1_764_000_000.0


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def index(redis: aioredis.Redis) -> MemoryIndex:
    return MemoryIndex(redis, retention_seconds=3600)


async def test_the_most_similar_mentions_first_same_language_only(
    index: MemoryIndex, redis: aioredis.Redis
) -> None:
    await index.remember(
        "c1",
        "votre réseau est en panne, bande de nuls",
        "R1",
        lang=None,
        platform="mastodon",
        now=NOW,
    )
    await index.remember(
        "c2",
        "vos factures sont fausses, bande de nuls",
        "R2",
        lang=None,
        platform="mastodon",
        now=NOW,
    )
    await index.remember(
        "c3", "your network is down, you idiots", "R3", lang="en", platform="x", now=NOW
    )
    await index.remember(
        "c4", "panne de réseau géante, encore", "R4", lang="fr", platform="bluesky", now=NOW
    )
    found = await index.similar("encore une panne du réseau, nuls", lang=None)
    assert [s.reply for s in found][:2] in (["R4", "R1"], ["R1", "R4"])
    assert "R3" not in [s.reply for s in found]
    assert {"panne", "réseau"} <= set(found[0].shared)
    assert all(0.2 <= s.similarity <= 1 for s in found)
    assert found == sorted(found, key=lambda s: -s.similarity)
    assert [s.reply for s in await index.similar("network down", lang="en")] == ["R3"]
    assert await index.similar("réseau en panne", lang="fr", exclude="c1", limit=1) != [] and (
        (await index.similar("réseau en panne", lang="fr", exclude="c4", limit=3))[0].entry == "c1"
    )
    assert await index.similar("bonjour", lang="fr") == []
    for key in await all_keys(redis):
        assert 0 < await redis.ttl(key) <= 3600, key


async def test_remembering_again_is_idempotent_and_old_entries_leave(
    index: MemoryIndex, redis: aioredis.Redis
) -> None:
    for n in range(5):
        await index.remember(
            f"c{n}", f"panne numéro {n}", f"R{n}", lang="fr", platform="mastodon", now=NOW + n
        )
    await index.remember("c0", "panne numéro 0", "R0", lang="fr", platform="mastodon", now=NOW)
    assert await index.size("fr") == 5
    assert await redis.zcard(keys.memory_term("fr", "pane")) == 5
    past = await index.get("fr", "c3")
    assert past is not None and past.reply == "R3"
    assert await index.get("fr", "nope") is None
    # a reply remembered after the retention: the older entries leave the term and the list
    later = NOW + 3600 + 2.5
    await index.remember("c9", "panne encore", "R9", lang="fr", platform="mastodon", now=later)
    assert await redis.zrange(keys.memory_term("fr", "pane"), 0, -1) == ["c3", "c4", "c9"]
    assert await index.size("fr") == 3


async def test_a_claim_is_once_per_case(index: MemoryIndex) -> None:
    assert await index.once("case1", "draft.1")
    assert not await index.once("case1", "draft.1")
    assert await index.once("case2", "draft.1")
