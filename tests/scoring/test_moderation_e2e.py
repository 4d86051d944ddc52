"""The second opinion in the real app: ingest over HTTP, the moderation emulator, the card."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from assistant.sandbox import CHANNEL, Sandbox, sandbox, webhook_body

# Mentions the local scorer finds borderline-but-not-hostile or clearly calm; the test picks
# the first borderline one the shipped model gives (and fails if none is borderline).
CANDIDATES = [
    "you are a disgrace",
    "you are a disgrace to this industry",
    "honestly you are a disgrace",
    "vous êtes lamentables",
    "this company is a disgrace",
    "what a disgrace, still no refund",
    "you are pathetic",
    "vous êtes pathétiques",
]


def mention_body(world: Sandbox, text: str) -> dict[str, Any]:
    return webhook_body(world.mastodon.add_mention("colere@mastodon.social", text))


def borderline_body(world: Sandbox) -> dict[str, Any]:
    """A mention (as the webhook carries it) that the local scorer finds borderline but not
    hostile: the case the second opinion is for."""
    scorer = world.app.cases.scorer
    assert world.app.cases.moderation is not None
    for text in CANDIDATES:
        body = mention_body(world, text)
        a = scorer.score(body["text"])
        if not a.hostile and world.app.cases.moderation.borderline(a.score, scorer.band(a.lang)):
            return body
    raise AssertionError("no candidate is borderline for the shipped model: update CANDIDATES")


async def send(world: Sandbox, text: str) -> tuple[int, dict[str, Any]]:
    return await world.ingest(mention_body(world, text))


async def test_flagged_borderline_mention_opens_a_case_with_the_opinion_on_the_card(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> None:
    async with sandbox(tmp_path, redis_url=redis_url, moderation=True) as world:
        assert world.moderation is not None
        body = borderline_body(world)
        status, answer = await world.ingest(body)
        assert status == 202, answer
        assert world.moderation.requests == [body["text"]]
        case = await world.card(str(answer["case"]))
        assert case.assessment.severity == "low"
        assert case.assessment.second_opinion and "flagged" in case.assessment.second_opinion
        card = world.slack.message(CHANNEL, case.card_ts or "")
        shown = json.dumps(card.blocks, ensure_ascii=False)
        assert "second opinion: flagged" in shown and "Aimed at" in shown

        # Not flagged by the service: the borderline mention stays out.
        world.moderation.flag_terms.clear()
        body = mention_body(world, body["text"])
        status, answer = await world.ingest(body)
        assert status == 200 and answer["status"] == "not_hostile"
        assert "second opinion: not flagged" in str(answer["reason"])

        # A clearly calm or clearly hostile mention is never sent.
        before = len(world.moderation.requests)
        await send(world, "merci pour votre aide, tout fonctionne")
        status, _ = await send(world, "bande de connards")
        assert status == 202
        assert len(world.moderation.requests) == before


async def test_failing_service_leaves_the_local_score_in_charge(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> None:
    async with sandbox(tmp_path, redis_url=redis_url, moderation=True) as world:
        assert world.moderation is not None
        body = borderline_body(world)
        world.moderation.fail(500, times=10)
        status, answer = await world.ingest(body)
        assert status == 200 and answer["status"] == "not_hostile"
        assert "below the threshold" in str(answer["reason"])
        status, _ = await send(world, "bande de connards")
        assert status == 202  # hostile mentions still open cases


async def test_off_by_default_nothing_leaves(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> None:
    async with sandbox(tmp_path, redis_url=redis_url) as world:
        assert world.moderation is None
        assert world.app.cases.moderation is None
        status, answer = await send(world, CANDIDATES[0])
        assert answer["status"] in ("not_hostile", "opened")
        assert status in (200, 202)
