from __future__ import annotations

from pathlib import Path

import pytest

from assistant.demo import run_demo


async def test_demo_plays_the_whole_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_demo(tmp_path / "demo") == 0
    out = capsys.readouterr().out
    assert "case card posted" in out
    assert "quorum reached but vetoed: nothing published" in out
    assert "on-call pinged" in out and "<!subteam^SONCALL>" in out
    assert "presses Acknowledge → page acknowledged" in out and "App Home published" in out
    assert "ends with: " in out and "→ Olivia (on call) acknowledged" in out  # the audit trail
    assert "/ops status → « *" in out and "open case(s)" in out
    # one case on each network, each reply checked against that network's length rule
    assert "accepted: it fits Bluesky's 300" in out
    assert "10 characters over* X's 280-character limit" in out
    lines = out.rstrip().splitlines()
    assert lines[-3].startswith("Published reply: https://bsky.app/profile/brand.bsky.social/")
    assert lines[-2].startswith("Published reply: https://x.com/brand/status/")
    assert "fake log line → 401" in out and "no second card" in out
    # the optional second opinion decides a borderline mention (moderation emulator)
    assert "in the borderline band" in out and "POST /moderations" in out
    assert "severity low: second opinion: flagged (harassment" in out
    # a short surge: one live card, one page, a promotion, the end, no 429
    assert "live surge card posted" in out and "on-call paged once" in out
    assert "Open a case" in out and "Surge over after" in out and "zero 429s" in out
    assert (
        out.rstrip().splitlines()[-1].startswith("Published reply: https://social.example/@brand/")
    )
