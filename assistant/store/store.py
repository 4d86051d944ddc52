"""The store: every Redis read and write of the assistant goes through this class.

Multi-step changes that must be atomic are Lua scripts in ``lua/`` (one file each, with a
KEYS/ARGV header); single commands are plain calls. Times are Unix seconds at this API and
milliseconds inside Redis (job scores).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, Literal, cast

import redis.asyncio as aioredis
from redis import exceptions as redis_exceptions
from redis.commands.core import AsyncScript

from assistant.models import Case, CaseStatus
from assistant.store import keys

EVENT_TTL_SECONDS = 24 * 3600  # Slack retries an event for minutes; a day is plenty
MESSAGE_CACHE_SIZE = 50_000  # message ts -> case id answers kept in process
_CASE_STATIC = ("case_id", "mention", "assessment", "channel", "opened_at", "sla_deadline")


# What Redis answers while it is down, unreachable, starting (loading its AOF) or read-only:
# the request is then refused with 503 (its sender retries) and jobs wait for it to return.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    redis_exceptions.ConnectionError,  # BusyLoadingError included
    redis_exceptions.TimeoutError,
    redis_exceptions.ReadOnlyError,
    redis_exceptions.ClusterDownError,
    redis_exceptions.TryAgainError,
)  # redis-py wraps socket errors in its ConnectionError/TimeoutError


def is_unavailable(exc: BaseException) -> bool:
    """Whether an error means the store is unavailable (not a bug, not a bad request)."""
    return isinstance(exc, UNAVAILABLE_ERRORS)


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


@dataclass(frozen=True, slots=True)
class VoteResult:
    outcome: str  # duplicate, unknown, closed, inactive, self, recorded, approved
    approvals: int
    manager_approvals: int
    manager_vetoes: int


@dataclass(frozen=True, slots=True)
class Proposal:
    case_id: str
    ts: str
    user: str
    text: str
    status: str
    version: int


@dataclass(frozen=True, slots=True)
class Job:
    member: str
    lease: int  # the lease score returned by the claim, needed to settle it

    @property
    def kind(self) -> str:
        return keys.parse_job_id(self.member)[0]

    @property
    def case_id(self) -> str:
        return keys.parse_job_id(self.member)[1]


class Store:
    def __init__(self, redis: aioredis.Redis, *, retention_seconds: int) -> None:
        self.redis = redis
        self.retention = retention_seconds
        self._scripts: dict[str, AsyncScript] = {}
        self._message_cases: dict[str, str] = {}
        for name in (
            "open_case",
            "proposal",
            "vote",
            "claim_jobs",
            "settle_job",
            "card_posted",
            "finish_case",
            "lease",
        ):
            source = files("assistant.store").joinpath(f"lua/{name}.lua").read_text()
            self._scripts[name] = redis.register_script(source)

    async def _run(self, name: str, keys_: list[str], args: list[Any]) -> Any:
        return await self._scripts[name](keys=keys_, args=args)

    # -- cases ---------------------------------------------------------------------------

    async def open_case(self, case: Case, *, escalate_at: float | None = None) -> tuple[bool, str]:
        """Store a new case, queue its card and its escalation timer (at escalate_at, by default
        the SLA deadline); (False, id) if the mention was already seen."""
        data = case.model_dump_json(include=set(_CASE_STATIC))
        opened, case_id = await self._run(
            "open_case",
            [keys.mention(case.mention.key), keys.case(case.case_id), keys.jobs()],
            [
                case.case_id,
                data,
                _ms(case.opened_at),
                _ms(case.sla_deadline if escalate_at is None else escalate_at),
                self.retention,
                keys.job_id(keys.JOB_POST_CARD, case.case_id),
                keys.job_id(keys.JOB_SLA, case.case_id),
            ],
        )
        return bool(opened), str(case_id)

    async def get_case(self, case_id: str) -> Case | None:
        raw = cast(dict[str, str], await self.redis.hgetall(keys.case(case_id)))
        if not raw or "data" not in raw:
            return None
        fields: dict[str, Any] = json.loads(raw["data"])
        fields.update(
            status=CaseStatus(raw["status"]),
            card_ts=raw.get("card_ts"),
            proposals=int(raw.get("proposals", 0)),
            winner_ts=raw.get("winner_ts"),
            approved_text=raw.get("approved_text"),
            published_url=raw.get("published_url"),
            published_at=_seconds(raw.get("published_at")),
            escalated_at=_seconds(raw.get("escalated_at")),
            publish_attempts=int(raw.get("publish_attempts", 0)),
            escalation_attempts=int(raw.get("escalation_attempts", 0)),
            card_attempts=int(raw.get("card_attempts", 0)),
            failure=raw.get("failure"),
            publish_ref=raw.get("publish_ref"),
        )
        return Case.model_validate(fields)

    async def count_attempt(
        self,
        case_id: str,
        field: Literal["publish_attempts", "escalation_attempts", "card_attempts"],
    ) -> None:
        """Record, before the call, that a publish, escalation or card post is being tried."""
        await self.redis.hincrby(keys.case(case_id), field, 1)

    async def publish_ref(self, case_id: str, candidate: str) -> str:
        """The case's publish reference (e.g. Bluesky's record key): ``candidate`` if none was
        chosen yet, else the one chosen first (HSETNX: every attempt, on any replica, uses it)."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hsetnx(keys.case(case_id), "publish_ref", candidate)
        pipe.hget(keys.case(case_id), "publish_ref")
        _, value = await pipe.execute()
        return str(value)

    async def case_for_message(self, channel: str, ts: str) -> str | None:
        """The case a Slack message (its card or one of its proposals) belongs to.

        A message never changes case, so known answers are kept in a bounded in-process map:
        every vote needs this lookup, and it then costs no round trip.
        """
        key = keys.message(channel, ts)
        if (known := self._message_cases.get(key)) is not None:
            return known
        value = cast(str | None, await self.redis.get(key))
        if value is not None:
            if len(self._message_cases) >= MESSAGE_CACHE_SIZE:
                self._message_cases.pop(next(iter(self._message_cases)))  # oldest first
            self._message_cases[key] = value
        return value

    async def card_posted(self, case_id: str, channel: str, ts: str, now: float) -> bool:
        return bool(
            await self._run(
                "card_posted",
                [
                    keys.case(case_id),
                    keys.message(channel, ts),
                    keys.jobs(),
                    keys.job_attempts(),
                ],
                [
                    ts,
                    case_id,
                    self.retention,
                    keys.job_id(keys.JOB_POST_CARD, case_id),
                    keys.job_id(keys.JOB_UPDATE_CARD, case_id),
                    _ms(now),
                ],
            )
        )

    async def finish_case(
        self,
        case_id: str,
        outcome: Literal["published", "failed", "escalated"],
        now: float,
        *,
        detail: str = "",
        status_id: str = "",
    ) -> bool:
        job_kind = keys.JOB_SLA if outcome == "escalated" else keys.JOB_PUBLISH
        return bool(
            await self._run(
                "finish_case",
                [keys.case(case_id), keys.jobs(), keys.job_attempts()],
                [
                    outcome,
                    _ms(now),
                    keys.job_id(keys.JOB_UPDATE_CARD, case_id),
                    keys.job_id(job_kind, case_id),
                    detail,
                    status_id,
                    keys.job_id(keys.JOB_SLA, case_id),
                    self.retention,
                ],
            )
        )

    # -- proposals and votes -------------------------------------------------------------

    async def proposal(
        self,
        op: Literal["add", "edit", "delete"],
        *,
        event_id: str,
        case_id: str,
        channel: str,
        ts: str,
        now: float,
        user: str = "",
        text: str = "",
    ) -> str:
        result = await self._run(
            "proposal",
            [
                keys.event(event_id),
                keys.case(case_id),
                keys.proposal(case_id, ts),
                keys.votes(case_id, ts),
                keys.message(channel, ts),
                keys.jobs(),
            ],
            [
                op,
                user,
                text,
                case_id,
                _ms(now),
                self.retention,
                keys.job_id(keys.JOB_UPDATE_CARD, case_id),
                EVENT_TTL_SECONDS,
            ],
        )
        return str(result)

    async def get_proposal(self, case_id: str, ts: str) -> Proposal | None:
        raw = cast(dict[str, str], await self.redis.hgetall(keys.proposal(case_id, ts)))
        if not raw:
            return None
        return Proposal(
            case_id=case_id,
            ts=ts,
            user=raw["user"],
            text=raw["text"],
            status=raw["status"],
            version=int(raw["version"]),
        )

    async def vote(
        self,
        op: Literal["add", "remove"],
        *,
        event_id: str,
        case_id: str,
        proposal_ts: str,
        user: str,
        kind: Literal["approve", "veto"],
        emoji: str,
        is_manager: bool,
        approvals_required: int,
        manager_approvals_required: int,
        now: float,
    ) -> VoteResult:
        outcome, a, m, v = await self._run(
            "vote",
            [
                keys.event(event_id),
                keys.case(case_id),
                keys.proposal(case_id, proposal_ts),
                keys.votes(case_id, proposal_ts),
                keys.jobs(),
            ],
            [
                op,
                user,
                kind,
                emoji,
                1 if is_manager else 0,
                approvals_required,
                manager_approvals_required,
                _ms(now),
                self.retention,
                proposal_ts,
                keys.job_id(keys.JOB_PUBLISH, case_id),
                keys.job_id(keys.JOB_UPDATE_CARD, case_id),
                EVENT_TTL_SECONDS,
            ],
        )
        return VoteResult(str(outcome), int(a), int(m), int(v))

    # -- jobs ----------------------------------------------------------------------------

    async def enqueue(self, kind: str, case_id: str, due: float) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.zadd(keys.jobs(), {keys.job_id(kind, case_id): _ms(due)})
        pipe.expire(keys.jobs(), self.retention)
        await pipe.execute()

    async def claim_jobs(self, now: float, lease_seconds: float, limit: int) -> list[Job]:
        flat = await self._run("claim_jobs", [keys.jobs()], [_ms(now), _ms(lease_seconds), limit])
        return [Job(str(flat[i]), int(flat[i + 1])) for i in range(0, len(flat), 2)]

    async def finish_job(self, job: Job) -> bool:
        """Remove a claimed job; False if it was re-queued meanwhile (it will run again)."""
        result = await self._run(
            "settle_job", [keys.jobs(), keys.job_attempts()], [job.member, job.lease, "done"]
        )
        return int(result) == 0

    async def retry_job(
        self,
        job: Job,
        *,
        now: float,
        base_delay: float,
        max_delay: float,
        min_delay: float,
        max_attempts: int,
    ) -> int:
        """Reschedule a failed job with exponential backoff; see settle_job.lua for results."""
        result = await self._run(
            "settle_job",
            [keys.jobs(), keys.job_attempts()],
            [
                job.member,
                job.lease,
                "retry",
                _ms(now),
                _ms(base_delay),
                _ms(max_delay),
                _ms(min_delay),
                max_attempts,
                self.retention,
            ],
        )
        return int(result)

    async def next_job_due(self) -> float | None:
        first = cast(
            list[tuple[str, float]], await self.redis.zrange(keys.jobs(), 0, 0, withscores=True)
        )
        return first[0][1] / 1000 if first else None

    async def pending_jobs(self) -> dict[str, float]:
        pairs = cast(
            list[tuple[str, float]], await self.redis.zrange(keys.jobs(), 0, -1, withscores=True)
        )
        return {str(member): float(score) / 1000 for member, score in pairs}

    # -- caches, cursors, leases ---------------------------------------------------------

    async def cached_user(self, user_id: str) -> dict[str, str] | None:
        raw = cast(dict[str, str], await self.redis.hgetall(keys.user(user_id)))
        return raw or None

    async def cache_user(self, user_id: str, fields: dict[str, str], ttl: int) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(keys.user(user_id), mapping=cast(Any, fields))
        pipe.expire(keys.user(user_id), ttl)
        await pipe.execute()

    async def cached_usergroup(self, group_id: str) -> list[str] | None:
        raw = await self.redis.get(keys.usergroup(group_id))
        return cast(list[str], json.loads(raw)) if raw else None

    async def cache_usergroup(self, group_id: str, users: list[str], ttl: int) -> None:
        await self.redis.set(keys.usergroup(group_id), json.dumps(users), ex=ttl)

    async def get_cursor(self, source: str) -> str | None:
        return cast(str | None, await self.redis.get(keys.cursor(source)))

    async def set_cursor(self, source: str, value: str) -> None:
        await self.redis.set(keys.cursor(source), value, ex=self.retention)

    async def get_token(self, name: str) -> dict[str, Any] | None:
        raw = await self.redis.get(keys.token(name))
        return cast(dict[str, Any], json.loads(raw)) if raw else None

    async def set_token(self, name: str, value: dict[str, Any], ttl: int) -> None:
        await self.redis.set(keys.token(name), json.dumps(value), ex=ttl)

    async def add_reads(self, name: str, month: str, count: int) -> int:
        """Add ``count`` posts read this month; returns the month's total."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.incrby(keys.reads(name, month), count)
        pipe.expire(keys.reads(name, month), 40 * 86400)
        total, _ = await pipe.execute()
        return int(total)

    async def acquire_lease(self, name: str, owner: str, seconds: float) -> bool:
        return bool(await self._run("lease", [keys.lease(name)], [owner, "acquire", _ms(seconds)]))

    async def release_lease(self, name: str, owner: str) -> bool:
        return bool(await self._run("lease", [keys.lease(name)], [owner, "release", 0]))


def _seconds(ms: str | None) -> float | None:
    return int(ms) / 1000 if ms else None
