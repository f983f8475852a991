"""Real CloudEvents receivers on 127.0.0.1: each request is parsed with the SDK's ``from_http``.

``Receiver(answers=[503, 200])`` answers 503 first, then 200 (the last answer repeats);
``Receiver(hold=True)`` holds every request until the receiver stops (slower than any timeout,
without a test sleeping); :func:`refusing_port` is a port where nothing listens.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cloudevents.http import CloudEvent, from_http


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    event: CloudEvent


@dataclass
class Receiver:
    answers: list[int] = field(default_factory=lambda: [200])
    hold: bool = False
    events: list[Received] = field(default_factory=list)
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    _release: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length", "0"))
        body = handler.rfile.read(length)
        with self._lock:
            answer = self.answers[min(self.requests, len(self.answers) - 1)]
            self.requests += 1
        if self.hold:
            self._release.wait(60)
        status = answer
        if 200 <= answer < 300:
            try:
                event = from_http(dict(handler.headers.items()), body)
            except Exception as e:  # the test fails on any: every event must parse
                self.errors.append(f"{type(e).__name__}: {e}")
                status = 400
            else:
                self.events.append(Received(dict(handler.headers.items()), body, event))
        handler.send_response(status)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    @contextmanager
    def running(self) -> Iterator[Receiver]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self.url = f"http://127.0.0.1:{server.server_address[1]}/events"
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._release.set()
            server.shutdown()
            server.server_close()
            thread.join()
        assert not self.errors, self.errors


@contextmanager
def refusing_port() -> Iterator[int]:
    """A port on 127.0.0.1 that refuses connections: bound, never listening, held till the end."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]
