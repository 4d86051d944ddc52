"""Invalid configuration stops start-up with one line naming the setting (exit code 2)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from assistant.sandbox import BOT_TOKEN

from .harness import ProcessWorld, free_port

CASES = [
    pytest.param({"PORT": "abc"}, "PORT", id="port-not-a-number"),
    pytest.param({"PORT": "70000"}, "PORT", id="port-out-of-range"),
    pytest.param({"SLACK_BOT_TOKEN": None}, "SLACK_BOT_TOKEN", id="bot-token-missing"),
    pytest.param({"INGEST_SECRET": None}, "INGEST_SECRET", id="ingest-secret-missing"),
    pytest.param({"ASSISTANT_CHANNEL": "general"}, "ASSISTANT_CHANNEL", id="channel-name"),
    pytest.param(
        {"MASTODON_ACCESS_TOKEN": None}, "MASTODON_ACCESS_TOKEN", id="mastodon-url-no-token"
    ),
    pytest.param({"ASSISTANT_MANAGERS": "max,manon"}, "ASSISTANT_MANAGERS", id="managers-names"),
    pytest.param({"ASSISTANT_ONCALL": "@olivia"}, "ASSISTANT_ONCALL", id="oncall-handle"),
    pytest.param({"ASSISTANT_SLA_SECONDS": "0"}, "ASSISTANT_SLA_SECONDS", id="sla-zero"),
    pytest.param({"ASSISTANT_LOG_LEVEL": "loud"}, "ASSISTANT_LOG_LEVEL", id="log-level"),
    pytest.param({"SLACK_API_URL": "slack.example"}, "SLACK_API_URL", id="api-url-no-scheme"),
    pytest.param(
        {"ASSISTANT_APPROVALS_REQUIRED": "1", "ASSISTANT_MANAGER_APPROVALS_REQUIRED": "2"},
        "ASSISTANT_MANAGER_APPROVALS_REQUIRED",
        id="more-managers-than-approvals",
    ),
]


async def _run(world: ProcessWorld, **overrides: str | None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "assistant",
        "run",
        env=world.env(free_port(), **overrides),
        cwd=world.tmp,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 15)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError("the app did not stop on an invalid configuration") from None
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


@pytest.mark.parametrize(("overrides", "setting"), CASES)
async def test_invalid_setting_stops_start_up_with_one_line_naming_it(
    tmp_path: Path, overrides: dict[str, str | None], setting: str
) -> None:
    async with ProcessWorld(tmp_path) as world:
        code, out, err = await _run(world, **overrides)
    assert code == 2, (code, out, err)
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert setting in lines[0], err
    assert "Traceback" not in err and out == ""
    assert BOT_TOKEN not in err  # no secret echoed
    # Nothing was started: no embedded Redis, no data written.
    assert not world.data_dir.exists()
    assert world.slack.calls == []


async def test_valid_configuration_but_rejected_token_fails_start_up_cleanly(
    tmp_path: Path,
) -> None:
    """Not a config error, a start-up one: non-zero, a last line saying why, Redis stopped."""
    async with ProcessWorld(tmp_path) as world:
        code, _, err = await _run(world, SLACK_BOT_TOKEN="xoxb-revoked")
        assert [c.error for c in world.slack.calls_to("auth.test")] == ["invalid_auth"]
    assert code == 1, err
    assert "invalid_auth" in err.splitlines()[-1], err
    assert "xoxb-revoked" not in err
    sock = world.data_dir / "redis.sock"
    assert not sock.exists(), "the embedded Redis was left running"


@pytest.mark.cluster
@pytest.mark.parametrize("cluster_flag", ["", "1"], ids=["cluster-url-no-flag", "flag-no-cluster"])
async def test_redis_url_of_the_wrong_kind_stops_start_up_with_one_line(
    tmp_path: Path, cluster_redis_url: str, standalone_redis_url: str, cluster_flag: str
) -> None:
    url = standalone_redis_url if cluster_flag else cluster_redis_url
    async with ProcessWorld(tmp_path) as world:
        code, out, err = await _run(world, REDIS_URL=url, REDIS_CLUSTER=cluster_flag or None)
    assert code == 2, (code, out, err)
    lines = err.splitlines()
    assert len(lines) == 1 and "REDIS_URL" in lines[0], err
    expected = "not a Redis Cluster node" if cluster_flag else "set REDIS_CLUSTER=1"
    assert expected in lines[0], err
