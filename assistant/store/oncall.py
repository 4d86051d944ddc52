"""The on-call part of the store: pages, the pause, App Home viewers, trouble marks, daily
figures. Same rules as store.py: keys from keys.py, atomic steps in lua/page.lua (one slot)."""

from __future__ import annotations

import json
import statistics
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any, Literal, cast

from pydantic import BaseModel

from assistant.store import keys
from assistant.store.store import Store

MAX_OPEN_PAGES = 200  # App Home and /ops list at most this many
VIEWER_SECONDS = 7 * 86400  # an App Home opened within this long is refreshed on changes


class Page(BaseModel):
    """An on-call page as stored (pages are durable: a restart resumes their timers)."""

    id: str
    status: Literal["open", "acked", "resolved"]
    text: str
    channel: str
    thread_ts: str = ""
    case_id: str = ""
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
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")


class OncallStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.redis = store.redis
        self.retention = store.retention
        source = files("assistant.store").joinpath("lua/page.lua").read_text()
        self._page = self.redis.register_script(source)

    async def _script(self, page_id: str, case_id: str, args: list[Any]) -> Any:
        case_key = keys.case_pages(case_id) if case_id else keys.open_pages()
        return await self._page(keys=[keys.page(page_id), keys.open_pages(), case_key], args=args)

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
    ) -> bool:
        """Record a new page; False if a page with this id exists (a retry, a duplicate)."""
        fields = {
            "id": page_id,
            "text": text,
            "channel": channel,
            "thread_ts": thread_ts or "",
            "case_id": case_id or "",
            "critical": "1" if critical else "0",
        }
        args = ["open", _ms(now), self.retention, page_id, json.dumps(fields)]
        return bool(await self._script(page_id, case_id or "", args))

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
        """(outcome, who acked, when): acked | already | resolved | unknown."""
        outcome, by, at = await self._script(page_id, "", ["ack", _ms(now), self.retention, user])
        return str(outcome), str(by), _seconds(str(at))

    async def resolve(self, page_id: str, why: str, now: float) -> bool:
        return bool(await self._script(page_id, "", ["resolve", _ms(now), self.retention, why]))

    async def advance(self, page_id: str, step: int, channel: str, ts: str, now: float) -> bool:
        args = ["advance", _ms(now), self.retention, str(step), channel, ts]
        return bool(await self._script(page_id, "", args))

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

    async def pause(self, until: float, now: float) -> None:
        await self.redis.set(keys.paused(), str(_ms(until)), px=max(1, _ms(until - now)))

    async def resume(self) -> bool:
        return bool(await self.redis.delete(keys.paused()))

    async def paused_until(self, now: float) -> float | None:
        raw = await self.redis.get(keys.paused())
        until = _seconds(raw)
        return until if until is not None and until > now else None

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

    # -- daily figures ------------------------------------------------------------------------

    async def count_opened(self, now: float) -> None:
        day = day_of(now)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hincrby(keys.daily(day), "opened", 1)
        pipe.expire(keys.daily(day), self.retention)
        await pipe.execute()

    async def record_reply(self, case_id: str, at: float, seconds: float) -> None:
        """Count a case's published reply in its day's figures, once (a run again of the job
        that records it changes nothing)."""
        key = keys.replies(day_of(at))
        pipe = self.redis.pipeline(transaction=False)  # one key: one node, in order
        pipe.hsetnx(key, case_id, f"{max(0.0, seconds):.1f}")
        pipe.expire(key, self.retention)
        await pipe.execute()

    async def figures(self, now: float) -> tuple[int, int, float | None]:
        """Today's (UTC) cases opened, replies published, median seconds to reply."""
        day = day_of(now)
        raw = cast(dict[str, str], await self.redis.hgetall(keys.daily(day)))
        replied = cast(list[str], await self.redis.hvals(keys.replies(day)))
        legacy = cast(list[str], await self.redis.lrange(keys.reply_times(day), 0, -1))
        times = [float(t) for t in (*replied, *legacy)]
        median = statistics.median(times) if times else None
        published = len(replied) + int(raw.get("published", 0))  # (earlier versions counted)
        return int(raw.get("opened", 0)), published, median


def _seconds(ms: str | bytes | None) -> float | None:
    if not ms:
        return None
    try:
        return int(ms) / 1000
    except ValueError:
        return None
