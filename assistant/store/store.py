"""The store: every Redis read and write of the assistant goes through this class.

Multi-step changes that must be atomic are Lua scripts in ``lua/`` (one file each, with a
KEYS/ARGV header); single commands are plain calls. Times are Unix seconds at this API and
milliseconds inside Redis (job scores).

Redis Cluster safe (keys.py): each script touches one hash slot. A step that spans a case and
a global structure (the job queue, the open-case index, a message lookup) is two idempotent
writes in an order a crash cannot hurt: what a later step looks up is written first; what a
decision queues is queued right after it, and the sweep (jobs.Sweeper) re-queues it from the
case's state if the process died in between.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, cast

import redis.asyncio as aioredis
from pydantic_core import to_json
from redis import exceptions as redis_exceptions
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from assistant.models import Case, CaseStatus
from assistant.store import keys
from assistant.store.memory import MemoryIndex
from assistant.store.scripts import lua_source

if TYPE_CHECKING:
    from assistant.metrics import Metrics

EVENT_TTL_SECONDS = 24 * 3600  # Slack retries an event for minutes; a day is plenty
MESSAGE_CACHE_SIZE = 50_000  # message ts -> case id answers kept in process
MAX_PAYLOAD = 4096  # a job's payload is small: ids and a few fields, never a document
SWEEP_BATCH = 200  # open cases read per round trip by the sweep

RedisClient = aioredis.Redis | RedisCluster
JobSpec = tuple[str, str, float]  # kind, id, due (s)
ScriptCall = tuple[str, list[str], list[Any]]  # script name, KEYS, ARGV
_CASE_STATIC = {"case_id", "mention", "assessment", "channel", "opened_at", "sla_deadline"}


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


def _audit_details(case: Case) -> str:
    """What the audit entry of a new (or grouped) case records, as JSON (the Lua step decodes
    it; pydantic-core's encoder: the hot ingest path, ~5x faster than json.dumps)."""
    details = {
        "platform": case.mention.platform,
        "mention_id": case.mention.id,
        "url": str(case.mention.url),
        "author": case.mention.author.handle,
        "mention_at": _ms(case.mention.created_at.timestamp()),
        "sla_deadline": _ms(case.sla_deadline),
        "score": round(case.assessment.score, 4),
        "severity": case.assessment.severity,
        "categories": case.assessment.categories,
        "evidence": case.assessment.evidence,
    }
    return to_json(details).decode()


def _case_data(case: Case) -> str:
    """The case's static part as stored in its hash (``data``: JSON)."""
    return case.model_dump_json(include=_CASE_STATIC)


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


@dataclass(frozen=True, slots=True)
class VoteResult:
    outcome: str  # duplicate, unknown, closed, inactive, self, recorded, approved
    approvals: int
    manager_approvals: int
    manager_vetoes: int


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One entry of a case's audit trail (keys.audit): when, who, what, and the details."""

    case_id: str
    at: float  # Unix seconds
    actor: str  # a Slack user id, or "assistant"
    action: str
    details: dict[str, Any]

    @classmethod
    def from_stream(cls, case_id: str, fields: dict[str, str]) -> AuditEntry:
        details = json.loads(fields.get("details") or "{}")
        return cls(
            case_id,
            int(fields["at"]) / 1000,
            fields.get("actor", ""),
            fields.get("action", ""),
            details if isinstance(details, dict) else {},  # cjson encodes {} as [] too
        )


@dataclass(frozen=True, slots=True)
class Proposal:
    case_id: str
    ts: str
    user: str
    text: str
    status: str
    version: int
    tone_flagged: bool = False


@dataclass(frozen=True, slots=True)
class Job:
    """A claimed job: a kind, an id and a small payload, plus the lease to settle it with."""

    kind: str
    id: str
    payload: str = ""
    lease: int = 0  # the lease score returned by the claim

    @property
    def member(self) -> str:
        return keys.job_id(self.kind, self.id)

    @property
    def case_id(self) -> str:
        """The case of a case job (card, card update, publish, SLA): its id."""
        return self.id

    @property
    def shard(self) -> int:
        return keys.job_shard(self.id)


@dataclass(frozen=True, slots=True)
class SurgeSnapshot:
    """A channel's surge as stored: the state hash, the most-followed authors (handle,
    followers), a few sample texts (raw), the top grouped case ids, how many wait grouped."""

    state: dict[str, str]
    authors: list[tuple[str, int]]
    samples: list[str]
    grouped: list[str]
    waiting: int


@dataclass(frozen=True, slots=True)
class Claim:
    jobs: list[Job]
    next_due: float | None  # earliest score left in any shard (a due time or a lease expiry)


class _SharedTrips:
    """Script calls made within one event-loop turn share one pipelined round trip.

    Under load many ingests are in flight at once (concurrent webhook requests, or the
    mentions of one batch request); each still runs its own atomic script, in the order the
    calls were made, but N calls cost one write, one read and one AOF fsync wait instead of N
    (and redis-py's per-command overhead once). Nothing waits for company: the calls of a
    turn are sent at the start of the next one. One node only (a pipeline goes to one node).
    A connection error fails every call of the trip (each request answers 503; its sender
    retries, and the dedup makes a retried mention that was stored a duplicate)."""

    def __init__(self, send: Callable[[list[ScriptCall]], Awaitable[list[Any]]]) -> None:
        self._send = send
        self._pending: list[tuple[ScriptCall, asyncio.Future[Any]]] = []
        self._trips: set[asyncio.Task[None]] = set()

    def call(self, step: ScriptCall) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        if not self._pending:
            loop.call_soon(self._go)
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((step, future))
        return future

    def _go(self) -> None:
        calls, self._pending = self._pending, []
        trip = asyncio.ensure_future(self._trip(calls))
        self._trips.add(trip)  # a strong reference until it is done
        trip.add_done_callback(self._trips.discard)

    async def _trip(self, calls: list[tuple[ScriptCall, asyncio.Future[Any]]]) -> None:
        try:
            answers = await self._send([step for step, _ in calls])
        except Exception as exc:
            for _, future in calls:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:  # cancelled (shutdown): so are the calls waiting for it
            for _, future in calls:
                future.cancel()
            raise
        for (_, future), answer in zip(calls, answers, strict=True):
            if future.done():  # its caller was cancelled meanwhile
                continue
            if isinstance(answer, Exception):
                future.set_exception(answer)
            else:
                future.set_result(answer)


class Store:
    def __init__(
        self, redis: RedisClient, *, retention_seconds: int, metrics: Metrics | None = None
    ) -> None:
        self.redis = redis
        self.retention = retention_seconds
        self.metrics = metrics
        # One node executes a pipeline in order, so steps a crash must not reorder can still
        # share one round trip (and one AOF fsync); a cluster splits pipelines across nodes.
        self._one_node = not isinstance(redis, RedisCluster)
        self._scripts: dict[str, AsyncScript] = {}
        self._message_cases: dict[str, str] = {}
        self._claim_turn = 0
        self.memory = MemoryIndex(redis, retention_seconds=retention_seconds)
        for name in (
            "audit",
            "open_case",
            "proposal",
            "vote",
            "queue_job",
            "claim_jobs",
            "settle_job",
            "card_posted",
            "finish_case",
            "lease",
            "rate_limit",
            "surge_step",
            "surge_end",
            "surge_mark",
            "promote_case",
        ):
            self._scripts[name] = self.register_script(name)
        self._shared = _SharedTrips(self._scripts_pipelined)

    def register_script(self, name: str) -> AsyncScript:
        """The Lua step ``lua/<name>.lua`` (with the fragments: scripts.lua_source)."""
        return self.redis.register_script(lua_source(name))

    async def _run(self, name: str, keys_: list[str], args: list[Any]) -> Any:
        return await self._scripts[name](keys=keys_, args=args)

    async def _run_shared(self, name: str, keys_: list[str], args: list[Any]) -> Any:
        """A script call of the hot ingest path: on one node it shares a pipelined round trip
        with the other calls made in the same event-loop turn (_SharedTrips); on a cluster it
        goes to its node on its own."""
        if not self._one_node:
            return await self._run(name, keys_, args)
        return await self._shared.call((name, keys_, args))

    async def _scripts_pipelined(self, calls: list[ScriptCall]) -> list[Any]:
        """Run script calls in one pipelined round trip, in order, on one node; each answer is
        the script's result or its error (raised by the caller that made the call). A step
        that met NOSCRIPT (Redis restarted and forgot the scripts) did nothing: only those are
        sent again once the scripts are loaded, so a step need not be idempotent here."""
        answers: list[Any] = [None] * len(calls)
        todo = list(range(len(calls)))
        for attempt in range(2):
            pipe = cast(Pipeline, self.redis.pipeline(transaction=False))
            for i in todo:
                self._eval(pipe, *calls[i])
            results = await pipe.execute(raise_on_error=False)
            again = []
            for i, result in zip(todo, results, strict=True):
                if isinstance(result, NoScriptError) and not attempt:
                    again.append(i)
                else:
                    answers[i] = result
            if not again:
                break
            for script in self._scripts.values():
                await self.redis.script_load(script.script)
            todo = again
        return answers

    async def _run_many(self, calls: list[ScriptCall]) -> list[Any]:
        """Run independent script calls: one pipelined round trip on one node, concurrent
        calls on a cluster (each to the node of its slot)."""
        if not self._one_node:
            return list(await asyncio.gather(*(self._run(n, k, a) for n, k, a in calls)))

        def steps(pipe: Pipeline) -> None:
            for call in calls:
                self._eval(pipe, *call)

        return await self._pipelined(steps)

    def _eval(self, pipe: Pipeline, name: str, keys_: list[str], args: list[Any]) -> None:
        pipe.evalsha(self._scripts[name].sha, len(keys_), *keys_, *args)

    async def _pipelined(self, build: Callable[[Pipeline], object]) -> list[Any]:
        """Execute a one-node pipeline ``build`` fills (in order, one round trip). Every step
        must be idempotent: after a Redis restart forgot the scripts, the pipeline runs again
        once they are loaded (a NOSCRIPT step did nothing)."""
        for attempt in range(2):
            pipe = cast(Pipeline, self.redis.pipeline(transaction=False))
            build(pipe)
            try:
                answers: list[Any] = await pipe.execute()
                return answers
            except NoScriptError:
                if attempt:
                    raise
                for script in self._scripts.values():
                    await self.redis.script_load(script.script)
        raise AssertionError("unreachable")

    # -- cases ---------------------------------------------------------------------------

    async def open_case(
        self,
        case: Case,
        *,
        escalate_at: float | None = None,
        grouped: bool = False,
        count_day: str | None = None,
    ) -> tuple[bool, str]:
        """Store a new case, queue its card and its escalation timer (at escalate_at, by default
        the SLA deadline); (False, id) if the mention was already seen. With ``count_day``
        (``YYYY-MM-DD``) the stored mention is also counted that day (:meth:`count_mention`).

        On one node a single open_case.lua call does it all, the count included. On a cluster,
        after the dedup look, three steps in the order a crash cannot hurt: the open-case index
        entry, then the case (open_case.lua), then its jobs (and the count). A crash after the
        case and before its jobs is repaired by the sweep, which reads the index; an entry
        without a case is dropped by it."""
        case_id = case.case_id
        escalate = case.sla_deadline if escalate_at is None else escalate_at
        index = keys.open_cases(keys.shard_of(case_id))
        opened_index = keys.opened_cases(keys.shard_of(case_id))
        args = [
            _case_data(case),
            _ms(escalate),
            self.retention,
            _ms(case.opened_at),
            keys.job_id(keys.JOB_POST_CARD, case_id),
            keys.job_id(keys.JOB_SLA, case_id),
            case_id,
            _audit_details(case),
            "grouped" if grouped else "",
        ]
        case_keys = [keys.case(case_id), keys.audit(case_id)]
        if self._one_node:  # all in one call: see open_case.lua (slots do not matter here)
            due = keys.jobs_due(keys.job_shard(case_id))
            counts = [keys.mention_counts(count_day)] if count_day else []
            opened = await self._run_shared(
                "open_case", [*case_keys, index, due, opened_index, *counts], args
            )
        elif grouped:  # under a surge card: the case alone, no index entry, no jobs
            opened = await self._run("open_case", case_keys, args)
        else:
            if await self.redis.exists(keys.case(case_id)):
                return False, case_id  # a duplicate (the common one) costs one round trip
            pipe = self.redis.pipeline(transaction=False)
            pipe.zadd(index, {case_id: _ms(case.opened_at)}, nx=True)
            pipe.expire(index, self.retention)
            pipe.zadd(opened_index, {case_id: _ms(case.opened_at)})
            pipe.zremrangebyscore(opened_index, "-inf", _ms(case.opened_at - self.retention))
            pipe.expire(opened_index, self.retention)
            await pipe.execute()
            opened = await self._run("open_case", case_keys, args)
            if opened:
                await self.enqueue_many(
                    [
                        (keys.JOB_POST_CARD, case_id, case.opened_at),
                        (keys.JOB_SLA, case_id, escalate),
                    ]
                )
        if not opened:  # a concurrent ingest of the same mention won
            return False, case_id
        if count_day and not self._one_node:
            await self.count_mention(count_day, hostile=True)
        if self.metrics and not grouped:
            self.metrics.cases_opened_by(case.mention.platform, case.assessment.severity).inc()
        return True, case_id

    async def case_exists(self, case_id: str) -> bool:
        return bool(await self.redis.exists(keys.case(case_id)))

    async def promote_case(self, case_id: str, *, escalate_at: float, user: str, now: float) -> str:
        """A grouped mention becomes a case with its card and SLA timer (the Promote button).
        Same order as open_case on a cluster: index entry, the case (promote_case.lua), its
        jobs; a crash in between is repaired by the sweep. Returns 'promoted', the status the
        case already has, or 'missing'."""
        index = keys.open_cases(keys.shard_of(case_id))
        if not await self.case_exists(case_id):
            return "missing"
        opened_index = keys.opened_cases(keys.shard_of(case_id))
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(index, {case_id: _ms(now)}, nx=True)
        pipe.expire(index, self.retention)
        pipe.zadd(opened_index, {case_id: _ms(now)}, nx=True)  # reports count it from now
        pipe.expire(opened_index, self.retention)
        await pipe.execute()
        outcome = str(
            await self._run(
                "promote_case",
                [keys.case(case_id), keys.audit(case_id)],
                [_ms(escalate_at), user, _ms(now), self.retention],
            )
        )
        if outcome == "promoted":
            await self.enqueue_many(
                [(keys.JOB_POST_CARD, case_id, now), (keys.JOB_SLA, case_id, escalate_at)]
            )
            if self.metrics:
                self.metrics.cases_opened.labels("promoted", "surge").inc()
        return outcome

    # -- Slack's per-channel post rate and surges ------------------------------------------

    async def post_slot(
        self,
        channel: str,
        op: Literal["take", "priority", "penalize", "hold", "peek"],
        *,
        rate: float,
        burst: int,
        ms: float = 0.0,
    ) -> float:
        """The channel's shared token bucket (rate_limit.lua): 0 when a post may go now, else
        the seconds to wait before asking again."""
        wait = await self._run("rate_limit", [keys.rate(channel)], [op, rate, burst, int(ms)])
        return int(wait) / 1000

    async def surge_step(
        self,
        channel: str,
        args: list[Any],
        *,
        case: Case | None = None,
        escalate_at: float = 0,
        count_day: str | None = None,
    ) -> list[Any]:
        """Count a hostile mention for ``channel`` and decide its fate (surge_step.lua). With
        ``case`` (not stored yet): a duplicate answers 'duplicate' uncounted, and on one node a
        grouped case is stored by the same call (answer's 6th item: 1), and counted on
        ``count_day`` if given (as :meth:`open_case` does)."""
        keys_ = keys.surge_keys(channel)
        if case is not None:
            if not self._one_node:
                if await self.case_exists(case.case_id):
                    return ["duplicate", "", "", 0, 0, 0]
            else:
                keys_ += [keys.case(case.case_id), keys.audit(case.case_id)]
                if count_day:
                    keys_.append(keys.mention_counts(count_day))
                audit = _audit_details(case)
                args = [*args, _case_data(case), _ms(escalate_at), audit]
        return cast(list[Any], await self._run_shared("surge_step", keys_, args))

    async def surge_end(
        self, channel: str, surge_id: str, now: float, quiet: float
    ) -> tuple[str, float]:
        verdict, when = await self._run(
            "surge_end", [keys.surge(channel)], [_ms(now), _ms(quiet), surge_id]
        )
        return str(verdict), int(when) / 1000

    async def surge_mark(self, channel: str, surge_id: str, **fields: str) -> bool:
        flat = [v for pair in fields.items() for v in pair]
        return bool(await self._run("surge_mark", [keys.surge(channel)], [surge_id, *flat]))

    async def surge_snapshot(self, channel: str, *, top: int) -> SurgeSnapshot | None:
        """The channel's surge as its card shows it (None when there was none)."""
        pipe = self.redis.pipeline(transaction=False)  # one slot: one node
        pipe.hgetall(keys.surge(channel))
        pipe.zrevrange(keys.surge_authors(channel), 0, -1, withscores=True)
        pipe.lrange(keys.surge_samples(channel), 0, -1)
        pipe.zrevrange(keys.surge_grouped(channel), 0, top - 1)
        pipe.zcard(keys.surge_grouped(channel))
        state, authors, samples, grouped, waiting = await pipe.execute()
        if not state or "id" not in state:
            return None
        return SurgeSnapshot(
            state=cast(dict[str, str], state),
            authors=[(str(a), int(f)) for a, f in authors],
            samples=[str(x) for x in samples],
            grouped=[str(g) for g in grouped],
            waiting=int(waiting),
        )

    async def ungroup(self, channel: str, case_id: str) -> None:
        """A grouped mention was promoted: it leaves the surge's promotable list."""
        await self.redis.zrem(keys.surge_grouped(channel), case_id)

    async def memory_usage(self, key: str) -> int:
        return int(await self.redis.memory_usage(key) or 0)

    async def open_case_ids(self, *, limit: int = 1000) -> list[str]:
        """Ids of the cases not settled yet (open, approved), oldest first, across shards."""
        pages = cast(
            list[list[tuple[str, float]]],
            await asyncio.gather(
                *(
                    self.redis.zrange(keys.open_cases(n), 0, limit - 1, withscores=True)
                    for n in range(keys.SHARDS)
                )
            ),
        )
        pairs = sorted((float(score), str(m)) for page in pages for m, score in page)
        return [member for _, member in pairs[:limit]]

    async def get_case(self, case_id: str) -> Case | None:
        raw = cast(dict[str, str], await self.redis.hgetall(keys.case(case_id)))
        if not raw or "data" not in raw:
            return None
        fields: dict[str, Any] = json.loads(raw["data"])
        fields.update(
            status=CaseStatus(raw["status"]),
            card_ts=raw.get("card_ts"),
            proposals=int(raw.get("proposals", 0)),
            flagged_proposals=int(raw.get("flagged", 0)),
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
            suggestions=json.loads(raw["suggestions"]) if "suggestions" in raw else None,
        )
        return Case.model_validate(fields)

    async def count_attempt(
        self,
        case_id: str,
        field: Literal["publish_attempts", "escalation_attempts", "card_attempts"],
        *,
        now: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Record, before the call, that a publish, escalation or card post is being tried
        (counted on the case and audited in one step: ``publish_attempt``, …)."""
        action = field.removesuffix("s")
        await self.audit(case_id, action, now=now, details=details, count=field)

    async def audit(
        self,
        case_id: str,
        action: str,
        *,
        actor: str = "assistant",
        now: float | None = None,
        details: dict[str, Any] | None = None,
        count: str = "",
    ) -> bool:
        """Append one entry to a case's audit trail (lua/audit.lua); False if no such case.

        The API for case events recorded outside the Lua steps that audit themselves (open,
        card, proposal, vote, finish): e.g. ``audit(case_id, "publish_attempt", now=now)``.
        ``count`` also increments that field of the case hash in the same step. A Lua step
        that decides something and must audit it atomically calls the ``audit()`` fragment of
        lua/_audit.lua instead (prepended to every script): acknowledgements and pauses are
        audited so by page.lua and pause.lua, in the ops stream of the pages' slot."""
        at = _ms(time.time() if now is None else now)
        result = await self._run(
            "audit",
            [keys.case(case_id), keys.audit(case_id)],
            [self.retention, at, actor, action, json.dumps(details or {}), count],
        )
        return bool(result)

    async def case_history(self, case_id: str) -> list[AuditEntry]:
        """A case's audit trail, oldest first (empty if the case is unknown or expired)."""
        raw = cast(list[tuple[str, dict[str, str]]], await self.redis.xrange(keys.audit(case_id)))
        return [AuditEntry.from_stream(case_id, fields) for _, fields in raw]

    async def histories(self, case_ids: list[str]) -> dict[str, list[AuditEntry]]:
        """The audit trails of many cases (pipelined per batch on one node)."""
        out: dict[str, list[AuditEntry]] = {}
        for start in range(0, len(case_ids), SWEEP_BATCH):
            batch = case_ids[start : start + SWEEP_BATCH]
            if self._one_node:
                pipe = self.redis.pipeline(transaction=False)
                for case_id in batch:
                    pipe.xrange(keys.audit(case_id))
                pages = cast(list[list[tuple[str, dict[str, str]]]], await pipe.execute())
            else:
                pages = cast(
                    list[list[tuple[str, dict[str, str]]]],
                    list(await asyncio.gather(*(self.redis.xrange(keys.audit(c)) for c in batch))),
                )
            for case_id, page in zip(batch, pages, strict=True):
                out[case_id] = [AuditEntry.from_stream(case_id, f) for _, f in page]
        return out

    async def cases_opened(self, since: float, until: float) -> list[str]:
        """Ids of the cases opened in [since, until), oldest first, across the shards of the
        cases-by-time index (keys.opened_cases): no SCAN."""
        pages = cast(
            list[list[tuple[str, float]]],
            await asyncio.gather(
                *(
                    self.redis.zrangebyscore(
                        keys.opened_cases(n), _ms(since), f"({_ms(until)}", withscores=True
                    )
                    for n in range(keys.SHARDS)
                )
            ),
        )
        pairs = sorted((float(score), str(m)) for page in pages for m, score in page)
        return [member for _, member in pairs]

    async def count_mention(self, day: str, *, hostile: bool) -> None:
        """Count a scored mention on its UTC day (``YYYY-MM-DD``) for reports."""
        key = keys.mention_counts(day)
        pipe = self.redis.pipeline(transaction=False)  # one key: one node, in order
        pipe.hincrby(key, "seen", 1)
        if hostile:
            pipe.hincrby(key, "hostile", 1)
        pipe.expire(key, self.retention)
        await pipe.execute()

    async def mention_counts(self, days: list[str]) -> tuple[int, int]:
        """(mentions seen, hostile) over the given UTC days."""
        rows = await asyncio.gather(
            *(self.redis.hmget(keys.mention_counts(d), "seen", "hostile") for d in days)
        )
        seen = sum(int(r[0] or 0) for r in rows)
        hostile = sum(int(r[1] or 0) for r in rows)
        return seen, hostile

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

    async def _after_lookup(self, channel: str, ts: str, case_id: str, step: ScriptCall) -> Any:
        """Write the message -> case lookup, then run ``step`` (a vote may follow at once: the
        lookup must be there first). One round trip on one node."""
        key = keys.message(channel, ts)
        if not self._one_node:
            await self.redis.set(key, case_id, ex=self.retention)
            return await self._run(*step)

        def steps(pipe: Pipeline) -> None:
            pipe.set(key, case_id, ex=self.retention)
            self._eval(pipe, *step)

        return (await self._pipelined(steps))[1]

    async def card_posted(
        self, case_id: str, channel: str, ts: str, now: float, *, drafts: bool = False
    ) -> bool:
        """Record the card's ts; False when the case already had one (a duplicate post). With
        ``drafts`` (configured), the drafts job is queued with it: in the same step on one node
        (card_posted.lua), right after on a cluster (the sweep re-queues it if a crash came in
        between). A card update follows when the state moved on while it was being posted."""
        drafts_job = keys.job_id(keys.JOB_DRAFTS, case_id) if drafts else ""
        case_keys = [keys.case(case_id), keys.audit(case_id)]
        args: list[Any] = [ts, _ms(now), self.retention, drafts_job]
        if self._one_node:
            case_keys.append(keys.jobs_due(keys.job_shard(case_id)))
            args.append(keys.job_id(keys.JOB_UPDATE_CARD, case_id))
        step: ScriptCall = ("card_posted", case_keys, args)
        result = int(await self._after_lookup(channel, ts, case_id, step))
        if result and not self._one_node:
            if drafts:
                await self.enqueue(keys.JOB_DRAFTS, case_id, now, keep=True)
            if result == 2:  # the state moved on while the card was being posted
                await self.enqueue(keys.JOB_UPDATE_CARD, case_id, now)
        return result > 0

    async def finish_case(
        self,
        case_id: str,
        outcome: Literal["published", "failed", "escalated"],
        now: float,
        *,
        detail: str = "",
        status_id: str = "",
    ) -> bool:
        """Record a publish outcome or an escalation once; queue the card update and, for a
        publish outcome, the ``settled`` job of its follow-ups (the thread note, on-call, the
        figures, reply memory), in the same step on one node (finish_case.lua).

        The job that called this is settled by the runner when it returns; a published reply
        also cancels the escalation timer, and a settled case leaves the open-case index."""
        case_keys = [keys.case(case_id), keys.audit(case_id)]
        args: list[Any] = [outcome, _ms(now), detail, status_id, self.retention]
        if self._one_node:
            case_keys.append(keys.jobs_due(keys.job_shard(case_id)))
            args += [
                keys.job_id(keys.JOB_UPDATE_CARD, case_id),
                keys.job_id(keys.JOB_SETTLED, case_id),
            ]
        recorded = bool(await self._run("finish_case", case_keys, args))
        if recorded and self.metrics:
            await self._count_finish(case_id, outcome, now)
        if recorded and not self._one_node:
            # a crash from here until the index entry goes: the sweep queues both again
            await self.enqueue(keys.JOB_UPDATE_CARD, case_id, now)
            if outcome != "escalated":
                await self.enqueue(keys.JOB_SETTLED, case_id, now, keep=True)
        if recorded:
            if outcome == "published":
                await self.cancel_job(keys.JOB_SLA, case_id)
            if outcome != "escalated":
                await self.redis.zrem(keys.open_cases(keys.shard_of(case_id)), case_id)
        return recorded

    async def _count_finish(self, case_id: str, outcome: str, now: float) -> None:
        assert self.metrics is not None
        if outcome == "escalated":
            self.metrics.escalations.inc()
            return
        self.metrics.publishes.labels(outcome).inc()
        approved_at = cast(str | None, await self.redis.hget(keys.case(case_id), "approved_at"))
        if outcome == "published" and approved_at:
            self.metrics.decide_to_publish.observe(max(0.0, now - int(approved_at) / 1000))

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
        tone_flagged: bool = False,
        tone_score: float = 0.0,
    ) -> str:
        """Add, edit or withdraw a proposal (lua/proposal.lua), audited in the same step. A
        ``tone_flagged`` proposal (the scorer finds it hostile) needs more manager approvals."""
        step: ScriptCall = (
            "proposal",
            [
                keys.event(case_id, event_id),
                keys.case(case_id),
                keys.proposal(case_id, ts),
                keys.votes(case_id, ts),
                keys.audit(case_id),
            ],
            [
                op,
                user,
                text,
                self.retention,
                EVENT_TTL_SECONDS,
                _ms(now),
                1 if tone_flagged else 0,
                round(tone_score, 4),
                ts,
            ],
        )
        answer = (
            await self._after_lookup(channel, ts, case_id, step)
            if op == "add"
            else await self._run(*step)
        )
        result = str(answer)
        if result in ("added", "edited", "withdrawn"):  # the card shows proposals and flags
            await self.enqueue(keys.JOB_UPDATE_CARD, case_id, now)
        if self.metrics:
            self.metrics.proposals.labels(result).inc()
        return result

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
            tone_flagged=raw.get("flagged") == "1",
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
        tone_extra_managers: int = 0,
    ) -> VoteResult:
        """Cast or retract a vote and decide the case (lua/vote.lua), audited in the same step;
        a tone-flagged proposal needs ``tone_extra_managers`` more manager approvals."""
        outcome, a, m, v = await self._run(
            "vote",
            [
                keys.event(case_id, event_id),
                keys.case(case_id),
                keys.proposal(case_id, proposal_ts),
                keys.votes(case_id, proposal_ts),
                keys.audit(case_id),
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
                EVENT_TTL_SECONDS,
                tone_extra_managers,
            ],
        )
        if outcome == "approved":  # the outbox: publish, and show the decision on the card
            await self.enqueue_many(
                [(keys.JOB_PUBLISH, case_id, now), (keys.JOB_UPDATE_CARD, case_id, now)]
            )
        if self.metrics:
            self.metrics.votes.labels(str(outcome)).inc()
            if outcome == "approved":
                self.metrics.decisions.inc()
        return VoteResult(str(outcome), int(a), int(m), int(v))

    # -- jobs ----------------------------------------------------------------------------

    def _queue_keys(self, ident: str) -> list[str]:
        shard = keys.job_shard(ident)
        return [keys.jobs_due(shard), keys.jobs_payload(shard), keys.jobs_attempts(shard)]

    async def enqueue(
        self, kind: str, ident: str, due: float, payload: str = "", *, keep: bool = False
    ) -> bool:
        """Queue job (kind, id) at ``due``. A job is one per (kind, id): queuing it again moves
        it (a running one then runs once more), unless ``keep``, which leaves a queued one be.
        True when queued."""
        return bool(await self._run(*self._queue_call(kind, ident, due, payload, keep=keep)))

    def _queue_call(
        self, kind: str, ident: str, due: float, payload: str, *, keep: bool
    ) -> ScriptCall:
        if ":" in kind:
            raise ValueError(f"job kind {kind!r} has a colon")
        if len(payload) > MAX_PAYLOAD:
            raise ValueError(f"job payload of {len(payload)} chars (max {MAX_PAYLOAD})")
        member = keys.job_id(kind, ident)
        args = ["keep" if keep else "set", member, _ms(due), payload, self.retention]
        return "queue_job", self._queue_keys(ident), args

    async def enqueue_many(self, jobs: Iterable[JobSpec], *, keep: bool = False) -> None:
        calls = [self._queue_call(k, i, due, "", keep=keep) for k, i, due in jobs]
        if calls:
            await self._run_many(calls)

    async def cancel_job(self, kind: str, ident: str) -> bool:
        member = keys.job_id(kind, ident)
        return bool(
            await self._run("queue_job", self._queue_keys(ident), ["cancel", member, 0, "", 0])
        )

    async def claim_jobs(self, now: float, lease_seconds: float, limit: int) -> Claim:
        """Claim up to ``limit`` due jobs across the queue's shards, each under a lease.

        Fair across shards: the limit is split evenly, the remainder going to the shards whose
        turn it is (the turn rotates at each claim), so a busy shard cannot starve the others;
        what the others leave unused goes, in a second round, to the shards that still have
        due jobs. One script call per shard on a cluster (one slot each), one in all on one
        node."""
        shards = keys.SHARDS
        turn, self._claim_turn = self._claim_turn, (self._claim_turn + 1) % shards
        order = [(turn + i) % shards for i in range(shards)]
        quota = dict.fromkeys(order, limit // shards)
        for n in order[: limit % shards]:
            quota[n] += 1
        jobs: list[Job] = []
        firsts: dict[int, float] = {}
        for _ in range(2):
            groups = [list(quota)] if self._one_node else [[n] for n in quota]
            calls: list[ScriptCall] = [
                (
                    "claim_jobs",
                    [k for n in group for k in (keys.jobs_due(n), keys.jobs_payload(n))],
                    [_ms(now), _ms(lease_seconds), *(quota[n] for n in group)],
                )
                for group in groups
            ]
            answers = [flat for answer in await self._run_many(calls) for flat in answer]
            for n, flat in zip(quota, answers, strict=True):
                firsts[n] = float(flat[0]) / 1000
                for i in range(1, len(flat), 3):
                    kind, ident = keys.parse_job_id(str(flat[i]))
                    jobs.append(Job(kind, ident, str(flat[i + 2]), int(flat[i + 1])))
            left = limit - len(jobs)
            busy = [n for n in order if 0 <= firsts[n] <= now]
            if left <= 0 or not busy:
                break
            quota = {
                n: left // len(busy) + (1 if i < left % len(busy) else 0)
                for i, n in enumerate(busy)
            }
        due = [first for first in firsts.values() if first >= 0]
        return Claim(jobs, min(due) if due else None)

    def _settle_keys(self, job: Job) -> list[str]:
        shard = job.shard
        return [keys.jobs_due(shard), keys.jobs_attempts(shard), keys.jobs_payload(shard)]

    async def finish_job(self, job: Job) -> bool:
        """Remove a claimed job; False if it was re-queued meanwhile (it will run again)."""
        result = await self._run(
            "settle_job", self._settle_keys(job), [job.member, job.lease, "done"]
        )
        return int(result) == 0

    async def renew_job(self, job: Job, until: float) -> Job | None:
        """Extend a running job's lease to ``until``: the job with its new lease (settle it
        with that one), or None when it was re-queued meanwhile (it will run again)."""
        lease = _ms(until)
        result = await self._run(
            "settle_job", self._settle_keys(job), [job.member, job.lease, "renew", lease]
        )
        return replace(job, lease=lease) if int(result) == 0 else None

    async def reschedule_job(self, job: Job, due: float) -> bool:
        """Run a claimed (periodic) job again at ``due``; False if it was re-queued meanwhile."""
        result = await self._run(
            "settle_job", self._settle_keys(job), [job.member, job.lease, "again", _ms(due)]
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
            self._settle_keys(job),
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

    async def pending_jobs(self) -> dict[str, float]:
        """Every queued job ("kind:id" -> due time or lease expiry, in seconds)."""
        pages = cast(
            list[list[tuple[str, float]]],
            await asyncio.gather(
                *(
                    self.redis.zrange(keys.jobs_due(n), 0, -1, withscores=True)
                    for n in range(keys.SHARDS)
                )
            ),
        )
        return {str(member): float(score) / 1000 for page in pages for member, score in page}

    async def queue_stats(self, now: float) -> tuple[int, float]:
        """(jobs queued, seconds the oldest due job has waited — 0 when none is due).

        A claimed job's score is its lease expiry (in the future), so it does not count as
        waiting; one whose lease ran out (its worker died) does."""
        pipe = self.redis.pipeline(transaction=False)
        for n in range(keys.SHARDS):
            pipe.zcard(keys.jobs_due(n))
            pipe.zrange(keys.jobs_due(n), 0, 0, withscores=True)
        answers: list[Any] = await pipe.execute()
        depth = sum(int(n) for n in answers[0::2])
        firsts = [float(page[0][1]) / 1000 for page in answers[1::2] if page]
        oldest = min(firsts, default=now)
        return depth, max(0.0, now - oldest)

    async def job_payload(self, kind: str, ident: str) -> str | None:
        shard = keys.job_shard(ident)
        return cast(
            str | None, await self.redis.hget(keys.jobs_payload(shard), keys.job_id(kind, ident))
        )

    async def repair_open_cases(
        self, shard: int, *, now: float, settled_before: float, drafts: bool = False
    ) -> int:
        """Re-queue, from each open case's state, the jobs it must have (kept if queued): the
        card until it is posted, the publish job while approved, the escalation timer until it
        fires, the card update and the follow-ups (idempotent) of an outcome whose index
        entry is still there, and with ``drafts`` (configured) the drafts of a case whose card
        wants them and that were never asked for. Cases that ended (or expired) leave the index.
        Only cases opened before ``settled_before`` are looked at, so steps in flight are not
        raced. Returns the number of cases looked at."""
        index = keys.open_cases(shard)
        ids = cast(list[str], await self.redis.zrangebyscore(index, "-inf", _ms(settled_before)))
        for start in range(0, len(ids), SWEEP_BATCH):
            batch = ids[start : start + SWEEP_BATCH]
            pipe = self.redis.pipeline(transaction=False)
            for case_id in batch:
                pipe.hmget(
                    keys.case(case_id),
                    "status",
                    "card_ts",
                    "escalated_at",
                    "escalate_at",
                    "drafts_due",
                    "drafts",
                )
            rows = cast(list[list[str | None]], await pipe.execute())
            gone: list[str] = []
            wanted: list[JobSpec] = []
            for case_id, (status, card_ts, escalated_at, escalate_at, due, asked) in zip(
                batch, rows, strict=True
            ):
                if status is None or status in ("published", "failed"):
                    gone.append(case_id)
                    if status is not None:  # finish_case was cut short: its follow-ups
                        wanted.append((keys.JOB_UPDATE_CARD, case_id, now))
                        wanted.append((keys.JOB_SETTLED, case_id, now))
                    continue
                if not card_ts:
                    wanted.append((keys.JOB_POST_CARD, case_id, now))
                elif drafts and due and asked is None and status == "open":
                    wanted.append((keys.JOB_DRAFTS, case_id, now))  # (drafts.py keeps "drafts")
                if status == "approved":
                    wanted.append((keys.JOB_PUBLISH, case_id, now))
                if not escalated_at and escalate_at:
                    wanted.append((keys.JOB_SLA, case_id, int(escalate_at) / 1000))
            if gone:
                await self.redis.zrem(index, *gone)
            await self.enqueue_many(wanted, keep=True)
        return len(ids)

    async def migrate_legacy_jobs(self, now: float) -> int:
        """Move the jobs of the single queue of earlier versions into the sharded queue (and
        their cases into the open-case index). A no-op (one EXISTS) once done."""
        legacy = keys.legacy_jobs()
        if not await self.redis.exists(legacy):
            return 0
        pairs = cast(
            list[tuple[str, float]], await self.redis.zrange(legacy, 0, -1, withscores=True)
        )
        for member, score in pairs:
            kind, ident = keys.parse_job_id(member)
            await self.enqueue(kind, ident, score / 1000, keep=True)
            if kind in keys.CASE_JOBS:
                index = keys.open_cases(keys.shard_of(ident))
                await self.redis.zadd(index, {ident: _ms(now)}, nx=True)
                await self.redis.expire(index, self.retention)
        await self.redis.delete(legacy)
        return len(pairs)

    # -- caches, cursors, leases ---------------------------------------------------------

    async def cached_user(self, user_id: str) -> dict[str, str] | None:
        raw = cast(dict[str, str], await self.redis.hgetall(keys.user(user_id)))
        return raw or None

    async def cache_user(self, user_id: str, fields: dict[str, str], ttl: int) -> None:
        pipe = self.redis.pipeline(transaction=False)  # one key: one node, in order
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

    async def reads(self, name: str, month: str) -> int:
        """Posts read this month (``add_reads``'s total), without counting any."""
        return int(await self.redis.get(keys.reads(name, month)) or 0)

    async def add_reads(self, name: str, month: str, count: int) -> int:
        """Add ``count`` posts read this month; returns the month's total."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.incrby(keys.reads(name, month), count)
        pipe.expire(keys.reads(name, month), 40 * 86400)
        total, _ = await pipe.execute()
        return int(total)

    async def has_marker(self, name: str) -> bool:
        return bool(await self.redis.exists(keys.marker(name)))

    async def set_marker(self, name: str) -> None:
        await self.redis.set(keys.marker(name), "1", ex=self.retention)

    async def claim_marker(self, name: str) -> bool:
        """Set the marker; True when it was not set yet (one ``SET NX``)."""
        return bool(await self.redis.set(keys.marker(name), "1", nx=True, ex=self.retention))

    async def acquire_lease(self, name: str, owner: str, seconds: float) -> bool:
        return bool(await self._run("lease", [keys.lease(name)], [owner, "acquire", _ms(seconds)]))

    async def release_lease(self, name: str, owner: str) -> bool:
        return bool(await self._run("lease", [keys.lease(name)], [owner, "release", 0]))


def _seconds(ms: str | None) -> float | None:
    return int(ms) / 1000 if ms else None
