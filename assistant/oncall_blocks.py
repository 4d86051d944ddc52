"""Block Kit for on-call: the page message (with its Acknowledge button), App Home, and the
``/ops`` answers. Pure functions; every text that came from outside is escaped (inert)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from assistant.blocks import oncall_mention, slack_date, slack_link
from assistant.models import Case
from assistant.oncall_policy import Policy, QuietHours, Step
from assistant.reports import Report, duration
from assistant.store.oncall import Page
from assistant.text import escape_slack, unescape_entities

Block = dict[str, Any]

ACK_ACTION = "oncall_ack"  # the Acknowledge button (value: the page id)
ACTIONS = (ACK_ACTION,)  # every action_id emitted here has a listener in handlers/actions.py
HOME_CASES_MAX = 20
HOME_PAGES_MAX = 10
TEXT_MAX = 2900


def _esc(text: str, limit: int) -> str:
    cut = text[:limit]
    return escape_slack(cut) + ("…" if len(text) > limit else "")


def _mrkdwn(text: str) -> Block:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _section(text: str) -> Block:
    return {"type": "section", "text": _mrkdwn(text[:TEXT_MAX])}


def mentions(targets: Sequence[str]) -> str:
    return " ".join(oncall_mention(t) for t in targets)


def who(policy: Policy) -> str:
    if not policy.levels:
        return "nobody (set ASSISTANT_ESCALATION_POLICY or ASSISTANT_ONCALL)"
    parts = []
    for n, level in enumerate(policy.levels, 1):
        parts.append(f"{n}. {mentions(level.targets)} (next after {_minutes(level.delay)})")
    repeat = f"; then {policy.repeat} more round(s)" if policy.repeat else ""
    return "\n".join(parts) + repeat


def _minutes(seconds: int) -> str:
    return f"{seconds // 60} min" if seconds >= 60 and seconds % 60 == 0 else f"{seconds} s"


def _ack_button(page_id: str) -> Block:
    return {
        "type": "button",
        "action_id": ACK_ACTION,
        "text": {"type": "plain_text", "text": "Acknowledge", "emoji": True},
        "style": "primary",
        "value": page_id,
    }


def page_state(page: Page, policy: Policy) -> str:
    if page.status == "acked" and page.acked_at is not None:
        return f"✅ Acknowledged by <@{page.acked_by}> {slack_date(page.acked_at)}."
    if page.status == "resolved":
        when = f" {slack_date(page.resolved_at)}" if page.resolved_at is not None else ""
        return f"☑️ Resolved{when}: the case was settled."
    steps = max(1, policy.steps)
    shown = min(max(page.step, 1), steps)
    return f"🔔 Not acknowledged yet — notification {shown} of {steps}."


def page_message(page: Page, step: Step | None, policy: Policy) -> tuple[str, list[Block]]:
    """The page: who is paged (the step's targets), why (``page.text``: built by our own
    builders, already escaped), its state, and the Acknowledge button while open."""
    ping = mentions(step.targets) + " " if step and step.targets else ""
    crit = "🚨 *Critical* · " if page.critical else ""
    text = f"{ping}{page.text}"
    blocks: list[Block] = [
        _section(text),
        {"type": "context", "elements": [_mrkdwn(f"{crit}{page_state(page, policy)}")]},
    ]
    if page.status == "open":
        blocks.append({"type": "actions", "block_id": "oncall", "elements": [_ack_button(page.id)]})
    return text[:TEXT_MAX], blocks


def next_level_text(step: Step, waited: int) -> str:
    """Thread reply when a page goes to the next level (or round)."""
    again = f" (round {step.round + 1})" if step.round else ""
    return (
        f"{mentions(step.targets)} 📣 No acknowledgement after {_minutes(waited)}: "
        f"escalating to level {step.level + 1}{again}. Press *Acknowledge* on the page above."
    )


def ack_answer(outcome: str, page_id: str, by: str) -> str:
    """What the person who pressed Acknowledge (or ran ``/ops ack``) is told."""
    pid = _esc(page_id, 80)
    if outcome == "acked":
        return f"✅ You acknowledged page {pid}: re-escalation stopped."
    if outcome == "already":
        return f"Page {pid} was already acknowledged by <@{by}>."
    if outcome == "resolved":
        return f"Page {pid} is already resolved (its case was settled): nothing to acknowledge."
    if outcome == "no_page":
        return f"No open page for case {pid}."
    return f"There is no page {pid} (it may have expired)."


# -- App Home ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HomeData:
    cases: list[Case]
    open_count: int
    pages: list[Page]
    policy: Policy
    quiet: QuietHours | None
    paused_until: float | None
    today: Report | None  # the report of today (since midnight in ``zone``)
    zone: str
    links: dict[str, str]  # case id -> card permalink
    surge: str | None = None  # a one-line summary of the current surge, if any


def _case_line(case: Case, link: str | None) -> str:
    author = "@" + _esc(case.mention.author.handle.removeprefix("@"), 60)
    quote = _esc(" ".join(case.mention.text.split()), 120)
    where = slack_link(link, "card") if link else "card not posted yet"
    proposals = f"{case.proposals} proposal" + ("s" if case.proposals != 1 else "")
    return (
        f"• *{_esc(case.status.value, 20)}* · {author}: “{quote}” · {proposals} · "
        f"due {slack_date(case.sla_deadline, '{date_short_pretty} {time}')} · {where}"
    )


def home_view(data: HomeData) -> dict[str, Any]:
    """The App Home tab (``views.publish``): on call and open pages (Acknowledge buttons),
    open cases oldest first with their SLA and a link to the card, proposals awaiting votes,
    the pause, and today's figures (the report's, for the day in ASSISTANT_TIME_ZONE)."""
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Community ops", "emoji": True}}
    ]
    if data.paused_until is not None:
        blocks.append(
            _section(
                f"⏸️ *Paused* until {slack_date(data.paused_until)}: nothing is published or "
                "polled. `/ops resume` restarts."
            )
        )
    if data.surge:
        blocks.append(_section(f"🌊 *Surge*: {_esc(data.surge, 500)}"))
    quiet = f"\nQuiet hours: {_esc(data.quiet.describe(), 80)}" if data.quiet else ""
    blocks.append(_section(f"*On call*\n{who(data.policy)}{quiet}"))
    blocks.append(_section(f"*Open pages* ({len(data.pages)})" + ("" if data.pages else ": none")))
    for page in data.pages[:HOME_PAGES_MAX]:
        summary = _esc(_plain(page.text), 200)
        blocks.append(
            {
                "type": "section",
                "text": _mrkdwn(f"{summary}\n_paged {slack_date(page.created_at)}_"),
                "accessory": _ack_button(page.id),
            }
        )
    shown = data.cases[:HOME_CASES_MAX]
    more = f" — oldest {len(shown)} shown" if data.open_count > len(shown) else ""
    blocks.append({"type": "divider"})
    blocks.append(_section(f"*Open cases* ({data.open_count}){more}"))
    if shown:
        lines = [_case_line(c, data.links.get(c.case_id)) for c in shown]
        for start in range(0, len(lines), 5):  # a section holds 3000 characters
            blocks.append(_section("\n".join(lines[start : start + 5])))
    awaiting = [c for c in shown if c.status.value == "open" and c.proposals]
    blocks.append(
        _section(
            f"*Proposals awaiting votes*: {sum(c.proposals for c in awaiting)} "
            f"in {len(awaiting)} case(s)"
        )
    )
    if data.today is not None:
        today = data.today
        blocks.append({"type": "divider"})
        blocks.append(
            _section(
                f"*Today ({_esc(data.zone, 40)})*: {today.cases} case(s) opened · "
                f"{today.published} reply(ies) published · median time to reply "
                f"{duration(today.to_publish.median)}"
            )
        )
    return {"type": "home", "blocks": blocks[:100]}


def _plain(mrkdwn: str) -> str:
    """Our own page text without its mrkdwn controls (links, dates, mentions) for a summary."""
    out: list[str] = []
    depth = 0
    for ch in mrkdwn:
        if ch == "<":
            depth += 1
        elif ch == ">" and depth:
            depth -= 1
        elif not depth:
            out.append(ch)
    return " ".join(unescape_entities("".join(out)).split())


# -- /ops ---------------------------------------------------------------------------------------


def ops_help(command: str) -> str:
    c = _esc(command, 32)
    return (
        f"*{c}* — community ops from Slack (answers only you see):\n"
        f"• `{c} status` — open cases, pages, pause, surge, on call\n"
        f"• `{c} oncall` — who is paged, level by level, and quiet hours\n"
        f"• `{c} ack CASE` — acknowledge the open page(s) of a case (or a page id)\n"
        f"• `{c} pause MINUTES` — stop publishing and polling during a crisis (1–1440)\n"
        f"• `{c} resume` — restart publishing and polling now\n"
        f"• `{c} help` — this help"
    )


def ops_status(data: HomeData) -> str:
    paused = (
        f"⏸️ Paused until {slack_date(data.paused_until)}."
        if data.paused_until is not None
        else "▶️ Publishing and polling run."
    )
    oldest = ""
    if data.cases:
        c = data.cases[0]
        link = data.links.get(c.case_id)
        card = f" ({slack_link(link, 'card')})" if link else ""
        oldest = f" Oldest: {_esc(c.case_id, 40)}{card}, due {slack_date(c.sla_deadline)}."
    surge = f"\n🌊 Surge: {_esc(data.surge, 300)}" if data.surge else ""
    first = data.policy.levels[0].targets if data.policy.levels else ()
    oncall = mentions(first) if first else "nobody configured"
    return (
        f"*{data.open_count}* open case(s).{oldest}\n*{len(data.pages)}* open page(s).\n"
        f"{paused}{surge}\nOn call: {oncall}."
    )


def ops_oncall(policy: Policy, quiet: QuietHours | None) -> str:
    q = f"\nQuiet hours: {_esc(quiet.describe(), 80)} (only critical pages)" if quiet else ""
    return f"*On call*\n{who(policy)}{q}"


def ops_refused(reason: str) -> str:
    return f"⚠️ {_esc(reason, 300)}"
