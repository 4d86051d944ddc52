"""Follow-up steps survive what can happen between two steps: a job whose Slack call outlasts
its lease is not taken over by another worker (the lease is renewed while it runs)."""

from __future__ import annotations

from assistant.emulators.slack import EmulatedMessage
from assistant.sandbox import CHANNEL, Sandbox
from tests.e2e.conftest import SandboxFactory


def cards(world: Sandbox) -> list[EmulatedMessage]:
    return [m for m in world.slack.bot_messages(CHANNEL) if not m.is_reply]


def answered(world: Sandbox, method: str) -> bool:
    return all(call.response for call in world.slack.calls_to(method))


async def test_a_card_post_slower_than_the_job_lease_is_not_posted_twice(
    make_world: SandboxFactory,
) -> None:
    async with make_world(ASSISTANT_JOB_LEASE_SECONDS=1) as world:
        world.slack.slow("chat.postMessage", seconds=2.5)  # Slack under load: 2.5 leases
        case_id, _ = await world.hostile_mention("bande de connards incompétents")
        case = await world.card(case_id)
        await world.wait_for(lambda: answered(world, "chat.postMessage"), 10, "Slack's answers")
        (card,) = cards(world)
        assert card.ts == case.card_ts
        assert len(world.slack.calls_to("chat.postMessage")) == 1
        assert case.card_attempts == 1
