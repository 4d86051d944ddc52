"""``POST /ingest/mentions``: any tool delivers a mention, signed with INGEST_SECRET.

Header ``X-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>``. Answers 202 with the
case when one is opened, 200 with a reason when the mention is not hostile or already seen,
401 on a missing or bad signature, 400 naming the bad field, 413 over 64 KiB.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable

from aiohttp import web
from pydantic import ValidationError

from assistant.cases import IngestOutcome
from assistant.models import Mention

MAX_BODY_BYTES = 64 * 1024
SIGNATURE_HEADER = "X-Signature-256"


def sign(secret: bytes, body: bytes) -> str:
    """The header value a sender computes: ``sha256=`` + hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def _error(status: int, message: str, **extra: str) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


def ingest_route(
    secret: bytes, ingest: Callable[[Mention], Awaitable[IngestOutcome]]
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        if (request.content_length or 0) > MAX_BODY_BYTES:
            return _error(413, f"body over {MAX_BODY_BYTES} bytes")
        body = await request.content.read(MAX_BODY_BYTES + 1)
        if len(body) > MAX_BODY_BYTES:
            return _error(413, f"body over {MAX_BODY_BYTES} bytes")
        given = request.headers.get(SIGNATURE_HEADER, "")
        if not given:
            return _error(401, f"missing {SIGNATURE_HEADER} header")
        if not hmac.compare_digest(given.encode(), sign(secret, body).encode()):
            return _error(401, f"bad {SIGNATURE_HEADER} signature")
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return _error(400, f"body is not JSON: {exc}")
        try:
            mention = Mention.model_validate(payload)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "body"
            return _error(400, f"{field}: {err['msg']}", field=field)
        outcome = await ingest(mention)
        answer = {
            "status": outcome.status,
            "case": outcome.case_id,
            "score": round(outcome.score, 4),
            "reason": outcome.reason,
        }
        return web.json_response(answer, status=202 if outcome.status == "opened" else 200)

    return handle
