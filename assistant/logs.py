"""Logging: the case bound on every line, lines nobody outside can forge or flood.

The case id lives in a context variable, so it follows the work into the tasks it starts;
``bound_case`` sets it for a block. Secrets never reach the logs: settings hold them as
SecretStr, and no request body, header value or token is logged.

Whatever a log line carries that came from outside (a Slack text, a user id, an exception
message quoting a payload) cannot start a new line: the formatters escape control and line
separator characters in the message (``\\n`` → ``\\\\n``) and cut it at ``MAX_MESSAGE_CHARS``;
a traceback is kept, but every line of it is indented behind ``  | ``, so it cannot pass for
a log line either. ``outside()`` bounds a single value for a log argument.

Two formats (``ASSISTANT_LOG_FORMAT``): ``text`` (the default, for people) and ``json`` (one
JSON object per line: time, level, logger, message, case — for log shippers). Library loggers
run at levels chosen here whatever the root level: a library that logs request bodies or
headers at INFO/DEBUG (Bolt, the Slack SDK, aiohttp) never writes them to our log.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Literal

from aiohttp.http_exceptions import HttpProcessingError

_case: ContextVar[str | None] = ContextVar("case", default=None)

FORMAT = "%(asctime)s %(levelname)s %(name)s case=%(case)s %(message)s"
MAX_MESSAGE_CHARS = 2000  # a log message longer than this is cut (a flood stays one bounded line)
MAX_VALUE_CHARS = 200  # outside(): one value from outside, in a log argument
LIBRARY_LEVELS = {
    # Bolt logs the raw body of a request whose signature it rejects (INFO) and of requests
    # no listener handled (WARNING); the SDK logs request bodies at DEBUG; aiohttp's access and
    # server logs carry header values and paths. Only their errors get through.
    "slack_bolt": logging.ERROR,
    "slack_sdk": logging.ERROR,
    "assistant.bolt": logging.ERROR,  # the logger handed to Bolt's AsyncApp
    "aiohttp": logging.ERROR,
    "asyncio": logging.WARNING,
    "redis": logging.WARNING,
    "urllib3": logging.WARNING,
}

# C0/C1 controls, DEL, and the Unicode line/paragraph separators (str.splitlines() and many
# log viewers break lines on U+0085, U+2028 and U+2029 too).
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in _NAMED:
        return _NAMED[ch]
    return f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"


def escape(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """One inert line: control characters escaped, lone surrogates replaced, cut at ``limit``."""
    if len(text) > limit:
        text = text[:limit] + f"…[{len(text) - limit} more chars]"
    text = _UNSAFE.sub(_escape_char, text)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def outside(value: object, limit: int = MAX_VALUE_CHARS) -> str:
    """A value from outside (a name, an id, a Slack error string) fit for a log argument."""
    return escape(str(value), limit)


@contextmanager
def bound_case(case_id: str) -> Iterator[None]:
    token = _case.set(case_id)
    try:
        yield
    finally:
        _case.reset(token)


class CaseFilter(logging.Filter):
    """Adds ``record.case`` (the bound case id, or ``-``) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.case = _case.get() or "-"
        return True


def _indented(block: str) -> str:
    """A traceback or stack, each of its lines behind ``  | `` (and escaped): never a log line."""
    return "\n".join("  | " + escape(line) for line in block.splitlines())


class SafeTextFormatter(logging.Formatter):
    """The text format; the message is one escaped, bounded line."""

    def __init__(self) -> None:
        super().__init__(FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: object) -> str:
        return _indented(super().formatException(ei))  # type: ignore[arg-type]

    def formatStack(self, stack_info: str) -> str:
        return _indented(stack_info)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601, UTC), level, logger, message, case; plus
    ``exc`` (the traceback, one string) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": escape(record.getMessage()),
            "case": getattr(record, "case", None) or _case.get(),
        }
        if entry["case"] == "-":
            entry["case"] = None
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)[:20_000]
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)[:20_000]
        # ASCII-only: JSON escapes every newline, and U+2028/U+2029 become \u escapes too
        return json.dumps(entry, ensure_ascii=True)


def make_handler(log_format: Literal["text", "json"] = "text") -> logging.Handler:
    handler = logging.StreamHandler()
    handler.addFilter(CaseFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else SafeTextFormatter())
    return handler


def not_a_client_protocol_error(record: logging.LogRecord) -> bool:
    """False for aiohttp's record of a request it could not parse (a request line or header
    over 8 KiB, too many headers, a broken chunked encoding, Content-Length with
    Transfer-Encoding…): aiohttp answers 400 itself, but logs the sender's bytes with a
    traceback at ERROR, so anyone could write (and flood) the log. Errors of our own handlers
    still get through."""
    exc = record.exc_info[1] if record.exc_info else None
    return not isinstance(exc, HttpProcessingError)


def configure(level: str, log_format: Literal["text", "json"] = "text") -> None:
    logging.basicConfig(level=level, handlers=[make_handler(log_format)], force=True)
    for name, library_level in LIBRARY_LEVELS.items():
        logging.getLogger(name).setLevel(max(library_level, logging.getLevelName(level)))
    logging.getLogger("aiohttp.server").addFilter(not_a_client_protocol_error)
