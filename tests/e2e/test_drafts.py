"""Drafts end to end, against the LLM emulator over real HTTP: posted as the assistant's
proposals (every human vote counts), in the mention's language, within the network's limit;
an endpoint that fails, times out or cannot be reached means no drafts and one log line."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from assistant.models import Case, CaseStatus
from assistant.sandbox import ALICE, BOB, CHANNEL, LLM_API_KEY, MAX, Sandbox
from assistant.store.store import Proposal
from tests.e2e.conftest import SandboxFactory
from tests.e2e.helpers import open_case, propose, published, react
from tests.e2e.test_memory import REPLY, remember_one

FR = "vous êtes des connards, votre réseau est encore en panne"


def drafts(world: Sandbox, case: Case) -> list[object]:
    assert case.card_ts
    return [
        m
        for m in world.slack.thread(CHANNEL, case.card_ts)[1:]
        if m.by_bot and "by the assistant" in m.text
    ]


async def recorded(world: Sandbox, case: Case, message: object) -> Proposal:
    """The proposal a draft message records (written right after the post: wait for it)."""
    ts: str = message.ts  # type: ignore[attr-defined]
    return await world.wait_for(
        lambda: world.app.store.get_proposal(case.case_id, ts), what="the draft recorded"
    )


async def test_drafts_are_the_assistants_proposals_voted_like_any_other(
    make_world: SandboxFactory, tmp_path: Path
) -> None:
    voice = tmp_path / "voice.txt"
    voice.write_text("Tutoiement interdit. Toujours une pointe d'humour, jamais de sarcasme.")
    async with make_world(drafts=True, ASSISTANT_BRAND_VOICE_FILE=voice) as world:
        await remember_one(world)
        case = await open_case(world, FR)
        found = await world.wait_for(lambda: len(drafts(world, case)) == 2 and drafts(world, case))
        request = world.llm.requests[-1]
        sent = "\n".join(m["content"] for m in request["messages"])
        assert "Language: fr" in sent and "French" in sent and "500 characters" in sent
        assert "Tutoiement interdit" in sent  # the brand voice
        assert REPLY in sent  # a remembered reply as an example
        bot = world.app.slack.bot_user_id
        texts = []
        for message in found:
            prop = await recorded(world, case, message)
            assert prop.user == bot and prop.status == "active"
            assert prop.text in world.llm.replies_for(sent)
            texts.append(prop.text)
        assert len(set(texts)) == 2
        # the assistant is the author: two human approvals (one a manager's) publish it
        await react(world, ALICE, found[0].ts)  # type: ignore[attr-defined]
        await react(world, MAX, found[0].ts)  # type: ignore[attr-defined]
        done = await published(world, case)
        assert done.approved_text == texts[0]
        assert world.mastodon.created_statuses[-1].text.endswith(texts[0])
        # run again (a retry after a crash): nothing posted twice
        await world.app.store.enqueue("drafts", case.case_id, 0)
        world.app.jobs.wake()
        await world.wait_for(lambda: not world.app.jobs._running, what="the job ran")
        assert len(drafts(world, case)) == 2


async def test_english_mention_gets_english_drafts(make_world: SandboxFactory) -> None:
    async with make_world(drafts=True) as world:
        case = await open_case(world, "you people are idiots, the network is down again")
        found = await world.wait_for(lambda: len(drafts(world, case)) == 2 and drafts(world, case))
        assert all("Thanks" in m.text or "We" in m.text or "Even" in m.text for m in found)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("fault", "overrides", "line"),
    [
        ("fail", {}, "answered HTTP 500"),
        ("slow", {"ASSISTANT_LLM_TIMEOUT_SECONDS": 0.3}, "did not answer within 0.3 s"),
        ("down", {"ASSISTANT_LLM_URL": "http://127.0.0.1:9/v1"}, "is unreachable"),
        ("key", {"ASSISTANT_LLM_API_KEY": "wrong-key"}, "answered HTTP 401"),
        ("long", {}, "none publishable on the network"),
        ("garbage", {}, "answered no reply"),
    ],
)
async def test_a_failing_endpoint_means_no_drafts_and_one_line(
    make_world: SandboxFactory,
    caplog: pytest.LogCaptureFixture,
    fault: str,
    overrides: dict[str, object],
    line: str,
) -> None:
    caplog.set_level(logging.INFO)
    async with make_world(drafts=True, **overrides) as world:
        if fault == "fail":
            world.llm.fail(status=500)
        elif fault == "slow":
            world.llm.delay(2.0)
        elif fault == "long":
            world.llm.answer_with('{"replies": ["' + "trop long " * 80 + '"]}')
        elif fault == "garbage":
            world.llm.answer_with("   ")
        case = await open_case(world, FR)

        def logged() -> list[str]:
            return [r.getMessage() for r in caplog.records if "no drafts" in r.getMessage()]

        (message,) = await world.wait_for(logged, what="the log line")
        assert line in message and "LLM endpoint" in message
        assert LLM_API_KEY not in caplog.text and "wrong-key" not in caplog.text
        # the loop goes on: a human proposal is taken and published
        ts = await propose(world, case, ALICE, "On regarde ça tout de suite.")
        await react(world, BOB, ts)
        await react(world, MAX, ts)
        await published(world, case)
        assert drafts(world, case) == []
        assert (await world.case(case.case_id)).status == CaseStatus.PUBLISHED


async def test_nothing_leaves_the_machine_without_the_setting(world: Sandbox) -> None:
    case = await open_case(world, FR)
    ts = await propose(world, case, ALICE, "On regarde ça tout de suite.")
    await react(world, BOB, ts)
    await react(world, MAX, ts)
    await published(world, case)
    assert world.llm.requests == [] and drafts(world, case) == []


async def test_a_hostile_draft_stays_inert_in_slack(make_world: SandboxFactory) -> None:
    async with make_world(drafts=True) as world:
        world.llm.answer_with('{"replies": ["<!channel> merci <https://evil.example|ici> &"]}')
        case = await open_case(world, FR)
        (message,) = await world.wait_for(lambda: drafts(world, case), what="the draft")
        shown = message.text + json.dumps(message.blocks)  # type: ignore[attr-defined]
        assert "<!channel>" not in shown and "<https://evil" not in shown
        assert "&lt;!channel&gt;" in message.text  # type: ignore[attr-defined]
        prop = await recorded(world, case, message)
        assert prop.text == "<!channel> merci <https://evil.example|ici> &"
