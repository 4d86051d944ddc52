"""The HTTP edge: authenticate over the raw bytes first, then parse, never answer 500.

Every POST route reads its body up to a limit (413 beyond; 408 when it does not arrive within
10 s; 400 when the sender breaks it off), as sent (a ``Content-Encoding`` is not undone: the
server runs with ``auto_decompress=False``, so a compressed body is refused like any other
that is not signed JSON, and never inflated), checks its signature over the raw bytes (401
with a short reason for anything missing, malformed, stale or wrong: nothing before that step
can raise on what a sender controls), and only then decodes and parses the body into the
payload models (400 naming what is wrong). No header value or body is logged.

``POST /slack/events``: Slack's signature (``v0=`` HMAC-SHA256 of ``v0:<timestamp>:<body>``
with the signing secret) and its five-minute replay window; then the envelope is checked
(assistant/payloads.py) and handed to Bolt. A well-formed event no listener takes answers 200
(Slack must not retry it), and so does a payload of a kind we have no listener for (a modal
submission, a shortcut…: not handed to Bolt at all); a 400 carries ``X-Slack-No-Retry: 1``
(the same bytes would fail again), and so does anything Bolt itself cannot read; while Redis
is unavailable the listeners make it a 503 (Slack retries later).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from aiohttp import ClientPayloadError, web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import CIMultiDictProxy
from pydantic import ValidationError
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

from assistant.payloads import BlockActions, EventEnvelope, describe, loads_json

log = logging.getLogger(__name__)

MAX_SLACK_BODY = 1024 * 1024
BODY_READ_SECONDS = 10.0
SLACK_REPLAY_WINDOW = 300  # seconds, as Slack documents (and Bolt checks)
MAX_FORM_FIELDS = 100
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
SLACK_SIGNATURE_HEADER = "X-Slack-Signature"
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SLACK_SIGNATURE = re.compile(r"v0=[0-9a-fA-F]{64}")
_SHA256_SIGNATURE = re.compile(r"sha256=[0-9a-fA-F]{64}")

Route = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error(status: int, reason: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response({"error": reason}, status=status, headers=headers)


class BodyRefused(Exception):
    """The body cannot be read: too large (413) or not received in time (408)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body; BodyRefused when it is over ``limit`` bytes (read no further) or does
    not arrive within BODY_READ_SECONDS (a slow sender holds no connection for long)."""
    if (request.content_length or 0) > limit:
        raise BodyRefused(413, f"body over {limit} bytes")
    if request.content.is_eof():  # all of it arrived with the headers: nothing to wait for
        body = request.content.read_nowait(-1)
        if len(body) > limit:
            raise BodyRefused(413, f"body over {limit} bytes")
        return body
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(BODY_READ_SECONDS):
            while chunk := await request.content.read(limit + 1 - size):
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    raise BodyRefused(413, f"body over {limit} bytes")
    except TimeoutError:
        raise BodyRefused(408, f"body not received within {BODY_READ_SECONDS} s") from None
    except (ConnectionError, HttpProcessingError, ClientPayloadError):
        # the sender closed before the end, or broke the chunked encoding: nothing to parse
        raise BodyRefused(400, "body not received in full") from None
    return b"".join(chunks)


def _one_header(headers: CIMultiDictProxy[str], name: str) -> str | None:
    """The header's only value; None when absent or repeated."""
    values = headers.getall(name, [])
    return values[0] if len(values) == 1 else None


def sha256_signature(secret: bytes, body: bytes) -> str:
    """``sha256=`` + hex HMAC-SHA256 of the raw body (the ingest webhook's header value)."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def check_sha256_signature(
    secret: bytes, body: bytes, headers: CIMultiDictProxy[str], name: str
) -> str | None:
    """Why the request is not authenticated (None: it is)."""
    given = _one_header(headers, name)
    if not given:
        return f"missing {name} header"
    if not _SHA256_SIGNATURE.fullmatch(given):
        return f"bad {name} signature (expected sha256=<64 hex digits>)"
    if not hmac.compare_digest(given.lower().encode(), sha256_signature(secret, body).encode()):
        return f"bad {name} signature"
    return None


def check_slack_signature(
    secret: bytes, body: bytes, headers: CIMultiDictProxy[str], now: float
) -> str | None:
    """Why the Slack request is not authenticated (None: it is)."""
    timestamp = _one_header(headers, TIMESTAMP_HEADER)
    if not timestamp:
        return f"missing {TIMESTAMP_HEADER} header"
    if not _TIMESTAMP.fullmatch(timestamp):
        return f"bad {TIMESTAMP_HEADER} (expected Unix seconds)"
    if abs(now - int(timestamp)) > SLACK_REPLAY_WINDOW:
        return f"{TIMESTAMP_HEADER} outside the {SLACK_REPLAY_WINDOW} s replay window"
    signature = _one_header(headers, SLACK_SIGNATURE_HEADER)
    if not signature:
        return f"missing {SLACK_SIGNATURE_HEADER} header"
    if not _SLACK_SIGNATURE.fullmatch(signature):
        return f"bad {SLACK_SIGNATURE_HEADER} (expected v0=<64 hex digits>)"
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret, base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(signature.lower().encode(), expected.encode()):
        return f"bad {SLACK_SIGNATURE_HEADER}"
    return None


def check_slack_payload(text: str, content_type: str) -> tuple[str | None, str]:
    """(why a signed Slack body is not one we can hand to Bolt — None: it is —, its type).
    Mirrors Bolt's own reading: JSON when the content type says so or the body starts with
    ``{``, else a form whose ``payload`` field (interactions) is JSON."""
    payload: Any
    try:
        if content_type == "application/json" or text.startswith("{"):
            payload = loads_json(text)
        else:
            form = dict(
                parse_qsl(
                    text,
                    keep_blank_values=True,
                    max_num_fields=MAX_FORM_FIELDS,
                    errors="strict",
                )
            )
            if "payload" not in form:
                return None, "form"  # a slash command or an ssl_check: plain form fields
            payload = loads_json(form.get("payload", "{}"))
    except (ValueError, UnicodeDecodeError) as exc:
        return f"body is not valid JSON or form data ({type(exc).__name__})", ""
    if not isinstance(payload, dict):
        return "payload is not a JSON object", ""
    kind = payload.get("type")
    if not isinstance(kind, str):
        return "payload has no type", ""
    if kind == "event_callback":
        try:
            EventEnvelope.model_validate(payload)
        except ValidationError as exc:
            return describe(exc), kind
    elif kind == "block_actions":
        try:
            BlockActions.model_validate(payload)
        except ValidationError as exc:
            return describe(exc), kind
    elif kind == "url_verification" and not isinstance(payload.get("challenge"), str):
        return "challenge: must be a string", kind
    return None, kind


DISPATCHED = frozenset({"event_callback", "block_actions", "url_verification", "form"})
"""The payload kinds handed to Bolt (``form``: a slash command or ssl_check). Any other kind
(``view_submission``, ``shortcut``, ``block_suggestion``…) has no listener: it is answered 200
here, never handed to Bolt, whose matchers index such payloads without checking their shape."""


def _plain_form(text: str) -> str:
    """A form without a ``payload`` field (a slash command) whose text says "payload"
    somewhere (``/ops ack payload``), encoded so that Bolt reads it as the form it is: Bolt
    takes any body containing the word for an interaction and finds nothing in it. The same
    fields, with that word's ``p`` percent-encoded (the edge has checked the signature over the
    bytes received; Bolt does not check it again)."""
    fields = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    return urlencode(fields).replace("payload", "%70ayload")


def slack_events_route(bolt: AsyncApp, signing_secret: bytes) -> Route:
    no_retry = {"X-Slack-No-Retry": "1"}

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            body = await read_body(request, MAX_SLACK_BODY)
        except BodyRefused as exc:
            return error(exc.status, exc.reason)
        reason = check_slack_signature(signing_secret, body, request.headers, time.time())
        if reason is not None:
            return error(401, reason)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return error(400, "body is not UTF-8", no_retry)
        reason, kind = check_slack_payload(text, request.content_type)
        if reason is not None:
            log.warning("signed Slack request refused (400): %s", reason)
            return error(400, reason, no_retry)
        if kind == "app_rate_limited":
            # Slack stopped delivering events for a minute (over 30,000 an hour): no listener
            log.warning("Slack reports our app rate-limited for event deliveries")
            return web.json_response({"ok": True})
        if kind not in DISPATCHED:  # well-formed (signed JSON object with a type), not ours
            return web.json_response({"ok": True, "ignored": True})
        if kind == "form" and "payload" in text:
            text = _plain_form(text)
        try:
            bolt_request = AsyncBoltRequest(
                body=text,
                query=request.query_string,
                headers=request.headers,  # type: ignore[arg-type]  # a Mapping: all Bolt needs
            )
            response = await bolt.async_dispatch(bolt_request)
        except Exception as exc:  # Bolt reading context fields of types Slack never sends, or
            # its matchers, before any listener: never a 500
            log.warning("signed Slack request refused (400): Bolt: %s", type(exc).__name__)
            return error(400, "payload fields of unexpected types", no_retry)
        if response.status == 404:  # a well-formed request no listener takes: not an error
            return web.json_response({"ok": True, "ignored": True})
        return await to_aiohttp_response(response)

    return handle
