"""Pieces shared by the Slack and Mastodon emulators.

Nothing here runs at import time: servers start in ``start()`` and stop in ``stop()``.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

JSON = dict[str, Any]


@dataclass
class Fault:
    """One queued fault for a target (a Slack method or ``"*"``, or a Mastodon request).

    ``remaining`` counts down as requests consume it; ``kind`` says what to answer.
    """

    kind: str
    remaining: int
    status: int = 500
    error: str = ""
    seconds: float = 0.0
    path: str | None = None  # only requests whose path starts with this (None: any)
    when: Callable[[JSON], bool] | None = None  # only requests whose parameters match (Slack)


@dataclass
class FaultQueue:
    """Faults are consumed in the order they were queued, one per matching request."""

    faults: list[Fault] = field(default_factory=list)

    def add(self, fault: Fault) -> None:
        if fault.remaining < 1:
            raise ValueError("times must be >= 1")
        self.faults.append(fault)

    def take(
        self, kinds: set[str] | None = None, path: str = "", params: JSON | None = None
    ) -> Fault | None:
        """Consume one use of the first queued fault matching ``kinds``, ``path`` and the
        request's ``params``."""
        for fault in self.faults:
            if kinds is not None and fault.kind not in kinds:
                continue
            if fault.path is not None and not path.startswith(fault.path):
                continue
            if fault.when is not None and not fault.when(params or {}):
                continue
            fault.remaining -= 1
            if fault.remaining <= 0:
                self.faults.remove(fault)
            return fault
        return None

    def clear(self) -> None:
        self.faults.clear()


class FaultControls:
    """Test controls shared by the network emulators; ``path`` limits a fault to requests
    whose path (Bluesky: NSID) starts with it. Each fault applies to the next ``times``
    matching requests."""

    _faults: FaultQueue

    def rate_limit(
        self, times: int = 1, reset_after: float = 1.0, *, path: str | None = None
    ) -> None:
        """429 with the network's rate-limit headers, resetting ``reset_after`` s from now."""
        self._faults.add(Fault("ratelimit", times, status=429, seconds=reset_after, path=path))

    def fail(self, times: int = 1, status: int = 503, *, path: str | None = None) -> None:
        """The network's own error document with ``status``; nothing is done."""
        self._faults.add(Fault("fail", times, status=status, path=path))

    def fail_html(self, times: int = 1, status: int = 502, *, path: str | None = None) -> None:
        """An HTML error page, as a proxy in front of the API sends."""
        self._faults.add(Fault("html", times, status=status, path=path))

    def malformed(self, times: int = 1, *, path: str | None = None) -> None:
        """A 200 whose body is cut short (not JSON); nothing is done."""
        self._faults.add(Fault("malformed", times, status=200, path=path))

    def delay(self, seconds: float, times: int = 1, *, path: str | None = None) -> None:
        """Wait ``seconds`` before handling (a client that times out never sees the answer)."""
        self._faults.add(Fault("delay", times, seconds=seconds, path=path))

    def clear_faults(self) -> None:
        self._faults.clear()

    async def _fault_answer(
        self,
        path: str,
        *,
        rate_limited: Callable[[int], web.Response],
        failed: Callable[[int], web.Response],
    ) -> web.Response | None:
        """The answer a queued fault gives this request (None: handle it normally).

        ``rate_limited(reset)`` builds the network's 429 (reset: Unix seconds);
        ``failed(status)`` its error document. A delay waits, then lets the request through.
        """
        fault = self._faults.take({"ratelimit", "fail", "html", "delay", "malformed"}, path)
        if fault is None:
            return None
        if fault.kind == "delay":
            await asyncio.sleep(fault.seconds)
            return None
        if fault.kind == "ratelimit":
            return rate_limited(math.ceil(time.time() + fault.seconds))
        if fault.kind == "html":
            return html_page(fault.status)
        if fault.kind == "malformed":
            return web.Response(
                status=200, text='{"data": {"id": ', content_type="application/json"
            )
        return failed(fault.status)


def html_page(status: int) -> web.Response:
    return web.Response(
        status=status,
        text=f"<html><head><title>{status} Bad Gateway</title></head><body><center><h1>"
        "Bad Gateway</h1></center><hr><center>nginx</center></body></html>",
        content_type="text/html",
    )


def json_response(
    data: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON answer with the content type the real services send."""
    return web.Response(
        status=status,
        body=json.dumps(data, ensure_ascii=False).encode("utf-8"),
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )


class ServerHandle:
    """Runs an aiohttp ``web.Application`` on a host/port (port 0 = a free port)."""

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self.host = ""
        self.port = 0

    @property
    def running(self) -> bool:
        return self._runner is not None

    async def start(self, app: web.Application, host: str, port: int) -> None:
        if self._runner is not None:
            raise RuntimeError("already started")
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self.host, self.port = host, int(runner.addresses[0][1])
        self._runner = runner

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    def url(self, scheme: str = "http") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"
