"""A raw HTTP/1.1 client: sends exactly the bytes a hostile sender would (non-ASCII header
bytes, repeated headers, chunked bodies), which aiohttp's client refuses to produce."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass


@dataclass
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes


async def raw_request(
    port: int,
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]],
    body: bytes = b"",
    *,
    chunked: bool = False,
    host: str = "127.0.0.1",
) -> RawAnswer:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        head = [f"{method} {path} HTTP/1.1".encode(), b"Host: " + host.encode()]
        head += [name + b": " + value for name, value in headers]
        head.append(b"Connection: close")
        if chunked:
            head.append(b"Transfer-Encoding: chunked")
        elif not any(name.lower() == b"content-length" for name, _ in headers):
            head.append(b"Content-Length: " + str(len(body)).encode())
        writer.write(b"\r\n".join(head) + b"\r\n\r\n")
        if chunked:
            for i in range(0, len(body), 16_384):
                chunk = body[i : i + 16_384]
                writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                await writer.drain()
            writer.write(b"0\r\n\r\n")
        else:
            writer.write(body)
        with contextlib.suppress(ConnectionError):
            await writer.drain()  # the server may answer (413) and close before reading all
        raw = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head_raw, _, rest = raw.partition(b"\r\n\r\n")
    lines = head_raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    answer_headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        answer_headers[name.strip().lower()] = value.strip()
    if answer_headers.get("transfer-encoding") == "chunked":
        rest = _unchunk(rest)
    return RawAnswer(status, answer_headers, rest)


def _unchunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return out
