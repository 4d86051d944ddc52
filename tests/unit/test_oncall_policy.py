"""The escalation policy and quiet hours: pure functions."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from assistant.oncall import parse_ops
from assistant.oncall_policy import (
    DEFAULT_DELAY,
    Level,
    Policy,
    PolicyError,
    deliver_at,
    in_quiet_hours,
    parse_duration,
    parse_policy,
    parse_quiet_hours,
    policy_from_settings,
    step_at,
)
from assistant.settings import ConfigError, load_settings

PARIS = ZoneInfo("Europe/Paris")


def at(text: str, zone: ZoneInfo = PARIS) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=zone).timestamp()


def test_policy_levels_delays_and_repeat() -> None:
    policy = parse_policy("U024BE7LH,S0ONCALL after 10m; W0LEAD after 1h30m ; repeat 2")
    assert policy == Policy(
        (Level(("U024BE7LH", "S0ONCALL"), 600), Level(("W0LEAD",), 5400)), repeat=2
    )
    assert policy.steps == 6


def test_level_without_after_gets_the_default_delay() -> None:
    assert parse_policy("U1AB").levels == (Level(("U1AB",), DEFAULT_DELAY),)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "no level"),
        ("U1AB after", "'after' needs a duration"),
        ("U1AB after 10 minutes", "is not a duration"),
        ("U1AB after 0s", "between 1s and 24h"),
        ("@olivia", "is not a Slack user ID"),
        ("U1AB;;U2AB", "level 2 is empty"),
        ("repeat 2; U1AB", "must come last"),
        ("U1AB; repeat -1", "repeat must be a whole number"),
        ("U1AB; repeat 99", "repeat must be a whole number"),
        ("repeat 1", "no level"),
    ],
)
def test_bad_policies_are_one_line_errors(text: str, error: str) -> None:
    with pytest.raises(PolicyError, match=error) as info:
        parse_policy(text)
    assert "\n" not in str(info.value)


def test_bad_policy_stops_start_up_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "SLACK_BOT_TOKEN": "xoxb-x",
        "SLACK_SIGNING_SECRET": "s",
        "ASSISTANT_CHANNEL": "C123",
        "INGEST_SECRET": "i",
        "ASSISTANT_MANAGER_APPROVALS_REQUIRED": "0",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ASSISTANT_ESCALATION_POLICY", "U1AB after soon")
    with pytest.raises(ConfigError, match=r"^invalid setting ASSISTANT_ESCALATION_POLICY: 'soon'"):
        load_settings()
    monkeypatch.delenv("ASSISTANT_ESCALATION_POLICY")
    monkeypatch.setenv("ASSISTANT_QUIET_HOURS", "22h-7h")
    with pytest.raises(ConfigError, match=r"^invalid setting ASSISTANT_QUIET_HOURS"):
        load_settings()


def test_oncall_alone_is_a_one_level_policy() -> None:
    assert policy_from_settings(None, "S0ONCALL") == Policy((Level(("S0ONCALL",), 900),))
    assert policy_from_settings(None, None).steps == 0
    assert policy_from_settings("U1AB after 1m", "S0ONCALL").levels[0].targets == ("U1AB",)


def test_steps_go_level_by_level_then_repeat_then_stop() -> None:
    policy = parse_policy("U1AB after 1m; U2AB after 2m; repeat 1")
    steps = [step_at(policy, i) for i in range(5)]
    assert [(s.level, s.round, s.targets, s.delay) for s in steps if s] == [
        (0, 0, ("U1AB",), 60),
        (1, 0, ("U2AB",), 120),
        (0, 1, ("U1AB",), 60),
        (1, 1, ("U2AB",), 120),
    ]
    assert steps[4] is None and step_at(policy, -1) is None


def test_durations() -> None:
    assert [parse_duration(d) for d in ("45s", "10m", "1h", "1h30m", "2M")] == [
        45,
        600,
        3600,
        5400,
        120,
    ]
    with pytest.raises(PolicyError):
        parse_duration("25h")


def test_quiet_hours_over_midnight_in_their_time_zone() -> None:
    quiet = parse_quiet_hours("22:00-07:30 Europe/Paris")
    assert in_quiet_hours(quiet, at("2026-06-01T23:00"))
    assert in_quiet_hours(quiet, at("2026-06-02T07:29"))
    assert not in_quiet_hours(quiet, at("2026-06-02T07:30"))
    assert not in_quiet_hours(quiet, at("2026-06-01T21:59"))
    # 23:00 in Paris is 21:00 UTC: the zone matters
    assert not in_quiet_hours(parse_quiet_hours("22:00-07:30"), at("2026-06-01T23:00", PARIS))


def test_quiet_hours_within_a_day() -> None:
    quiet = parse_quiet_hours("12:00-14:00 UTC")
    assert in_quiet_hours(quiet, at("2026-06-01T13:00", ZoneInfo("UTC")))
    assert not in_quiet_hours(quiet, at("2026-06-01T14:00", ZoneInfo("UTC")))


def test_only_critical_pages_go_out_during_quiet_hours() -> None:
    quiet = parse_quiet_hours("22:00-07:00 Europe/Paris")
    night = at("2026-06-01T23:15")
    assert deliver_at(quiet, critical=True, now=night) == night
    assert deliver_at(quiet, critical=False, now=night) == at("2026-06-02T07:00")
    day = at("2026-06-02T10:00")
    assert deliver_at(quiet, critical=False, now=day) == day
    assert deliver_at(None, critical=False, now=night) == night


def test_quiet_hours_end_across_a_daylight_saving_change() -> None:
    quiet = parse_quiet_hours("22:00-07:00 Europe/Paris")
    night = at("2026-03-28T23:00")  # clocks go forward that night
    assert deliver_at(quiet, critical=False, now=night) == at("2026-03-29T07:00")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("22:00-22:00", "same time"),
        ("25:00-07:00", "hours go from 00 to 23"),
        ("22:00-07:00 Mars/Olympus", "unknown time zone"),
        ("10pm-7am", "is not HH:MM-HH:MM"),
    ],
)
def test_bad_quiet_hours(text: str, error: str) -> None:
    with pytest.raises(PolicyError, match=error):
        parse_quiet_hours(text)


def test_ops_text_parsing() -> None:
    assert parse_ops("") == ("", "")
    assert parse_ops("  PAUSE   15 ") == ("pause", "15")
    assert parse_ops("ack abc-123") == ("ack", "abc-123")
