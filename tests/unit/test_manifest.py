"""Every event the Slack app subscribes to has a Bolt listener (else Bolt answers 404)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from handlers.events import SUBSCRIBED_EVENTS

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "slack"


def bot_events(manifest: Path) -> list[str]:
    text = manifest.read_text()
    block = text.split("bot_events:", 1)[1]
    return re.findall(r"^\s+- ([a-z_.]+)", block.split("interactivity:", 1)[0], re.MULTILINE)


@pytest.mark.parametrize("name", ["manifest.yaml", "manifest.socket-mode.yaml"])
def test_subscribed_events_have_listeners(name: str) -> None:
    events = bot_events(DEPLOY / name)
    assert events, "no bot_events found"
    for event in events:
        base = event.split(".", 1)[0]  # message.channels → the "message" listener
        assert base in SUBSCRIBED_EVENTS, f"{event} has no listener"
