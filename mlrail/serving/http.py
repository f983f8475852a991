"""HTTP/1.1 for ``mlrail serve``: uvicorn's httptools protocol with the limits it lacks.

:class:`GuardedHttpToolsProtocol` is uvicorn's ``HttpToolsProtocol`` (the fast parser measured in
DESIGN §4) plus what :mod:`mlrail.serving.limits` describes, enforced before the app runs:

- **431** when a request line and headers pass ``max_header_bytes``. The parser is fed no more
  than that: httptools joins a header's pieces by concatenation, so a 120 MB header cost seconds
  of event-loop time (quadratic copying) and stalled every other connection.
- **408** and close when the headers take longer than ``header_timeout`` or the body longer than
  ``body_timeout``; a connection that sends nothing is closed after ``header_timeout``.
- At most ``max_connections`` per process: beyond it the connection that has waited longest for
  a request (a fresh or kept-alive connection with no request under way) is closed, so idle
  sockets cannot lock health probes out; if every connection is busy the newcomer gets 503.
- **503** with ``Retry-After`` when a request's body would take the process's request bodies in
  flight past ``max_bytes_in_flight``: counted from ``Content-Length`` before the body is read,
  and while reading a chunked body. A body's bytes stay counted until its request is answered
  (or its client goes away), since decoding and running it is when memory peaks.

After an early 431/408/503 the connection stops parsing, half-closes, and discards what the
client still sends for up to :data:`LINGER_SECONDS` before closing, so a client that is still
writing its request reads the answer instead of a connection reset.

This relies on uvicorn's protocol internals (its parser callbacks, ``cycle``, ``flow``,
``connections``); pyproject caps uvicorn to the minor this was read against, and
``tests/serving/test_http.py`` exercises every path on a real server.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from mlrail.serving.limits import Limits

__all__ = ["LINGER_SECONDS", "RETRY_AFTER_SECONDS", "GuardedHttpToolsProtocol", "configure"]

logger = logging.getLogger("mlrail.serving")

# Long enough for a client on loopback or a cluster network to finish writing a refused request
# of a few hundred MB and read the answer; short enough that refused sockets do not pile up.
LINGER_SECONDS = 2.0
# Requests refused for the byte budget can be retried as soon as one in flight is answered.
RETRY_AFTER_SECONDS = 1
# How often deadlines are checked: timeouts fire up to this much late (2.5% of the 10 s one).
SWEEP_SECONDS = 0.25

ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]


class _Reservation:
    """Request-body bytes one request holds in the process's budget (released once)."""

    __slots__ = ("nbytes", "released")

    def __init__(self, nbytes: int) -> None:
        self.nbytes = nbytes
        self.released = False


class _ProcessState:
    """What all connections of one process share: the limits, the byte budget, the waiters."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.in_flight = 0
        # Connections with no request under way (fresh, kept alive, or lingering), oldest first:
        # the ones closed to make room at the connection cap.
        self.waiting: OrderedDict[GuardedHttpToolsProtocol, None] = OrderedDict()
        self.refused: dict[str, int] = {}
        # Connections with a header, body or linger deadline: loop.time() when it passes.
        self.deadlines: dict[GuardedHttpToolsProtocol, float] = {}
        self._sweeping: asyncio.AbstractEventLoop | None = None

    def reserve(self, nbytes: int) -> _Reservation | None:
        if self.in_flight + nbytes > self.limits.max_bytes_in_flight:
            return None
        self.in_flight += nbytes
        return _Reservation(nbytes)

    def grow(self, reservation: _Reservation, nbytes: int) -> bool:
        """Add a chunk of a chunked body; False when it takes the process over its budget."""
        if reservation.released:
            return True
        reservation.nbytes += nbytes
        self.in_flight += nbytes
        return self.in_flight <= self.limits.max_bytes_in_flight

    def start_sweeping(self, loop: asyncio.AbstractEventLoop) -> None:
        """Check the deadlines every :data:`SWEEP_SECONDS` on ``loop`` (once per loop)."""
        if self._sweeping is not loop:
            self._sweeping = loop
            loop.call_later(SWEEP_SECONDS, self._sweep, loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        if loop is not self._sweeping or loop.is_closed():
            return
        loop.call_later(SWEEP_SECONDS, self._sweep, loop)  # first: a failure below cannot stop it
        now = loop.time()
        expired = [p for p, when in self.deadlines.items() if when <= now]
        for protocol in expired:
            del self.deadlines[protocol]
            try:
                protocol._expired()
            except Exception:  # one connection's failure must not spare the others
                logger.exception("closing a connection past its deadline failed")

    def release(self, reservation: _Reservation) -> None:
        if not reservation.released:
            reservation.released = True
            self.in_flight -= reservation.nbytes

    def count(self, reason: str) -> None:
        n = self.refused.get(reason, 0) + 1
        self.refused[reason] = n
        if n == 1 or n % 1000 == 0:  # say so, but not once per refused request
            logger.warning("refused %d request(s) or connection(s) so far: %s", n, reason)


_state: _ProcessState | None = None


def configure(limits: Limits) -> None:
    """Set this process's limits (a worker process reads them from the environment instead)."""
    global _state
    _state = _ProcessState(limits)


def _process_state() -> _ProcessState:
    global _state
    if _state is None:
        _state = _ProcessState(Limits.from_environment())
    return _state


def _raw_response(status: int, message: str, headers: list[tuple[bytes, bytes]]) -> bytes:
    body = b'{"error":"' + message.encode() + b'"}'  # messages here are fixed ASCII text
    lines = [STATUS_LINE[status]]
    for name, value in [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        *headers,
    ]:
        lines += [name, b": ", value, b"\r\n"]
    lines += [b"\r\n", body]
    return b"".join(lines)


def _budget_refusal(message: str, close: bool) -> ASGIApp:
    """An app answering 503 + Retry-After without reading the body.

    The connection is kept (the body the client sends is then parsed and dropped, never
    buffered), unless the client waits for ``100 Continue``: then it never sends the body, and
    the connection must close or the next request would be read as that body.
    """
    body = ('{"error":"' + message + '"}').encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))

    async def refuse(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return refuse


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header, timeout, connection and byte limits.

    uvicorn builds one per connection (``Config(http="mlrail.serving.http:...")``); the limits
    come from :func:`configure`, or in a worker process from the environment.
    """

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._state = _process_state()
        self._limits = self._state.limits
        self._app = self.app  # the real app; self.app is set per request in on_headers_complete
        # Bytes of the current request's line and headers so far; None once they are complete.
        self._head: int | None = 0
        # What happens when the deadline in _state.deadlines passes: "header", "body",
        # "linger", or None when no deadline is set.
        self._deadline: str | None = None
        self._lingering = False
        self._reservation: _Reservation | None = None  # the request being read
        # Requests being read or answered, with what they reserved: released when answered.
        # (Not by wrapping the app: a wrapper coroutine measured 8 us a request, 12% of one.)
        self._held: list[tuple[Any, _Reservation]] = []
        self._chunked = False

    # -- connection ------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        state = self._state
        if len(self.connections) > self._limits.max_connections and not self._make_room():
            state.count("connection limit reached, every connection busy (503)")
            transport.write(
                _raw_response(
                    503,
                    "too many connections; retry later",
                    [(b"retry-after", str(RETRY_AFTER_SECONDS).encode())],
                )
            )
            # No lingering here: a refused socket must give its descriptor back at once.
            self._head = None
            transport.close()
            return
        state.waiting[self] = None
        state.start_sweeping(self.loop)
        self._arm(self._limits.header_timeout, "header")

    def _make_room(self) -> bool:
        """Close the connection that has waited longest with no request under way."""
        waiting = self._state.waiting
        while waiting:
            oldest, _ = waiting.popitem(last=False)
            if oldest is not self and not oldest.transport.is_closing():
                oldest._state.count("connection limit reached, longest-waiting one closed")
                oldest._close()
                return True
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._state.waiting.pop(self, None)
        self._disarm()
        # The client is gone: its requests' bodies are no longer read, and an app still at
        # work on one finishes soon after (it sees the disconnect, or its answer is dropped).
        for _, reservation in self._held:
            self._state.release(reservation)
        self._held.clear()
        super().connection_lost(exc)

    # -- reading ---------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return  # discarded: the answer is already written
        head = self._head
        if head is not None:
            if head == 0 and self._deadline is None:
                # The first byte of a request on a kept-alive connection starts its clock.
                self._arm(self._limits.header_timeout, "header")
            room = self._limits.max_header_bytes - head
            if len(data) > room:
                # Feed the parser no more than the limit; if the headers end within it, the
                # rest is the body (or the next request) and is fed as usual.
                self._head = head + room
                super().data_received(data[:room])
                if self.transport.is_closing() or self._lingering:
                    return
                if self._head is not None and self._head >= self._limits.max_header_bytes:
                    self._state.count("request line and headers too large (431)")
                    limit = self._limits.max_header_bytes
                    self._abort(431, f"request line and headers exceed {limit} bytes")
                    return
                self.data_received(data[room:])
                return
            self._head = head + len(data)
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._head = None
        self._state.waiting.pop(self, None)
        self._disarm()
        self.app = self._app
        self._reservation = None
        self._chunked = False
        declared = None
        chunked = False
        expect_continue = False
        for name, value in self.headers:
            if name == b"content-length":
                declared = value
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"expect" and value.lower() == b"100-continue":
                expect_continue = True
        if chunked:
            self._chunked = True
            self._reservation = self._state.reserve(0)  # zero bytes always fit
        elif declared is not None:
            nbytes = int(declared) if declared.isdigit() else 0  # else the app answers 400
            if 0 < nbytes <= self._limits.max_body_bytes:  # larger: the app answers 413
                reservation = self._state.reserve(nbytes)
                if reservation is None:
                    self._state.count("request bodies in flight over the budget (503)")
                    self.app = _budget_refusal(
                        "the server is busy with other requests' data; retry later",
                        close=expect_continue,
                    )
                else:
                    self._reservation = reservation
        if declared is not None or chunked:
            self._arm(self._limits.body_timeout, "body")
        super().on_headers_complete()
        if self._reservation is not None:
            self._held.append((self.cycle, self._reservation))

    def on_body(self, body: bytes) -> None:
        reservation = self._reservation
        if (
            self._chunked
            and reservation is not None
            and not self.cycle.response_complete
            and not self._state.grow(reservation, len(body))
        ):
            self._state.count("request bodies in flight over the budget (503)")
            self._abort(
                503,
                "the server is busy with other requests' data; retry later",
                [(b"retry-after", str(RETRY_AFTER_SECONDS).encode())],
            )
            return
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm()
        self._head = 0  # what follows is the next request's head
        super().on_message_complete()
        if self.cycle.response_complete and not self.transport.is_closing():
            # Answered before its body ended (413, or 503 for the budget): uvicorn's keep-alive
            # timer was cancelled by the body's bytes, so the wait for the next request is ours.
            self._state.waiting[self] = None
            self._arm(self._limits.header_timeout, "header")

    def on_response_complete(self) -> None:
        if self._held:
            held = []
            for cycle, reservation in self._held:
                if cycle.response_complete:
                    self._state.release(reservation)
                else:  # pipelined behind the one just answered
                    held.append((cycle, reservation))
            self._held = held
        super().on_response_complete()
        if self._head is not None and not self.transport.is_closing():
            self._state.waiting[self] = None  # no request under way: may be closed for room

    # -- timeouts and refusals -------------------------------------------------------------------

    def _arm(self, seconds: float, what: str) -> None:
        # A time in a dict that one sweep a process checks: an event-loop timer per request
        # (two, with the header and body deadlines) cost more than the rest of the checks.
        self._deadline = what
        self._state.deadlines[self] = self.loop.time() + seconds

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline = None
            self._state.deadlines.pop(self, None)

    def _expired(self) -> None:
        what, self._deadline = self._deadline, None
        if what == "header":
            self._header_timeout()
        elif what == "body":
            self._body_timeout()
        elif what == "linger":
            self._close()

    def _header_timeout(self) -> None:
        if self.transport.is_closing() or self._head is None:
            return
        if self._head == 0:
            self._close()  # nothing sent: close quietly, as an idle kept-alive connection
            return
        self._state.count("headers not received in time (408)")
        self._abort(408, "request headers not received in time")

    def _body_timeout(self) -> None:
        if self.transport.is_closing():
            return
        if self.flow.read_paused:
            # Reading is paused by the server (the app has not taken what was read, or a
            # pipelined request waits its turn): the client is not the slow one.
            self._arm(self._limits.body_timeout, "body")
            return
        self._state.count("request body not received in time (408)")
        self._abort(408, "request body not received in time")

    def _abort(
        self, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        """Answer ``status`` in place of the app, stop parsing, and linger before closing."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if cycle.response_started or self._head is not None:
                # Too late for another answer, or a request pipelined behind one still being
                # answered: an answer written now would interleave with that one.
                self._close()
                return
            # The app's receive() now returns http.disconnect and its send() is dropped.
            cycle.disconnected = True
            cycle.message_event.set()
        elif self._head is None:
            # The body of a request already answered (say, 413 before reading): nothing to say.
            self._close()
            return
        if self._reservation is not None:
            self._state.release(self._reservation)
        self.transport.write(_raw_response(status, message, headers or []))
        self._linger()

    def _linger(self) -> None:
        self._lingering = True
        self._head = None
        self._disarm()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.flow.resume_reading()
        state = self._state
        state.waiting[self] = None
        state.waiting.move_to_end(self, last=False)  # the first to go if room is needed
        self._arm(LINGER_SECONDS, "linger")

    def _close(self) -> None:
        self._disarm()
        self._state.waiting.pop(self, None)
        if not self.transport.is_closing():
            self.transport.close()
