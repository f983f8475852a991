"""Time for the kserve target's waits, injected so tests decide it and never sleep.

Both backoffs (polling for Ready in :mod:`.status`, retrying the smoke test in :mod:`.smoke`)
start at :data:`FIRST_DELAY` and double.
"""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["FIRST_DELAY", "Clock", "SystemClock"]

#: The first wait of every backoff, in seconds.
FIRST_DELAY = 1.0


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The system's clock: the default outside tests."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
