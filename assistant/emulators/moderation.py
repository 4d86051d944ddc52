"""A local emulator of an OpenAI-compatible moderation endpoint (``POST /v1/moderations``).

Point ``ASSISTANT_MODERATION_URL`` at :attr:`ModerationEmulator.base_url` (``…/v1``). Served
over real HTTP, shaped like the documented API:

- request ``{"input": "text" | ["text", …], "model"?: "…"}``, ``Authorization: Bearer KEY``;
- answer ``{"id": "modr-…", "model": "…", "results": [{"flagged", "categories",
  "category_scores"}, …]}``, one result per input;
- errors ``{"error": {"message", "type", "param", "code"}}``: 401 (missing or wrong key), 400
  (bad body), 429 (rate limit, with ``Retry-After``), 500.

The verdict is a deterministic toy: a text containing one of :attr:`flag_terms` is flagged in
that term's category with score 0.9; otherwise every category scores 0.01. Faults for tests:
:meth:`fail` (an error status N times) and :meth:`delay` (answer late N times).
State for assertions: :attr:`requests` (the input text of every authorised request, in order).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

from aiohttp import web

from assistant.emulators._common import Fault, FaultQueue, ServerHandle, json_response

__all__ = ["CATEGORIES", "ModerationEmulator"]

CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "self-harm",
    "sexual",
    "violence",
)
DEFAULT_TERMS = {"disgrace": "harassment", "pathetic": "harassment", "lamentable": "harassment"}


def _error(status: int, message: str, kind: str, code: str | None = None) -> web.Response:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return json_response(body, status=status)


class ModerationEmulator:
    def __init__(
        self, api_key: str, *, flag_terms: dict[str, str] | None = None, host: str = "127.0.0.1"
    ) -> None:
        self.api_key = api_key
        self.flag_terms = dict(DEFAULT_TERMS if flag_terms is None else flag_terms)
        self.host = host
        self.requests: list[str] = []
        self.faults = FaultQueue()
        self._server = ServerHandle()
        self._ids = itertools.count(1)

    @property
    def base_url(self) -> str:
        return self._server.url() + "/v1"

    async def start(self, port: int = 0) -> None:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post("/v1/moderations", self._moderations)
        await self._server.start(app, self.host, port)

    async def stop(self) -> None:
        await self._server.stop()

    def fail(self, status: int = 500, times: int = 1) -> None:
        """Answer the next ``times`` requests with ``status`` (429 carries ``Retry-After``)."""
        self.faults.add(Fault("error", times, status=status))

    def delay(self, seconds: float, times: int = 1) -> None:
        """Answer the next ``times`` requests after ``seconds``."""
        self.faults.add(Fault("delay", times, seconds=seconds))

    def verdict(self, text: str) -> dict[str, Any]:
        low = text.lower()
        scores = dict.fromkeys(CATEGORIES, 0.01)
        for term, category in self.flag_terms.items():
            if term in low:
                scores[category] = 0.9
        return {
            "flagged": any(v >= 0.5 for v in scores.values()),
            "categories": {k: v >= 0.5 for k, v in scores.items()},
            "category_scores": scores,
        }

    async def _moderations(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        if auth != f"Bearer {self.api_key}":
            return _error(
                401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
            )
        fault = self.faults.take()
        if fault is not None and fault.kind == "delay":
            await asyncio.sleep(fault.seconds)
        elif fault is not None:
            if fault.status == 429:
                resp = _error(429, "Rate limit reached.", "requests", "rate_limit_exceeded")
                resp.headers["Retry-After"] = "1"
                return resp
            return _error(fault.status, "The server had an error.", "server_error")
        try:
            body = json.loads(await request.read())
        except ValueError:
            return _error(400, "We could not parse the JSON body.", "invalid_request_error")
        raw = body.get("input") if isinstance(body, dict) else None
        inputs = [raw] if isinstance(raw, str) else raw
        if (
            not isinstance(inputs, list)
            or not inputs
            or not all(isinstance(t, str) for t in inputs)
        ):
            return _error(
                400, "'input' must be a string or an array of strings.", "invalid_request_error"
            )
        self.requests.extend(inputs)
        model = body.get("model") or "omni-moderation-latest"
        return json_response(
            {
                "id": f"modr-{next(self._ids)}",
                "model": model,
                "results": [self.verdict(t) for t in inputs],
            }
        )
