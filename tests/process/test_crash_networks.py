"""kill -9 after the network accepted the reply but before the app recorded it (Bluesky, X).

The network creates the post and holds its answer; the app's process group is killed with
SIGKILL meanwhile. The restarted app must find the reply an earlier attempt posted (Bluesky:
getRecord with the record key chosen for the case; X: the brand's own timeline) and record
it: one post on the network, the card showing its link. No credential or token reaches the
log, even at DEBUG.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from assistant.models import CaseStatus
from assistant.sandbox import (
    ALICE,
    BLUESKY_APP_PASSWORD,
    BOB,
    CHANNEL,
    MAX,
    X_CLIENT_SECRET,
    X_FIRST_REFRESH_TOKEN,
)

from .harness import HOSTILE, ProcessWorld, wait_for

REPLY = "Merci pour ce retour plein de tendresse, on rétablit le réseau au plus vite"


def _mention(platform: str, post_id: str, url: str, handle: str) -> dict[str, Any]:
    return {
        "platform": platform,
        "id": post_id,
        "url": url,
        "text": HOSTILE,
        "author": {"id": f"{platform}-colere", "handle": handle, "followers": 10},
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


@pytest.mark.parametrize("platform", ["bluesky", "x"])
async def test_kill_9_after_the_network_accepted_the_reply(tmp_path: Path, platform: str) -> None:
    async with ProcessWorld(tmp_path) as world:
        first = await world.start_app(ASSISTANT_JOB_LEASE_SECONDS="2", ASSISTANT_LOG_LEVEL="DEBUG")
        if platform == "bluesky":
            post = world.bluesky.add_mention("colere.bsky.social", HOSTILE)
            body = _mention(
                "bluesky",
                post.uri,
                f"https://bsky.app/profile/colere.bsky.social/post/{post.rkey}",
                "colere.bsky.social",
            )
            created: list[Any] = world.bluesky.created
            world.bluesky.hang_after_commit(4)
        else:
            tweet = world.x.add_mention("colere", HOSTILE)
            body = _mention("x", tweet.id, f"https://x.com/colere/status/{tweet.id}", "colere")
            created = world.x.created
            world.x.hang_after_commit(4)
        case_id = await world.ingest(body)
        card = await world.card(case_id)
        proposal = await world.propose(ALICE, card, REPLY)
        await world.react(BOB, proposal)
        await world.react(MAX, proposal, "+1")

        await wait_for(lambda: created, 10, "the network to accept the reply")
        assert (await world.case(case_id)).status == CaseStatus.APPROVED  # not recorded
        first.kill_group()
        assert await first.wait_exit() == -signal.SIGKILL
        await world.close_redis()

        second = await world.start_app(ASSISTANT_JOB_LEASE_SECONDS="2")

        async def published() -> bool:
            return (await world.case(case_id)).status == CaseStatus.PUBLISHED

        await wait_for(published, 20, "the restarted app to record the reply")
        assert len(created) == 1, "a second reply was posted"
        case = await world.case(case_id)
        if platform == "bluesky":
            assert created[0].rkey == case.publish_ref
            assert created[0].text == REPLY
            assert len(world.bluesky.requests_to("com.atproto.repo.createRecord")) == 1
            assert world.bluesky.logins == 1  # the session survived the crash in Redis
        else:
            assert created[0].text == REPLY
            assert len(world.x.requests_to("POST", "/2/tweets")) == 1
            assert world.x.refreshes == 1  # the stored token, not the burnt X_REFRESH_TOKEN
            assert all(r.status == 200 for r in world.x.requests_to("POST", "/2/oauth2/token"))
        assert case.published_url and case.published_url.endswith(
            created[0].rkey if platform == "bluesky" else created[0].id
        )

        def card_links() -> bool:
            message = world.slack.message(CHANNEL, card.ts)
            return str(case.published_url) in json.dumps(message.blocks)

        await wait_for(card_links, 10, "the card to show the published URL")
        assert "Traceback" not in second.log(), second.log()
        # secrets never logged, not even at DEBUG: credentials and every token issued
        if platform == "bluesky":
            sessions = world.bluesky._sessions
            secrets = [BLUESKY_APP_PASSWORD, *sessions.access, *sessions.refresh]
        else:
            tokens = world.x._tokens
            secrets = [X_CLIENT_SECRET, X_FIRST_REFRESH_TOKEN, *tokens.access, *tokens.refresh]
        logs = first.log() + second.log()
        assert len(secrets) >= 3
        for secret in secrets:
            assert secret not in logs
