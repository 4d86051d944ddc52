from __future__ import annotations

import pytest

from assistant.scoring import Scorer


@pytest.fixture(scope="session")
def scorer() -> Scorer:
    return Scorer()
