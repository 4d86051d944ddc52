"""Draw the README's example report and chart (docs/report-chart.png) from a synthetic week.

The week is generated (seeded), then reported by the same pure functions as
``assistant report``: ``.venv/bin/python scripts/report_example.py``.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

from assistant import reports
from assistant.store import AuditEntry

UNTIL = datetime(2026, 11, 30, 9, tzinfo=UTC).timestamp()
SINCE = UNTIL - 7 * 86400
PEOPLE = ["U0ALICE", "U0BOB", "U0CAROL", "U0MAX", "U0MANON"]
NAMES = {"U0ALICE": "alice", "U0BOB": "bob", "U0CAROL": "carol", "U0MAX": "max",
         "U0MANON": "manon"}  # fmt: skip


def week() -> tuple[dict[str, list[AuditEntry]], list[AuditEntry]]:
    """The cases' trails, and the ops entries of their pages."""
    rng = random.Random(10)
    out: dict[str, list[AuditEntry]] = {}
    ops: list[AuditEntry] = []
    for n in range(140):
        case = f"case{n:03d}"
        busy = 3 if n % 7 == 2 else 1  # a bad day (an outage) brings more, slower cases
        opened = SINCE + rng.uniform(0, 7 * 86400)
        if busy == 1 and rng.random() < 0.4:
            opened = SINCE + 2 * 86400 + rng.uniform(0, 86400)
        mention = opened - rng.uniform(2, 40)
        platform = rng.choice(["mastodon", "mastodon", "bluesky", "x"])
        severity = rng.choice(["low", "medium", "medium", "high", "critical"])

        def e(at: float, actor: str, action: str, **details: object) -> AuditEntry:
            return AuditEntry(case, at, actor, action, dict(details))  # noqa: B023

        trail = [
            e(
                opened,
                "assistant",
                "case_opened",
                platform=platform,
                severity=severity,
                mention_at=mention * 1000,
                sla_deadline=(opened + 1800) * 1000,
            ),
            e(opened + rng.uniform(0.3, 2.5), "assistant", "card_posted"),
        ]
        first = opened + rng.expovariate(1 / (240 * busy))
        for i in range(rng.choice([1, 1, 2, 3])):
            trail.append(e(first + i * 60, rng.choice(PEOPLE), "proposal_added"))
        if rng.random() < 0.85:
            decided = first + rng.expovariate(1 / (420 * busy))
            for voter in rng.sample(PEOPLE, 2):
                trail.append(e(decided, voter, "vote_counted", kind="approve"))
            trail.append(e(decided + 2, "assistant", "published"))
        elif rng.random() < 0.7:
            escalated = opened + 1800
            trail.append(e(escalated, "assistant", "escalated"))
            page = {"page": f"case.{case}"}
            ops.append(AuditEntry(case, escalated, "assistant", "paged", page))
            after = rng.uniform(30, 600)
            acked = {**page, "after_ms": round(after * 1000)}
            ops.append(AuditEntry(case, escalated + after, "U0MAX", "acknowledged", acked))
        out[case] = trail
    return out, ops


def main() -> None:
    cases, ops = week()
    report = reports.build_report(
        cases, since=SINCE, until=UNTIL, mentions=(2317, 140), ops=[o for o in ops if o.at < UNTIL]
    )
    print(reports.format_report(report, names=NAMES))
    path = Path(__file__).resolve().parent.parent / "docs" / "report-chart.png"
    path.write_bytes(reports.render_chart(report))
    print(f"Chart written to {path.relative_to(Path.cwd())}")


if __name__ == "__main__":
    main()
