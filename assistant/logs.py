"""Logging with the case bound: every line logged while handling a case carries ``case=<id>``.

The case id lives in a context variable, so it follows the work into the tasks it starts;
``bound_case`` sets it for a block. Secrets never reach the logs: settings hold them as
SecretStr, and no request body or token is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_case: ContextVar[str | None] = ContextVar("case", default=None)

FORMAT = "%(asctime)s %(levelname)s %(name)s case=%(case)s %(message)s"


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


def configure(level: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(CaseFilter())
    handler.setFormatter(logging.Formatter(FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
