"""Run the V2 inference server (``mlrail serve``) with uvicorn.

Importing this module is cheap (no TensorFlow, no ONNX Runtime, no uvicorn until :func:`serve`
runs), so the CLI can import it to build ``mlrail serve --help``.

Differences from KServe's ``ModelServer``, each measured or required (DESIGN §4):

- binds ``127.0.0.1`` unless told otherwise (KServe hard-codes ``0.0.0.0``); in a container
  pass ``host="0.0.0.0"`` explicitly;
- no access log by default (KServe writes three lines per request, a measured cost);
- a bare ASGI app instead of FastAPI (about 4x less overhead per request).

Shutdown is uvicorn's: on SIGTERM/SIGINT it stops accepting, lets in-flight requests finish
(up to :data:`GRACEFUL_SHUTDOWN_SECONDS`), then re-raises the signal, so the process ends with
the signal's status as Kubernetes expects. The payload log is flushed during shutdown.

With several workers, each process keeps its own metrics in files under a fresh
``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode), so ``/metrics`` from any
worker sums them all; the folder is removed when the server stops.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from mlrail.errors import ModelError
from mlrail.serving.app import DEFAULT_MAX_BODY_BYTES, InferenceApp, create_app

__all__ = ["DEFAULT_MAX_BODY_BYTES", "GRACEFUL_SHUTDOWN_SECONDS", "create_app", "serve"]

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
_ENV_PROMETHEUS_DIR = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client reads it at import
_FACTORY = "mlrail.serving.server:_app_from_environment"


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
) -> None:
    """Serve a model repository over the V2 inference protocol until SIGTERM/SIGINT.

    Args:
        model_repository: The repository folder (``<name>/<version>/model.onnx``).
        host: The address to bind; loopback by default, so a laptop run is not exposed to the
            network. Use ``"0.0.0.0"`` in a container.
        port: The TCP port.
        workers: Server processes; each loads its own copy of the models.
        model_version: Serve this version of every model instead of the highest one.
        log_level: uvicorn's and mlrail's log level (``"info"`` logs model loads).
        access_log: Log one line per request (off: per-request logging is a measured cost).
        max_body_bytes: The largest request body accepted (413 above it).
        intra_op_threads: ONNX Runtime threads per run (0: ONNX Runtime's default).
        log_payloads: Log sampled inferences to this JSON Lines file, or POST them as
            CloudEvents to this ``http(s)://`` URL (off when not given).
        log_sample_rate: The fraction of answered inferences logged, 0 to 1.

    Raises:
        ModelError: The repository folder does not exist, or ``workers`` is below 1.
        ValueError: The sample rate is outside 0..1, or the payload log cannot be opened.
    """
    import uvicorn

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
    )
    if workers == 1:
        app = options["app"]
        try:
            uvicorn.run(**options)
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
    )
    metrics_dir = tempfile.mkdtemp(prefix="mlrail-metrics-")
    env[_ENV_PROMETHEUS_DIR] = metrics_dir
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        uvicorn.run(**options)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


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
        )
    else:
        if not Path(model_repository).is_dir():
            raise ModelError(f"{model_repository}: model repository not found (not a folder)")
        if not 0.0 <= log_sample_rate <= 1.0:  # refused here, before any worker starts
            raise ValueError(f"log_sample_rate must be between 0 and 1, got {log_sample_rate}")
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
    }


def _app_from_environment() -> InferenceApp:
    """The app for one worker process, built from the settings :func:`serve` put in the env."""
    version = os.environ.get(_ENV_VERSION, "")
    return create_app(
        os.environ[_ENV_REPOSITORY],
        int(version) if version else None,
        int(os.environ.get(_ENV_MAX_BODY, DEFAULT_MAX_BODY_BYTES)),
        intra_op_threads=int(os.environ.get(_ENV_THREADS, "1")),
        log_payloads=os.environ.get(_ENV_LOG_PAYLOADS) or None,
        log_sample_rate=float(os.environ.get(_ENV_LOG_SAMPLE_RATE, "1.0")),
    )
