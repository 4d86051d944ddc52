"""Every event the Slack app manifests subscribe to is answered 200 by the running app.

Bolt answers 404 to an event no listener matches; Slack then retries it and may disable the
app. This sends one event of each subscribed type, as Slack would, to the real app.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from assistant.memory_blocks import PROPOSE_ACTION
from assistant.oncall_blocks import ACTIONS
from assistant.sandbox import ALICE, CHANNEL, Sandbox
from assistant.surge_blocks import PROMOTE_ACTION

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
    if name == "app_home_opened":
        return {"type": name, "user": ALICE, "channel": "D0ALICE", "tab": "home", "event_ts": ts}
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


def commands(manifest: Path) -> list[str]:
    block = manifest.read_text().split("slash_commands:", 1)[1].split("oauth_config:", 1)[0]
    return re.findall(r"^\s+- command: (/[a-z0-9_-]+)", block, re.MULTILINE)


@pytest.mark.parametrize("manifest", ["manifest.yaml", "manifest.socket-mode.yaml"])
async def test_every_command_and_action_has_a_listener(world: Sandbox, manifest: str) -> None:
    text = (DEPLOY / manifest).read_text()
    assert re.search(r"interactivity:[^\n]*\n\s+is_enabled: true", text)
    names = commands(DEPLOY / manifest)
    assert names == [world.settings.ASSISTANT_COMMAND]
    for name in names:
        delivery = await world.slack.slash_command(ALICE, name, "help", channel=CHANNEL)
        assert delivery.status == 200, (name, delivery.attempts)
        assert "pause MINUTES" in world.slack.ephemerals[-1].text
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for action_id in (*ACTIONS, PROMOTE_ACTION, PROPOSE_ACTION):  # Bolt 404s without one
        payload = {
            "type": "block_actions",
            "user": {"id": ALICE},
            "team": {"id": "T0001"},
            "channel": {"id": CHANNEL},
            "container": {"type": "message", "channel_id": CHANNEL, "message_ts": "1.000001"},
            "actions": [{"action_id": action_id, "value": "nothing"}],
            "response_url": f"{world.slack.base_url}/response/none",
        }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        raw = await world.slack.deliver_raw(body, form, sign=True)
        assert raw.status == 200 and "ignored" not in raw.body, (action_id, raw.body)
