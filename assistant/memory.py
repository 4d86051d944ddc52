"""Reply memory: published replies are remembered with their mention; a new case's card
suggests the replies to the most similar past mentions (assistant/similarity.py), and anyone
can propose one with one click.

"Propose this" (handlers/actions.py → :meth:`ReplyMemory.propose`) checks the case is open,
the entry still remembered and the reply publishable on the case's network, then queues a
job (the click's durable step). The job posts the reply in the case thread *as the bot*,
naming the person who clicked (``📌 Proposal by @alice …``), and records the proposal with the
clicker as its proposer: their own vote on it does not count, like any proposal of theirs.
Each suggestion is proposed once per case; a second click is told where it is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ValidationError

from assistant import memory_blocks
from assistant.blocks import Block
from assistant.models import Case, CaseStatus
from assistant.payloads import loads_json
from assistant.settings import Settings
from assistant.slack import SlackGateway
from assistant.store import Job, Store, keys
from assistant.voting import ThreadService

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProposeOutcome:
    status: Literal["queued", "refused"]
    message: str  # shown to the person who clicked (ephemeral)


class _PastPayload(BaseModel):
    case: str
    entry: str
    lang: str
    user: str


class ReplyMemory:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        slack: SlackGateway,
        *,
        on_due: Callable[[], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.index = store.memory
        self.slack = slack
        self.on_due = on_due
        self.clock = clock

    @property
    def enabled(self) -> bool:
        return self.settings.ASSISTANT_MEMORY_SUGGESTIONS > 0

    async def remember(self, case: Case, reply: str) -> None:
        """Remember a published reply with its mention (idempotent: keyed by the case)."""
        lang = await self.index.remember(
            case.case_id,
            case.mention.text,
            reply,
            lang=case.mention.lang,
            platform=case.mention.platform,
            now=self.clock(),
        )
        log.info("reply remembered (%s)", lang)

    async def with_suggestions(self, case: Case) -> Case:
        """The case with its suggestions, looked up once and kept with it."""
        if case.suggestions is not None or not self.enabled:
            return case
        found = await self.index.similar(
            case.mention.text,
            lang=case.mention.lang,
            limit=self.settings.ASSISTANT_MEMORY_SUGGESTIONS,
            exclude=case.case_id,
        )
        await self.index.save_suggestions(case.case_id, found)
        return case.model_copy(update={"suggestions": found})

    async def propose(self, value: str, user: str) -> ProposeOutcome:
        """A click on "Propose this": queue the proposal, or say why not."""
        try:
            ref = loads_json(value)  # a forged value may nest deeper than json.loads can
            case_id, entry, lang = str(ref["case"]), str(ref["entry"]), str(ref["lang"])
        except (ValueError, KeyError, TypeError):
            return ProposeOutcome("refused", memory_blocks.UNKNOWN_CASE)
        case = await self.store.get_case(case_id)
        if case is None or not case.card_ts:
            return ProposeOutcome("refused", memory_blocks.UNKNOWN_CASE)
        if case.status is not CaseStatus.OPEN:
            return ProposeOutcome("refused", memory_blocks.CASE_SETTLED)
        past = await self.index.get(lang, entry)
        if past is None:
            return ProposeOutcome("refused", memory_blocks.ENTRY_GONE)
        refusal = _why_not(case, past.reply)
        if refusal is not None:
            return ProposeOutcome("refused", refusal)
        if await self.store.redis.exists(keys.memory_claim(case_id, f"past.{entry}")):
            return ProposeOutcome("refused", memory_blocks.ALREADY_PROPOSED)
        payload = _PastPayload(case=case_id, entry=entry, lang=lang, user=user)
        await self.store.enqueue(
            keys.JOB_PROPOSE_PAST, f"{case_id}.{entry}", self.clock(), payload.model_dump_json()
        )
        self.on_due()
        return ProposeOutcome("queued", "Your proposal is being posted in the thread.")


def _why_not(case: Case, reply: str) -> str | None:
    """Why the case's network could not publish ``reply`` (the check of every proposal)."""
    return ThreadService._refusal(case.mention.platform, case.mention.author.handle, reply, [])


async def post_proposal(
    store: Store,
    slack: SlackGateway,
    case: Case,
    *,
    what: str,
    text: str,
    blocks: list[Block],
    reply: str,
    proposer: str,
    now: float,
) -> str:
    """Post a proposal in the case thread as the bot and record it with ``proposer``.

    At most one message per (case, what) (SlackGateway.post_once_in_thread). Returns the
    proposal step's outcome (``added``, ``closed``, ``duplicate`` …)."""
    assert case.card_ts is not None
    ts = await slack.post_once_in_thread(
        case.channel,
        case.card_ts,
        text,
        blocks,
        case_id=case.case_id,
        what=what,
        event_type="proposal",
    )
    return await store.proposal(
        "add",
        event_id=f"{what}.{ts}",
        case_id=case.case_id,
        channel=case.channel,
        ts=ts,
        now=now,
        user=proposer,
        text=reply,
    )


class ProposePast:
    """Job: post a remembered reply as the clicker's proposal (see the module docstring)."""

    def __init__(self, memory: ReplyMemory) -> None:
        self.memory = memory

    async def run(self, job: Job) -> None:
        try:
            p = _PastPayload.model_validate_json(job.payload or "")
        except ValidationError:
            log.error("job %s has no valid payload: dropped", job.member)
            return
        case = await self.memory.store.get_case(p.case)
        past = await self.memory.index.get(p.lang, p.entry)
        if case is None or case.card_ts is None or case.status is not CaseStatus.OPEN:
            return
        if past is None:
            return
        text, blocks = memory_blocks.past_proposal_message(past.reply, p.user)
        outcome = await post_proposal(
            self.memory.store,
            self.memory.slack,
            case,
            what=f"past.{p.entry}",
            text=text,
            blocks=blocks,
            reply=past.reply,
            proposer=p.user,
            now=self.memory.clock(),
        )
        log.info("past reply %s proposed for %s: %s", p.entry, p.user, outcome)
        if outcome == "added":
            self.memory.on_due()

    async def give_up(self, job: Job, reason: str) -> None:
        log.error("a past reply could not be proposed: %s", reason)
