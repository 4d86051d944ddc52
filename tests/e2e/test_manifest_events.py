"""Every event the Slack app manifests subscribe to is answered 200 by the running app.

Bolt answers 404 to an event no listener matches; Slack then retries it and may disable the
app. This sends one event of each subscribed type, as Slack would, to the real app.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from assistant.sandbox import ALICE, CHANNEL, Sandbox

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "slack"


def bot_events(manifest: Path) -> list[str]:
    block = manifest.read_text().split("bot_events:", 1)[1].split("interactivity:", 1)[0]
    return re.findall(r"^\s+- ([a-z_.]+)", block, re.MULTILINE)


def sample_event(name: str, world: Sandbox) -> dict[str, Any]:
    ts = world.slack.new_ts()
    if name.startswith("message."):
        kind = {"channels": "channel", "groups": "group", "im": "im", "mpim": "mpim"}
        return {
            "type": "message",
            "channel": CHANNEL,
            "channel_type": kind[name.split(".", 1)[1]],
            "user": ALICE,
            "text": "bonjour",
            "ts": ts,
        }
    if name in ("reaction_added", "reaction_removed"):
        return {
            "type": name,
            "user": ALICE,
            "reaction": "white_check_mark",
            "item": {"type": "message", "channel": CHANNEL, "ts": ts},
            "event_ts": ts,
        }
    raise AssertionError(f"no sample for {name}: add one, and a listener in handlers/events.py")


@pytest.mark.parametrize("manifest", ["manifest.yaml", "manifest.socket-mode.yaml"])
async def test_every_subscribed_event_is_acknowledged(world: Sandbox, manifest: str) -> None:
    events = bot_events(DEPLOY / manifest)
    assert "reaction_added" in events and "message.channels" in events
    for name in events:
        delivery = await world.slack.send_event(sample_event(name, world))
        assert delivery.status == 200, (name, delivery.attempts)


@pytest.mark.parametrize("manifest", ["manifest.yaml", "manifest.socket-mode.yaml"])
def test_interactivity_is_on_for_the_card_buttons(manifest: str) -> None:
    block = (DEPLOY / manifest).read_text().split("interactivity:", 1)[1]
    assert re.search(r"^\s+is_enabled: true$", block.split("org_deploy_enabled", 1)[0], re.M)
    if manifest == "manifest.yaml":  # HTTP mode: buttons are POSTed where events are
        assert "request_url: https://assistant.example.com/slack/events" in block
