"""Pure Block Kit builders of surge mode: the live surge card, its page and its summary.

Every echoed string from outside (texts, handles, display names, categories, platform
names) is escaped with :func:`~assistant.text.escape_slack` and every mrkdwn object is sent
with ``verbatim: true``: a hostile crowd cannot ping, link or format anything on the card.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from assistant.blocks import Block, slack_date
from assistant.models import Case
from assistant.networks import rule_for
from assistant.text import escape_slack

PROMOTE_ACTION = "surge_promote"
HEADER_MAX = 150
SECTION_MAX = 3000
SAMPLE_SHOWN = 200
HANDLE_SHOWN = 80


def esc(text: str, limit: int) -> str:
    """Escaped, on one line, at most ``limit`` characters of the raw text (then …)."""
    flat = " ".join(text.split())
    cut = flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"
    return escape_slack(cut)


def _mrkdwn(text: str) -> Block:
    return {"type": "mrkdwn", "text": text[:SECTION_MAX], "verbatim": True}


def _section(text: str) -> Block:
    return {"type": "section", "text": _mrkdwn(text)}


def _network(platform: str) -> str:
    rule = rule_for(platform)
    return rule.name if rule is not None else esc(platform, 40)


@dataclass(frozen=True, slots=True)
class SurgeView:
    """A surge as its card shows it (built from the stored state)."""

    channel: str
    surge_id: str
    started: float
    last: float
    ended: float | None
    count: int
    window_count: int
    window: float
    carded: int
    grouped_count: int
    promoted: int
    networks: dict[str, int]
    categories: dict[str, int]
    authors: list[tuple[str, int]]
    samples: list[str]
    grouped: list[Case] = field(default_factory=list)
    waiting: int = 0
    card_ts: str | None = None
    card_attempts: int = 0
    paged: bool = False
    summary_posted: bool = False

    @classmethod
    def from_state(
        cls,
        channel: str,
        state: dict[str, str],
        authors: Sequence[tuple[str, int]],
        samples: Sequence[str],
        grouped: Sequence[Case],
        waiting: int,
        *,
        window: float,
    ) -> SurgeView:
        def num(name: str) -> int:
            return int(state.get(name) or 0)

        return cls(
            channel=channel,
            surge_id=state["id"],
            started=num("started") / 1000,
            last=num("last") / 1000,
            ended=num("ended") / 1000 if state.get("ended") else None,
            count=num("count"),
            window_count=num("window_count"),
            window=window,
            carded=num("carded"),
            grouped_count=num("grouped"),
            promoted=num("promoted"),
            networks={k[4:]: int(v) for k, v in state.items() if k.startswith("net:")},
            categories={k[4:]: int(v) for k, v in state.items() if k.startswith("cat:")},
            authors=list(authors),
            samples=list(samples),
            grouped=list(grouped),
            waiting=waiting,
            card_ts=state.get("card_ts") or None,
            card_attempts=num("card_attempts"),
            paged=bool(state.get("paged")),
            summary_posted=bool(state.get("summary_posted")),
        )

    @property
    def per_minute(self) -> float:
        """Hostile mentions a minute over the last window."""
        span = min(self.window, max(60.0, (self.ended or self.last) - self.started))
        return self.window_count * 60.0 / span if span else float(self.window_count)


def _figures(view: SurgeView) -> str:
    nets = ", ".join(
        f"{_network(p)} {n}" for p, n in sorted(view.networks.items(), key=lambda kv: -kv[1])
    )
    cats = ", ".join(
        f"{esc(c, 40)} {n}" for c, n in sorted(view.categories.items(), key=lambda kv: -kv[1])[:6]
    )
    lines = [
        f"*{view.count}* hostile mentions since {slack_date(view.started)} "
        f"· *{view.per_minute:.1f}*/min over the last {int(view.window // 60) or 1} min",
        f"*Own cards* {view.carded} · *grouped here* {view.grouped_count}"
        + (f" · *promoted* {view.promoted}" if view.promoted else ""),
        f"*Networks* {nets or '—'}",
        f"*Categories* {cats or '—'}",
    ]
    if view.authors:
        people = ", ".join(f"@{esc(h, HANDLE_SHOWN)} ({f:,})" for h, f in view.authors)
        lines.append(f"*Most-followed authors* {people}")
    return "\n".join(lines)


def surge_card(view: SurgeView) -> tuple[str, list[Block]]:
    """The live surge card (or its final state once the surge ended): figures, a sample of
    texts, the top grouped mentions with a Promote button each."""
    if view.ended is None:
        title = "🌊 Surge of hostile mentions — live"
        status = (
            "Only threats, far-reaching authors and the worst mentions get their own card; "
            "the rest are grouped here."
        )
    else:
        title = "🌊 Surge over"
        status = f"Ended {slack_date(view.ended)} after {_lasted(view.ended - view.started)}."
    blocks: list[Block] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": title[:HEADER_MAX], "emoji": True},
        },
        _section(_figures(view)),
        {"type": "context", "elements": [_mrkdwn(status)]},
    ]
    if view.samples:
        quoted = "\n".join("> " + esc(t, SAMPLE_SHOWN) for t in view.samples)
        blocks.append(_section("*Latest texts*\n" + quoted))
    if view.grouped:
        blocks.append({"type": "divider"})
        blocks.append(_section(f"*Grouped mentions* ({view.waiting} waiting) — the worst first:"))
        for case in view.grouped:
            m = case.mention
            blocks.append(
                {
                    "type": "section",
                    "text": _mrkdwn(
                        f"@{esc(m.author.handle, HANDLE_SHOWN)} ({m.author.followers:,} followers, "
                        f"{_network(m.platform)}): {esc(m.text, SAMPLE_SHOWN)}"
                    ),
                    "accessory": {
                        "type": "button",
                        "action_id": PROMOTE_ACTION,
                        "value": case.case_id,
                        "text": {"type": "plain_text", "text": "Open a case"},
                    },
                }
            )
    fallback = f"🌊 Surge: {view.count} hostile mentions ({view.grouped_count} grouped)"
    if view.ended is not None:
        fallback = f"🌊 Surge over: {view.count} hostile mentions ({view.grouped_count} grouped)"
    return fallback, blocks


def surge_page_text(view: SurgeView, *, oncall: str | None) -> str:
    """The page: one message in the surge card's thread (the pager adds the on-call ping)."""
    del oncall  # the pager pings on-call itself
    return (
        f"🌊 Surge: {view.count} hostile mentions "
        f"({view.per_minute:.0f}/min). Grouped on this card; only the worst get their own."
    )


def surge_summary_text(view: SurgeView) -> str:
    assert view.ended is not None
    lasted = _lasted(view.ended - view.started)
    nets = ", ".join(f"{_network(p)} {n}" for p, n in sorted(view.networks.items()))
    return (
        f"✅ Surge over after {lasted}: {view.count} hostile mentions "
        f"({nets or 'no network'}), {view.carded} with their own card, {view.grouped_count} "
        f"grouped, {view.promoted} promoted. Grouped mentions can still be opened from the card."
    )


def _lasted(seconds: float) -> str:
    if seconds < 60:
        return f"{max(0, round(seconds))} s"
    return f"about {round(seconds / 60)} min"


def surge_failed_text(reason: str) -> str:
    return f"⚠️ The surge card could not be posted or updated: {esc(reason, 500)}"


def promote_answer(status: str) -> str:
    """What the person who clicked Promote is told (ephemeral)."""
    return {
        "promoted": "Done: the mention is now a case; its card is on its way.",
        "missing": "This mention is no longer kept (past its retention).",
    }.get(status, f"This mention is already a case ({esc(status, 20)}).")


__all__ = [
    "PROMOTE_ACTION",
    "SurgeView",
    "promote_answer",
    "surge_card",
    "surge_failed_text",
    "surge_page_text",
    "surge_summary_text",
]


def surge_line(view: SurgeView | None) -> str | None:
    """The live surge in one line, for App Home and ``/ops status`` (None when none is on).
    Plain text: the caller escapes it like everything it echoes."""
    if view is None or view.ended is not None:
        return None
    started = time.strftime("%H:%M UTC", time.gmtime(view.started))
    return (
        f"since {started}: {view.count} hostile mentions, {view.grouped_count} grouped under "
        f"the surge card, {view.carded} with their own card"
    )
