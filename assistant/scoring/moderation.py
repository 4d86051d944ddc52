"""An optional second opinion from an OpenAI-compatible moderation API.

Off unless ``ASSISTANT_MODERATION_URL`` is set: nothing leaves the machine otherwise. When set,
a mention whose local score falls in the borderline band around its language's operating
point (``Scorer.band``: the calibrated values of the uncalibrated 0.5 ± ``BAND``) is sent to
``POST {url}/moderations`` (``{"input": text}``, bearer ``ASSISTANT_MODERATION_API_KEY``);
its ``flagged`` verdict decides for that mention. The local score alone decides when the
service is unset, slow (``timeout``), over the per-minute budget, failing, or when the circuit
breaker is open (``failures`` failures in a row open it for ``cooldown`` seconds; then one
trial request half-opens it).

The budget and the breaker are per process: they protect the service and our latency, they
are not state that must survive a restart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
from pydantic import BaseModel, ValidationError

from assistant.scoring.scorer import BAND

__all__ = ["BAND", "CircuitBreaker", "MinuteBudget", "Moderation", "SecondOpinion"]

log = logging.getLogger(__name__)


class _Result(BaseModel):
    flagged: bool
    category_scores: dict[str, float] = {}


class _Answer(BaseModel):
    results: list[_Result]


@dataclass(frozen=True, slots=True)
class SecondOpinion:
    flagged: bool
    category: str  # the highest-scoring category ("" if none)
    category_score: float

    def describe(self) -> str:
        verdict = "flagged" if self.flagged else "not flagged"
        top = f" ({self.category} {self.category_score:.2f})" if self.category else ""
        return f"second opinion: {verdict}{top}"


class CircuitBreaker:
    """Closed → open after ``failures`` failures in a row → half-open after ``cooldown``
    seconds (one trial request) → closed on success, open again on failure."""

    def __init__(
        self, failures: int, cooldown: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.failures = failures
        self.cooldown = cooldown
        self.clock = clock
        self._count = 0
        self._opened_at: float | None = None
        self._trial = False

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        if self.clock() - self._opened_at >= self.cooldown:
            return "half-open"
        return "open"

    def allow(self) -> bool:
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self._trial:
            self._trial = True
            return True
        return False

    def success(self) -> None:
        self._count = 0
        self._opened_at = None
        self._trial = False

    def failure(self) -> None:
        self._count += 1
        if self._trial or self._count >= self.failures:
            self._opened_at = self.clock()
        self._trial = False


class MinuteBudget:
    """At most ``per_minute`` requests in any fixed one-minute window."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._window = -1
        self._used = 0

    def take(self) -> bool:
        window = int(self.clock() // 60)
        if window != self._window:
            self._window, self._used = window, 0
        if self._used >= self.per_minute:
            return False
        self._used += 1
        return True


class Moderation:
    """The second-opinion client, over the app's one aiohttp session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        api_key: str | None,
        *,
        timeout: float = 2.0,
        per_minute: int = 60,
        failures: int = 3,
        cooldown: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.session = session
        self.endpoint = url.rstrip("/") + "/moderations"
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.timeout = timeout
        self.budget = MinuteBudget(per_minute, clock)
        self.breaker = CircuitBreaker(failures, cooldown, clock)

    @staticmethod
    def borderline(score: float, band: tuple[float, float]) -> bool:
        """Whether a calibrated score falls in the borderline band ``[low, high)``
        (``Scorer.band``: the calibrated values of the operating point ± ``BAND``)."""
        low, high = band
        return low <= score < high

    async def review(self, text: str) -> SecondOpinion | None:
        """The service's verdict, or ``None`` (the local score decides) when it is skipped
        (breaker open, budget spent) or fails (timeout, error status, bad answer)."""
        if not self.breaker.allow():
            log.info("moderation skipped: circuit breaker %s", self.breaker.state)
            return None
        if not self.budget.take():
            log.info("moderation skipped: per-minute budget spent")
            return None
        try:
            async with self.session.post(
                self.endpoint,
                json={"input": text},
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as resp:
                if resp.status != 200:
                    log.warning("moderation answered HTTP %d", resp.status)
                    self.breaker.failure()
                    return None
                answer = _Answer.model_validate(await resp.json(content_type=None))
        except TimeoutError:
            log.warning("moderation timed out after %.1f s", self.timeout)
            self.breaker.failure()
            return None
        except (aiohttp.ClientError, ValidationError, ValueError) as exc:
            log.warning("moderation failed: %s", type(exc).__name__)
            self.breaker.failure()
            return None
        if not answer.results:
            self.breaker.failure()
            return None
        self.breaker.success()
        result = answer.results[0]
        top = max(result.category_scores.items(), key=lambda kv: (kv[1], kv[0]), default=("", 0.0))
        return SecondOpinion(result.flagged, top[0], float(top[1]))
