"""SLA timers live in Redis: a deadline that passes while the app is down fires after restart."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from assistant.sandbox import ONCALL_GROUP

from .harness import ProcessWorld, wait_for

SLA = 2


async def test_sla_deadline_missed_while_stopped_escalates_once_after_restart(
    tmp_path: Path,
) -> None:
    async with ProcessWorld(tmp_path) as world:
        app = await world.start_app(ASSISTANT_SLA_SECONDS=str(SLA))
        case_id, _ = await world.ingest_hostile()
        card = await world.card(case_id)
        deadline = (await world.case(case_id)).sla_deadline

        app.proc.send_signal(signal.SIGTERM)
        assert await app.wait_exit(timeout=5) == 0, app.log()
        assert time.time() < deadline, "the app must stop before the deadline for this test"
        assert world.thread_bot_texts(card) == []

        # The deadline passes while nothing runs.
        await wait_for(lambda: time.time() > deadline + 0.2, SLA + 1, "the SLA deadline")
        assert world.thread_bot_texts(card) == []

        await world.start_app(ASSISTANT_SLA_SECONDS=str(SLA))
        ping = f"<!subteam^{ONCALL_GROUP}>"

        def escalations() -> list[str]:
            return [t for t in world.thread_bot_texts(card) if ping in t]

        await wait_for(escalations, 10, "the on-call escalation in the case thread")

        async def settled() -> bool:
            escalated = (await world.case(case_id)).escalated_at is not None
            return escalated and f"sla:{case_id}" not in await world.store.pending_jobs()

        await wait_for(settled, 5, "the escalation to be recorded and its timer removed")
        assert len(escalations()) == 1, world.thread_bot_texts(card)
        assert world.thread_bot_texts(card) == escalations()  # nothing else was posted

        # The card says so too (re-rendered from the stored state).
        def card_mentions_escalation() -> bool:
            return "Escalated to on-call" in str(world.slack.message(card.channel, card.ts).blocks)

        await wait_for(card_mentions_escalation, 10, "the card to show the escalation")
        assert len(world.cards()) == 1
