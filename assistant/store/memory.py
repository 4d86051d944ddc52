"""Reply memory in Redis: remembered replies and an inverted index of their mentions' terms.

Keys (keys.memory_*) share one hash tag per language, ``{mem.<lang>}``: a lookup reads one
language's postings in one pipelined round trip, then the few best candidates in a second.
Each term's postings keep the POSTINGS_MAX most recent entries, so a lookup reads a bounded
amount whatever the memory's size; every key has the retention TTL, refreshed when written,
and entries older than the retention leave the index when a reply is remembered.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from assistant import similarity
from assistant.models import Suggestion
from assistant.store import keys

if TYPE_CHECKING:
    from assistant.store.store import RedisClient

POSTINGS_MAX = 400  # most recent entries kept per term
CANDIDATES = 24  # entries read in full and scored exactly
MENTION_MAX = 1000  # characters of a mention kept with its reply
REPLY_MAX = 3000


@dataclass(frozen=True, slots=True)
class Remembered:
    case_id: str
    lang: str
    mention: str
    reply: str
    platform: str


class MemoryIndex:
    def __init__(self, redis: RedisClient, *, retention_seconds: int) -> None:
        self.redis = redis
        self.retention = retention_seconds

    async def remember(
        self,
        case_id: str,
        mention: str,
        reply: str,
        *,
        lang: str | None,
        platform: str,
        now: float | None = None,
    ) -> str:
        """Remember ``reply`` as the answer to ``mention`` (idempotent per case); its language."""
        now = time.time() if now is None else now
        found = similarity.terms(mention, lang)
        code, terms = found.lang, found.keys
        total = int(await self.redis.zcard(keys.memory_entries(code)))
        dfs = await self._dfs(code, terms)
        weights = {t: similarity.idf(df + 1, total + 1) for t, df in zip(terms, dfs, strict=True)}
        ms = int(now * 1000)
        entry: dict[Any, Any] = {
            "mention": mention[:MENTION_MAX],
            "reply": reply[:REPLY_MAX],
            "terms": " ".join(terms),
            "norm": repr(similarity.norm(weights, terms)),
            "platform": platform,
            "at": str(ms),
        }
        ttl = self.retention
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(keys.memory_entry(code, case_id), mapping=entry)
        pipe.expire(keys.memory_entry(code, case_id), ttl)
        pipe.zadd(keys.memory_entries(code), {case_id: ms})
        pipe.zremrangebyscore(keys.memory_entries(code), 0, ms - ttl * 1000)
        pipe.expire(keys.memory_entries(code), ttl)
        for term in terms:
            key = keys.memory_term(code, term)
            pipe.zadd(key, {case_id: ms})
            pipe.zremrangebyrank(key, 0, -POSTINGS_MAX - 1)
            pipe.expire(key, ttl)
        await pipe.execute()
        return code

    async def _dfs(self, lang: str, terms: list[str]) -> list[int]:
        if not terms:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for term in terms:
            pipe.zcard(keys.memory_term(lang, term))
        return [int(n) for n in await pipe.execute()]

    async def similar(
        self,
        text: str,
        *,
        lang: str | None,
        limit: int = 3,
        exclude: str = "",
        min_similarity: float = similarity.MIN_SIMILARITY,
    ) -> list[Suggestion]:
        """The remembered replies to the mentions most like ``text`` (same language), best
        first, at most ``limit``, each at least ``min_similarity`` similar."""
        found = similarity.terms(text, lang)
        code, terms = found.lang, found.keys
        if not terms or limit <= 0:
            return []
        pipe = self.redis.pipeline(transaction=False)
        pipe.zcard(keys.memory_entries(code))
        for term in terms:
            pipe.zcard(keys.memory_term(code, term))
            pipe.zrevrange(keys.memory_term(code, term), 0, POSTINGS_MAX - 1)
        answers: list[Any] = await pipe.execute()
        total = int(answers[0])
        weights: dict[str, float] = {}
        rough: dict[str, float] = {}
        for i, term in enumerate(terms):
            df, posting = int(answers[1 + 2 * i]), cast(list[str], answers[2 + 2 * i])
            if df == 0:
                weights[term] = similarity.idf(0, total)
                continue
            weights[term] = w = similarity.idf(df, total)
            for member in posting:
                rough[member] = rough.get(member, 0.0) + w * w
        rough.pop(exclude, None)
        if not rough:
            return []
        qnorm = similarity.norm(weights, terms)
        best = sorted(rough, key=lambda m: -rough[m])[:CANDIDATES]
        pipe = self.redis.pipeline(transaction=False)
        for member in best:
            pipe.hgetall(keys.memory_entry(code, member))
        rows = cast(list[dict[str, str]], await pipe.execute())
        scored: list[Suggestion] = []
        for member, row in zip(best, rows, strict=True):
            if not row or "terms" not in row:
                continue  # expired since the postings were read
            sim, shared = similarity.similarity(
                terms, qnorm, row["terms"].split(), float(row.get("norm", 0)), weights
            )
            if sim < min_similarity:
                continue
            scored.append(
                Suggestion(
                    entry=member,
                    lang=code,
                    mention=row.get("mention", ""),
                    reply=row.get("reply", ""),
                    similarity=round(sim, 3),
                    shared=[found.surface[k] for k in shared[:6]],
                )
            )
        scored.sort(key=lambda s: -s.similarity)
        return scored[:limit]

    async def get(self, lang: str, case_id: str) -> Remembered | None:
        row = cast(dict[str, str], await self.redis.hgetall(keys.memory_entry(lang, case_id)))
        if not row or "reply" not in row:
            return None
        return Remembered(case_id, lang, row["mention"], row["reply"], row.get("platform", ""))

    async def size(self, lang: str) -> int:
        return int(await self.redis.zcard(keys.memory_entries(lang)))

    async def once(self, case_id: str, what: str) -> bool:
        """True the first time ``what`` is claimed for this case (a marker with the TTL)."""
        return bool(
            await self.redis.set(keys.memory_claim(case_id, what), "1", nx=True, ex=self.retention)
        )

    async def release(self, case_id: str, what: str) -> None:
        await self.redis.delete(keys.memory_claim(case_id, what))

    async def save_suggestions(self, case_id: str, found: list[Suggestion]) -> None:
        """Keep the suggestions with the case (the card is re-rendered from them)."""
        value = json.dumps([s.model_dump() for s in found], ensure_ascii=False)
        await self.redis.hset(keys.case(case_id), "suggestions", value)
