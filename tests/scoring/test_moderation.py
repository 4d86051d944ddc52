"""The optional second opinion: the client against the moderation emulator over real HTTP
(timeout, budget, circuit breaker, errors), and the breaker/budget policies on a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from assistant.emulators.moderation import ModerationEmulator
from assistant.scoring.moderation import BAND, CircuitBreaker, MinuteBudget, Moderation

KEY = "test-moderation-key"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def emulator() -> AsyncIterator[ModerationEmulator]:
    emu = ModerationEmulator(KEY)
    await emu.start()
    try:
        yield emu
    finally:
        await emu.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def client(
    session: aiohttp.ClientSession, emu: ModerationEmulator, clock: Clock, **kw: float
) -> Moderation:
    return Moderation(
        session,
        emu.base_url,
        KEY,
        timeout=kw.get("timeout", 2.0),
        per_minute=int(kw.get("per_minute", 60)),
        failures=int(kw.get("failures", 3)),
        cooldown=kw.get("cooldown", 60.0),
        clock=clock,
    )


async def test_verdicts_come_from_the_service(
    session: aiohttp.ClientSession, emulator: ModerationEmulator
) -> None:
    mod = client(session, emulator, Clock())
    flagged = await mod.review("you are a disgrace")
    assert flagged is not None and flagged.flagged
    assert flagged.category == "harassment" and flagged.category_score == pytest.approx(0.9)
    assert "flagged (harassment 0.90)" in flagged.describe()
    calm = await mod.review("my parcel is late")
    assert calm is not None and not calm.flagged
    assert emulator.requests == ["you are a disgrace", "my parcel is late"]


async def test_wrong_key_and_server_errors_give_no_opinion(
    session: aiohttp.ClientSession, emulator: ModerationEmulator
) -> None:
    wrong = Moderation(session, emulator.base_url, "not-the-key", clock=Clock())
    assert await wrong.review("you are a disgrace") is None
    mod = client(session, emulator, Clock())
    emulator.fail(500)
    assert await mod.review("you are a disgrace") is None
    emulator.fail(429)
    assert await mod.review("you are a disgrace") is None
    assert (await mod.review("you are a disgrace")) is not None  # recovered


async def test_timeout_gives_no_opinion(
    session: aiohttp.ClientSession, emulator: ModerationEmulator
) -> None:
    mod = client(session, emulator, Clock(), timeout=0.2)
    emulator.delay(1.0)
    assert await mod.review("you are a disgrace") is None
    assert mod.breaker.state == "closed"  # one failure is not enough to open it


async def test_breaker_opens_then_half_opens(
    session: aiohttp.ClientSession, emulator: ModerationEmulator
) -> None:
    clock = Clock()
    mod = client(session, emulator, clock, failures=2, cooldown=30)
    emulator.fail(500, times=2)
    assert await mod.review("a") is None
    assert await mod.review("b") is None
    assert mod.breaker.state == "open"
    before = len(emulator.requests)
    assert await mod.review("you are a disgrace") is None  # not even sent
    assert len(emulator.requests) == before
    clock.now += 31
    assert mod.breaker.state == "half-open"
    opinion = await mod.review("you are a disgrace")  # the trial request succeeds
    assert opinion is not None and opinion.flagged
    assert mod.breaker.state == "closed"


async def test_budget_limits_requests_per_minute(
    session: aiohttp.ClientSession, emulator: ModerationEmulator
) -> None:
    clock = Clock()
    clock.now = 600.0  # the start of a minute
    mod = client(session, emulator, clock, per_minute=2)
    assert await mod.review("one") is not None
    assert await mod.review("two") is not None
    assert await mod.review("three") is None
    assert emulator.requests == ["one", "two"]
    clock.now += 60
    assert await mod.review("four") is not None


def test_breaker_failed_trial_reopens() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=1, cooldown=10, clock=clock)
    breaker.failure()
    assert not breaker.allow()
    clock.now += 10
    assert breaker.allow()
    assert not breaker.allow()  # one trial at a time
    breaker.failure()
    assert breaker.state == "open"


def test_budget_window() -> None:
    clock = Clock()
    clock.now = 120.0
    budget = MinuteBudget(1, clock)
    assert budget.take() and not budget.take()
    clock.now = 179.9
    assert not budget.take()
    clock.now = 180.0
    assert budget.take()


def test_borderline_band() -> None:
    band = (0.5 - BAND, 0.5 + BAND)
    assert Moderation.borderline(0.5, band)
    assert Moderation.borderline(0.5 - BAND, band)
    assert not Moderation.borderline(0.5 + BAND, band)
    assert not Moderation.borderline(0.1, band)
    assert not Moderation.borderline(0.95, band)


async def test_emulator_rejects_bad_bodies(
    session: aiohttp.ClientSession, emulator: ModerationEmulator
) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    url = emulator.base_url + "/moderations"
    async with session.post(url, data=b"{nope", headers=headers) as resp:
        assert resp.status == 400
        assert "error" in await resp.json()
    async with session.post(url, json={"input": 3}, headers=headers) as resp:
        assert resp.status == 400
    async with session.post(url, json={"input": ["a", "you are pathetic"]}, headers=headers) as r:
        body = await r.json()
        assert [x["flagged"] for x in body["results"]] == [False, True]
    async with session.post(url, json={"input": "a"}) as resp:
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ASSISTANT_MODERATION_URL", "not a url"),
        ("ASSISTANT_MODERATION_TIMEOUT", "0"),
        ("ASSISTANT_MODERATION_PER_MINUTE", "0"),
    ],
)
def test_bad_moderation_settings_fail_in_one_line(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    from assistant.settings import ConfigError, load_settings

    for key, val in {
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "s",
        "ASSISTANT_CHANNEL": "C123",
        "INGEST_SECRET": "i",
        "ASSISTANT_MANAGERS": "U1",
        name: value,
    }.items():
        monkeypatch.setenv(key, val)
    with pytest.raises(ConfigError) as exc:
        load_settings()
    assert name in str(exc.value) and "\n" not in str(exc.value)


def test_moderation_is_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.settings import load_settings

    for key, val in {
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "s",
        "ASSISTANT_CHANNEL": "C123",
        "INGEST_SECRET": "i",
        "ASSISTANT_MANAGERS": "U1",
    }.items():
        monkeypatch.setenv(key, val)
    monkeypatch.delenv("ASSISTANT_MODERATION_URL", raising=False)
    assert load_settings().ASSISTANT_MODERATION_URL is None
