"""Pure Slack Block Kit builders: the case card and the short thread / ephemeral texts.

Every piece of user-supplied text (mention text, author name and handle, proposal text,
scorer evidence and categories, network error messages) goes through
:func:`~assistant.text.escape_slack` before it enters a block or a fallback text, and every
``mrkdwn`` object is sent with ``verbatim: true`` so Slack does not auto-parse ``@here``,
``#channel`` or bare URLs inside echoed text. URLs that come from a network are rendered
through :func:`slack_link`, which only accepts http(s) and percent-encodes anything that
could break out of ``<url|label>``. Block Kit limits are respected by construction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from assistant.models import Case, CaseStatus
from assistant.networks import rule_for
from assistant.text import escape_slack

__all__ = [
    "HEADER_MAX",
    "SECTION_TEXT_MAX",
    "Block",
    "card_failed_text",
    "case_card",
    "custom_emoji_refused",
    "escalation_text",
    "oncall_mention",
    "proposal_not_publishable",
    "proposal_too_long",
    "publish_failed_text",
    "published_note",
    "slack_date",
    "slack_link",
]

Block = dict[str, Any]

SECTION_TEXT_MAX = 3000
HEADER_MAX = 150
FIELD_TEXT_MAX = 2000
MAX_FIELDS = 10
MAX_BLOCKS = 50
CONTEXT_ELEMENTS_MAX = 10

QUOTE_MAX = 2900
"""Budget for the quoted mention text (escaped, with the ``>`` prefixes)."""
FALLBACK_MAX = 300
EVIDENCE_LINES_MAX = 10
EVIDENCE_LINE_MAX = 200
CATEGORY_NAME_MAX = 40
CATEGORIES_MAX = 10
# How the scorer's ``target`` reads on the card.
TARGET_LABELS = {
    "addressee": "us (the brand or its staff)",
    "group": "a group",
    "other": "someone else",
}
REASON_MAX = 500
ELLIPSIS = "…"


_SLACK_ID_RE = re.compile(r"[UWS][A-Z0-9]{2,}")
_ENTITY_TAIL_RE = re.compile(r"&[a-z]{0,3}$")

# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------


def _cut_escaped(text: str, limit: int) -> str:
    """Cut already-escaped mrkdwn to ``limit`` chars with ``…``, never inside ``&amp;``."""
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - 1)]
    cut = _ENTITY_TAIL_RE.sub("", cut)  # drop a partial &amp; / &lt; / &gt;
    # Literal < only ever opens one of our own <url|label> / <!date…> sequences: never
    # leave one unclosed.
    if cut.rfind("<") > cut.rfind(">"):
        cut = cut[: cut.rfind("<")]
    return cut.rstrip() + ELLIPSIS


def _esc(text: str, limit: int) -> str:
    """Escape user text for mrkdwn and fit it in ``limit`` characters."""
    # Escaping at most quintuples the length, so cut the raw text first to bound the work.
    return _cut_escaped(escape_slack(text[: limit + 1]), limit)


def _mrkdwn(text: str) -> Block:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _section(text: str) -> Block:
    return {"type": "section", "text": _mrkdwn(_cut_escaped(text, SECTION_TEXT_MAX))}


def _platform(platform: str) -> str:
    """The network's name from the registry (``webhook``: "the source")."""
    rule = rule_for(platform)
    if rule is not None:
        return rule.name
    return "the source" if platform == "webhook" else escape_slack(platform)


def slack_link(url: str, label: str | None = None) -> str:
    """``<url|label>`` (or ``<url>``) for a URL from a network; escaped text if unsafe.

    Only ``http``/``https`` URLs become links. Whitespace, controls, ``<``, ``>``, ``|``
    and non-ASCII characters are percent-encoded (existing ``%XX`` escapes are kept), then
    ``&`` is written ``&amp;`` as Slack requires; ``label`` must be our own text and is
    escaped too.
    """
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        scheme = ""
    if scheme not in ("http", "https"):
        shown = _esc(url, 500)
        return f"{escape_slack(label)}: {shown}" if label else shown
    encoded = escape_slack(quote(url, safe="!#$%&'()*+,/:;=?@[]~-._"))
    return f"<{encoded}|{escape_slack(label)}>" if label else f"<{encoded}>"


def slack_date(ts: float, token: str = "{date_short_pretty} at {time}") -> str:
    """``<!date^UNIX^token|ISO fallback>``: shown in each reader's own time zone."""
    fallback = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"<!date^{int(ts)}^{token}|{fallback}>"


def oncall_mention(oncall: str) -> str:
    """``<@U…>`` for a user id (``U…``/``W…``), ``<!subteam^S…>`` for a user-group id.

    Raises ``ValueError`` for anything else, so a bad id can never inject mrkdwn; settings
    validate ``ASSISTANT_ONCALL`` with the same pattern.
    """
    if not _SLACK_ID_RE.fullmatch(oncall):
        raise ValueError(f"not a Slack user (U…/W…) or user-group (S…) id: {oncall!r}")
    if oncall.startswith("S"):
        return f"<!subteam^{oncall}>"
    return f"<@{oncall}>"


def _ping(oncall: str | None) -> str:
    return oncall_mention(oncall) + " " if oncall else ""


def _pct(score: float) -> str:
    return f"{round(score * 100)}%"


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0 and seconds >= 3600:
        hours = seconds // 3600
        return f"{hours} hour" + ("s" if hours != 1 else "")
    if seconds % 60 == 0 and seconds >= 60:
        minutes = seconds // 60
        return f"{minutes} min"
    return f"{seconds} s"


def _emoji_list(names: Sequence[str]) -> str:
    shown = [f":{escape_slack(n.strip(':'))}:" for n in names if n.strip(":")]
    return " or ".join(shown) if shown else "an emoji"


def _quote(text: str, limit: int) -> str:
    """User text as a mrkdwn block quote: escaped, every line prefixed by our own ``>``."""
    escaped = escape_slack(text[: limit + 1])
    quoted = "\n".join("> " + line for line in escaped.splitlines() or [""])
    return _cut_escaped(quoted, limit)


def _author_line(case: Case) -> str:
    author = case.mention.author
    name = _esc(author.display_name.strip(), 200) if author.display_name.strip() else ""
    handle = "@" + _esc(author.handle.removeprefix("@"), 320)
    who = f"*{name}* {handle}" if name else f"*{handle}*"
    followers = f"{author.followers:,} follower" + ("s" if author.followers != 1 else "")
    link = slack_link(str(case.mention.url), f"View on {_platform(case.mention.platform)}")
    return f"{who} · {followers} · {link}"


def _assessment_section(case: Case) -> Block:
    a = case.assessment
    head = f"*Score* {_pct(a.score)} · *Severity* {_esc(a.severity, 100)}"
    if a.target:
        head += f" · *Aimed at* {_esc(TARGET_LABELS.get(a.target, a.target), 100)}"
    lines = [head]
    if a.categories:
        top = sorted(a.categories.items(), key=lambda kv: (-kv[1], kv[0]))[:CATEGORIES_MAX]
        lines.append(" · ".join(f"{_esc(k, CATEGORY_NAME_MAX)} {_pct(v)}" for k, v in top))
    for item in a.evidence[:EVIDENCE_LINES_MAX]:
        lines.append("• " + _esc(item, EVIDENCE_LINE_MAX))
    if len(a.evidence) > EVIDENCE_LINES_MAX:
        lines.append(f"• … and {len(a.evidence) - EVIDENCE_LINES_MAX} more")
    if a.second_opinion:
        lines.append("• " + _esc(a.second_opinion, EVIDENCE_LINE_MAX))
    return _section("\n".join(lines))


def _participation_text(
    approvals_required: int,
    manager_approvals_required: int,
    approve_emoji: Sequence[str],
    veto_emoji: Sequence[str],
    platform: str,
) -> str:
    approvals = f"{approvals_required} approval" + ("s" if approvals_required != 1 else "")
    if manager_approvals_required > 0:
        managers = f"{manager_approvals_required} manager" + (
            "s" if manager_approvals_required != 1 else ""
        )
        quorum = f"{approvals} incl. {managers} publish it"
    else:
        quorum = f"{approvals} publish it"
    rule = rule_for(platform)
    limit = f" Replies must fit in {rule.limit} {rule.unit} on {rule.name}." if rule else ""
    return (
        "*How to take part:* reply in this thread with a proposed reply; react "
        f"{_emoji_list(approve_emoji)} on a proposal to approve, {_emoji_list(veto_emoji)} "
        f"to veto. {quorum} on {_platform(platform)}.{limit} Your own proposals and bots' "
        "reactions do not count; editing a proposal clears its votes."
    )


def tone_rule_text(extra_managers: int) -> str:
    """What the tone check does, as the card and the flagged proposal's author read it."""
    if extra_managers <= 0:
        return "⚠️ Proposals the tone check finds hostile are marked ⚠️ (no extra approval)."
    more = f"{extra_managers} more manager approval" + ("s" if extra_managers != 1 else "")
    return f"⚠️ A proposal the tone check finds hostile is marked ⚠️ and needs {more} to pass."


def _tone_status(case: Case, extra_managers: int) -> str:
    n = case.flagged_proposals
    if n <= 0:
        return ""
    which = f"{n} proposal" + ("s" if n != 1 else "")
    more = (
        f": {'each needs' if n != 1 else 'it needs'} {extra_managers} more manager "
        + ("approvals" if extra_managers != 1 else "approval")
        if extra_managers > 0
        else ""
    )
    return f"\n⚠️ *Tone check:* {which} flagged as hostile{more}."


def _status_text(case: Case, tone_extra_managers: int = 0) -> str:
    platform = _platform(case.mention.platform)
    if case.status is CaseStatus.OPEN:
        n = case.proposals
        text = f"🟢 *Open* — {n} proposal" + ("s" if n != 1 else "") + " so far."
        text += _tone_status(case, tone_extra_managers)
    elif case.status is CaseStatus.APPROVED:
        text = f"⏳ *Approved* — publishing on {platform}…"
    elif case.status is CaseStatus.PUBLISHED:
        where = (
            slack_link(case.published_url, f"Published on {platform}")
            if case.published_url
            else f"Published on {platform}"
        )
        when = f" {slack_date(case.published_at)}" if case.published_at is not None else ""
        text = f"✅ *{where}*{when}."
    else:
        reason = _esc(case.failure, REASON_MAX) if case.failure else "unknown error"
        text = f"⚠️ *Publishing failed*: {reason}"
    if case.approved_text and case.status is not CaseStatus.OPEN:
        text += "\n*Approved reply:*\n" + _quote(case.approved_text, 1200)
    if case.escalated_at is not None:
        text += f"\n📣 Escalated to on-call {slack_date(case.escalated_at)}."
    return text


_STATUS_LABEL = {
    CaseStatus.OPEN: "open",
    CaseStatus.APPROVED: "approved",
    CaseStatus.PUBLISHED: "published",
    CaseStatus.FAILED: "publish failed",
    CaseStatus.GROUPED: "grouped under a surge",
}


def _header(case: Case) -> str:
    platform = _platform(case.mention.platform)
    label = _STATUS_LABEL[case.status]
    text = f"🔥 Hostile mention on {platform} — {label}"
    return text[:HEADER_MAX]


# --------------------------------------------------------------------------------------
# Public builders
# --------------------------------------------------------------------------------------


def case_card(
    case: Case,
    *,
    approvals_required: int,
    manager_approvals_required: int,
    approve_emoji: Sequence[str],
    veto_emoji: Sequence[str],
    tone_extra_managers: int = 0,
    paused_until: float | None = None,
) -> tuple[str, list[Block]]:
    """The case card: ``(fallback text, blocks)`` for ``chat.postMessage``/``chat.update``.

    ``paused_until``: ``/ops pause`` is on (a banner says so while the case is not settled).

    Blocks: header (platform and state) · the mention as a block quote · author, reach and
    a link to the post · score, severity, categories and evidence · SLA deadline · how to
    take part (only while the case is open, with the tone-check rule) · the status (open with
    proposal count and the tone-flagged ones,
    approved, published with link and time, failed with the reason, escalation).
    """
    mention = case.mention
    platform = _platform(mention.platform)
    header = _header(case)
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}},
        _section(_quote(mention.text, QUOTE_MAX)),
        {"type": "context", "elements": [_mrkdwn(_cut_escaped(_author_line(case), 2000))]},
        _assessment_section(case),
        _section(f"*Reply due* {slack_date(case.sla_deadline)}"),
    ]
    if paused_until is not None and case.status in (CaseStatus.OPEN, CaseStatus.APPROVED):
        banner = (
            f"⏸️ *Paused*: publishing and polling are stopped until {slack_date(paused_until)}"
            " (`/ops resume` to restart now)."
        )
        blocks.insert(1, {"type": "context", "elements": [_mrkdwn(banner)]})
    if case.status is CaseStatus.OPEN:
        blocks.append(
            _section(
                _participation_text(
                    approvals_required,
                    manager_approvals_required,
                    approve_emoji,
                    veto_emoji,
                    mention.platform,
                )
                + " "
                + tone_rule_text(tone_extra_managers)
            )
        )
    blocks.append({"type": "divider"})
    blocks.append(_section(_status_text(case, tone_extra_managers)))

    author = mention.author
    who = author.display_name.strip() or "@" + author.handle.removeprefix("@")
    fallback = (
        f"🔥 Hostile mention on {platform} ({_STATUS_LABEL[case.status]}) from "
        f"{_esc(who, 100)}: {_esc(' '.join(mention.text.split()), 160)}"
    )
    return _cut_escaped(fallback, FALLBACK_MAX), blocks[:MAX_BLOCKS]


def published_note(url: str, *, platform: str) -> str:
    """Thread message once the reply is out: ``✅ Published on <network>: <url>``."""
    name = _platform(platform)
    return f"✅ Published on {name}: {slack_link(url)}"


def proposal_too_long(over_by: int, limit: int, *, platform: str) -> str:
    """Ephemeral text for a proposal that does not fit the network's limit."""
    rule = rule_for(platform)
    name = rule.name if rule else _platform(platform)
    unit = rule.unit if rule else "characters"
    singular = unit[:-1] if unit.endswith("s") and over_by == 1 else unit
    how = f" ({rule.how})" if rule else ""
    return (
        f"✏️ This proposal is *{over_by} {singular} over* {name}'s {limit}-{unit.rstrip('s')} "
        f"limit{how}. Edit your message to shorten it; it cannot be published as it is."
    )


def proposal_not_publishable(reason: str, *, platform: str) -> str:
    """Ephemeral text for a proposal the network would refuse for another reason."""
    return (
        f"✏️ This proposal cannot be published on {_platform(platform)}: {_esc(reason, 300)}. "
        "Edit your message; it cannot be published as it is."
    )


def custom_emoji_refused(names: Sequence[str]) -> str:
    """Ephemeral text for a proposal using the workspace's custom emoji."""
    shown = ", ".join(f":{_esc(n, 100)}:" for n in names[:10])
    return (
        f"✏️ This proposal uses custom emoji ({shown}): they exist only in this Slack "
        "workspace and cannot be published on a network. Replace them with standard emoji "
        "or words, then edit your message."
    )


def escalation_text(
    oncall: str | None, case: Case, sla_seconds: int, *, paged: bool = False
) -> str:
    """On-call ping for a case nobody settled in time (or that needs a human now).
    ``paged``: the text of a page, whose message names who is paged (no ping here)."""
    mention = case.mention
    author = mention.author
    platform = _platform(mention.platform)
    who = "@" + _esc(author.handle.removeprefix("@"), 320)
    link = slack_link(str(mention.url), "the post")
    ping = "" if paged else _ping(oncall)
    nobody = (
        "" if oncall or paged else " (No on-call person or group is configured: ASSISTANT_ONCALL.)"
    )
    return (
        f"{ping}🚨 This case needs attention: a hostile mention on {platform} by {who} "
        f"(severity {_esc(case.assessment.severity, 100)}, score {_pct(case.assessment.score)})"
        f" has no published reply. SLA {_duration(sla_seconds)}, due "
        f"{slack_date(case.sla_deadline)}. See {link} and the card above.{nobody}"
    )


def threat_text(oncall: str | None, case: Case, *, paged: bool = False) -> str:
    """On-call ping at once for a mention scored as a credible threat of violence."""
    mention = case.mention
    who = "@" + _esc(mention.author.handle.removeprefix("@"), 320)
    link = slack_link(str(mention.url), "the post")
    nobody = (
        "" if oncall or paged else " (No on-call person or group is configured: ASSISTANT_ONCALL.)"
    )
    ping = "" if paged else _ping(oncall)
    return (
        f"{ping}🚨 Possible threat of violence on {_platform(mention.platform)} by "
        f"{who} (severity {_esc(case.assessment.severity, 100)}): a human should look now, "
        f"not at the end of the SLA. See {link} and the card above.{nobody}"
    )


def card_failed_text(
    case: Case,
    reason: str,
    *,
    updating: bool = False,
    escalating: bool = False,
) -> str:
    """A page to on-call when Slack refused for good to post a case's card, update it, or
    post its escalation (it may be read in a direct message: it names the case and mention)."""
    what = (
        "The escalation of"
        if escalating
        else "The card of"
        if not updating
        else "Updating the card of"
    )
    mention = case.mention
    return (
        f"⚠️ {what} case {_esc(case.case_id, 40)} "
        f"({_platform(mention.platform)} mention {slack_link(str(mention.url))}) failed and "
        f"will not be retried: Slack answered {_esc(reason, REASON_MAX)}. "
        "Check the app's channel membership, scopes and settings."
    )


def publish_failed_text(reason: str, oncall: str | None, *, paged: bool = False) -> str:
    """Thread message when publishing failed for good, pinging on-call if configured
    (``paged``: the text of a page, whose message names who is paged)."""
    ping = "" if paged else _ping(oncall)
    return (
        f"{ping}⚠️ Publishing the approved reply failed: {_esc(reason, REASON_MAX)}\n"
        "Nothing was posted. Check the account and post the reply by hand if needed."
    )
