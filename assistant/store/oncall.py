"""The on-call part of the store: pages, the pause, the ops audit trail, App Home viewers,
trouble marks. Same rules as store.py: keys from keys.py, atomic steps in lua/page.lua and
lua/pause.lua, all in the pages' slot, each writing its entry in the ops audit stream of the
day (keys.ops_audit) in the same step."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal, cast

from pydantic import BaseModel

from assistant.store import keys
from assistant.store.store import AuditEntry, Store

MAX_OPEN_PAGES = 200  # App Home and /ops list at most this many
VIEWER_SECONDS = 7 * 86400  # an App Home opened within this long is refreshed on changes
AUDIT_TEXT_MAX = 300  # characters of a page's text kept in its audit entry


class Page(BaseModel):
    """An on-call page as stored (pages are durable: a restart resumes their timers)."""

    id: str
    status: Literal["open", "acked", "resolved"]
    text: str
    channel: str
    thread_ts: str = ""
    case_id: str = ""  # resolved when this case is settled (and ``/ops ack CASE`` finds it)
    about: str = ""  # the case the page concerns (its audit entries name it), if any
    critical: bool = False
    created_at: float
    step: int = 0  # the next step of the policy to notify
    ts: str = ""  # the page's message (with the Acknowledge button) once posted
    msg_channel: str = ""  # where it is (the channel, or a DM when the channel refused)
    acked_by: str = ""
    acked_at: float | None = None
    resolved_at: float | None = None
    notified_at: float | None = None


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def day_of(now: float) -> str:
    """The UTC day (``YYYY-MM-DD``) of ``now``: the day audits and mention counts are kept on."""
    return _day_number(int(now // 86_400))  # Unix time has 86,400 s in every UTC day


@lru_cache(maxsize=4)
def _day_number(days: int) -> str:
    """The date of day ``days`` since 1970-01-01 (cached: every ingest asks, the day rarely
    changes)."""
    return datetime.fromtimestamp(days * 86_400, UTC).date().isoformat()


class OncallStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.redis = store.redis
        self.retention = store.retention
        self._page = store.register_script("page")
        self._pause = store.register_script("pause")

    async def _script(self, page_id: str, case_id: str, now: float, args: list[Any]) -> Any:
        case_key = keys.case_pages(case_id) if case_id else keys.open_pages()
        page_keys = [keys.page(page_id), keys.open_pages(), case_key, keys.ops_audit(day_of(now))]
        return await self._page(keys=page_keys, args=[args[0], _ms(now), self.retention, *args[1:]])

    # -- pages ------------------------------------------------------------------------------

    async def open_page(
        self,
        page_id: str,
        *,
        text: str,
        channel: str,
        thread_ts: str | None,
        case_id: str | None,
        critical: bool,
        now: float,
        about: str | None = None,
    ) -> bool:
        """Record a new page, audited ``paged``; False if a page with this id exists (a retry,
        a duplicate). ``case_id``: the case whose settling resolves the page; ``about`` (by
        default ``case_id``): the case the page concerns, named by its audit entries."""
        concerns = about or case_id or ""
        fields = {
            "id": page_id,
            "text": text,
            "channel": channel,
            "thread_ts": thread_ts or "",
            "case_id": case_id or "",
            "about": concerns,
            "critical": "1" if critical else "0",
        }
        details = {
            "page": page_id,
            "critical": critical,
            "channel": channel,
            "text": text[:AUDIT_TEXT_MAX],
        }
        args = ["open", page_id, json.dumps(fields), json.dumps(details)]
        return bool(await self._script(page_id, case_id or "", now, args))

    async def get_page(self, page_id: str) -> Page | None:
        raw = cast(dict[str, str], await self.redis.hgetall(keys.page(page_id)))
        if not raw or "status" not in raw:
            return None
        return Page(
            id=raw.get("id", page_id),
            status=cast(Any, raw["status"]),
            text=raw.get("text", ""),
            channel=raw.get("channel", ""),
            thread_ts=raw.get("thread_ts", ""),
            case_id=raw.get("case_id", ""),
            about=raw.get("about", raw.get("case_id", "")),
            critical=raw.get("critical") == "1",
            created_at=int(raw.get("created_at", "0")) / 1000,
            step=int(raw.get("step", "0")),
            ts=raw.get("ts", ""),
            msg_channel=raw.get("msg_channel", ""),
            acked_by=raw.get("acked_by", ""),
            acked_at=_seconds(raw.get("acked_at")),
            resolved_at=_seconds(raw.get("resolved_at")),
            notified_at=_seconds(raw.get("notified_at")),
        )

    async def ack(self, page_id: str, user: str, now: float) -> tuple[str, str, float | None]:
        """(outcome, who acked, when): acked | already | resolved | unknown. Only ``acked``
        changed something, and wrote its ``acknowledged`` entry in the same step."""
        outcome, by, at = await self._script(page_id, "", now, ["ack", user])
        return str(outcome), str(by), _seconds(str(at))

    async def resolve(self, page_id: str, why: str, now: float) -> bool:
        """Resolve an open page (audited ``page_resolved``); False if it was not open."""
        return bool(await self._script(page_id, "", now, ["resolve", why]))

    async def advance(self, page_id: str, step: int, channel: str, ts: str, now: float) -> bool:
        """Record that the page's step ``step`` was notified (audited ``page_sent``), once."""
        return bool(await self._script(page_id, "", now, ["advance", str(step), channel, ts]))

    async def count_attempt(self, page_id: str, step: int) -> int:
        """Count a notification attempt of a step (before the Slack call): > 1 means an
        earlier attempt's outcome may be unknown (look before posting again)."""
        return int(await self.redis.hincrby(keys.page(page_id), f"attempts.{step}", 1))

    async def attempts(self, page_id: str, step: int) -> int:
        raw = await self.redis.hget(keys.page(page_id), f"attempts.{step}")
        return int(raw) if raw else 0

    async def open_page_ids(self) -> list[str]:
        """Open (unacknowledged) pages, oldest first."""
        return [str(m) for m in await self.redis.zrange(keys.open_pages(), 0, MAX_OPEN_PAGES - 1)]

    async def case_page_ids(self, case_id: str) -> list[str]:
        return sorted(str(m) for m in await self.redis.smembers(keys.case_pages(case_id)))

    # -- the pause ----------------------------------------------------------------------------

    async def pause(self, user: str, until: float, now: float) -> None:
        """Pause publishing and polling until ``until`` (audited ``paused``, one step)."""
        keys_ = [keys.paused(), keys.ops_audit(day_of(now))]
        await self._pause(keys=keys_, args=["pause", _ms(now), self.retention, user, _ms(until)])

    async def resume(self, user: str, now: float) -> bool:
        """End the pause (audited ``resumed``); False, and nothing written, if none was on."""
        keys_ = [keys.paused(), keys.ops_audit(day_of(now))]
        return bool(await self._pause(keys=keys_, args=["resume", _ms(now), self.retention, user]))

    async def paused_until(self, now: float) -> float | None:
        raw = await self.redis.get(keys.paused())
        until = _seconds(raw)
        return until if until is not None and until > now else None

    async def migrate_legacy_pause(self, now: float) -> bool:
        """Move a pause set by a version before the ops audit (keys.legacy_paused) to its key
        in the pages' slot. A no-op (one GET) when there is none."""
        raw = await self.redis.get(keys.legacy_paused())
        if raw is None:
            return False
        until = _seconds(raw)
        if until is not None and until > now:
            await self.redis.set(keys.paused(), str(_ms(until)), px=max(1, _ms(until - now)))
        return bool(await self.redis.delete(keys.legacy_paused()))

    # -- the ops audit trail ------------------------------------------------------------------

    async def audit_entries(
        self, since: float, until: float, *, case_id: str | None = None
    ) -> list[AuditEntry]:
        """The ops audit entries of [since, until), oldest first (only those about
        ``case_id`` when given): the day streams of the period, in one round trip (one slot).
        Days older than the retention are not read: their streams have expired."""
        first = max(since, until - self.retention - 86400)
        days = utc_days(first, until)
        pipe = self.redis.pipeline(transaction=False)
        for day in days:
            pipe.xrange(keys.ops_audit(day))
        pages = cast(list[list[tuple[str, dict[str, str]]]], await pipe.execute())
        entries = [
            AuditEntry.from_stream(fields.get("case", ""), fields)
            for page in pages
            for _, fields in page
            if case_id is None or fields.get("case") == case_id
        ]
        return sorted((e for e in entries if since <= e.at < until), key=lambda e: e.at)

    # -- App Home viewers ---------------------------------------------------------------------

    async def add_viewer(self, user: str, now: float) -> None:
        pipe = self.redis.pipeline(transaction=False)  # one key
        pipe.zadd(keys.home_viewers(), {user: _ms(now)})
        pipe.zremrangebyscore(keys.home_viewers(), "-inf", _ms(now - VIEWER_SECONDS))
        pipe.expire(keys.home_viewers(), VIEWER_SECONDS)
        await pipe.execute()

    async def viewers(self, now: float) -> list[str]:
        found = await self.redis.zrangebyscore(
            keys.home_viewers(), _ms(now - VIEWER_SECONDS), "+inf"
        )
        return [str(u) for u in found]

    # -- trouble marks ------------------------------------------------------------------------

    async def failing_since(self, dependency: str, now: float) -> float:
        """Mark ``dependency`` failing (kept from its first failure); returns since when."""
        key = keys.trouble(dependency)
        await self.redis.set(key, str(_ms(now)), nx=True, ex=self.retention)
        return _seconds(await self.redis.get(key)) or now

    async def working(self, dependency: str) -> bool:
        return bool(await self.redis.delete(keys.trouble(dependency)))

    async def troubles(self, dependencies: list[str]) -> dict[str, float]:
        values = [await self.redis.get(keys.trouble(d)) for d in dependencies]
        return {d: s for d, v in zip(dependencies, values, strict=True) if (s := _seconds(v))}


def utc_days(since: float, until: float) -> list[str]:
    """The UTC days (``YYYY-MM-DD``) from the one of ``since`` to the one of ``until``."""
    first = datetime.fromtimestamp(since, UTC).date()
    last = datetime.fromtimestamp(until, UTC).date()
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def _seconds(ms: str | bytes | None) -> float | None:
    if not ms:
        return None
    try:
        return int(ms) / 1000
    except ValueError:
        return None
