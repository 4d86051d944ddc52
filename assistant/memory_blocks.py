"""Block Kit for reply memory and drafts: the card's suggestions, the proposals posted for
people (a remembered reply) and by the assistant (a draft). Pure functions; every piece of
user or model text is escaped (it can neither ping nor forge a link)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from assistant.blocks import Block, _cut_escaped, _esc, _mrkdwn, _quote
from assistant.models import Case, CaseStatus, Suggestion

PROPOSE_ACTION = "memory_propose"
SUGGESTION_MENTION_MAX = 200
SUGGESTION_REPLY_MAX = 1200
PROPOSAL_QUOTE_MAX = 2900


def suggestion_value(case_id: str, s: Suggestion) -> str:
    """The button's value: which case, which remembered entry (and its language)."""
    return json.dumps({"case": case_id, "entry": s.entry, "lang": s.lang}, separators=(",", ":"))


def suggestion_blocks(case: Case) -> list[Block]:
    """The card's "past replies to similar mentions" part (nothing when there are none).

    Each suggestion: the past mention (short), the reply that went out, why it is similar
    (the shared words and the similarity) and, while the case is open, a "Propose this"
    button."""
    found: Sequence[Suggestion] = case.suggestions or []
    if not found:
        return []
    out: list[Block] = [
        {"type": "section", "text": _mrkdwn("*💡 Past replies to similar mentions*")}
    ]
    for s in found:
        words = ", ".join(f"“{_esc(w, 40)}”" for w in s.shared) or "—"
        text = (
            f"{_quote(s.reply, SUGGESTION_REPLY_MAX)}\n"
            f"_in reply to:_ {_esc(' '.join(s.mention.split()), SUGGESTION_MENTION_MAX)}\n"
            f"_similar ({round(s.similarity * 100)} %): shared words {words}_"
        )
        block: Block = {"type": "section", "text": _mrkdwn(_cut_escaped(text, 3000))}
        if case.status is CaseStatus.OPEN:
            block["accessory"] = {
                "type": "button",
                "action_id": PROPOSE_ACTION,
                "text": {"type": "plain_text", "text": "Propose this", "emoji": False},
                "value": suggestion_value(case.case_id, s),
            }
        out.append(block)
    return out


def past_proposal_message(reply: str, user: str) -> tuple[str, list[Block]]:
    """Posted in the thread for the person who clicked "Propose this": their proposal."""
    head = f"📌 Proposal by <@{user}> (a past reply, from the reply memory):"
    return _message(head, reply)


def draft_message(reply: str, number: int) -> tuple[str, list[Block]]:
    """A draft the assistant posts in the thread: a proposal voted like any other."""
    head = (
        f"🤖 Draft {number} by the assistant — vote on it like any proposal "
        "(every human vote counts):"
    )
    return _message(head, reply)


def _message(head: str, reply: str) -> tuple[str, list[Block]]:
    quoted = _quote(reply, PROPOSAL_QUOTE_MAX)
    fallback = _cut_escaped(f"{head} {_esc(' '.join(reply.split()), 2000)}", 2900)
    return fallback, [{"type": "section", "text": _mrkdwn(f"{head}\n{quoted}")}]


ALREADY_PROPOSED = "This past reply is already proposed in the thread: vote on it there."
CASE_SETTLED = "This case is already settled: no new proposals are taken."
ENTRY_GONE = "This past reply is no longer in the reply memory (retention)."
UNKNOWN_CASE = "This card's case is unknown (expired or from another workspace)."
