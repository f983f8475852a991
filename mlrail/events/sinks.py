"""Where events go, and how: an HTTP sink (binary or structured mode) or a JSON Lines file.

A sink is one string, as ``--events-sink``, the ``events_sink`` parameter and ``K_SINK`` take it:

- ``http://host[:port]/path`` or ``https://…``: POSTed in binary mode (the attributes as
  ``ce-*`` headers, ``data`` as the body), what Knative's brokers and sources send;
  ``…#structured`` POSTs the whole event as ``application/cloudevents+json`` instead (the
  fragment is never sent: it only chooses the mode).
- ``file:///path/events.jsonl`` or a plain path: one JSON line per event appended to the file
  (created with its folders), with one ``write`` on a descriptor opened ``O_APPEND``, so events
  from steps running at once never interleave within a line.

Which sink: the one given, else ``K_SINK`` (set by Knative's SinkBinding), else none.

Delivery is bounded: each attempt lasts at most ``timeout`` seconds of wall time (however
slowly a receiver trickles its answer or a name resolves), attempts back off
exponentially (``backoff``, twice that, …), and all of them end within ``deadline`` seconds.
The connection is made directly (``HTTP_PROXY`` is not read: ``K_SINK`` is an in-cluster
address).
Connection errors, timeouts, 5xx and 429 are retried; any other answer is final. :func:`emit`
never raises for a delivery problem (nor for a sink it cannot parse): it returns a
:class:`Delivery` that the caller writes to its log and output metadata.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from mlrail.errors import MlrailError
from mlrail.events.event import to_json_line
from mlrail.redact import redact

if TYPE_CHECKING:
    from cloudevents.http import CloudEvent

__all__ = ["Delivery", "Retry", "Sink", "emit", "parse_sink", "resolve_sink"]

#: Knative's SinkBinding sets this to the URL events go to.
K_SINK = "K_SINK"
_MODES = ("binary", "structured")


@dataclass(frozen=True)
class Sink:
    """A parsed sink: ``kind`` ``http`` (``url``, ``mode``) or ``file`` (``path``)."""

    kind: str
    url: str = ""
    mode: str = "binary"
    path: str = ""

    def __str__(self) -> str:
        if self.kind == "file":
            return self.path
        return self.url + ("#structured" if self.mode == "structured" else "")


@dataclass(frozen=True)
class Retry:
    """How hard to try: seconds per attempt, attempts, first back-off, and the total bound."""

    timeout: float = 2.0
    attempts: int = 4
    backoff: float = 0.25
    deadline: float = 5.0


@dataclass(frozen=True)
class Delivery:
    """What happened to one event.

    Attributes:
        event_type: The event's type.
        event_id: The event's id.
        sink: Where it went (credentials masked; "" when there was no sink).
        delivered: Whether the sink took it.
        attempts: How many tries (0 with no sink).
        error: Why it was not delivered (one line, credentials masked; "" when it was).
        status: The last HTTP status (None for a file or no answer).
    """

    event_type: str
    event_id: str
    sink: str
    delivered: bool
    attempts: int
    error: str = ""
    status: int | None = None

    def metadata(self) -> dict[str, Any]:
        """The record as flat JSON values named ``event_*``, for an artifact's metadata."""
        record = {k if k.startswith("event_") else f"event_{k}": v for k, v in asdict(self).items()}
        return {k: v for k, v in record.items() if v is not None}

    def line(self) -> str:
        """One log line saying what happened."""
        name = " ".join(filter(None, ("event", self.event_type, self.event_id)))
        if self.error and not self.attempts:  # not built, or a sink that could not be parsed
            return f"{name}: not sent: {self.error} (the run goes on)"
        if not self.sink:
            return f"{name}: not sent (no events sink, no K_SINK)"
        if self.delivered:
            return f"{name}: delivered to {self.sink}"
        return (
            f"{name}: NOT delivered to {self.sink} after {self.attempts} attempt(s): "
            f"{self.error} (the run goes on)"
        )


def parse_sink(spec: str) -> Sink:
    """The sink a string names (see the module doc).

    Raises:
        MlrailError: a scheme other than http, https or file, a URL with no host, or an
            unknown mode.
    """
    parts = urlsplit(spec)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise MlrailError(f"events sink {redact(spec)!r}: no host")
        try:
            parts.port  # noqa: B018 (urllib checks the port only when it is read)
        except ValueError as e:
            raise MlrailError(f"events sink {redact(spec)!r}: {e}") from e
        mode = parts.fragment or "binary"
        if mode not in _MODES:
            raise MlrailError(
                f"events sink {redact(spec)!r}: mode {mode!r} is not binary or structured"
            )
        return Sink("http", url=parts._replace(fragment="").geturl(), mode=mode)
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise MlrailError(f"events sink {spec!r}: a file URI names no host")
        return Sink("file", path=unquote(parts.path))
    if scheme and len(scheme) > 1:  # one letter is a Windows drive
        raise MlrailError(
            f"events sink {redact(spec)!r}: scheme {scheme!r} is not http, https or file"
        )
    return Sink("file", path=os.path.abspath(spec))


def resolve_sink(spec: str = "", env: Mapping[str, str] | None = None) -> str:
    """The sink to use: ``spec`` if given, else ``K_SINK``, else "" (none)."""
    env = os.environ if env is None else env
    return spec.strip() or env.get(K_SINK, "").strip()


def _append(path: str, line: bytes) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        written = os.write(fd, line)
        while written < len(line):  # a regular file takes it all at once; this is for the rest
            written += os.write(fd, line[written:])
    finally:
        os.close(fd)


def _post(sink: Sink, headers: Mapping[str, str], body: bytes, timeout: float) -> int:
    import http.client

    parts = urlsplit(sink.url)
    conn_type = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    conn = conn_type(parts.hostname or "", parts.port, timeout=timeout)
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request("POST", path, body=body, headers={**headers, "Connection": "close"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _post_within(sink: Sink, headers: Mapping[str, str], body: bytes, seconds: float) -> int:
    """:func:`_post`, given up after ``seconds`` of wall time.

    A socket timeout bounds each read, not the whole answer: a receiver that trickles a byte a
    second, or a name server that does not answer, would hold the step far longer. The attempt
    runs in a daemon thread that is abandoned when time is up (it ends at its socket timeout).
    """
    import threading

    outcome: list[int | BaseException] = []

    def attempt() -> None:
        try:
            outcome.append(_post(sink, headers, body, seconds))
        except BaseException as e:  # handed to the caller's thread, which decides
            outcome.append(e)

    worker = threading.Thread(target=attempt, name="mlrail-event", daemon=True)
    worker.start()
    worker.join(seconds)
    if not outcome:
        raise TimeoutError(f"no answer within {seconds:.3g} s")
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


def _retryable(status: int) -> bool:
    return status >= 500 or status == 429


def _deliver_http(event: CloudEvent, sink: Sink, retry: Retry) -> tuple[int, str, int | None]:
    from http.client import HTTPException

    from cloudevents.conversion import to_binary, to_structured

    headers, body = (to_structured if sink.mode == "structured" else to_binary)(event)
    end = time.monotonic() + retry.deadline
    attempts, error, status = 0, "", None
    for attempt in range(max(1, retry.attempts)):
        remaining = end - time.monotonic()
        if attempt and remaining <= 0:
            break
        attempts += 1
        try:
            status = _post_within(sink, headers, body, max(0.05, min(retry.timeout, remaining)))
        except (OSError, HTTPException) as e:  # refused, reset, timed out, not HTTP
            status, error = None, f"{type(e).__name__}: {e}"
        else:
            if 200 <= status < 300:
                return attempts, "", status
            error = f"HTTP {status}"
            if not _retryable(status):
                break
        pause = retry.backoff * 2**attempt
        if attempt + 1 >= retry.attempts or time.monotonic() + pause >= end:
            break
        time.sleep(pause)
    return attempts, error, status


def emit(
    event: CloudEvent,
    sink: str = "",
    *,
    retry: Retry | None = None,
    env: Mapping[str, str] | None = None,
) -> Delivery:
    """Send ``event`` to ``sink`` (else ``K_SINK``, else nowhere); never raises for delivery.

    Args:
        event: From :func:`mlrail.events.make_event`.
        sink: A sink string (module doc); empty: ``K_SINK``, then none.
        retry: The bounds (default :class:`Retry`).
        env: Where ``K_SINK`` is read (default: the process environment).

    Returns:
        The :class:`Delivery` record: delivered or not, attempts, the error.
    """
    retry = retry or Retry()
    spec = resolve_sink(sink, env)
    kind, event_id = str(event["type"]), str(event["id"])
    if not spec:
        return Delivery(kind, event_id, "", delivered=False, attempts=0)
    try:
        target = parse_sink(spec)
    except MlrailError as e:
        return Delivery(kind, event_id, redact(spec), False, 0, error=str(e))
    shown = redact(str(target))
    if target.kind == "file":
        try:
            _append(target.path, to_json_line(event))
        except OSError as e:
            return Delivery(kind, event_id, shown, False, 1, error=redact(f"{e}"))
        return Delivery(kind, event_id, shown, True, 1)
    attempts, error, status = _deliver_http(event, target, retry)
    return Delivery(kind, event_id, shown, not error, attempts, redact(error), status)
