"""The transport limits of ``mlrail serve``: what one connection and one process may hold.

uvicorn with httptools has no header size limit, no header or body read timeout and no cap on
connections below the file-descriptor limit, and it reads any body a client declares. Measured on
mlrail 8e5fe26 (issue 10): a 120 MB header took 14 s to answer and stalled ``/v2/health/live``
up to 4.3 s; 400 half-sent requests were held 16 s; 21,000 idle sockets starved real requests;
eight 16.5 MB requests at once peaked at 1.6 GB. :mod:`mlrail.serving.http` enforces these
limits; this module only holds them (no uvicorn import, so ``mlrail serve --help`` stays fast).

Defaults, and why:

- ``max_header_bytes`` 64 KiB for the request line and headers together (431 beyond): V2
  clients send a few hundred bytes; nginx allows 32 KiB, Node 16 KiB. Each waiting connection may
  buffer up to this much, so it is also a memory term (``max_connections`` x 64 KiB = 64 MiB).
- ``header_timeout`` 10 s from a connection's first byte (or its opening) to the end of its
  headers (408): probes and clients send their headers in one packet.
- ``body_timeout`` 30 s for the whole body after the headers (408): a 16 MiB body needs at least
  4.5 Mbit/s, far below any cluster network; a slow client cannot hold its reservation longer.
- ``max_connections`` 1,024 per process, and always 128 below the file-descriptor limit (raised
  to its hard limit at start): a predictor behind a load balancer or sidecar sees a few dozen.
  At the cap, the connection that has waited longest for a request is closed to make room, so
  idle sockets cannot lock out health probes; only when every connection is busy is a new one
  refused (503).
- ``max_bytes_in_flight`` 16 MiB of request bodies per process, or ``max_body_bytes`` if that is
  larger (503 with ``Retry-After`` beyond it, before the body is read): one body of the largest
  size at a time, or thousands of typical few-KB requests. Measured with bench/bench_hostile.py:
  a 16.4 MB JSON request costs about 200 MB while it is decoded and run (12x), so eight at once
  peaked at 843 MB; with a 32 MiB budget the peak was 502 MB, the whole 512 MiB limit of the
  local overlay. 16 MiB keeps a worker near 300 MB, well under it and under the base
  ServingRuntime's 1 GiB.
"""

from __future__ import annotations

import math
import os
import resource
from dataclasses import asdict, dataclass, fields

from mlrail.serving.app import DEFAULT_MAX_BODY_BYTES

__all__ = [
    "DEFAULT_BODY_TIMEOUT",
    "DEFAULT_HEADER_TIMEOUT",
    "DEFAULT_MAX_BYTES_IN_FLIGHT",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MAX_HEADER_BYTES",
    "FD_RESERVE",
    "Limits",
    "raise_file_limit",
]

DEFAULT_MAX_HEADER_BYTES = 64 * 1024
DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_BODY_TIMEOUT = 30.0
DEFAULT_MAX_CONNECTIONS = 1024
DEFAULT_MAX_BYTES_IN_FLIGHT = 16 * 1024 * 1024
# File descriptors kept free of connections: model files, the payload log, metrics files in
# multiprocess mode, ONNX Runtime, the event loop's own, and one to accept and then refuse with.
FD_RESERVE = 128

_ENV_PREFIX = "MLRAIL_SERVE_LIMIT_"


@dataclass(frozen=True, slots=True)
class Limits:
    """What one server process accepts (see the module docstring for the defaults' reasons).

    Args:
        max_header_bytes: The request line and headers together, at most (431 beyond).
        header_timeout: Seconds from a connection's opening (or a request's first byte) to the
            end of the request's headers (408 and close beyond; a silent connection is closed).
        body_timeout: Seconds for a request's whole body after its headers (408 and close).
        max_connections: Open connections per process at most.
        max_bytes_in_flight: Request-body bytes held by requests being read or answered, per
            process (503 with ``Retry-After`` for a request that would go beyond it).
        max_body_bytes: The app's own body limit: bodies declared larger are left to its 413.
    """

    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_bytes_in_flight: int = DEFAULT_MAX_BYTES_IN_FLIGHT
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    def __post_init__(self) -> None:
        for name in ("max_header_bytes", "max_connections", "max_bytes_in_flight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.max_header_bytes < 1024:
            # A request line and a Host header alone can take a few hundred bytes.
            raise ValueError(f"max_header_bytes must be at least 1024, got {self.max_header_bytes}")
        for name in ("header_timeout", "body_timeout"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        if self.max_bytes_in_flight < self.max_body_bytes:
            raise ValueError(
                f"max_bytes_in_flight ({self.max_bytes_in_flight}) must be at least "
                f"max_body_bytes ({self.max_body_bytes}), or the largest allowed request "
                "could never be accepted"
            )

    def to_environment(self) -> dict[str, str]:
        """The limits as environment variables, for worker processes (see :meth:`from_env`)."""
        return {f"{_ENV_PREFIX}{k.upper()}": repr(v) for k, v in asdict(self).items()}

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> Limits:
        """The limits :meth:`to_environment` wrote; defaults for any that are absent."""
        env = os.environ if environ is None else environ
        values: dict[str, int | float] = {}
        for f in fields(cls):
            text = env.get(f"{_ENV_PREFIX}{f.name.upper()}")
            if text:
                values[f.name] = float(text) if f.name.endswith("timeout") else int(text)
        return cls(**values)  # type: ignore[arg-type]


def raise_file_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit; return the soft limit.

    Connections are capped below it (:data:`FD_RESERVE` less), so the server can always accept
    one more socket, to answer or to refuse it, instead of failing ``accept()`` with EMFILE,
    which makes the event loop stop accepting for a while (health probes included).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard
        if hard == resource.RLIM_INFINITY:
            # Linux never reports an infinite hard limit for files; other systems may, and
            # then refuse it as a soft value: a large finite number is what we want anyway.
            target = max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):  # e.g. macOS' OPEN_MAX: keep what we have
            pass
    return int(soft)
