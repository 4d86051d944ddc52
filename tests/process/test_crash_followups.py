"""kill -9 between a publish's outcome and what follows it: nothing is lost, nothing doubled.

The app runs as ``python -m assistant run`` on its embedded Redis with a 2-second job lease.
A reply is approved and published; Slack is slow to take the thread note with the public URL,
and the app's process group is killed with SIGKILL while that note is in flight (Slack still
takes it, as a server does with a request it received). What follows the outcome — today's
figures, reply memory, the thread note — is a durable job queued with the outcome: the
restarted app runs it again once the lease has run out, finds the note in the thread (its
metadata) instead of posting a second one, and the figures and the memory count the reply once.
"""

from __future__ import annotations

import time
from pathlib import Path

from assistant.models import CaseStatus
from assistant.reports import period_report
from assistant.sandbox import ALICE, BOB, MAX
from assistant.store import keys

from .harness import ProcessWorld, wait_for

REPLY = "Merci pour ce retour plein de tendresse, on rétablit le réseau au plus vite"
LEASE = "2"


async def test_kill_9_while_the_published_note_is_posted_loses_no_follow_up(
    tmp_path: Path,
) -> None:
    async with ProcessWorld(tmp_path) as world:
        first = await world.start_app(ASSISTANT_JOB_LEASE_SECONDS=LEASE)
        case_id, _ = await world.ingest_hostile()
        card = await world.card(case_id)
        proposal = await world.propose(ALICE, card, REPLY)
        await world.react(BOB, proposal, "white_check_mark")
        world.slack.slow("chat.postMessage", seconds=1.0)  # the next post: the thread note
        await world.react(MAX, proposal, "+1")  # quorum: published, then the note

        def note_calls() -> list[object]:
            return [
                c
                for c in world.slack.calls_to("chat.postMessage")
                if c.params.get("thread_ts") == card.ts and "Published" in c.params["text"]
            ]

        await wait_for(note_calls, 15, "the thread note on its way to Slack", interval=0.01)
        first.kill_group()
        await first.wait_exit()
        await world.close_redis()

        second = await world.start_app(ASSISTANT_JOB_LEASE_SECONDS=LEASE)
        published = await world.case(case_id)  # (recorded before the crash: Redis AOF)
        assert published.status == CaseStatus.PUBLISHED and published.published_url
        url = published.published_url
        settled = keys.job_id(keys.JOB_SETTLED, case_id)

        async def settled_again() -> bool:
            return settled not in await world.store.pending_jobs()

        await wait_for(settled_again, 15, "the restarted app to run the follow-ups again")
        # it looked in the thread (the note's metadata) and found the note: none posted again
        assert world.slack.calls_to("conversations.replies")
        notes = [t for t in world.thread_bot_texts(card) if url in t]
        assert len(notes) == 1, world.thread_bot_texts(card)
        assert len(note_calls()) == 1
        # today's figures count the reply once; reply memory has it once
        today = await period_report(world.store, time.time() - 3600, time.time())
        assert today.published == 1 and today.to_publish.count == 1
        assert await world.store.memory.size("fr") == 1
        assert "Traceback" not in second.log(), second.log()
