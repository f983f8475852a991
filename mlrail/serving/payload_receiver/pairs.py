"""Pairing a request event with its response event, in bounded memory, and the record they make.

KServe's logger sends the two events of one inference from separate goroutines, so either may
arrive first; both carry the inference's id. The first to arrive waits in :class:`Pairs` for at
most ``ttl_seconds``; at most ``max_pending`` events and ``max_pending_bytes`` body bytes wait at
once (the oldest is dropped to make room). A dropped or expired event is counted, never written
half (a record needs both halves: the inputs and the outputs). A waiting event holds its inputs
or outputs as JSON bytes (:class:`~.events.Event`), and the record embeds them as they are.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from mlrail.serving.payload_receiver.events import Event

__all__ = [
    "DEFAULT_MAX_PENDING",
    "DEFAULT_MAX_PENDING_BYTES",
    "DEFAULT_TTL_SECONDS",
    "Pairs",
    "record",
]

DEFAULT_MAX_PENDING = 10_000
DEFAULT_MAX_PENDING_BYTES = 64 * 1024 * 1024
# KServe's logger posts both events within its request's lifetime; a minute covers a slow sink.
DEFAULT_TTL_SECONDS = 60.0


def _utc(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="microseconds")
    return moment.replace("+00:00", "Z")


def record(request: Event, response: Event, arrived: float) -> dict[str, Any]:
    """The payload-log record of one inference (the layout in :mod:`mlrail.serving.payload_log`).

    Args:
        request: The request event.
        response: Its response event.
        arrived: When the receiver got the request event (``time.time()``): the timestamp when
            the event has no ``time``.
    """
    version = response.body_version or response.version or request.version
    latency = response.latency_us if response.latency_us is not None else request.latency_us
    return {
        "id": request.id,
        "model": request.model or response.model or response.body_model,
        "version": version,
        "identity": response.identity or request.identity,
        "timestamp": _utc(request.time if request.time is not None else arrived),
        "latency_ms": None if latency is None else round(latency / 1000.0, 3),
        # the JSON bytes as they were checked: written as they are, not parsed again
        "inputs": orjson.Fragment(request.tensors),
        "outputs": orjson.Fragment(response.tensors),
    }


class Pairs:
    """Events waiting for their other half, keyed by namespace, model and id; thread-safe.

    Args:
        max_pending: Events waiting at most (the oldest is dropped beyond it).
        max_pending_bytes: Their body bytes at most (the oldest are dropped beyond it).
        ttl_seconds: How long an event waits for its other half.
        clock: ``time.monotonic`` (or a replacement in tests).
    """

    def __init__(
        self,
        max_pending: int = DEFAULT_MAX_PENDING,
        max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_pending < 1 or max_pending_bytes < 1 or not ttl_seconds > 0:
            raise ValueError(
                "pairing needs a positive max_pending, max_pending_bytes and ttl_seconds, got "
                f"{max_pending}, {max_pending_bytes}, {ttl_seconds}"
            )
        self.max_pending = max_pending
        self.max_pending_bytes = max_pending_bytes
        self.ttl_seconds = ttl_seconds
        self.dropped = {"expired": 0, "evicted": 0, "duplicate": 0, "error_response": 0}
        self._clock = clock
        # key -> (deadline, the event, time.time() it arrived), oldest first
        self._pending: OrderedDict[tuple[str, str, str], tuple[float, Event, float]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def pending(self) -> int:
        """Events waiting now."""
        return len(self._pending)

    def add(self, event: Event, arrived: float) -> dict[str, Any] | None:
        """Hold ``event`` until its other half arrives; the record once both are here.

        Args:
            event: A request or response event.
            arrived: ``time.time()`` when the receiver got it.

        Returns:
            The record of the pair, or None while the other half is awaited (or when the
            response was an error: no outputs to record, counted as ``error_response``).
        """
        key = (event.namespace, event.model, event.id)
        with self._lock:
            self._expire()
            held = self._pending.pop(key, None)
            if held is not None:
                self._bytes -= held[1].size
                other, other_arrived = held[1], held[2]
                if other.is_request != event.is_request:
                    request, response = (event, other) if event.is_request else (other, event)
                    request_arrived = arrived if event.is_request else other_arrived
                    if response.error:
                        self.dropped["error_response"] += 1
                        return None
                    return record(request, response, request_arrived)
                self.dropped["duplicate"] += 1  # the same half twice: the newer one waits
            while self._pending and (
                len(self._pending) >= self.max_pending
                or self._bytes + event.size > self.max_pending_bytes
            ):
                _, (_, old, _) = self._pending.popitem(last=False)
                self._bytes -= old.size
                self.dropped["evicted"] += 1
            if event.size > self.max_pending_bytes:
                self.dropped["evicted"] += 1
                return None
            self._pending[key] = (self._clock() + self.ttl_seconds, event, arrived)
            self._bytes += event.size
        return None

    def expire(self) -> None:
        """Drop (and count) the events that waited longer than ``ttl_seconds``."""
        with self._lock:
            self._expire()

    def _expire(self) -> None:
        now = self._clock()
        while self._pending:
            key = next(iter(self._pending))
            deadline, event, _ = self._pending[key]
            if deadline > now:
                return
            del self._pending[key]
            self._bytes -= event.size
            self.dropped["expired"] += 1
