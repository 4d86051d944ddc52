"""Reply memory in Redis: remembered replies and an inverted index of their mentions' terms.

Keys (keys.memory_*) share one hash tag per language, ``{mem.<lang>}``. A lookup is three
round trips, each bounded whatever the memory's size: the query terms' frequencies (their
weights); memory_lookup.lua, which takes the entries sharing a distinctive term as candidates
(the most recent of each), adds the common terms they share and returns the best exact
cosines; then the few best entries.
A term's postings hold every entry that has it (their size is the term's document frequency),
but a lookup reads only the POSTINGS_MAX most recent of each, so it reads a bounded amount
whatever the memory's size. Every key has the retention TTL, refreshed when written, and
entries older than the retention leave the postings written to (and the entry list) when a
reply is remembered.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from assistant import similarity
from assistant.models import Suggestion
from assistant.store import keys
from assistant.store.scripts import lua_source

if TYPE_CHECKING:
    from assistant.store.store import RedisClient

POSTINGS_MAX = 400  # most recent entries of a distinctive term read by a lookup
RARE_FRACTION = 0.05  # a term in more entries than this (and RARE_MIN) is common: it adds to
RARE_MIN = 50  # the similarity of the candidates the distinctive terms found, brings none
CANDIDATES_MAX = 400  # candidates whose exact similarity is computed
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
        self._lookup = redis.register_script(lua_source("memory_lookup"))

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
        known = await self.redis.exists(keys.memory_entry(code, case_id))
        grow = 0 if known else 1
        weights = {
            t: similarity.idf(df + grow, total + grow) for t, df in zip(terms, dfs, strict=True)
        }
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
        cutoff = ms - ttl * 1000
        gone = cast(list[str], await self.redis.zrangebyscore(keys.memory_entries(code), 0, cutoff))
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(keys.memory_entry(code, case_id), mapping=entry)
        pipe.expire(keys.memory_entry(code, case_id), ttl)
        pipe.zadd(keys.memory_entries(code), {case_id: ms})
        pipe.zremrangebyscore(keys.memory_entries(code), 0, cutoff)
        pipe.expire(keys.memory_entries(code), ttl)
        if gone:
            pipe.hdel(keys.memory_norms(code), *gone)
        pipe.hset(keys.memory_norms(code), case_id, entry["norm"])
        pipe.expire(keys.memory_norms(code), ttl)
        for term in terms:
            key = keys.memory_term(code, term)
            pipe.zadd(key, {case_id: ms})
            pipe.zremrangebyscore(key, 0, cutoff)
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
        # 1. how many entries have each term (its weight)
        pipe = self.redis.pipeline(transaction=False)
        pipe.zcard(keys.memory_entries(code))
        for term in terms:
            pipe.zcard(keys.memory_term(code, term))
        counts = [int(n) for n in await pipe.execute()]
        total, dfs = counts[0], dict(zip(terms, counts[1:], strict=True))
        weights = {t: similarity.idf(dfs[t], total) for t in terms}
        present = sorted((t for t in terms if dfs[t]), key=lambda t: dfs[t])
        if not present:
            return []
        # 2. in Redis (memory_lookup.lua): candidates are the entries sharing a distinctive
        # term (the most recent of each); common terms add to their similarity
        rare_max = max(RARE_MIN, int(total * RARE_FRACTION))
        rare = [t for t in present if dfs[t] <= rare_max] or present[:2]
        common = [t for t in present if t not in rare]
        qnorm = similarity.norm(weights, terms)
        flat = cast(
            list[str],
            await self._lookup(
                keys=[
                    keys.memory_norms(code),
                    *(keys.memory_term(code, t) for t in rare + common),
                ],
                args=[
                    len(rare),
                    POSTINGS_MAX,
                    CANDIDATES_MAX,
                    repr(qnorm),
                    repr(min_similarity),
                    limit + 2,  # a spare or two in case one expired meanwhile
                    exclude,
                    *(repr(weights[t] ** 2) for t in rare + common),
                ],
            ),
        )
        cosine = {flat[i]: float(flat[i + 1]) for i in range(0, len(flat), 2)}
        best = list(cosine)  # best first
        if not best:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for member in best:
            pipe.hgetall(keys.memory_entry(code, member))
        rows = cast(list[dict[str, str]], await pipe.execute())
        scored: list[Suggestion] = []
        written = similarity.as_written(text)
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
                    shared=[written.get(k, k) for k in shared[:6]],
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
