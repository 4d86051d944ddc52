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
