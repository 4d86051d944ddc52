"""Proposals and votes in a case thread: what counts, and the atomic decision (vote.lua).

The quorum rule is readable here as pure functions (``tally``, ``managers_required``,
``decide``) and executed atomically by ``store/lua/vote.lua``; unit tests compare the two on
the same inputs. The rule: ≥ N approvals from distinct humans, ≥ M of them managers, no
manager veto; a proposal the tone check flags (the hostility scorer finds the proposal itself
hostile) needs ``ASSISTANT_TONE_EXTRA_MANAGER_APPROVALS`` more manager approvals — it is
marked ⚠️, never refused. This module also decides what an event means before that step:
which emoji count, who may vote, what a proposal's text is (the rich text the voters saw),
whether the case's network can publish it (its length rule, from the network registry).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from assistant import blocks, text
from assistant.cases import APPROVE_EMOJI, VETO_EMOJI
from assistant.errors import AssistantError
from assistant.logs import bound_case
from assistant.networks import rule_for
from assistant.payloads import ReactionEvent
from assistant.settings import Settings
from assistant.slack import SlackGateway
from assistant.store import Store, VoteResult

if TYPE_CHECKING:
    from assistant.scoring import Scorer

log = logging.getLogger(__name__)

ACCEPTED_REACTION = "memo"  # the bot's acknowledgement on an accepted proposal
TONE_REACTION = "warning"  # the bot's visible mark on a proposal the tone check flags
# Work before the ack is bounded: at most this many people named in a proposal are resolved
# (users.info, cached; concurrently). A proposal naming more is refused, whatever its length.
MAX_PROPOSAL_MENTIONS = 10


class ProposalRefused(AssistantError):
    """A proposal the thread cannot take; the error handler tells its author (ephemeral)."""

    def __init__(self, message: str, *, channel: str, user: str, thread_ts: str | None) -> None:
        super().__init__(message)
        self.channel = channel
        self.user = user
        self.thread_ts = thread_ts


def classify_reaction(name: str) -> tuple[Literal["approve", "veto"], str] | None:
    """Which vote an emoji is: ``+1::skin-tone-3`` counts as ``+1``; others are not votes."""
    base = name.split("::", 1)[0]
    if base in APPROVE_EMOJI:
        return "approve", base
    if base in VETO_EMOJI:
        return "veto", base
    return None


def tally(votes: Mapping[str, str]) -> tuple[int, int, int]:
    """(approvals, manager approvals, manager vetoes) from a votes hash (field
    ``user|kind|emoji`` -> ``"1"`` when a manager voted): distinct people, so one person with
    two approve emoji counts once; a non-manager's veto counts for nothing."""
    approvers: set[str] = set()
    managers: set[str] = set()
    vetoes: set[str] = set()
    for field, manager in votes.items():
        user, kind, _ = field.split("|", 2)
        if kind == "approve":
            approvers.add(user)
            if manager == "1":
                managers.add(user)
        elif kind == "veto" and manager == "1":
            vetoes.add(user)
    return len(approvers), len(managers), len(vetoes)


def managers_required(base: int, *, tone_flagged: bool, tone_extra: int) -> int:
    """Manager approvals a proposal needs: the quorum's M, plus the tone surcharge if flagged."""
    return base + (tone_extra if tone_flagged else 0)


def decide(
    approvals: int,
    manager_approvals: int,
    manager_vetoes: int,
    *,
    approvals_required: int,
    managers_needed: int,
) -> bool:
    """Whether a proposal with these counts wins the case."""
    return (
        approvals >= approvals_required
        and manager_approvals >= managers_needed
        and manager_vetoes == 0
    )


@dataclass(frozen=True, slots=True)
class ThreadMessage:
    """The parts of a Slack ``message`` event this service needs, whatever its subtype."""

    kind: Literal["new", "edited", "deleted"]
    channel: str
    ts: str
    thread_ts: str | None
    user: str | None
    text: str
    from_bot: bool
    blocks: list[Any] | None = None
    """The message's blocks (a human message's ``rich_text``), when Slack sent them."""

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> ThreadMessage | None:
        """None for subtypes that are not proposals (joins, bot_message, file shares, …)."""
        kind: Literal["new", "edited", "deleted"]
        match event.get("subtype"):
            case None:
                kind, message, ts = "new", event, event.get("ts")
            case "message_changed":  # the new version is under "message"
                message = event.get("message") or {}
                kind, ts = "edited", message.get("ts")
            case "message_deleted":  # what was deleted is under "previous_message"
                message = event.get("previous_message") or {}
                kind, ts = "deleted", event.get("deleted_ts")
            case _:
                return None
        return cls(
            kind,
            str(event.get("channel", "")),
            str(ts or ""),
            message.get("thread_ts"),
            message.get("user"),
            "" if kind == "deleted" else str(message.get("text") or ""),
            "bot_id" in message,
            message.get("blocks") if isinstance(message.get("blocks"), list) else None,
        )


class ThreadService:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        slack: SlackGateway,
        *,
        on_due: Callable[[], None],
        spawn: Callable[[Any], None],
        clock: Callable[[], float] = time.time,
        scorer: Scorer | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.slack = slack
        self.on_due = on_due
        self.spawn = spawn
        self.clock = clock
        self.scorer = scorer  # the tone check (None: proposals are not tone-checked)

    # -- proposals -----------------------------------------------------------------------

    async def on_message(self, event: dict[str, Any], event_id: str) -> str:
        """Handle a message event; returns what happened (for logs and tests)."""
        msg = ThreadMessage.from_event(event)
        if msg is None or msg.channel != self.settings.ASSISTANT_CHANNEL or msg.from_bot:
            return "ignored"
        if not msg.user or msg.user == self.slack.bot_user_id:
            return "ignored"
        if msg.kind == "deleted":
            case_id = await self.store.case_for_message(msg.channel, msg.ts)
            if case_id is None:
                return "ignored"
            return await self.store.proposal(
                "delete",
                event_id=event_id,
                case_id=case_id,
                channel=msg.channel,
                ts=msg.ts,
                now=self.clock(),
            )
        if not msg.thread_ts or msg.thread_ts == msg.ts:
            return "ignored"  # top-level channel chatter
        case_id = await self.store.case_for_message(msg.channel, msg.thread_ts)
        if case_id is None:
            return "ignored"  # a thread that is not a case
        case = await self.store.get_case(case_id)
        if case is None or case.card_ts != msg.thread_ts:
            return "ignored"
        if (await self.slack.user(msg.user)).is_bot:
            return "ignored"
        plain, custom = await self._plain(msg)
        if not plain.strip():
            return "ignored"
        known = await self.store.get_proposal(case_id, msg.ts)
        refusal = self._refusal(case.mention.platform, case.mention.author.handle, plain, custom)
        if refusal is not None:
            if known is not None:  # an edit made it unpublishable: it can no longer win
                await self.store.proposal(
                    "delete",
                    event_id=event_id,
                    case_id=case_id,
                    channel=msg.channel,
                    ts=msg.ts,
                    now=self.clock(),
                )
            raise ProposalRefused(
                refusal,
                channel=msg.channel,
                user=msg.user,
                thread_ts=msg.thread_ts,
            )
        op: Literal["add", "edit"] = "edit" if known is not None else "add"
        flagged, tone = self.tone(plain, case.mention.lang)
        outcome = await self.store.proposal(
            op,
            event_id=event_id,
            case_id=case_id,
            channel=msg.channel,
            ts=msg.ts,
            now=self.clock(),
            user=msg.user,
            text=plain,
            tone_flagged=flagged,
            tone_score=tone,
        )
        if outcome in ("added", "edited"):
            self.on_due()
        if outcome == "added":
            self.spawn(self.slack.react(msg.channel, msg.ts, ACCEPTED_REACTION))
        if outcome in ("added", "edited") and flagged:  # visible on the proposal, not a refusal
            self.spawn(self.slack.react(msg.channel, msg.ts, TONE_REACTION))
            self.spawn(
                self.slack.ephemeral(
                    msg.channel,
                    msg.user,
                    blocks.tone_rule_text(self.settings.tone_extra_managers),
                    msg.thread_ts,
                )
            )
        elif outcome == "closed" and op == "add":
            raise ProposalRefused(
                "This case is already settled: no new proposals are taken.",
                channel=msg.channel,
                user=msg.user,
                thread_ts=msg.thread_ts,
            )
        return outcome

    def tone(self, proposal: str, lang: str | None) -> tuple[bool, float]:
        """The tone check: (flagged, score) of a proposal, by the mentions' hostility scorer."""
        if self.scorer is None:
            return False, 0.0
        assessment = self.scorer.score(proposal, lang=lang)
        return assessment.hostile, assessment.score

    async def _plain(self, msg: ThreadMessage) -> tuple[str, list[str]]:
        """The text the voters saw (from the rich text; the text field only without blocks)
        and the custom emoji it uses; people named are resolved (a bounded number of them)."""
        ids = text.slack_user_ids(msg.text) | text.rich_text_user_ids(msg.blocks)
        if len(ids) > MAX_PROPOSAL_MENTIONS:  # work before the ack stays bounded
            raise ProposalRefused(
                f"A proposal can name at most {MAX_PROPOSAL_MENTIONS} people "
                f"(this one names {len(ids)}).",
                channel=msg.channel,
                user=msg.user or "",
                thread_ts=msg.thread_ts,
            )
        names = await self.slack.names(ids)
        rich = text.rich_text_to_plain(msg.blocks, {**text.slack_channel_names(msg.text), **names})
        if rich is not None:
            return rich
        return text.slack_to_plain(msg.text, names), []

    @staticmethod
    def _refusal(platform: str, handle: str, plain: str, custom: list[str]) -> str | None:
        """Why the case's network could not publish this proposal (None: it can)."""
        if custom:
            return blocks.custom_emoji_refused(list(dict.fromkeys(custom)))
        rule = rule_for(platform)
        if rule is None:
            return None
        over, other = rule.refusal(handle, plain)
        if over > 0:
            return blocks.proposal_too_long(over, rule.limit, platform=platform)
        if other is not None:
            return blocks.proposal_not_publishable(other, platform=platform)
        return None

    # -- votes ---------------------------------------------------------------------------

    async def on_reaction(
        self, event: ReactionEvent, event_id: str, *, added: bool
    ) -> VoteResult | None:
        """Handle reaction_added/removed; None when it is not a vote on a proposal."""
        vote = classify_reaction(event.reaction)
        user, channel, ts = event.user, event.item.channel, event.item.ts
        if vote is None or event.item.type != "message" or not user or not ts:
            return None
        if channel != self.settings.ASSISTANT_CHANNEL or user == self.slack.bot_user_id:
            return None
        case_id = await self.store.case_for_message(channel, ts)
        if case_id is None:
            return None
        if (await self.slack.user(user)).is_bot:
            return None
        kind, emoji = vote
        result = await self.store.vote(
            "add" if added else "remove",
            event_id=event_id,
            case_id=case_id,
            proposal_ts=ts,
            user=user,
            kind=kind,
            emoji=emoji,
            is_manager=await self.slack.is_manager(user),
            approvals_required=self.settings.ASSISTANT_APPROVALS_REQUIRED,
            manager_approvals_required=self.settings.ASSISTANT_MANAGER_APPROVALS_REQUIRED,
            now=self.clock(),
            tone_extra_managers=self.settings.tone_extra_managers,
        )
        if result.outcome == "approved":
            with bound_case(case_id):
                log.info("proposal %s approved (%d approvals)", ts, result.approvals)
            self.on_due()
        return result
