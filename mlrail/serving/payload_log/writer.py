"""The payload log's queue and writer thread: :class:`PayloadLogger` samples answered inferences
on the request path (a random number and, when sampled, an append to a queue bounded in records
and bytes), and one background thread hands them to a :class:`Sink` in batches, backing off after
a failed write. Drops are counted, never raised."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "BACKOFF_FIRST_SECONDS",
    "BACKOFF_MAX_SECONDS",
    "DEFAULT_QUEUE_BYTES",
    "DEFAULT_QUEUE_SIZE",
    "Entry",
    "PayloadLogger",
    "Sink",
    "backoff_delay",
]

logger = logging.getLogger("mlrail.serving")

DEFAULT_QUEUE_SIZE = 10_000  # records: bounds the per-record overhead of many tiny ones
# Bytes of request and response bodies queued or being written: a fraction of the smallest
# memory limit in manifests/ (512 MiB), beside the transport's 16 MiB of bodies in flight.
DEFAULT_QUEUE_BYTES = 32 * 1024 * 1024
BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 60.0
_BATCH = 256  # records per write: one syscall for a burst, not one per record
_BATCH_BYTES = 4 * 1024 * 1024  # body bytes per batch: bounds the JSON being assembled


@dataclass(frozen=True, slots=True)
class Entry:
    """One sampled inference, as queued: its bodies are the bytes the server holds, not copies."""

    request_id: str
    model: str
    version: str
    timestamp: float  # time.time() at the request's start
    latency: float  # seconds
    request: bytes  # the V2 request body as received
    response: bytes  # the V2 response body as sent
    request_header_length: int | None  # binary tensor data extension: its JSON part's length
    response_header_length: int | None
    identity: str | None = None  # the served version's mlrail.identity, if it has one

    @property
    def nbytes(self) -> int:
        return len(self.request) + len(self.response)


class Sink(Protocol):
    """Where the writer thread puts records: partitioned JSON Lines or a CloudEvents receiver.

    ``write`` raises on failure; an exception with an int ``written`` attribute (the file sink's
    :class:`~mlrail.serving.payload_log.partitioned.PartialWriteError`) says how many of the
    entries did get written, and only the others are counted as dropped.
    """

    def write(self, entries: list[Entry]) -> None: ...

    def close(self) -> None: ...


class PayloadLogger:
    """Sample inference payloads and write them from a background thread.

    Args:
        sink: Where records go (:class:`FileSink` or :class:`CloudEventsSink`).
        sample_rate: The fraction of answered inferences logged, in ``(0, 1]``.
        queue_size: Records waiting to be written at most; beyond it records are dropped.
        on_drop: Called with ``(reason, count)`` for dropped records (``"queue_full"`` and
            ``"sink_backoff"`` on the request path, ``"write_failed"`` and ``"sink_backoff"``
            from the writer thread): the metrics hook.
        queue_bytes: Body bytes queued or being written at most; beyond it records are dropped.
    """

    def __init__(
        self,
        sink: Sink,
        sample_rate: float,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        on_drop: Callable[[str, int], None] | None = None,
        *,
        queue_bytes: int = DEFAULT_QUEUE_BYTES,
    ) -> None:
        if not 0.0 < sample_rate <= 1.0:
            raise ValueError(f"payload log sample rate must be in (0, 1], got {sample_rate}")
        if queue_size < 1:
            raise ValueError(f"payload log queue size must be positive, got {queue_size}")
        if queue_bytes < 1:
            raise ValueError(f"payload log queue bytes must be positive, got {queue_bytes}")
        self.sample_rate = sample_rate
        self.queue_size = queue_size
        self.queue_bytes = queue_bytes
        self.written = 0
        self.dropped: dict[str, int] = {"queue_full": 0, "write_failed": 0, "sink_backoff": 0}
        self._sink = sink
        self._on_drop = on_drop
        self._entries: deque[Entry] = deque()
        self._bytes = 0  # queued and being written
        self._ready = threading.Condition(threading.Lock())
        self._stopping = False
        self._failures = 0  # failed writes in a row
        self._failed_total = 0
        self._paused_until = 0.0  # time.monotonic() before which the sink is not tried
        self._thread = threading.Thread(target=self._run, name="mlrail-payload-log", daemon=True)
        self._thread.start()

    @property
    def queued_bytes(self) -> int:
        """Body bytes queued or being written now."""
        return self._bytes

    def offer(
        self,
        request_id: str,
        model_name: str,
        model_version: str,
        timestamp: float,
        latency: float,
        request_body: bytes,
        response_body: bytes,
        *,
        request_header_length: int | None = None,
        response_header_length: int | None = None,
        identity: str | None = None,
        sample_rate: float | None = None,
    ) -> None:
        """Queue one answered inference if it is sampled; never blocks, never raises.

        Args:
            request_id: The request's ``id`` (or the one generated for it).
            model_name: The model that answered.
            model_version: Its version.
            timestamp: ``time.time()`` when the request started.
            latency: Seconds from the request's start to its response being encoded.
            request_body: The request body as received (kept as is, not copied).
            response_body: The response body as sent.
            request_header_length: The request's ``Inference-Header-Content-Length`` when it
                used the binary tensor data extension; None for an all-JSON body.
            response_header_length: The same for the response.
            identity: The answering version's identity (``mlrail.identity``), None if unknown.
            sample_rate: This inference's model's rate, instead of the logger's (a model
                switched on by its ``logging.json``); 0 logs nothing.
        """
        rate = self.sample_rate if sample_rate is None else sample_rate
        if rate < 1.0 and random.random() >= rate:
            return
        if self._paused_until and time.monotonic() < self._paused_until:
            self._drop("sink_backoff", 1)
            return
        entry = Entry(
            request_id,
            model_name,
            model_version,
            timestamp,
            latency,
            request_body,
            response_body,
            request_header_length,
            response_header_length,
            identity,
        )
        nbytes = entry.nbytes
        with self._ready:
            if (
                self._stopping
                or len(self._entries) >= self.queue_size
                or self._bytes + nbytes > self.queue_bytes
            ):
                full = True
            else:
                full = False
                self._entries.append(entry)
                self._bytes += nbytes
                self._ready.notify()
        if full:
            self._drop("queue_full", 1)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued (waiting up to ``timeout`` seconds), then stop the thread."""
        if not self._thread.is_alive():
            return
        with self._ready:
            self._stopping = True
            self._ready.notify()
        self._thread.join(timeout)
        self._sink.close()

    def _drop(self, reason: str, count: int) -> None:
        self.dropped[reason] += count
        if self._on_drop is not None:
            self._on_drop(reason, count)

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._entries and not self._stopping:
                    self._ready.wait()
                if not self._entries:
                    return  # stopping, and everything is written
                batch: list[Entry] = []
                size = 0
                while self._entries and len(batch) < _BATCH and size < _BATCH_BYTES:
                    entry = self._entries.popleft()
                    batch.append(entry)
                    size += entry.nbytes
            try:
                if self._paused_until and time.monotonic() < self._paused_until:
                    self._drop("sink_backoff", len(batch))
                else:
                    self._write(batch)
            finally:
                # Counted until written: the bodies are held until then.
                with self._ready:
                    self._bytes -= size

    def _write(self, batch: list[Entry]) -> None:
        try:
            self._sink.write(batch)
        except Exception as e:  # any sink failure: count, back off, say so (not once per record)
            # A file sink says how many records reached a file before it failed.
            written = getattr(e, "written", 0)
            written = written if isinstance(written, int) and 0 <= written < len(batch) else 0
            self.written += written
            self._drop("write_failed", len(batch) - written)
            self._failures += 1
            self._failed_total += 1
            delay = backoff_delay(self._failures)
            self._paused_until = time.monotonic() + delay
            if self._failed_total == 1 or self._failed_total % 100 == 0:
                logger.warning(
                    "payload log: dropped %d record(s) (%d failed write(s) so far), trying "
                    "again in %g s: %s: %s",
                    len(batch),
                    self._failed_total,
                    delay,
                    type(e).__name__,
                    e,
                )
        else:
            self.written += len(batch)
            self._failures = 0
            self._paused_until = 0.0


def backoff_delay(failures: int) -> float:
    """Seconds to leave a sink alone after ``failures`` failed writes in a row (1, 2, 4 ... 60)."""
    return float(min(BACKOFF_FIRST_SECONDS * 2 ** min(failures - 1, 30), BACKOFF_MAX_SECONDS))
