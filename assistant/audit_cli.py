"""``assistant audit`` and ``assistant report``: read the audit trail from Redis.

Both read the store named by REDIS_URL (or the embedded one under ASSISTANT_DATA_DIR: the
running app's server when it answers, else started for the command and stopped after); they
need no Slack credentials. Bad input (a malformed period, an unknown case) is one line on
stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path

from assistant import reports
from assistant.settings import ConfigError, StoreSettings, load_store_settings
from assistant.store import Store
from assistant.store.connect import connect
from assistant.store.embedded import EmbeddedRedis

AUDIT_HELP = """\
Print one case's history, its on-call pages and their acknowledgements included, in time
order (assistant audit CASE_ID), or export every entry of the cases opened in a period and
the on-call entries of the period (assistant audit --since 7d --format jsonl|csv). An entry
is a time, the case (empty for an on-call entry about no case, e.g. a pause), an actor (a
Slack user id or "assistant"), an action (case_opened, card_posted, proposal_added,
proposal_edited, proposal_withdrawn, vote_counted, vote_retracted, vote_ignored, veto,
approved, publish_attempt, published, publish_failed, escalated; on-call: paged, page_sent,
acknowledged, page_resolved, paused, resumed) and its details."""

REPORT_HELP = """\
Print the figures of the cases opened in a period: mentions seen and hostile, cases by
network and severity, replies published, median and p90 time from mention to card, to first
proposal and to publish, SLA kept, pages opened in the period and their time to ack,
approvals per person, proposals per case. --chart FILE also writes the PNG chart (time to
reply and volume per day)."""


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = sub.add_parser(
        "audit", help="print a case's history or export the audit trail", description=AUDIT_HELP
    )
    audit.add_argument("case", nargs="?", help="a case id (as the card and the logs show it)")
    audit.add_argument("--since", help="export the cases opened since: 30m, 12h, 7d, 2w, a date")
    audit.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    report = sub.add_parser("report", help="print the figures of a period", description=REPORT_HELP)
    report.add_argument("--since", default="7d", help="30m, 12h, 7d (default), 2w or a date")
    report.add_argument("--chart", type=Path, help="also write the chart as a PNG to this file")


def run(args: argparse.Namespace) -> int:
    from assistant import runtime

    try:
        settings = load_store_settings()
        if args.command == "audit" and (args.case is None) == (args.since is None):
            raise reports.RangeError("give either a case id or --since (e.g. --since 7d)")
        return runtime.run(_main(args, settings))
    except (ConfigError, reports.RangeError, UnknownCase) as exc:
        print(f"assistant {args.command}: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # Redis unreachable, …: one line
        print(f"assistant {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


class UnknownCase(Exception):
    pass


async def _main(args: argparse.Namespace, settings: StoreSettings) -> int:
    now = time.time()
    since = reports.parse_since(args.since, now) if args.since else None  # before connecting
    async with AsyncExitStack() as stack:
        store = await _open_store(settings, stack)
        if args.command == "report":
            assert since is not None
            report = await reports.period_report(store, since, now)
            print(reports.format_report(report))
            if args.chart:
                args.chart.write_bytes(reports.render_chart(report))
                print(f"Chart written to {args.chart}")
            return 0
        if args.case:
            history = await reports.case_trail(store, args.case, now)
            if not history:
                raise UnknownCase(f"no case {args.case!r} (unknown, or older than the retention)")
            for entry in history:
                row = reports.entry_row(entry)
                print(f"{row['time']}  {row['actor']:<12} {row['action']:<20} {row['details']}")
            return 0
        assert since is not None
        reports.export(await reports.period_entries(store, since, now), args.format, sys.stdout)
        return 0


async def _open_store(settings: StoreSettings, stack: AsyncExitStack) -> Store:
    url = settings.REDIS_URL
    if url is None:
        embedded = EmbeddedRedis(settings.ASSISTANT_DATA_DIR)
        if await embedded.running():  # the app's own server: read it, leave it running
            url = embedded.url
        else:
            url = await embedded.start()
            stack.push_async_callback(embedded.stop)
    client = await connect(url, cluster=settings.REDIS_CLUSTER)
    stack.push_async_callback(client.aclose)
    return Store(client, retention_seconds=settings.retention_seconds)
