"""The escalation policy, as pure functions: who is paged, when, and what waits for morning.

Syntax of ``ASSISTANT_ESCALATION_POLICY`` (levels separated by ``;``, then an optional
``repeat N``)::

    U024BE7LH,S0ONCALL after 10m; U0LEAD after 30m; repeat 2

Each level names Slack user IDs (``U…``/``W…``) and/or user-group IDs (``S…``), comma
separated, and optionally ``after DURATION`` (``45s``, ``10m``, ``1h``, ``1h30m``; default
15m): how long an unacknowledged page waits at that level before the next level is paged.
After the last level, ``repeat N`` starts again from the first level N more times (default 0).
Unset, ``ASSISTANT_ONCALL`` is a one-level policy (no repeat).

Syntax of ``ASSISTANT_QUIET_HOURS``: ``HH:MM-HH:MM`` and an optional IANA time zone
(``22:00-07:30 Europe/Paris``; default UTC). During quiet hours only critical pages (a
credible threat, the app's own trouble) are sent; the others wait for the end of quiet hours.

Every parse error is one line (PolicyError) naming what is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_DELAY = 15 * 60
MAX_LEVELS = 10
MAX_TARGETS = 10
MAX_REPEAT = 10
MIN_DELAY = 1
MAX_DELAY = 24 * 3600

_TARGET = re.compile(r"^[USW][A-Z0-9]{2,}$")
_DURATION = re.compile(r"^(?:(\d{1,3})h)?(?:(\d{1,4})m)?(?:(\d{1,6})s)?$")
_REPEAT = re.compile(r"^repeat\s+(\S+)$", re.IGNORECASE)
_HOURS = re.compile(r"^([0-2]\d):([0-5]\d)-([0-2]\d):([0-5]\d)$")


class PolicyError(ValueError):
    """An escalation policy or quiet-hours setting that does not parse (one line)."""


@dataclass(frozen=True, slots=True)
class Level:
    targets: tuple[str, ...]  # U…/W… users and S… user groups
    delay: int  # seconds an unacknowledged page waits here before the next step


@dataclass(frozen=True, slots=True)
class Policy:
    levels: tuple[Level, ...]
    repeat: int = 0

    @property
    def steps(self) -> int:
        """How many times a page that nobody acknowledges notifies someone, in all."""
        return len(self.levels) * (self.repeat + 1)


@dataclass(frozen=True, slots=True)
class Step:
    """The n-th notification of a page: which level, which round, who, and the wait after."""

    index: int
    level: int  # 0-based level index
    round: int  # 0 = first pass, 1 = first repeat, …
    targets: tuple[str, ...]
    delay: int


@dataclass(frozen=True, slots=True)
class QuietHours:
    start: time
    end: time
    zone: str = "UTC"

    def describe(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M} {self.zone}"


NO_POLICY = Policy(levels=())


def parse_duration(text: str) -> int:
    """Seconds in ``45s``, ``10m``, ``1h``, ``1h30m`` (PolicyError otherwise)."""
    raw = text.strip().lower()
    match = _DURATION.fullmatch(raw)
    if not raw or match is None or not any(match.groups()):
        raise PolicyError(f"{text.strip()!r} is not a duration (e.g. 45s, 10m, 1h, 1h30m)")
    hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if not MIN_DELAY <= total <= MAX_DELAY:
        raise PolicyError(f"{text.strip()!r}: a delay must be between 1s and 24h")
    return total


def parse_policy(text: str) -> Policy:
    """Parse the ``ASSISTANT_ESCALATION_POLICY`` syntax (see the module doc)."""
    parts = [p.strip() for p in text.split(";")]
    if parts and parts[-1] == "":
        parts.pop()  # a trailing ";"
    levels: list[Level] = []
    repeat = 0
    for number, part in enumerate(parts, 1):
        if not part:
            raise PolicyError(f"level {number} is empty")
        if (m := _REPEAT.fullmatch(part)) is not None:
            if number != len(parts):
                raise PolicyError("'repeat N' must come last")
            if not m.group(1).isdigit() or int(m.group(1)) > MAX_REPEAT:
                raise PolicyError(f"repeat must be a whole number from 0 to {MAX_REPEAT}")
            repeat = int(m.group(1))
            continue
        who, sep, after = part.partition(" after ")
        if not sep and part.lower().endswith(" after"):
            raise PolicyError(f"level {number}: 'after' needs a duration")
        delay = parse_duration(after) if sep else DEFAULT_DELAY
        targets = tuple(t.strip() for t in who.split(",") if t.strip())
        if not targets:
            raise PolicyError(f"level {number} names nobody")
        for target in targets:
            if not _TARGET.fullmatch(target):
                raise PolicyError(
                    f"level {number}: {target[:40]!r} is not a Slack user ID (U…/W…) "
                    "or user-group ID (S…)"
                )
        if len(targets) > MAX_TARGETS:
            raise PolicyError(f"level {number}: at most {MAX_TARGETS} users or groups")
        levels.append(Level(targets, delay))
    if not levels:
        raise PolicyError("no level: name at least one user or user group")
    if len(levels) > MAX_LEVELS:
        raise PolicyError(f"at most {MAX_LEVELS} levels")
    return Policy(tuple(levels), repeat)


def policy_from_settings(policy: str | None, oncall: str | None) -> Policy:
    """The policy setting, else ``ASSISTANT_ONCALL`` as one level, else nobody (pages are
    still posted in the channel, mentioning no one)."""
    if policy:
        return parse_policy(policy)
    if oncall:
        return Policy((Level((oncall,), DEFAULT_DELAY),))
    return NO_POLICY


def step_at(policy: Policy, index: int) -> Step | None:
    """The ``index``-th notification of an unacknowledged page, or None when the policy is
    exhausted (the page stays open, shown in App Home)."""
    if index < 0 or index >= policy.steps:
        return None
    rnd, level = divmod(index, len(policy.levels))
    chosen = policy.levels[level]
    return Step(index, level, rnd, chosen.targets, chosen.delay)


def oncall_now(policy: Policy) -> tuple[str, ...]:
    """Who is paged first (the first level)."""
    return policy.levels[0].targets if policy.levels else ()


# -- quiet hours -------------------------------------------------------------------------------


def parse_quiet_hours(text: str) -> QuietHours:
    """Parse ``HH:MM-HH:MM [Zone/Name]``."""
    hours, _, zone = text.strip().partition(" ")
    zone = zone.strip() or "UTC"
    match = _HOURS.fullmatch(hours)
    if match is None:
        raise PolicyError(f"{hours[:40]!r} is not HH:MM-HH:MM (e.g. 22:00-07:00 Europe/Paris)")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 23:
        raise PolicyError("hours go from 00 to 23")
    if (h1, m1) == (h2, m2):
        raise PolicyError("quiet hours start and end at the same time")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise PolicyError(
            f"unknown time zone {zone[:60]!r} (an IANA name such as Europe/Paris)"
        ) from None
    return QuietHours(time(h1, m1), time(h2, m2), zone)


def in_quiet_hours(quiet: QuietHours | None, now: float) -> bool:
    if quiet is None:
        return False
    local = datetime.fromtimestamp(now, ZoneInfo(quiet.zone)).time()
    if quiet.start < quiet.end:
        return quiet.start <= local < quiet.end
    return local >= quiet.start or local < quiet.end  # over midnight


def quiet_end(quiet: QuietHours, now: float) -> float:
    """The first end of quiet hours after ``now`` (Unix s)."""
    zone = ZoneInfo(quiet.zone)
    local = datetime.fromtimestamp(now, zone)
    for days in range(0, 3):
        day = (local + timedelta(days=days)).date()
        end = datetime.combine(day, quiet.end, zone)
        if end.timestamp() > now:
            return end.timestamp()
    raise AssertionError("unreachable")


def deliver_at(quiet: QuietHours | None, *, critical: bool, now: float) -> float:
    """When a page due ``now`` may notify someone: now, unless it is not critical and it is
    quiet hours — then at their end."""
    if critical or not in_quiet_hours(quiet, now):
        return now
    assert quiet is not None
    return quiet_end(quiet, now)
