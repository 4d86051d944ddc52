"""Nobody outside can write the app's log: no forged line, no flood (the real process's log).

``python -m assistant run`` logs to a file; requests carry a fake log line after a newline
(and after the other line breaks log viewers honour). Unsigned requests must leave no trace
of their body at all, and a 900 KB unsigned POST must not grow the log; outside values that
are logged (a mention id, in the signed webhook's "case opened" line) stay on their line.
In JSON format every line is one JSON object with time, level, logger, message and case.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from assistant.sandbox import (
    BOT_TOKEN,
    INGEST_SECRET,
    MASTODON_TOKEN,
    SIGNING_SECRET,
    webhook_body,
)
from assistant.sources.ingest import SIGNATURE_HEADER, sign

from .harness import ProcessWorld

FAKE = "2026-11-30 03:00:00,000 ERROR assistant.app case=- FORGED-LINE by a stranger"


def broken_http(route: str) -> list[bytes]:
    start = f"POST {route} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".encode()
    return [
        f"POST {route}?{'a' * 9000}{FAKE} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
        start + b"X-A: " + b"a" * 9000 + FAKE.encode() + b"\r\n\r\n",
        start + b"".join(b"X-%d: a\r\n" % i for i in range(200)) + b"\r\n",
        start + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n" + FAKE.encode() + b"\r\n0\r\n\r\n",
        start + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    ]


def cut_short(route: str) -> list[bytes]:
    start = f"POST {route} HTTP/1.1\r\nHost: x\r\n".encode()
    return [
        start + b"Content-Length: 100\r\n\r\n{" + FAKE.encode(),
        start + b"Transfer-Encoding: chunked\r\n\r\n100\r\n" + FAKE.encode(),
    ]


async def send_raw(port: int, data: bytes, *, eof: bool = False) -> bytes:
    """The raw answer to raw bytes (``eof``: the sender stops sending before the end)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    if eof:
        writer.write_eof()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return answer


def breaks() -> list[str]:
    return ["\n", "\r\n", "\r", "\u2028", "\u0085", "\x1b[2K\r"]


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_request_bodies_cannot_write_or_flood_the_log(
    tmp_path: Path, log_format: str
) -> None:
    async with ProcessWorld(tmp_path) as world:
        app = await world.start_app(ASSISTANT_LOG_FORMAT=log_format, ASSISTANT_LOG_LEVEL="DEBUG")
        before = len(app.log())
        for route in ("/slack/events", "/ingest/mentions"):
            for br in breaks():
                body = f'{{"type": "event_callback"}}{br}{FAKE}{br}'.encode()
                async with world.http.post(f"{app.url}{route}", data=body) as resp:
                    assert resp.status == 401
            async with world.http.post(f"{app.url}{route}", data=b"A" * 900_000) as resp:
                assert resp.status in (401, 413)
            # HTTP that aiohttp cannot parse (it answers 400 itself, and would log the bytes
            # with a traceback at ERROR), and bodies broken off: no trace either
            for head in broken_http(route):
                assert (await send_raw(app.port, head)).startswith(b"HTTP/1.0 400"), head[:80]
            for head in cut_short(route):
                answer = await send_raw(app.port, head, eof=True)
                assert answer == b"" or answer.startswith(b"HTTP/1.1 400"), answer[:80]
        assert len(app.log()) - before < 2_000, app.log()[before:][:3000]  # no flood
        assert "Traceback" not in app.log()

        # A signed mention whose network id carries the fake line: it is logged (escaped)
        notification = world.mastodon.add_mention("colere@mastodon.social", "bande de connards")
        payload = webhook_body(notification)
        payload["id"] = "1\n" + FAKE + "\u2028" + FAKE
        raw = json.dumps(payload).encode()
        headers = {SIGNATURE_HEADER: sign(INGEST_SECRET.encode(), raw)}
        async with world.http.post(f"{app.url}/ingest/mentions", data=raw, headers=headers) as r:
            assert r.status == 202, await r.text()

        log = app.log()
        assert "FORGED-LINE" in log  # the signed id was logged…
        for line in log.splitlines():  # …but never as a line of its own (any line break)
            assert not line.removeprefix("\x1b[2K").startswith(FAKE[:20]), line
            if log_format == "json":
                entry = json.loads(line)
                assert set(entry) >= {"time", "level", "logger", "message", "case"}, entry
            assert "\x1b" not in line
        opened = [line for line in log.splitlines() if "case opened" in line]
        assert len(opened) == 1 and opened[0].count("FORGED-LINE") == 2
        if log_format == "json":
            assert json.loads(opened[0])["case"]  # the case is bound on the line
        for secret in (BOT_TOKEN, SIGNING_SECRET, INGEST_SECRET, MASTODON_TOKEN):
            assert secret not in log  # not even at DEBUG
