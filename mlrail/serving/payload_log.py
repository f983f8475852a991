"""Payload logging: a sample of inference requests and responses, written off the request path.

So serving-time inputs can be compared with the training data later (drift, skew), each sampled
inference that was answered (200) is handed to a bounded queue; one background thread writes it
out. The request path only draws a random number and, when sampled, does a non-blocking ``put``:
a full queue or a failing sink drops records (counted) and never delays or fails a request.

Two sinks, chosen by :func:`open_payload_log` from ``--log-payloads``:

- a file path: JSON Lines, one record per request, appended (``O_APPEND``, one ``write`` per
  batch, so several worker processes can share the file)::

      {"id": "<request id>", "model": "penguins", "version": "2",
       "timestamp": "2026-01-30T10:45:00.000123Z", "latency_ms": 0.182,
       "inputs": [<the request's V2 inputs, as sent>], "outputs": [<the response's V2 outputs>]}

- an ``http(s)://`` URL: CloudEvents 1.0 in structured mode (``application/cloudevents+json``),
  two per request, as KServe's payload logger sends them, so KServe's tooling (message-dumper,
  Knative brokers, its drift/outlier detectors) reads them unchanged: ``type``
  ``org.kubeflow.serving.inference.request`` with the V2 request body as ``data``, then
  ``org.kubeflow.serving.inference.response`` with the V2 response body; both share the request id
  as ``id`` and carry KServe's extensions (``inferenceservicename`` = the model, ``namespace``
  from ``POD_NAMESPACE``, ``component`` = ``predictor``, ``endpoint``), plus ``modelversion`` and,
  on the response, ``latencyus``.

Latency is measured from the request's start to its response body being encoded.
"""

from __future__ import annotations

import http.client
import logging
import os
import queue
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import orjson

__all__ = [
    "CE_REQUEST_TYPE",
    "CE_RESPONSE_TYPE",
    "DEFAULT_QUEUE_SIZE",
    "PayloadLogger",
    "open_payload_log",
]

logger = logging.getLogger("mlrail.serving")

CE_REQUEST_TYPE = "org.kubeflow.serving.inference.request"  # KServe's payload logger's types
CE_RESPONSE_TYPE = "org.kubeflow.serving.inference.response"
DEFAULT_QUEUE_SIZE = 10_000
_BATCH = 256  # records per write: one syscall for a burst, not one per record
_HTTP_TIMEOUT_SECONDS = 5.0
_STOP = object()


@dataclass(frozen=True, slots=True)
class _Entry:
    request_id: str
    model: str
    version: str
    timestamp: float  # time.time() at the request's start
    latency: float  # seconds
    request: dict[str, Any]  # the parsed V2 request
    response: bytes  # the V2 response body as sent


class _Sink(Protocol):
    def write(self, entries: list[_Entry]) -> None: ...

    def close(self) -> None: ...


class PayloadLogger:
    """Sample inference payloads and write them from a background thread.

    Args:
        sink: Where records go (:class:`_FileSink` or :class:`_CloudEventsSink`).
        sample_rate: The fraction of answered inferences logged, in ``(0, 1]``.
        queue_size: Records waiting to be written at most; beyond it records are dropped.
        on_drop: Called with ``(reason, count)`` for dropped records (``"queue_full"`` on the
            request path, ``"write_failed"`` from the writer thread): the metrics hook.
    """

    def __init__(
        self,
        sink: _Sink,
        sample_rate: float,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        on_drop: Callable[[str, int], None] | None = None,
    ) -> None:
        if not 0.0 < sample_rate <= 1.0:
            raise ValueError(f"payload log sample rate must be in (0, 1], got {sample_rate}")
        if queue_size < 1:
            raise ValueError(f"payload log queue size must be positive, got {queue_size}")
        self.sample_rate = sample_rate
        self.written = 0
        self.dropped: dict[str, int] = {"queue_full": 0, "write_failed": 0}
        self._sink = sink
        self._on_drop = on_drop
        self._queue: queue.Queue[Any] = queue.Queue(queue_size)
        self._failures = 0
        self._thread = threading.Thread(target=self._run, name="mlrail-payload-log", daemon=True)
        self._thread.start()

    def offer(
        self,
        request_id: str,
        model: str,
        version: str,
        timestamp: float,
        latency: float,
        request: dict[str, Any],
        response: bytes,
    ) -> None:
        """Queue one answered inference if it is sampled; never blocks, never raises."""
        if self.sample_rate < 1.0 and random.random() >= self.sample_rate:
            return
        try:
            self._queue.put_nowait(
                _Entry(request_id, model, version, timestamp, latency, request, response)
            )
        except queue.Full:
            self._drop("queue_full", 1)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued (waiting up to ``timeout`` seconds), then stop the thread."""
        if not self._thread.is_alive():
            return
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            pass
        self._thread.join(timeout)
        self._sink.close()

    def _drop(self, reason: str, count: int) -> None:
        self.dropped[reason] += count
        if self._on_drop is not None:
            self._on_drop(reason, count)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            batch: list[_Entry] = []
            stop = first is _STOP
            if not stop:
                batch.append(first)
                while len(batch) < _BATCH:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        stop = True
                        break
                    batch.append(item)
            if batch:
                self._write(batch)
            if stop:
                return

    def _write(self, batch: list[_Entry]) -> None:
        try:
            self._sink.write(batch)
        except Exception as e:  # any sink failure: count, say so (not once per record), go on
            self._drop("write_failed", len(batch))
            self._failures += 1
            if self._failures == 1 or self._failures % 1000 == 0:
                logger.warning(
                    "payload log: dropped %d record(s) (%d failed write(s) so far): %s: %s",
                    len(batch),
                    self._failures,
                    type(e).__name__,
                    e,
                )
        else:
            self.written += len(batch)


def open_payload_log(
    destination: str,
    sample_rate: float,
    queue_size: int = DEFAULT_QUEUE_SIZE,
    on_drop: Callable[[str, int], None] | None = None,
) -> PayloadLogger:
    """A :class:`PayloadLogger` writing to a JSON Lines file or POSTing CloudEvents to a URL.

    Args:
        destination: A file path (its folder must exist), or an ``http://``/``https://`` URL.
        sample_rate: The fraction of answered inferences logged, in ``(0, 1]``.
        queue_size: Records waiting to be written at most; beyond it records are dropped.
        on_drop: Called with ``(reason, count)`` for dropped records.

    Returns:
        The running logger; call ``close()`` to flush it.

    Raises:
        ValueError: The rate or queue size is out of range, the URL has no host, or the file
            cannot be opened for appending.
    """
    sink: _Sink
    if destination.startswith(("http://", "https://")):
        sink = _CloudEventsSink(destination)
    else:
        sink = _FileSink(Path(destination))
    try:
        return PayloadLogger(sink, sample_rate, queue_size, on_drop)
    except ValueError:
        sink.close()
        raise


# -- sinks ----------------------------------------------------------------------------------------


def _time(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="microseconds")
    return moment.replace("+00:00", "Z")


class _FileSink:
    """JSON Lines appended to a file."""

    def __init__(self, path: Path) -> None:
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as e:
            raise ValueError(f"cannot open payload log {path} for appending: {e}") from None
        self.path = path

    def write(self, entries: list[_Entry]) -> None:
        lines = []
        for e in entries:
            outputs = orjson.loads(e.response)["outputs"]
            record = {
                "id": e.request_id,
                "model": e.model,
                "version": e.version,
                "timestamp": _time(e.timestamp),
                "latency_ms": round(e.latency * 1000.0, 3),
                "inputs": e.request.get("inputs"),
                "outputs": outputs,
            }
            lines.append(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
        data = memoryview(b"".join(lines))
        while data:
            data = data[os.write(self._fd, data) :]

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class _CloudEventsSink:
    """CloudEvents in structured mode, POSTed one by one over a kept-alive connection."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if not parts.hostname:
            raise ValueError(f"payload log URL {url!r} has no host")
        self.url = url
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._namespace = os.environ.get("POD_NAMESPACE", "")
        self._connection: http.client.HTTPConnection | None = None

    def write(self, entries: list[_Entry]) -> None:
        for e in entries:
            common = {
                "specversion": "1.0",
                "id": e.request_id,
                "source": f"/v2/models/{e.model}/versions/{e.version}",
                "time": _time(e.timestamp),
                "datacontenttype": "application/json",
                "inferenceservicename": e.model,
                "namespace": self._namespace,
                "component": "predictor",
                "endpoint": "",
                "modelversion": e.version,
            }
            self._post(orjson.dumps({**common, "type": CE_REQUEST_TYPE, "data": e.request}))
            response = {
                **common,
                "type": CE_RESPONSE_TYPE,
                "time": _time(e.timestamp + e.latency),
                "latencyus": round(e.latency * 1e6),
                "data": orjson.Fragment(e.response),  # already JSON: not parsed again
            }
            self._post(orjson.dumps(response))

    def _post(self, body: bytes) -> None:
        headers = {"Content-Type": "application/cloudevents+json"}
        for attempt in (1, 2):  # a kept-alive connection the receiver closed: retry once
            connection = self._connection or self._connect()
            try:
                connection.request("POST", self._path, body, headers)
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt == 2:
                    raise
                continue
            if response.status >= 300:
                raise RuntimeError(f"{self.url} answered {response.status} {response.reason}")
            return

    def _connect(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        self._connection = cls(self._host, self._port, timeout=_HTTP_TIMEOUT_SECONDS)
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
