"""Report figures, periods, exports and the chart: pure functions on audit entries."""

from __future__ import annotations

import csv
import io
import json
import struct
from datetime import UTC, datetime

import pytest

from assistant import reports
from assistant.store import AuditEntry

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC).timestamp()
DAY = 86400.0


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (after checking the signature)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def trail(
    case_id: str,
    opened: float,
    *,
    platform: str = "mastodon",
    severity: str = "high",
    card: float | None = 10,
    proposal: float | None = None,
    publish: float | None = None,
    sla: float = 1800,
    approvers: tuple[str, ...] = (),
    escalated: float | None = None,
    flagged: bool = False,
) -> list[AuditEntry]:
    """A case's trail; times are seconds after the mention (which came 5 s before opening)."""
    mention = opened - 5

    def entry(at: float, actor: str, action: str, **details: object) -> AuditEntry:
        return AuditEntry(case_id, at, actor, action, dict(details))

    out = [
        entry(
            opened,
            "assistant",
            "case_opened",
            platform=platform,
            severity=severity,
            mention_at=mention * 1000,
            sla_deadline=(opened + sla) * 1000,
        ),
    ]
    if card is not None:
        out.append(entry(mention + card, "assistant", "card_posted", ts="1.1"))
    if proposal is not None:
        out.append(entry(mention + proposal, "UA", "proposal_added", ts="2.2",
                         tone_flagged=flagged))  # fmt: skip
    for user in approvers:
        out.append(entry(mention + (proposal or 0) + 1, user, "vote_counted", kind="approve"))
    if escalated is not None:
        out.append(entry(mention + escalated, "assistant", "escalated"))
    if publish is not None:
        out.append(entry(mention + publish, "assistant", "approved"))
        out.append(entry(mention + publish, "assistant", "published", url="u"))
    return out


def page(
    page_id: str, paged: float, *, case_id: str = "", ack: float | None = None
) -> list[AuditEntry]:
    """The ops entries of a page: opened at ``paged``, acknowledged ``ack`` s later."""
    out = [AuditEntry(case_id, paged, "assistant", "paged", {"page": page_id})]
    out.append(AuditEntry(case_id, paged + 1, "assistant", "page_sent", {"page": page_id}))
    if ack is not None:
        details = {"page": page_id, "after_ms": int(ack * 1000)}
        out.append(AuditEntry(case_id, paged + ack, "UONCALL", "acknowledged", details))
    return out


def test_figures_of_a_period() -> None:
    start = NOW - 7 * DAY
    histories = {
        "a": trail("a", start + DAY, card=10, proposal=60, publish=600, approvers=("UB", "UMAX")),
        "b": trail(
            "b",
            start + DAY + 100,
            card=20,
            proposal=120,
            publish=3600,
            approvers=("UB",),
            platform="bluesky",
            flagged=True,
        ),
        "c": trail("c", start + 2 * DAY, card=30, severity="critical", escalated=1800),
        "d": trail("d", start + 3 * DAY, card=40, proposal=100, publish=900),
        "cut": [AuditEntry("cut", start, "UB", "vote_counted", {"kind": "approve"})],
    }
    ops = [
        *page("case.old", start - 600, ack=900),  # opened before the period: not its page
        *page("case.c", start + 2 * DAY + 1795, case_id="c", ack=100),
        *page("trouble.slack.1", start + 4 * DAY),  # about no case, never acknowledged
    ]
    ops = [e for e in ops if e.at >= start]  # what the period's ops streams hold
    report = reports.build_report(histories, since=start, until=NOW, mentions=(40, 4), ops=ops)
    assert (report.mentions_seen, report.mentions_hostile, report.cases) == (40, 4, 4)
    assert report.by_network == {"mastodon": 3, "bluesky": 1}
    assert report.by_severity == {"high": 3, "critical": 1}
    assert report.published == 3
    assert (report.to_card.median, report.to_card.p90) == (25, 40)
    assert report.to_first_proposal == reports.Spread(3, 100, 120)
    assert report.to_publish == reports.Spread(3, 900, 3600)
    # a published in 600 s, d in 900 s: kept; b in 3600 s and c never: missed
    assert (report.sla_kept, report.sla_missed) == (2, 2)
    assert report.pages == 2 and report.to_ack == reports.Spread(1, 100, 100)
    assert report.approvals_by_person == {"UB": 2, "UMAX": 1}
    assert report.proposals_per_case == 0.75 and report.flagged_proposals == 1
    day = {d.day: d for d in report.days}
    first = datetime.fromtimestamp(start + DAY, UTC).date().isoformat()
    assert (day[first].cases, day[first].published, day[first].median_to_publish) == (
        2, 2, (600 + 3600) / 2,
    )  # fmt: skip
    assert len(report.days) == 8

    text = reports.format_report(report, names={"UB": "bob"})
    assert "Mentions seen           40 (4 hostile)" in text
    assert "by network            mastodon 3, bluesky 1" in text
    assert "Mention → publish       median 15m 00s, p90 1h 00m (n=3)" in text
    assert "SLA kept                2/4 (50%)" in text
    assert "Approvals per person    bob 2, UMAX 1" in text
    assert "Proposals per case      0.8 (1 flagged by the tone check)" in text


def test_an_empty_period_has_no_figures_rather_than_zeros() -> None:
    report = reports.build_report({}, since=NOW - DAY, until=NOW)
    assert report.to_publish == reports.Spread(0, None, None)
    text = reports.format_report(report)
    assert "Mention → publish       —" in text and "SLA kept                —" in text


@pytest.mark.parametrize(
    ("value", "back"),
    [("30m", 1800), ("12h", 12 * 3600), ("7d", 7 * DAY), ("2w", 14 * DAY), (" 1d ", DAY)],
)
def test_periods(value: str, back: float) -> None:
    assert reports.parse_since(value, NOW) == NOW - back


def test_period_from_a_date() -> None:
    assert reports.parse_since("2026-11-01", NOW) == datetime(2026, 11, 1, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    "value", ["", "7", "d7", "7x", "-7d", "0d", "7 d", "2026-13-01", "2027-01-01", "yesterday"]
)
def test_malformed_periods_get_one_clear_line(value: str) -> None:
    with pytest.raises(reports.RangeError) as err:
        reports.parse_since(value, NOW)
    assert "\n" not in str(err.value) and "--since" in str(err.value)


def test_exports_keep_every_field_and_stay_inert() -> None:
    hostile = 'a,"b"\nc <!channel>'
    entries = [
        AuditEntry("c1", NOW, "UA", "proposal_added", {"text": hostile, "tone_flagged": True}),
        AuditEntry("c1", NOW + 1, "assistant", "approved", {}),
    ]
    out = io.StringIO()
    assert reports.export(entries, "jsonl", out) == 2
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert rows[0]["details"] == {"text": hostile, "tone_flagged": True}
    assert rows[0]["time"] == "2026-11-30T12:00:00.000+00:00" and rows[1]["actor"] == "assistant"
    out = io.StringIO()
    reports.export(entries, "csv", out)
    parsed = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["action"] for r in parsed] == ["proposal_added", "approved"]
    assert json.loads(parsed[0]["details"])["text"] == hostile


def test_chart_is_a_real_png_of_the_documented_size() -> None:
    start = NOW - 7 * DAY
    histories = {
        str(i): trail(str(i), start + i * DAY / 2, proposal=60, publish=300 * (i + 1))
        for i in range(12)
    }
    report = reports.build_report(histories, since=start, until=NOW)
    data = reports.render_chart(report)
    assert png_size(data) == reports.CHART_SIZE
    empty = reports.render_chart(reports.build_report({}, since=start, until=NOW))
    assert png_size(empty) == reports.CHART_SIZE
    assert len(data) > len(empty)  # the bars and the line were drawn


@pytest.mark.parametrize(
    ("now", "day", "hour", "expected"),
    [
        ("2026-11-30T08:00", "mon", 9, "2026-11-30T09:00"),  # Monday before the hour
        ("2026-11-30T09:00", "mon", 9, "2026-12-07T09:00"),  # exactly then: next week
        ("2026-11-30T12:00", "fri", 17, "2026-12-04T17:00"),
        ("2026-12-06T23:59", "sun", 0, "2026-12-13T00:00"),
    ],
)
def test_next_digest_time(now: str, day: str, hour: int, expected: str) -> None:
    at = datetime.fromisoformat(now).replace(tzinfo=UTC).timestamp()
    want = datetime.fromisoformat(expected).replace(tzinfo=UTC).timestamp()
    assert reports.next_digest(at, day, hour) == want
