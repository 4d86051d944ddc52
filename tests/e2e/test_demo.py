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
    assert "fake log line → 401" in out and "no second card" in out
    assert (
        out.rstrip().splitlines()[-1].startswith("Published reply: https://social.example/@brand/")
    )
