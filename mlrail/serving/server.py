"""Run the V2 inference server (``mlrail serve``) with uvicorn.

Importing this module is cheap (no TensorFlow, no ONNX Runtime, no uvicorn until :func:`serve`
runs), so the CLI can import it to build ``mlrail serve --help``.

Differences from KServe's ``ModelServer``, each measured or required (DESIGN §4):

- binds ``127.0.0.1`` unless told otherwise (KServe hard-codes ``0.0.0.0``); in a container
  pass ``host="0.0.0.0"`` explicitly;
- no access log by default (KServe writes three lines per request, a measured cost);
- a bare ASGI app instead of FastAPI (about 4x less overhead per request).

Transport limits (:mod:`mlrail.serving.limits`, enforced by :mod:`mlrail.serving.http`): request
line and headers (431), header and body read timeouts (408), connections per process (kept below
the file-descriptor limit, which is raised to its hard limit at start) and request-body bytes in
flight per process (503 with ``Retry-After``).

Start-up: the port is checked (1..65535, or 0 for any free port), the models are loaded, the
socket is bound, and only then is the banner printed, with the real port; binding anywhere but
loopback logs a warning that the server has no authentication.

Shutdown is uvicorn's: on SIGTERM/SIGINT it stops accepting, lets in-flight requests finish
(up to :data:`GRACEFUL_SHUTDOWN_SECONDS`), then re-raises the signal, so the process ends with
the signal's status as Kubernetes expects. The payload log is flushed during shutdown.

gRPC (``grpc_port``): the V2 gRPC protocol (``inference.GRPCInferenceService``) on a second port,
over the same app in each process (:mod:`mlrail.serving.grpc`): same models, hot reload,
metrics and payload log; its largest message is ``max_body_bytes``. With one worker it starts
before the banner (a port in use fails the start); with several, the port is reserved here and
every worker listens on it with ``SO_REUSEPORT`` (:mod:`mlrail.serving.grpc.startup` says why).
gRPC is imported only when the port is on.

With several workers, each process keeps its own metrics in files under a fresh
``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode), so ``/metrics`` from any
worker sums them all; the folder is removed when the server stops.
"""

from __future__ import annotations

import copy
import ipaddress
import logging
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlrail.errors import MlrailError, ModelError
from mlrail.serving.app import DEFAULT_MAX_BODY_BYTES, InferenceApp, create_app
from mlrail.serving.limits import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_MAX_BYTES_IN_FLIGHT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_HEADER_BYTES,
    FD_RESERVE,
    Limits,
    raise_file_limit,
)

if TYPE_CHECKING:  # gRPC is imported only when its port is on
    from mlrail.serving.grpc.startup import GrpcSettings, WithGrpc

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "GRACEFUL_SHUTDOWN_SECONDS",
    "ListenError",
    "create_app",
    "serve",
]

logger = logging.getLogger("mlrail.serving")

# Kubernetes sends SIGKILL 30 s after SIGTERM by default; KServe uses the same grace period.
GRACEFUL_SHUTDOWN_SECONDS = 30
# Longer than the 60 s idle timeout of common load balancers, as KServe does, so the server
# never closes a connection the balancer is about to reuse (which surfaces as a 502).
KEEP_ALIVE_SECONDS = 65

# How serve() hands its settings to worker processes, which import the app by name.
_ENV_REPOSITORY = "MLRAIL_SERVE_MODEL_REPOSITORY"
_ENV_VERSION = "MLRAIL_SERVE_MODEL_VERSION"
_ENV_MAX_BODY = "MLRAIL_SERVE_MAX_BODY_BYTES"
_ENV_THREADS = "MLRAIL_SERVE_INTRA_OP_THREADS"
_ENV_LOG_PAYLOADS = "MLRAIL_SERVE_LOG_PAYLOADS"
_ENV_LOG_SAMPLE_RATE = "MLRAIL_SERVE_LOG_SAMPLE_RATE"
_ENV_VERIFY_KEY = "MLRAIL_SERVE_VERIFY_KEY"
_ENV_GRPC_PORT = "MLRAIL_SERVE_GRPC_PORT"
_ENV_GRPC_HOST = "MLRAIL_SERVE_GRPC_HOST"
_ENV_PROMETHEUS_DIR = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client reads it at import
_FACTORY = "mlrail.serving.server:_app_from_environment"
_PROTOCOL = "mlrail.serving.http:GuardedHttpToolsProtocol"
# uvicorn's default; connections beyond it wait in the kernel until accepted.
_BACKLOG = 2048


class ListenError(MlrailError, OSError):
    """The server cannot listen on the address it was given (in use, not this machine's, ...)."""


def serve(
    model_repository: str,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 1,
    model_version: int | None = None,
    log_level: str = "warning",
    *,
    access_log: bool = False,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    intra_op_threads: int = 1,
    log_payloads: str | None = None,
    log_sample_rate: float = 1.0,
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
    header_timeout: float = DEFAULT_HEADER_TIMEOUT,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
    max_connections: int | None = None,
    max_bytes_in_flight: int | None = None,
    verify_key: str | None = None,
    grpc_port: int | None = None,
) -> None:
    """Serve a model repository over the V2 inference protocol until SIGTERM/SIGINT.

    Prints ``serving <repository> on http://<host>:<port> (Open Inference Protocol v2)`` once the
    models are loaded and the socket is bound, with the port actually bound; with gRPC on, then
    ``serving <repository> over gRPC on <host>:<port> (inference.GRPCInferenceService)``.

    Args:
        model_repository: The repository folder (``<name>/<version>/model.onnx``).
        host: The address to bind; loopback by default, so a laptop run is not exposed to the
            network. Use ``"0.0.0.0"`` in a container (a warning says the server has no
            authentication).
        port: The TCP port, 1 to 65535; 0 binds any free port (the banner says which).
        workers: Server processes; each loads its own copy of the models.
        model_version: Serve this version of every model instead of the highest one.
        log_level: uvicorn's and mlrail's log level (``"info"`` logs model loads).
        access_log: Log one line per request (off: per-request logging is a measured cost).
        max_body_bytes: The largest request body accepted (413 above it).
        intra_op_threads: ONNX Runtime threads per run (0: ONNX Runtime's default).
        log_payloads: Log every model's sampled inferences under this folder (the log root:
            ``<root>/<model>/<YYYY-MM-DD>/<HH>/part-*.jsonl``), or POST them as CloudEvents to
            this ``http(s)://`` URL. When not given, each model whose folder has a
            ``logging.json`` (written by deploy's ``local`` target) is logged at its rate
            under ``<model_repository>/_logs``.
        log_sample_rate: The fraction of answered inferences logged with ``log_payloads``,
            0 to 1.
        max_header_bytes: The request line and headers together, at most (431 above it).
        header_timeout: Seconds for a request's headers to arrive (408 and close after it).
        body_timeout: Seconds for a request's body to arrive after its headers (408 and close).
        max_connections: Open connections per process at most (default: 1,024, and always
            :data:`~mlrail.serving.limits.FD_RESERVE` below the open-file limit).
        max_bytes_in_flight: Request-body bytes per process being read or answered at most
            (503 with ``Retry-After`` beyond it); at least ``max_body_bytes`` (default: 16 MiB,
            or ``max_body_bytes`` if larger).
        verify_key: A PEM public key file: every model version is verified against its
            signature at load and at every reload, and refused if unsigned or changed
            (:mod:`mlrail.serving.repository`); None verifies nothing.
        grpc_port: Also serve the V2 gRPC protocol on this port of ``host`` (0: any free
            port, named in the banner); None serves REST only and never imports gRPC.

    Raises:
        ModelError: The repository folder does not exist, ``workers`` is below 1, or
            ``verify_key`` is not a usable public key.
        ValueError: The port, a limit or the sample rate is out of range, or the payload log
            folder cannot be created or written to.
        ListenError: The address cannot be bound (in use, or not this machine's), for REST or
            for gRPC.
    """
    for what, number in (("port", port), ("grpc_port", grpc_port)):
        if number is None and what == "grpc_port":
            continue
        if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= 65535:
            raise ValueError(
                f"{what} must be between 1 and 65535 (0: any free port), got {number!r}"
            )
    limits = _limits(
        max_body_bytes=max_body_bytes,
        max_header_bytes=max_header_bytes,
        header_timeout=header_timeout,
        body_timeout=body_timeout,
        max_connections=max_connections,
        max_bytes_in_flight=(
            max(DEFAULT_MAX_BYTES_IN_FLIGHT, max_body_bytes)
            if max_bytes_in_flight is None
            else max_bytes_in_flight
        ),
    )
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from mlrail.serving import http

    options = _uvicorn_options(
        model_repository,
        host=host,
        port=port,
        workers=workers,
        model_version=model_version,
        log_level=log_level,
        access_log=access_log,
        max_body_bytes=max_body_bytes,
        intra_op_threads=intra_op_threads,
        log_payloads=log_payloads,
        log_sample_rate=log_sample_rate,
        verify_key=verify_key,
    )
    if workers == 1:
        app = options["app"]
        try:
            http.configure(limits)
            if grpc_port is not None:
                _serve_with_grpc(options, model_repository, host, port, grpc_port, limits)
                return
            config = uvicorn.Config(**options)  # also configures logging
            with _listen(host, port) as sock:
                _announce(model_repository, host, sock)
                server = uvicorn.Server(config)
                server.run(sockets=[sock])
        finally:
            app.close()  # flushed by lifespan already; this covers a failed start
        return
    # Worker processes import the app by name, so the settings travel in the environment;
    # restored afterwards so serve() leaves its caller's environment as it found it.
    env = _environment(
        model_repository,
        model_version,
        max_body_bytes,
        intra_op_threads,
        log_payloads,
        log_sample_rate,
        verify_key,
    )
    env.update(limits.to_environment())
    metrics_dir = tempfile.mkdtemp(prefix="mlrail-metrics-")
    env[_ENV_PROMETHEUS_DIR] = metrics_dir
    reservation = None
    if grpc_port is not None:
        from mlrail.serving.grpc.startup import GrpcError, reserve

        try:
            reservation = reserve(host, grpc_port)
        except GrpcError as e:
            raise ListenError(str(e)) from None
        env[_ENV_GRPC_HOST] = host
        env[_ENV_GRPC_PORT] = str(reservation.getsockname()[1])
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        config = uvicorn.Config(**options)
        with _listen(host, port) as sock:
            _announce(model_repository, host, sock)
            if reservation is not None:
                _announce_grpc(model_repository, host, reservation.getsockname()[1])
            Multiprocess(config, sockets=[sock]).run()
    finally:
        if reservation is not None:
            reservation.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _limits(*, max_connections: int | None, **values: Any) -> Limits:
    """The transport limits, with the connection cap kept below this process's file limit."""
    available = raise_file_limit() - FD_RESERVE
    if available < 1:
        raise ValueError(
            f"the open-file limit leaves no room for connections: raise it (ulimit -n) above "
            f"{FD_RESERVE}"
        )
    if max_connections is None:
        max_connections = min(DEFAULT_MAX_CONNECTIONS, available)
    elif isinstance(max_connections, int) and max_connections > available:
        raise ValueError(
            f"max_connections {max_connections} is too close to the open-file limit: at most "
            f"{available} ({FD_RESERVE} below it), or raise the limit (ulimit -n)"
        )
    return Limits(max_connections=max_connections, **values)


def _grpc_settings(host: str, port: int, limits: Limits, *, reuse_port: bool) -> GrpcSettings:
    from mlrail.serving.grpc.startup import GrpcSettings

    return GrpcSettings(
        host=host,
        port=port,
        max_message_bytes=limits.max_body_bytes,
        max_concurrent_rpcs=limits.max_connections,
        grace=GRACEFUL_SHUTDOWN_SECONDS,
        reuse_port=reuse_port,
    )


def _serve_with_grpc(
    options: dict[str, Any],
    model_repository: str,
    host: str,
    port: int,
    grpc_port: int,
    limits: Limits,
) -> None:
    """One process: uvicorn and the gRPC server on one event loop, gRPC started first.

    The gRPC server starts (and binds) before the banner, so a port in use fails the start with
    nothing announced; the app's lifespan stops it at shutdown, before uvicorn re-raises the
    signal (:class:`mlrail.serving.grpc.startup.WithGrpc`).
    """
    import asyncio

    import uvicorn

    from mlrail.serving.grpc.startup import GrpcError, WithGrpc

    app = WithGrpc(options["app"], _grpc_settings(host, grpc_port, limits, reuse_port=False))
    config = uvicorn.Config(**{**options, "app": app})  # also configures logging

    async def main(sock: socket.socket) -> None:
        try:
            await app.start()
        except GrpcError as e:
            raise ListenError(str(e)) from None
        _announce(model_repository, host, sock)
        assert app.port is not None
        _announce_grpc(model_repository, host, app.port)
        await uvicorn.Server(config).serve(sockets=[sock])

    # As uvicorn.Server.run, with gRPC started on the same loop first.
    with _listen(host, port) as sock, asyncio.Runner(loop_factory=config.get_loop_factory()) as r:
        r.run(main(sock))


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (IPv4 or IPv6, as ``host`` resolves)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as e:
        raise ListenError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    try:
        # As uvicorn: a restarted server can bind while old connections sit in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(_BACKLOG)
    except OSError as e:
        sock.close()
        raise ListenError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    sock.set_inheritable(True)  # worker processes serve from it
    return sock


def _announce(model_repository: str, host: str, sock: socket.socket) -> None:
    """The banner, with the bound port; a warning first if the socket is reachable from afar."""
    bound, port = sock.getsockname()[:2]
    if not ipaddress.ip_address(bound).is_loopback:
        logger.warning(
            "listening on %s:%d, beyond this machine: mlrail serve has no authentication or TLS, "
            "so anyone who can reach it can call the models and read their metadata; put it "
            "behind an authenticating proxy, or restrict who reaches it (a NetworkPolicy)",
            host,
            port,
        )
    shown = f"[{host}]" if ":" in host else host
    print(
        f"serving {model_repository} on http://{shown}:{port} (Open Inference Protocol v2)",
        flush=True,
    )


def _announce_grpc(model_repository: str, host: str, port: int) -> None:
    """The gRPC banner line, after the REST one."""
    shown = f"[{host}]" if ":" in host else host
    print(
        f"serving {model_repository} over gRPC on {shown}:{port} (inference.GRPCInferenceService)",
        flush=True,
    )


def _uvicorn_options(
    model_repository: str,
    *,
    host: str,
    port: int,
    workers: int,
    model_version: int | None,
    log_level: str,
    access_log: bool,
    max_body_bytes: int,
    intra_op_threads: int,
    log_payloads: str | None = None,
    log_sample_rate: float = 1.0,
    verify_key: str | None = None,
) -> dict[str, Any]:
    """The keyword arguments of ``uvicorn.run`` for :func:`serve` (loads models if workers=1)."""
    if workers < 1:
        raise ModelError(f"workers must be at least 1, got {workers}")
    app: InferenceApp | str
    if workers == 1:
        # Load in this process, so a missing repository fails before the port is bound.
        app = create_app(
            model_repository,
            model_version,
            max_body_bytes,
            intra_op_threads=intra_op_threads,
            log_payloads=log_payloads,
            log_sample_rate=log_sample_rate,
            verify_key=verify_key,
        )
    else:
        if not Path(model_repository).is_dir():
            raise ModelError(f"{model_repository}: model repository not found (not a folder)")
        if not 0.0 <= log_sample_rate <= 1.0:  # refused here, before any worker starts
            raise ValueError(f"log_sample_rate must be between 0 and 1, got {log_sample_rate}")
        if log_payloads and log_sample_rate > 0.0 and "://" not in log_payloads:
            from mlrail.serving.payload_log import check_log_root

            check_log_root(Path(log_payloads))  # here, before any worker starts
        if verify_key is not None:  # refused here, before any worker starts
            from mlrail.artifacts.signing import read_public_key

            read_public_key(verify_key)
        app = _FACTORY
    return {
        "app": app,
        "factory": workers > 1,
        "host": host,
        "port": port,
        "workers": workers,
        "log_level": log_level,
        "log_config": _log_config(log_level),
        "access_log": access_log,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "http": _PROTOCOL,
        "backlog": _BACKLOG,
    }


def _log_config(log_level: str) -> dict[str, Any]:
    """uvicorn's logging configuration, with mlrail's serving logger at the same level."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["mlrail"] = {
        "handlers": ["default"],
        "level": log_level.upper(),
        "propagate": False,
    }
    return config


def _environment(
    model_repository: str,
    model_version: int | None,
    max_body_bytes: int,
    intra_op_threads: int,
    log_payloads: str | None,
    log_sample_rate: float,
    verify_key: str | None = None,
) -> dict[str, str]:
    destination = log_payloads or ""
    if destination and not destination.startswith(("http://", "https://")):
        destination = str(Path(destination).resolve())
    return {
        _ENV_REPOSITORY: str(Path(model_repository).resolve()),
        _ENV_VERSION: "" if model_version is None else str(model_version),
        _ENV_MAX_BODY: str(max_body_bytes),
        _ENV_THREADS: str(intra_op_threads),
        _ENV_LOG_PAYLOADS: destination,
        _ENV_LOG_SAMPLE_RATE: repr(log_sample_rate),
        _ENV_VERIFY_KEY: "" if verify_key is None else str(Path(verify_key).resolve()),
    }


def _app_from_environment() -> InferenceApp | WithGrpc:
    """The app for one worker process, built from the settings :func:`serve` put in the env
    (with a gRPC server on the reserved port when :func:`serve` reserved one)."""
    version = os.environ.get(_ENV_VERSION, "")
    app = create_app(
        os.environ[_ENV_REPOSITORY],
        int(version) if version else None,
        int(os.environ.get(_ENV_MAX_BODY, DEFAULT_MAX_BODY_BYTES)),
        intra_op_threads=int(os.environ.get(_ENV_THREADS, "1")),
        log_payloads=os.environ.get(_ENV_LOG_PAYLOADS) or None,
        log_sample_rate=float(os.environ.get(_ENV_LOG_SAMPLE_RATE, "1.0")),
        verify_key=os.environ.get(_ENV_VERIFY_KEY) or None,
    )
    grpc_port = os.environ.get(_ENV_GRPC_PORT)
    if not grpc_port:
        return app
    from mlrail.serving.grpc.startup import WithGrpc

    limits = Limits.from_environment()
    settings = _grpc_settings(os.environ[_ENV_GRPC_HOST], int(grpc_port), limits, reuse_port=True)
    return WithGrpc(app, settings)
