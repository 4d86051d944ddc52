"""Small steps shared by the end-to-end tests (the world itself is assistant.sandbox)."""

from __future__ import annotations

from assistant.emulators.slack import EmulatedMessage
from assistant.models import Case, CaseStatus
from assistant.sandbox import CHANNEL, Sandbox


async def open_case(world: Sandbox, text: str = "vous êtes des connards, bande de nuls") -> Case:
    case_id, _ = await world.hostile_mention(text)
    return await world.card(case_id)


async def propose(world: Sandbox, case: Case, user: str, text: str) -> str:
    ts = await world.slack.post_message(user, text, channel=CHANNEL, thread_ts=case.card_ts)
    assert ts.delivery.ok, ts.delivery.attempts
    return str(ts)


async def react(world: Sandbox, user: str, ts: str, name: str = "white_check_mark") -> None:
    delivery = await world.slack.add_reaction(user, CHANNEL, ts, name)
    assert delivery.ok, delivery.attempts


async def unreact(world: Sandbox, user: str, ts: str, name: str = "white_check_mark") -> None:
    delivery = await world.slack.remove_reaction(user, CHANNEL, ts, name)
    assert delivery.ok, delivery.attempts


async def published(world: Sandbox, case: Case, timeout: float = 10.0) -> Case:
    async def done() -> Case | None:
        current = await world.case(case.case_id)
        return current if current.status == CaseStatus.PUBLISHED else None

    return await world.wait_for(done, timeout, f"case {case.case_id} published")


def card_message(world: Sandbox, case: Case) -> EmulatedMessage:
    assert case.card_ts
    return world.slack.message(CHANNEL, case.card_ts)


def thread_texts(world: Sandbox, case: Case) -> list[str]:
    assert case.card_ts
    return [m.text for m in world.slack.thread(CHANNEL, case.card_ts)[1:] if m.by_bot]
