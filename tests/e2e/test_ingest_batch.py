"""The webhook's batch form, ``POST /ingest/mentions/batch``: many mentions in one signed
request, each answered as if sent alone, on one Redis and on a Redis Cluster."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from assistant.sandbox import CHANNEL, Sandbox, sandbox, webhook_body
from assistant.sources.ingest import MAX_BATCH
from tests.conftest import BACKENDS, all_keys

BATCH = "/ingest/mentions/batch"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def mention(world: Sandbox, text: str, who: str = "colere") -> dict[str, Any]:
    return webhook_body(world.mastodon.add_mention(f"{who}@mastodon.social", text))


async def test_a_batch_is_answered_mention_by_mention(world: Sandbox) -> None:
    earlier = mention(world, "bande de connards", "early")
    status, single = await world.ingest(earlier)
    assert status == 202 and single["status"] == "opened"
    hostile = [mention(world, f"vous êtes des abrutis ({n})", f"u{n}") for n in range(3)]
    civil = mention(world, "merci pour la réparation rapide, bonne journée", "fan")
    sent = [hostile[0], civil, earlier, hostile[1], hostile[0], hostile[2]]
    status, answer = await world.ingest({"mentions": sent}, path=BATCH)
    assert status == 200
    results = answer["results"]
    assert [r["status"] for r in results] == [
        "opened",
        "not_hostile",
        "duplicate",  # sent alone before
        "opened",
        "duplicate",  # twice in the same batch: the first one opened it
        "opened",
    ]
    assert results[2]["case"] == single["case"] and results[4]["case"] == results[0]["case"]
    opened = {r["case"] for r in results if r["status"] == "opened"}
    assert len(opened) == 3
    for case_id in opened:  # one case each, with its own card
        assert (await world.card(case_id)).mention.author.handle.startswith("u")
    await world.slack.drain()
    cards = [m for m in world.slack.bot_messages(CHANNEL) if not m.is_reply]
    assert len(cards) == 4  # the earlier single one and the batch's three
    # the same batch again (a sender's retry): nothing new
    status, again = await world.ingest({"mentions": sent}, path=BATCH)
    assert status == 200
    assert [r["status"] for r in again["results"]] == [
        "duplicate",
        "not_hostile",
        "duplicate",
        "duplicate",
        "duplicate",
        "duplicate",
    ]


async def test_a_bad_mention_refuses_the_whole_batch(world: Sandbox, redis: aioredis.Redis) -> None:
    good = mention(world, "bande de connards")
    bad = dict(mention(world, "vous êtes nuls", "other"), url="not a url")
    status, answer = await world.ingest({"mentions": [good, good, bad]}, path=BATCH)
    assert status == 400 and answer["field"] == "mentions.2.url", answer
    assert not [k for k in await all_keys(redis) if k.endswith(":case")]  # nothing kept
    for body, field in (
        ({"mentions": []}, "mentions"),
        ({"mentions": [good] * (MAX_BATCH + 1)}, "mentions"),
        ({"items": [good]}, "mentions"),
        ([good], "body"),
    ):
        status, answer = await world.ingest(body, path=BATCH)  # type: ignore[arg-type]
        assert status == 400 and answer["field"] == field, (body, answer)
    status, _ = await world.ingest({"mentions": [good]}, path=BATCH, signature="sha256=" + "0" * 64)
    assert status == 401
    huge = json.dumps({"mentions": [good], "pad": " " * (1024 * 1024)}).encode()
    status, _ = await world.ingest(huge, path=BATCH)
    assert status == 413
    assert not [k for k in await all_keys(redis) if k.endswith(":case")]
    status, answer = await world.ingest({"mentions": [good]}, path=BATCH)  # and it still works
    assert status == 200 and answer["results"][0]["status"] == "opened"


async def test_a_batch_during_a_redis_outage_is_refused_then_resent(tmp_path: Path) -> None:
    async with sandbox(tmp_path, redis_url=None) as world:
        embedded = world.app.embedded_redis
        assert embedded is not None
        batch = {
            "mentions": [mention(world, f"bande de connards ({n})", f"u{n}") for n in range(5)]
        }
        await embedded.stop()
        status, answer = await world.ingest(batch, path=BATCH)
        assert status == 503 and "retry" in answer["error"]
        await embedded.start()

        async def resent() -> dict[str, Any] | None:
            status, answer = await world.ingest(batch, path=BATCH)
            return answer if status == 200 else None

        answer = await world.wait_for(resent, 10, "the batch accepted once Redis is back")
        assert [r["status"] for r in answer["results"]] == ["opened"] * 5
        for r in answer["results"]:
            await world.card(str(r["case"]), timeout=20)
