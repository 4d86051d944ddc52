"""``POST /ingest/mentions``: any tool delivers a mention, signed with INGEST_SECRET.

Header ``X-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>``. Answers 202 with the
case when one is opened (status ``opened``) or grouped under a surge card (``grouped``),
200 with a reason when the mention is not hostile or already seen, 401 on a missing,
malformed or bad signature (checked over the raw bytes before anything is parsed), 400
naming the bad field, 413 over 64 KiB, 408 for a body that does not arrive within 10 s, 503
(with ``Retry-After``) while Redis is unavailable — the sender retries, and nothing it was
not told 200/202 about was kept.
Work before the answer is bounded by the body limit: one scoring, one Lua step (three
during surge detection: the dedup look, surge_step.lua, open_case.lua); no Slack call.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from pydantic import ValidationError

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
SIGNATURE_HEADER = "X-Signature-256"
RETRY_AFTER_SECONDS = 5


def sign(secret: bytes, body: bytes) -> str:
    """The header value a sender computes: ``sha256=`` + hex HMAC-SHA256 of the raw body."""
    return sha256_signature(secret, body)


def ingest_route(
    secret: bytes, ingest: Callable[[Mention], Awaitable[IngestOutcome]]
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        try:
            body = await read_body(request, MAX_BODY_BYTES)
        except BodyRefused as exc:
            return error(exc.status, exc.reason)
        reason = check_sha256_signature(secret, body, request.headers, SIGNATURE_HEADER)
        if reason is not None:
            return error(401, reason)
        try:
            payload = loads_json(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            return error(400, f"body is not JSON ({type(exc).__name__})")
        try:
            mention = Mention.model_validate(payload)
        except ValidationError as exc:
            err = exc.errors(include_input=False, include_url=False)[0]
            field = ".".join(str(p) for p in err["loc"]) or "body"
            return web.json_response(
                {"error": f"{field}: {err['msg']}", "field": field}, status=400
            )
        try:
            outcome = await ingest(mention)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            log.warning("ingest refused (503), the store is unavailable: %s", outside(exc))
            return web.json_response(
                {"error": "the store is unavailable, retry later"},
                status=503,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        answer = {
            "status": outcome.status,
            "case": outcome.case_id,
            "score": round(outcome.score, 4),
            "reason": outcome.reason,
        }
        accepted = outcome.status in ("opened", "grouped")
        return web.json_response(answer, status=202 if accepted else 200)

    return handle
