from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.events.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver that takes every event (200)."""
    with Receiver().running() as r:
        yield r
