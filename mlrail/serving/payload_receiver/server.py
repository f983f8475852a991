"""The receiver's HTTP server: the standard library's threading server, one thread per connection.

Why not uvicorn (what ``mlrail serve`` runs): the receiver's clients are the cluster's model
servers posting two small events per sampled inference, over kept-alive connections; a thread
per connection is plenty, and the limits that matter here are few and enforced below.

- ``POST`` (any path): one CloudEvent. 202 when taken (paired, held for its other half, or an
  error response counted); 400 with a one-line message for anything that is not a KServe
  inference CloudEvent with a V2 JSON body; 411 without ``Content-Length``; 413 for a body over
  ``max_body_bytes`` (not kept: read and dropped, up to 64 MiB, so the client reads the answer
  before the connection closes); 503 with ``Retry-After`` when the bodies being read and taken
  at once would pass ``max_bytes_in_flight`` (one thread per connection must not mean unbounded
  memory; both senders count a refused event as dropped). Never 500: an unexpected error is
  logged and answered 400.
- ``GET /healthz``: 200 ``ok`` (liveness and readiness).
- ``GET /metrics``: the counters below, in Prometheus' text format.
- A connection idle for ``idle_seconds`` (or a client that stops sending mid-request) is closed.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from mlrail.serving.payload_receiver.events import BadEvent, parse_event
from mlrail.serving.payload_receiver.pairs import Pairs
from mlrail.serving.payload_receiver.store import Store

__all__ = [
    "DEFAULT_IDLE_SECONDS",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_BYTES_IN_FLIGHT",
    "Receiver",
    "ReceiverServer",
]

logger = logging.getLogger("mlrail.serving")

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024  # mlrail serve's own request limit
DEFAULT_IDLE_SECONDS = 30.0
DEFAULT_MAX_BYTES_IN_FLIGHT = 32 * 1024 * 1024
# A refused body is read and dropped up to this much before closing (see _discard).
_DRAIN_BYTES = 64 * 1024 * 1024
# A model's folder in the log: an InferenceService or served model name (no '/', not hidden).
_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")


class Receiver:
    """What the server does with an event: pair it, build the record, hand it to the store."""

    def __init__(self, pairs: Pairs, store: Store) -> None:
        self.pairs = pairs
        self.store = store
        self.received = {"request": 0, "response": 0}
        self.rejected = {"bad_event": 0, "too_large": 0, "bad_model": 0, "busy": 0}
        self.records = 0
        self._lock = threading.Lock()

    def take(self, headers: dict[str, str], body: bytes) -> None:
        """Take one event.

        Raises:
            BadEvent: Not an inference CloudEvent the receiver can record (the message says why).
        """
        arrived = time.time()
        try:
            event = parse_event(headers, body)
        except BadEvent:
            self._count(self.rejected, "bad_event")
            raise
        self._count(self.received, "request" if event.is_request else "response")
        record = self.pairs.add(event, arrived)
        if record is None:
            return
        if not _MODEL.match(str(record["model"])):
            self._count(self.rejected, "bad_model")
            raise BadEvent(
                f"model {record['model']!r} cannot name a folder of the payload log (no "
                "inferenceservicename, and no model_name in the response)"
            )
        with self._lock:
            self.records += 1
        self.store.add([record])

    def _count(self, counters: dict[str, int], key: str) -> None:
        with self._lock:
            counters[key] += 1

    def metrics(self, bytes_in_flight: int = 0) -> str:
        """The counters in Prometheus' text format (and the server's bytes in flight)."""
        lines = [
            "# TYPE mlrail_payload_receiver_events_total counter",
            *(
                f'mlrail_payload_receiver_events_total{{type="{k}"}} {v}'
                for k, v in self.received.items()
            ),
            "# TYPE mlrail_payload_receiver_rejected_total counter",
            *(
                f'mlrail_payload_receiver_rejected_total{{reason="{k}"}} {v}'
                for k, v in self.rejected.items()
            ),
            "# TYPE mlrail_payload_receiver_records_total counter",
            f"mlrail_payload_receiver_records_total {self.records}",
            "# TYPE mlrail_payload_receiver_records_written_total counter",
            f"mlrail_payload_receiver_records_written_total {self.store.written}",
            "# TYPE mlrail_payload_receiver_dropped_total counter",
            *(
                f'mlrail_payload_receiver_dropped_total{{reason="{k}"}} {v}'
                for k, v in {**self.pairs.dropped, **self.store.dropped}.items()
            ),
            "# TYPE mlrail_payload_receiver_pending gauge",
            f"mlrail_payload_receiver_pending {self.pairs.pending}",
            "# TYPE mlrail_payload_receiver_bytes_in_flight gauge",
            f"mlrail_payload_receiver_bytes_in_flight {bytes_in_flight}",
        ]
        return "\n".join(lines) + "\n"


class _Handler(BaseHTTPRequestHandler):
    server: ReceiverServer
    protocol_version = "HTTP/1.1"  # kept-alive connections, as both senders use

    def setup(self) -> None:
        # StreamRequestHandler sets the socket's timeout from self.timeout in setup()
        self.timeout = self.server.idle_seconds  # type: ignore[misc]
        super().setup()

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = self.path.split("?")[0]
        if path == "/healthz":
            self._answer(200, "ok\n")
        elif path == "/metrics":
            text = self.server.receiver.metrics(self.server.bytes_in_flight)
            self._answer(200, text, "text/plain; version=0.0.4")
        else:
            self._answer(404, f"no {path} here: POST CloudEvents, GET /healthz or /metrics\n")

    def do_POST(self) -> None:  # noqa: N802
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            self.close_connection = True
            self._answer(411, "a Content-Length is required\n")
            return
        try:
            length = int(length_header)
            if length < 0:
                raise ValueError
        except ValueError:
            self.close_connection = True
            self._answer(400, f"Content-Length {length_header!r} is not a size\n")
            return
        limit = self.server.max_body_bytes
        if length > limit:
            self.server.receiver._count(self.server.receiver.rejected, "too_large")
            self.close_connection = True  # the body is not kept: the connection cannot go on
            self._answer(413, f"body of {length} bytes is over the limit of {limit}\n")
            self._discard(min(length, _DRAIN_BYTES))
            return
        if not self.server.reserve(length):
            self.server.receiver._count(self.server.receiver.rejected, "busy")
            self.close_connection = True
            self._answer(503, "too many events at once; try again\n", retry_after=1)
            self._discard(length)
            return
        try:
            self._take(length)
        finally:
            self.server.release(length)

    def _take(self, length: int) -> None:
        body = self.rfile.read(length)
        if len(body) < length:
            self.close_connection = True
            return  # the client went away mid-body: nobody to answer
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            self.server.receiver.take(headers, body)
        except BadEvent as e:
            self._answer(400, f"{e}\n")
            return
        except Exception:  # never 500 on what a client sent: logged, answered 400
            logger.exception("payload receiver: an event could not be taken")
            self._answer(400, "the event could not be taken (see the receiver's log)\n")
            return
        self._answer(202, "")

    def _discard(self, nbytes: int) -> None:
        """Read what the client is still sending (unkept), so that closing the connection does
        not reset it before the client has read the answer."""
        try:
            while nbytes > 0:
                chunk = self.rfile.read(min(nbytes, 65536))
                if not chunk:
                    return
                nbytes -= len(chunk)
        except OSError:
            pass  # a client that went away, or one that stalled past the idle timeout

    def _answer(
        self,
        status: int,
        text: str,
        content_type: str = "text/plain",
        retry_after: int | None = None,
    ) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if retry_after is not None:
            self.send_header("Retry-After", str(retry_after))
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per event would drown the log; /metrics counts them


class ReceiverServer(ThreadingHTTPServer):
    """The HTTP server around a :class:`Receiver`."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        receiver: Receiver,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        idle_seconds: float = DEFAULT_IDLE_SECONDS,
        max_bytes_in_flight: int = DEFAULT_MAX_BYTES_IN_FLIGHT,
    ) -> None:
        if max_body_bytes < 1 or not idle_seconds > 0 or max_bytes_in_flight < 1:
            raise ValueError(
                "max_body_bytes, idle_seconds and max_bytes_in_flight must be positive, got "
                f"{max_body_bytes}, {idle_seconds}, {max_bytes_in_flight}"
            )
        self.receiver = receiver
        self.max_body_bytes = max_body_bytes
        self.idle_seconds = idle_seconds
        # never below one largest body, or such a body could never be taken
        self.max_bytes_in_flight = max(max_bytes_in_flight, max_body_bytes)
        self._in_flight = 0
        self._in_flight_lock = threading.Lock()
        super().__init__(address, _Handler)

    def reserve(self, nbytes: int) -> bool:
        """Count ``nbytes`` of a body about to be read; False when that would pass the cap."""
        with self._in_flight_lock:
            if self._in_flight and self._in_flight + nbytes > self.max_bytes_in_flight:
                return False
            self._in_flight += nbytes
            return True

    @property
    def bytes_in_flight(self) -> int:
        return self._in_flight

    def release(self, nbytes: int) -> None:
        with self._in_flight_lock:
            self._in_flight -= nbytes
