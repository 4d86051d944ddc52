"""Emulator of an OpenAI-compatible chat completions endpoint (``POST /v1/chat/completions``).

Point ``ASSISTANT_LLM_URL`` at :attr:`LLMEmulator.base_url` (it ends in ``/v1``, like
``https://api.openai.com/v1`` or Ollama's ``http://localhost:11434/v1``). Deterministic: the
answer depends only on the request — two replies in the language the prompt names
(``Language: fr``), picked by a hash of the mention — as a JSON object in the message
content, the way the assistant asks for it. Errors look like OpenAI's: ``401`` with
``invalid_api_key`` for a wrong bearer token, ``429``/``5xx`` with an ``error`` object.

Test controls: :meth:`fail` (an error status), :meth:`delay` (answer late: timeouts),
:meth:`answer_with` (a given content, e.g. replies too long or not JSON). Each applies to the
next ``times`` requests. :attr:`requests` records every request body received.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from typing import Any

from aiohttp import web

from assistant.emulators._common import Fault, FaultQueue, ServerHandle

REPLIES = {
    "fr": [
        "Merci pour ce message plein d'énergie ! On regarde ça tout de suite, promis.",
        "On préfère les compliments, mais on prend aussi les coups de gueule : écrivez-nous en "
        "privé, on règle ça.",
        "Même les mauvais jours, on est là. Dites-nous ce qui coince, on s'en occupe.",
    ],
    "en": [
        "Thanks for the feedback, loud and clear! We're on it right now.",
        "We prefer compliments, but we'll take the rant too: DM us and we'll sort it out.",
        "Even on bad days we're here. Tell us what's wrong and we'll fix it.",
    ],
}
_LANG = re.compile(r"^Language: ([a-z]{2,8})$", re.MULTILINE)


class LLMEmulator:
    def __init__(self, *, api_key: str | None = "sandbox-llm-key", model: str = "sandbox") -> None:
        self.api_key = api_key
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self._faults = FaultQueue()
        self._server = ServerHandle()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._completions)
        await self._server.start(app, host, port)

    async def stop(self) -> None:
        await self._server.stop()

    @property
    def base_url(self) -> str:
        return self._server.url() + "/v1"

    # -- test controls -------------------------------------------------------------------

    def fail(self, times: int = 1, status: int = 500) -> None:
        self._faults.add(Fault("fail", times, status=status))

    def delay(self, seconds: float, times: int = 1) -> None:
        self._faults.add(Fault("delay", times, seconds=seconds))

    def answer_with(self, content: str, times: int = 1) -> None:
        self._faults.add(Fault("content", times, error=content))

    # -- the endpoint --------------------------------------------------------------------

    @staticmethod
    def _error(status: int, message: str, kind: str, code: str | None = None) -> web.Response:
        body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
        return web.json_response(body, status=status)

    async def _completions(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization")
        if self.api_key is not None and auth != f"Bearer {self.api_key}":
            return self._error(
                401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
            )
        try:
            body = await request.json()
            messages = body["messages"]
            model = str(body["model"])
            prompt = "\n".join(str(m["content"]) for m in messages)
        except (ValueError, KeyError, TypeError):
            return self._error(400, "Invalid request body.", "invalid_request_error")
        self.requests.append(body)
        if model != self.model:
            return self._error(
                404,
                f"The model `{model}` does not exist.",
                "invalid_request_error",
                "model_not_found",
            )
        content: str | None = None
        fault = self._faults.take()
        if fault is not None:
            if fault.kind == "fail":
                kind = "rate_limit_error" if fault.status == 429 else "server_error"
                return self._error(fault.status, "The server had an error.", kind)
            if fault.kind == "delay":
                await asyncio.sleep(fault.seconds)
            if fault.kind == "content":
                content = fault.error
        if content is None:
            content = json.dumps({"replies": self.replies_for(prompt)}, ensure_ascii=False)
        return web.json_response(
            {
                "id": "chatcmpl-" + hashlib.sha256(prompt.encode()).hexdigest()[:24],
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": len(prompt) // 4,
                    "completion_tokens": 40,
                    "total_tokens": len(prompt) // 4 + 40,
                },
            }
        )

    @staticmethod
    def replies_for(prompt: str) -> list[str]:
        """The two replies the emulator gives to a prompt (deterministic)."""
        found = _LANG.search(prompt)
        bank = REPLIES.get(found.group(1) if found else "en", REPLIES["en"])
        first = int(hashlib.sha256(prompt.encode()).hexdigest(), 16) % len(bank)
        return [bank[first], bank[(first + 1) % len(bank)]]
