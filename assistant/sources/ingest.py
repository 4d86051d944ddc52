"""``POST /ingest/mentions``: any tool delivers a mention, signed with INGEST_SECRET.

Header ``X-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>``. Answers 202 with the
case when one is opened (status ``opened``) or grouped under a surge card (``grouped``),
200 with a reason when the mention is not hostile or already seen, 401 on a missing,
malformed or bad signature (checked over the raw bytes before anything is parsed), 400
naming the bad field, 413 over 64 KiB, 408 for a body that does not arrive within 10 s, 503
(with ``Retry-After``) while Redis is unavailable — the sender retries, and nothing it was
not told 200/202 about was kept.
Work before the answer is bounded by the body limit: one scoring, one Lua step (two when a
surge is being watched and the mention gets a card: surge_step.lua, then open_case.lua); no
Slack call. Concurrent requests' steps share pipelined round trips (assistant/store).

``POST /ingest/mentions/batch``: the same for up to MAX_BATCH mentions in one request, for
tools that forward mentions in batches: body ``{"mentions": [<mention>, ...]}`` (at most
1 MiB), signed the same way. Every mention is validated before any is ingested (400 naming
``mentions.<i>.<field>``, nothing kept); then each is ingested as if sent alone, all at once
(their Lua steps share round trips), and the answer is 200 with ``results``, one per mention
in the order sent: the status, case, score and reason a single request would have got. 503
if Redis became unavailable meanwhile: resend the whole batch (mentions already stored
answer ``duplicate`` then; none is lost or stored twice).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assistant.cases import IngestOutcome
from assistant.edge import (
    BodyRefused,
    check_sha256_signature,
    error,
    read_body,
    sha256_signature,
)
from assistant.logs import outside
from assistant.models import Mention
from assistant.payloads import loads_json
from assistant.store import is_unavailable

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
MAX_BATCH = 100  # mentions in one batch request
MAX_BATCH_BODY_BYTES = 1024 * 1024
BATCH_IN_FLIGHT = 32  # mentions of all batch requests being ingested at once
SIGNATURE_HEADER = "X-Signature-256"
RETRY_AFTER_SECONDS = 5

Ingest = Callable[[Mention], Awaitable[IngestOutcome]]
M = TypeVar("M", bound=BaseModel)
Route = Callable[[web.Request], Awaitable[web.Response]]


class MentionBatch(BaseModel):
    """The body of ``POST /ingest/mentions/batch``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    mentions: list[Mention] = Field(min_length=1, max_length=MAX_BATCH)


def sign(secret: bytes, body: bytes) -> str:
    """The header value a sender computes: ``sha256=`` + hex HMAC-SHA256 of the raw body."""
    return sha256_signature(secret, body)


async def _signed_body(request: web.Request, secret: bytes, limit: int) -> bytes | web.Response:
    """The request's raw body once its signature is checked over it, or the web.Response
    refusing it (408, 413, 401)."""
    try:
        body = await read_body(request, limit)
    except BodyRefused as exc:
        return error(exc.status, exc.reason)
    reason = check_sha256_signature(secret, body, request.headers, SIGNATURE_HEADER)
    if reason is not None:
        return error(401, reason)
    return body


def _parse(model: type[M], body: bytes) -> M | web.Response:
    """The signed body as ``model``, or 400 saying why not: not JSON, or the first bad field.

    A valid body is parsed straight from the bytes (pydantic's JSON parser, in Rust: half the
    CPU of json.loads then validating the objects). Anything it refuses — and any body with a
    NaN or Infinity token, which it would accept where json.loads (loads_json) does not — is
    read again the plain way, which decides and names the reason: what is accepted and every
    answer are the same as with the plain way alone."""
    if b"NaN" not in body and b"Infinity" not in body:
        try:
            return model.model_validate_json(body)
        except ValidationError:
            pass  # refused: the plain reading below says why
    try:
        payload = loads_json(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return error(400, f"body is not JSON ({type(exc).__name__})")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        return _invalid(exc)


def _invalid(exc: ValidationError) -> web.Response:
    """400 naming the first bad field (``author.followers``, ``mentions.3.text``)."""
    err = exc.errors(include_input=False, include_url=False)[0]
    field = ".".join(str(p) for p in err["loc"]) or "body"
    return web.json_response({"error": f"{field}: {err['msg']}", "field": field}, status=400)


def _unavailable(exc: Exception) -> web.Response:
    log.warning("ingest refused (503), the store is unavailable: %s", outside(exc))
    return web.json_response(
        {"error": "the store is unavailable, retry later"},
        status=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _answer(outcome: IngestOutcome) -> dict[str, Any]:
    return {
        "status": outcome.status,
        "case": outcome.case_id,
        "score": round(outcome.score, 4),
        "reason": outcome.reason,
    }


def _route(
    secret: bytes, limit: int, model: type[M], answer: Callable[[M], Awaitable[web.Response]]
) -> Route:
    """A signed ingest route: the edge's checks (_signed_body), the body parsed into
    ``model`` (_parse: 400 naming the field), then ``answer``; 503 while the store is
    unavailable."""

    async def handle(request: web.Request) -> web.Response:
        raw = await _signed_body(request, secret, limit)
        if isinstance(raw, web.Response):
            return raw
        body = _parse(model, raw)
        if isinstance(body, web.Response):
            return body
        try:
            return await answer(body)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            return _unavailable(exc)

    return handle


def ingest_route(secret: bytes, ingest: Ingest) -> Route:
    async def one(mention: Mention) -> web.Response:
        outcome = await ingest(mention)
        accepted = outcome.status in ("opened", "grouped")
        return web.json_response(_answer(outcome), status=202 if accepted else 200)

    return _route(secret, MAX_BODY_BYTES, Mention, one)


async def _ingest_all(
    ingest: Ingest, mentions: list[Mention], gate: asyncio.Semaphore
) -> list[IngestOutcome]:
    """Ingest a batch's mentions at once, in order; their outcomes in order.

    Their Lua steps share round trips. ``gate`` bounds the mentions being ingested at once
    across every batch request (BATCH_IN_FLIGHT): the scoring done in one event-loop turn
    stays short, so a turn never holds the loop long enough to time out the Redis answers
    waiting behind it (the store's 0.5 s) nor to starve the jobs (the surge card and page)
    while batches pour in. A mention sent twice in the batch goes after the first ones, so
    the first is the one stored (on a cluster, concurrent steps may finish in any order).
    The first error is raised once the others of its group are done: nothing is left
    running after the answer."""

    async def one(mention: Mention) -> IngestOutcome:
        async with gate:
            return await ingest(mention)

    firsts: list[int] = []
    again: list[int] = []
    seen: set[str] = set()
    for i, mention in enumerate(mentions):
        (again if mention.key in seen else firsts).append(i)
        seen.add(mention.key)
    outcomes: dict[int, IngestOutcome] = {}
    for group in (firsts, again):
        done = await asyncio.gather(*(one(mentions[i]) for i in group), return_exceptions=True)
        for i, outcome in zip(group, done, strict=True):
            if isinstance(outcome, BaseException):
                raise outcome
            outcomes[i] = outcome
    return [outcomes[i] for i in range(len(mentions))]


def ingest_batch_route(secret: bytes, ingest: Ingest) -> Route:
    gate = asyncio.Semaphore(BATCH_IN_FLIGHT)

    async def many(batch: MentionBatch) -> web.Response:
        outcomes = await _ingest_all(ingest, batch.mentions, gate)
        return web.json_response({"results": [_answer(o) for o in outcomes]})

    return _route(secret, MAX_BATCH_BODY_BYTES, MentionBatch, many)
