from __future__ import annotations

import asyncio
import logging

import pytest

from assistant.logs import CaseFilter, bound_case


async def test_the_bound_case_follows_the_work_into_its_tasks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.handler.addFilter(CaseFilter())
    log = logging.getLogger("assistant.test")

    async def child() -> None:
        log.warning("from a task")

    with caplog.at_level(logging.INFO), bound_case("c0ffee"):
        log.warning("inside")
        await asyncio.create_task(child())
    log.warning("outside")
    cases = [(r.getMessage(), getattr(r, "case", None)) for r in caplog.records]
    assert cases == [("inside", "c0ffee"), ("from a task", "c0ffee"), ("outside", "-")]


def test_library_loggers_stay_at_our_levels_whatever_the_root_level() -> None:
    from assistant.logs import configure

    try:
        configure("DEBUG", "json")
        assert logging.getLogger().level == logging.DEBUG
        for name in ("slack_bolt", "slack_sdk", "assistant.bolt", "aiohttp"):
            assert not logging.getLogger(name).isEnabledFor(logging.WARNING), name
    finally:
        from assistant.logs import LIBRARY_LEVELS

        logging.getLogger().handlers.clear()
        logging.getLogger().setLevel(logging.WARNING)
        for name in LIBRARY_LEVELS:
            logging.getLogger(name).setLevel(logging.NOTSET)


def test_text_lines_escape_outside_values_and_indent_tracebacks() -> None:
    from assistant.logs import SafeTextFormatter

    try:
        raise ValueError("bad\nFAKE LINE")
    except ValueError:
        import sys

        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "got %s", ("a\rb\u2028c",), exc_info
    )
    record.case = "-"
    lines = SafeTextFormatter().format(record).splitlines()
    assert lines[0].endswith("got a\\rb\\u2028c")
    assert all(line.startswith("  | ") for line in lines[1:])
    assert any("FAKE LINE" in line for line in lines[1:])


def test_json_lines_have_the_fields_and_stay_one_line() -> None:
    import json

    from assistant.logs import JsonFormatter

    try:
        raise ValueError("bad\nline")
    except ValueError:
        import sys

        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "assistant.x", logging.WARNING, __file__, 1, "opened %s", ("a\u2028b",), exc_info
    )
    with bound_case("c0ffee"):
        record.case = "c0ffee"
        line = JsonFormatter().format(record)
    assert "\n" not in line and "\u2028" not in line
    entry = json.loads(line)
    assert entry["level"] == "WARNING" and entry["logger"] == "assistant.x"
    assert entry["case"] == "c0ffee" and entry["message"] == "opened a\\u2028b"
    assert entry["time"].endswith("+00:00") and "ValueError: bad" in entry["exc"]
