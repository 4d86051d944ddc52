"""The ``assistant`` command: run the product, play the demo, evaluate the scorer."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from assistant import logs, runtime
from assistant.settings import ConfigError, load_settings

DESCRIPTION = """\
Community ops assistant: hostile mentions of your brand become Slack case cards; staff
propose replies in the card's thread, vote with emoji, and the approved reply is published
on the network exactly once. Configuration comes from the environment (see README.md)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="assistant", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "run",
        help="run the assistant (HTTP mode, or Socket Mode when SLACK_APP_TOKEN is set)",
        description="Start the assistant with settings from the environment. Serves "
        "POST /slack/events, POST /ingest/mentions, GET /healthz, GET /livez and GET /metrics on "
        "PORT; SIGTERM drains.",
    )
    sub.add_parser(
        "healthcheck",
        help="exit 0 if the assistant on this machine answers 200 on /healthz, else 1",
        description="GET http://127.0.0.1:$PORT/healthz (PORT from the environment, default "
        "3000) within 2 seconds: exit 0 on 200, 1 otherwise. The container's HEALTHCHECK.",
    )
    sub.add_parser(
        "demo",
        help="play the whole loop against the built-in Slack, Mastodon, Bluesky and X emulators",
        description="Start the assistant on embedded Redis against the package's Slack, "
        "Mastodon, Bluesky and X emulators, play one case on each network over real HTTP and "
        "print its timeline. Exits 0 only if each reply was really published once, the SLA "
        "escalation really happened, forged requests were refused and a lost Slack answer "
        "still left one card per case.",
    )
    sub.add_parser(
        "eval-scoring",
        help="measure the hostility scorer on a labelled JSONL file",
        add_help=False,
    )
    from assistant.audit_cli import add_commands

    add_commands(sub)
    args, rest = parser.parse_known_args(argv)
    if args.command == "eval-scoring":
        from assistant.scoring.evaluate import main as eval_main

        return eval_main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command in ("audit", "report"):
        from assistant.audit_cli import run

        return run(args)
    if args.command == "healthcheck":
        return _healthcheck()
    if args.command == "demo":
        from assistant.demo import run_demo

        return runtime.run(run_demo())
    return _run()


def _healthcheck() -> int:
    import os
    import urllib.error
    import urllib.request

    url = f"http://127.0.0.1:{os.environ.get('PORT', '3000')}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            ok = response.status == 200
    except (OSError, urllib.error.URLError) as exc:
        print(f"assistant: {url}: {exc}", file=sys.stderr)
        return 1
    return 0 if ok else 1


def _run() -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"assistant: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.ASSISTANT_LOG_LEVEL, settings.ASSISTANT_LOG_FORMAT)
    from assistant.app import Assistant

    async def serve() -> None:
        assistant = Assistant(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await assistant.start()
            runtime.steady_gc()  # start-up's objects frozen out of the collector's passes
            await stop.wait()
        finally:
            await assistant.stop()

    try:
        runtime.run(serve())
    except ConfigError as exc:  # found at start-up (e.g. REDIS_URL names the wrong kind)
        print(f"assistant: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # start-up failures (Slack token, Redis) in one line
        print(f"assistant: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
