"""Payload logging: a sample of inference requests and responses, written off the request path.

So serving-time inputs can be compared with the training data later (drift, skew), each sampled
inference that was answered (200) is handed to a queue bounded in bytes; one background thread
writes it out. The request path only draws a random number and, when sampled, appends the bodies
it already holds (the bytes as received and sent, never parsed objects: a parsed request costs
about 15x its size, and 40 requests of 3.8 MB held that way took a server from 104 to 1,565 MB).
A full queue, a failing sink or a sink in back-off drops records (counted); nothing here delays or
fails a request.

The writer thread turns the bodies into V2 JSON (:func:`mlrail.artifacts.v2.json_body` decodes
the binary tensor data extension), in one of two sinks, chosen by :func:`open_payload_log` from
``--log-payloads``:

- a file path: JSON Lines, one record per request, appended (``O_APPEND``, one ``write`` per
  batch, so several worker processes can share the file)::

      {"id": "<request id>", "model": "penguins", "version": "2",
       "timestamp": "2026-01-30T10:45:00.000123Z", "latency_ms": 0.182,
       "inputs": [<the request's V2 inputs, as sent>], "outputs": [<the response's V2 outputs>]}

  The file is created ``0600`` (payloads are user data), a symbolic link at its path is refused
  (``O_NOFOLLOW``), and it is rotated: once it would pass ``rotate_bytes`` (64 MiB) or has been
  written to for ``rotate_seconds`` (1 h), ``payloads.jsonl`` is renamed
  ``payloads-<UTC time>.jsonl`` and a new one is started; the ``keep_files`` (8) newest rotated
  files are kept. Workers sharing the
  file rotate under an advisory lock on it, and each reopens the path when it finds it renamed.

- an ``http(s)://`` URL: CloudEvents 1.0 in structured mode (``application/cloudevents+json``),
  two per request, as KServe's payload logger sends them, so KServe's tooling (message-dumper,
  Knative brokers, its drift/outlier detectors) reads them unchanged: ``type``
  ``org.kubeflow.serving.inference.request`` with the V2 request body as ``data``, then
  ``org.kubeflow.serving.inference.response`` with the V2 response body; both share the request id
  as ``id`` and carry KServe's extensions (``inferenceservicename`` = the model, ``namespace``
  from ``POD_NAMESPACE``, ``component`` = ``predictor``, ``endpoint``), plus ``modelversion`` and,
  on the response, ``latencyus``.

After a failed write the logger backs off (1 s, doubling to 60 s): records offered meanwhile are
dropped at once (``sink_backoff``), instead of a reconnect per record to a collector that is down
(which cost 16% of the server's throughput).

Latency is measured from the request's start to its response body being encoded.
"""

from __future__ import annotations

import errno
import fcntl
import http.client
import json
import logging
import os
import random
import stat
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import orjson

__all__ = [
    "BACKOFF_MAX_SECONDS",
    "CE_REQUEST_TYPE",
    "CE_RESPONSE_TYPE",
    "DEFAULT_KEEP_FILES",
    "DEFAULT_QUEUE_BYTES",
    "DEFAULT_QUEUE_SIZE",
    "DEFAULT_ROTATE_BYTES",
    "DEFAULT_ROTATE_SECONDS",
    "PayloadLogger",
    "backoff_delay",
    "open_payload_log",
]

logger = logging.getLogger("mlrail.serving")

CE_REQUEST_TYPE = "org.kubeflow.serving.inference.request"  # KServe's payload logger's types
CE_RESPONSE_TYPE = "org.kubeflow.serving.inference.response"
DEFAULT_QUEUE_SIZE = 10_000  # records: bounds the per-record overhead of many tiny ones
# Bytes of request and response bodies queued or being written: a fraction of the smallest
# memory limit in manifests/ (512 MiB), beside the transport's 16 MiB of bodies in flight.
DEFAULT_QUEUE_BYTES = 32 * 1024 * 1024
DEFAULT_ROTATE_BYTES = 64 * 1024 * 1024
DEFAULT_ROTATE_SECONDS = 3600.0
DEFAULT_KEEP_FILES = 8  # with the live file, at most ~9 x 64 MiB on disk
BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 60.0
_BATCH = 256  # records per write: one syscall for a burst, not one per record
_BATCH_BYTES = 4 * 1024 * 1024  # body bytes per batch: bounds the JSON being assembled
_HTTP_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class _Entry:
    request_id: str
    model: str
    version: str
    timestamp: float  # time.time() at the request's start
    latency: float  # seconds
    request: bytes  # the V2 request body as received
    response: bytes  # the V2 response body as sent
    request_header_length: int | None  # binary tensor data extension: its JSON part's length
    response_header_length: int | None

    @property
    def nbytes(self) -> int:
        return len(self.request) + len(self.response)


class _Sink(Protocol):
    def write(self, entries: list[_Entry]) -> None: ...

    def close(self) -> None: ...


class PayloadLogger:
    """Sample inference payloads and write them from a background thread.

    Args:
        sink: Where records go (:class:`_FileSink` or :class:`_CloudEventsSink`).
        sample_rate: The fraction of answered inferences logged, in ``(0, 1]``.
        queue_size: Records waiting to be written at most; beyond it records are dropped.
        on_drop: Called with ``(reason, count)`` for dropped records (``"queue_full"`` and
            ``"sink_backoff"`` on the request path, ``"write_failed"`` and ``"sink_backoff"``
            from the writer thread): the metrics hook.
        queue_bytes: Body bytes queued or being written at most; beyond it records are dropped.
    """

    def __init__(
        self,
        sink: _Sink,
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
        self._entries: deque[_Entry] = deque()
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
        """
        if self.sample_rate < 1.0 and random.random() >= self.sample_rate:
            return
        if self._paused_until and time.monotonic() < self._paused_until:
            self._drop("sink_backoff", 1)
            return
        entry = _Entry(
            request_id,
            model_name,
            model_version,
            timestamp,
            latency,
            request_body,
            response_body,
            request_header_length,
            response_header_length,
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
                batch: list[_Entry] = []
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

    def _write(self, batch: list[_Entry]) -> None:
        try:
            self._sink.write(batch)
        except Exception as e:  # any sink failure: count, back off, say so (not once per record)
            self._drop("write_failed", len(batch))
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


def open_payload_log(
    destination: str,
    sample_rate: float,
    queue_size: int = DEFAULT_QUEUE_SIZE,
    on_drop: Callable[[str, int], None] | None = None,
    *,
    queue_bytes: int = DEFAULT_QUEUE_BYTES,
    rotate_bytes: int = DEFAULT_ROTATE_BYTES,
    rotate_seconds: float = DEFAULT_ROTATE_SECONDS,
    keep_files: int = DEFAULT_KEEP_FILES,
) -> PayloadLogger:
    """A :class:`PayloadLogger` writing to a JSON Lines file or POSTing CloudEvents to a URL.

    Args:
        destination: A file path (its folder must exist), or an ``http://``/``https://`` URL.
        sample_rate: The fraction of answered inferences logged, in ``(0, 1]``.
        queue_size: Records waiting to be written at most; beyond it records are dropped.
        on_drop: Called with ``(reason, count)`` for dropped records.
        queue_bytes: Body bytes queued or being written at most.
        rotate_bytes: A log file is rotated before it would pass this size.
        rotate_seconds: A log file is rotated once it is this old.
        keep_files: Rotated files kept (the oldest beyond it are removed).

    Returns:
        The running logger; call ``close()`` to flush it.

    Raises:
        ValueError: A setting is out of range, the URL has no host, or the file cannot be
            opened for appending (a symbolic link or not a regular file included).
    """
    sink: _Sink
    if destination.startswith(("http://", "https://")):
        sink = _CloudEventsSink(destination)
    else:
        sink = _FileSink(
            Path(destination),
            rotate_bytes=rotate_bytes,
            rotate_seconds=rotate_seconds,
            keep_files=keep_files,
        )
    try:
        return PayloadLogger(sink, sample_rate, queue_size, on_drop, queue_bytes=queue_bytes)
    except ValueError:
        sink.close()
        raise


# -- bodies to V2 JSON (in the writer thread) -----------------------------------------------------


def _document(body: bytes, header_length: int | None) -> dict[str, Any]:
    """A logged body as its V2 JSON object."""
    if header_length is not None:
        from mlrail.artifacts.v2 import json_body  # only binary-extension bodies need it

        return json_body(body, header_length)
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        document = json.loads(body)  # NaN literals, which the server accepts as missing values
    if not isinstance(document, dict):
        raise ValueError("not a V2 body: not a JSON object")
    return document


def _event_data(body: bytes, header_length: int | None) -> Any:
    """A request body as a CloudEvent's ``data``: the bytes themselves when they are JSON.

    The server parsed the body, so an all-JSON body is valid JSON unless it used the NaN or
    Infinity literals it also takes; without them the bytes go into the event as they are,
    neither parsed nor copied into objects (which cost the writer thread memory and GIL time).
    """
    if header_length is None and b"NaN" not in body and b"Infinity" not in body:
        return orjson.Fragment(body)
    return _document(body, header_length)


def _time(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="microseconds")
    return moment.replace("+00:00", "Z")


# -- sinks ----------------------------------------------------------------------------------------


def _open_log(path: Path) -> int:
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)  # payloads are user data: owner only
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise ValueError(
                f"payload log {path} is a symbolic link; refusing to follow it (give the "
                "link's target instead)"
            ) from None
        raise ValueError(f"cannot open payload log {path} for appending: {e}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ValueError(f"payload log {path} is not a regular file")
    return fd


class _FileSink:
    """JSON Lines appended to a file, rotated by size and age."""

    def __init__(
        self,
        path: Path,
        *,
        rotate_bytes: int = DEFAULT_ROTATE_BYTES,
        rotate_seconds: float = DEFAULT_ROTATE_SECONDS,
        keep_files: int = DEFAULT_KEEP_FILES,
    ) -> None:
        if rotate_bytes < 1 or not rotate_seconds > 0 or keep_files < 0:
            raise ValueError(
                "payload log rotation needs a positive size and age and keep_files >= 0, got "
                f"{rotate_bytes}, {rotate_seconds}, {keep_files}"
            )
        self.path = path
        self.rotate_bytes = rotate_bytes
        self.rotate_seconds = rotate_seconds
        self.keep_files = keep_files
        self._fd = _open_log(path)
        self._opened = time.monotonic()

    def write(self, entries: list[_Entry]) -> None:
        lines = []
        for e in entries:
            record = {
                "id": e.request_id,
                "model": e.model,
                "version": e.version,
                "timestamp": _time(e.timestamp),
                "latency_ms": round(e.latency * 1000.0, 3),
                "inputs": _document(e.request, e.request_header_length).get("inputs"),
                "outputs": _document(e.response, e.response_header_length).get("outputs"),
            }
            lines.append(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
        data = b"".join(lines)
        self._follow()
        self._maybe_rotate(len(data))
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def _follow(self) -> None:
        """Reopen the path if another process rotated the file this one has open."""
        try:
            current = os.stat(self.path, follow_symlinks=False)
        except FileNotFoundError:
            current = None
        mine = os.fstat(self._fd)
        if current is None or (current.st_ino, current.st_dev) != (mine.st_ino, mine.st_dev):
            self._reopen()

    def _reopen(self) -> None:
        fd = _open_log(self.path)
        os.close(self._fd)
        self._fd = fd
        self._opened = time.monotonic()

    def _maybe_rotate(self, incoming: int) -> None:
        size = os.fstat(self._fd).st_size
        if size == 0:
            return
        too_big = size + incoming > self.rotate_bytes
        too_old = time.monotonic() - self._opened >= self.rotate_seconds
        if not (too_big or too_old):
            return
        # An advisory lock on the file itself: every worker has this inode open, so only one
        # renames it; the others find the path renamed and reopen it (_follow).
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            current = os.stat(self.path, follow_symlinks=False)
            mine = os.fstat(self._fd)
            if (current.st_ino, current.st_dev) == (mine.st_ino, mine.st_dev):
                os.rename(self.path, self._rotated_name())
        except FileNotFoundError:
            pass  # renamed by another worker between our checks
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._reopen()
        self._prune()

    def _rotated_name(self) -> Path:
        moment = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        stem, suffix = self.path.stem, self.path.suffix
        name = self.path.with_name(f"{stem}-{moment}{suffix}")
        n = 1
        while name.exists():
            name = self.path.with_name(f"{stem}-{moment}-{n}{suffix}")
            n += 1
        return name

    def _prune(self) -> None:
        stem, suffix = self.path.stem, self.path.suffix
        # The UTC time in the name sorts as text in the order the files were rotated.
        rotated = sorted(self.path.parent.glob(f"{stem}-[0-9]*T*Z*{suffix}"))
        for old in rotated[: max(0, len(rotated) - self.keep_files)]:
            try:
                old.unlink()
            except FileNotFoundError:
                pass  # removed by another worker

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
            request = _event_data(e.request, e.request_header_length)
            self._post(orjson.dumps({**common, "type": CE_REQUEST_TYPE, "data": request}))
            del request
            response = {
                **common,
                "type": CE_RESPONSE_TYPE,
                "time": _time(e.timestamp + e.latency),
                "latencyus": round(e.latency * 1e6),
                "data": (
                    orjson.Fragment(e.response)  # already JSON, written by the server
                    if e.response_header_length is None
                    else _document(e.response, e.response_header_length)
                ),
            }
            self._post(orjson.dumps(response))

    def _post(self, body: bytes) -> None:
        headers = {"Content-Type": "application/cloudevents+json"}
        for attempt in (1, 2):  # a kept-alive connection the receiver closed: retry once
            reused = self._connection is not None
            connection = self._connection or self._connect()
            try:
                connection.request("POST", self._path, body, headers)
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt == 2 or not reused:  # a fresh connection that failed: the sink is down
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
