"""A bare ASGI app speaking the Open Inference Protocol v2 (KServe v2 REST) over a model repository.

No web framework: DESIGN §4 measured the HTTP layer, not ONNX Runtime, as the cost to cut. JSON
is read and written with orjson; each model's inputs, dtypes and output names are looked up in
tables built once when the model loads (:class:`mlrail.serving.model.LoadedModel`).

Endpoints (JSON shapes as KServe 0.21 writes them)::

    GET  /v2                                 {"name", "version", "extensions"}
    GET  /v2/health/live                     {"live": true}
    GET  /v2/health/ready                    {"ready": true}; 503 unless every model is ready
    GET  /v2/models                          {"models": [...]}
    GET  /v2/models/{name}[/versions/{v}]    {"name", "versions", "platform", "inputs", "outputs"}
    GET  .../{name}[/versions/{v}]/ready     {"name", "ready": true}; 503 when not ready
    POST .../{name}[/versions/{v}]/infer     {"model_name", "model_version", "id", "outputs"}
    GET  /v2/openapi.json                    the OpenAPI document (:mod:`mlrail.serving.openapi`)
    GET  /metrics                            Prometheus metrics (:mod:`mlrail.serving.metrics`)

Answered inferences are sampled into the payload log (:mod:`mlrail.serving.payload_log`) after
the response is encoded, off the request path: every model at one rate when a destination is
given (``--log-payloads``), else each model whose folder has a ``logging.json``, at its rate,
under ``<repository>/_logs`` (the logger is started on the first such inference).

Requests and responses are decoded and encoded by :mod:`mlrail.artifacts.v2`: JSON, or the
binary tensor data extension that ``tritonclient`` and KServe's client send by default.

One piece at a little over 500 lines: the routes share the request-path state (the repository
poll, the body reader, the metrics and the payload log), and cutting the body reader out would
add a call to every request on the hot path.

Errors are ``{"error": "<what was wrong, naming the input>"}``. Statuses follow KServe: 422
where its (FastAPI) request schema rejects a body, 400 where its ``InvalidInput`` does, 404/503
for unknown/unready models (KServe answers versioned paths with 501; we serve them):

=====  ======================================================================================
400    a V2 request this model cannot take: unknown, missing or repeated input; shape; datatype;
       data that does not match its shape or datatype; an infinite number; unknown output;
       binary data whose sizes do not add up; input text that is not Unicode
404    unknown path, model or version (or a version on disk that is not the one served)
405    wrong method for the path
413    body larger than ``max_body_bytes`` (from Content-Length, and counted while reading)
422    the body is not a V2 inference request: not JSON, not an object, fields of the wrong type
       (or an ``id``, name or key that is not Unicode: a lone surrogate escape)
503    the model (or, for /v2/health/ready, some model) is not ready; the message says why
500    ONNX Runtime failed on a valid request (or a bug here); the message says what failed
=====  ======================================================================================

Value conventions (missing values, dates, nested data) are :mod:`mlrail.artifacts.v2`'s.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from mlrail import __version__
from mlrail.artifacts.tensors import TensorSpec
from mlrail.artifacts.v2 import (
    BINARY_CONTENT_TYPE,
    EXTENSIONS,
    HEADER_LENGTH,
    RequestError,
    decode_request,
    encode_response,
    header_length,
)
from mlrail.serving.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from mlrail.serving.metrics import Metrics
from mlrail.serving.model import LoadedModel
from mlrail.serving.openapi import openapi_document
from mlrail.serving.payload_log import PayloadLogger, open_payload_log
from mlrail.serving.payload_log.settings import LOGS_FOLDER
from mlrail.serving.repository import ModelEntry, Repository

__all__ = ["DEFAULT_MAX_BODY_BYTES", "InferenceApp", "create_app"]

logger = logging.getLogger("mlrail.serving")

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
PLATFORM = "onnxruntime_onnx"  # Triton's name for this backend, as in config.pbtxt
SERVER_NAME = "mlrail"

# Batches up to this many rows run on the event loop: ONNX Runtime takes microseconds for them,
# less than handing the call to a thread. Larger ones run in a thread (ORT releases the GIL), so
# one big request does not stall health checks and other requests.
INLINE_MAX_ROWS = 256

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_JSON_HEADERS = [(b"content-type", b"application/json")]
_METRICS_HEADERS = [(b"content-type", METRICS_CONTENT_TYPE)]


class _HTTPError(RequestError):
    """A response other than 200, with the message for the client (and any extra headers)."""

    def __init__(self, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None):
        super().__init__(status, message)
        self.headers = headers or []


class _Disconnected(Exception):
    """The client went away while its request was being read."""


class InferenceApp:
    """The ASGI application: V2 REST over a :class:`Repository`.

    Args:
        repository: The loaded model repository.
        max_body_bytes: The largest request body accepted; larger ones get 413.
        metrics: Where requests are counted (a fresh :class:`Metrics` if not given).
        payload_log: Where sampled inferences go (none if not given); closed with the app.
        model_logs: Without ``payload_log``: the log root for models switched on by their
            ``logging.json`` (None: no per-model logging).
    """

    def __init__(
        self,
        repository: Repository,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        *,
        metrics: Metrics | None = None,
        payload_log: PayloadLogger | None = None,
        model_logs: str | os.PathLike[str] | None = None,
    ):
        if max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be positive, got {max_body_bytes}")
        self.repository = repository
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics or Metrics()
        self.payload_log = payload_log
        self.model_logs = None if payload_log is not None or model_logs is None else model_logs
        self._closed = False
        self._server_metadata = orjson.dumps(
            {"name": SERVER_NAME, "version": __version__, "extensions": list(EXTENSIONS)}
        )
        self._openapi = orjson.dumps(openapi_document())

    def close(self) -> None:
        """Flush and stop the payload log (uvicorn's shutdown calls this through lifespan)."""
        self._closed = True
        if self.payload_log is not None:
            self.payload_log.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await _lifespan(receive, send, self.close)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1003})

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            status, body, headers = await self._route(scope, receive)
        except RequestError as e:
            status, body = e.status, _error_body(e.message)
            extra = e.headers if isinstance(e, _HTTPError) else None
            headers = _JSON_HEADERS + extra if extra else _JSON_HEADERS
        except _Disconnected:
            return
        except Exception as e:  # a bug here must still answer JSON, and be logged
            logger.exception("%s %s failed", scope.get("method"), scope.get("path"))
            status, body = 500, _error_body(f"internal error: {type(e).__name__}: {e}")
            headers = _JSON_HEADERS
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _route(
        self, scope: Scope, receive: Receive
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        if scope["path"] == "/metrics":
            _allow(scope["method"], "GET", "/metrics")
            return 200, self.metrics.exposition(), _METRICS_HEADERS
        return await self._route_v2(scope, receive)

    async def _route_v2(
        self, scope: Scope, receive: Receive
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        method: str = scope["method"]
        path: str = scope["path"]
        parts = path.strip("/").split("/")
        n = len(parts)
        if parts[0] != "v2":
            raise _HTTPError(404, f"no endpoint at {path}; the V2 inference API is under /v2")
        if n >= 3 and parts[1] == "models":
            name = parts[2]
            version: str | None = None
            rest = parts[3:]
            if len(rest) >= 2 and rest[0] == "versions":
                version, rest = rest[1], rest[2:]
            if not rest:
                _allow(method, "GET", path)
                return 200, self._model_metadata(name, version), _JSON_HEADERS
            if rest == ["ready"]:
                _allow(method, "GET", path)
                return 200, self._model_ready(name, version), _JSON_HEADERS
            if rest == ["infer"]:
                _allow(method, "POST", path)
                return await self._infer(scope, receive, name, version)
        elif n == 1:
            _allow(method, "GET", path)
            return 200, self._server_metadata, _JSON_HEADERS
        elif parts == ["v2", "health", "live"]:
            _allow(method, "GET", path)
            return 200, b'{"live":true}', _JSON_HEADERS
        elif parts == ["v2", "health", "ready"]:
            _allow(method, "GET", path)
            return 200, self.server_ready(), _JSON_HEADERS
        elif parts == ["v2", "openapi.json"]:
            _allow(method, "GET", path)
            return 200, self._openapi, _JSON_HEADERS
        elif parts == ["v2", "models"]:
            _allow(method, "GET", path)
            self.repository.poll()
            return 200, orjson.dumps({"models": self.repository.names()}), _JSON_HEADERS
        raise _HTTPError(404, f"no endpoint at {path}")

    # -- health and metadata ----------------------------------------------------------------------

    def server_ready(self) -> bytes:
        """The ready body, or the 503 that says why not (REST's and gRPC's readiness)."""
        # Ready only when every model is (Triton's strict readiness): Kubernetes routes traffic
        # by this probe, and a pod whose model cannot load must not receive requests for it.
        repo = self.repository
        repo.poll()
        if not repo.names():
            # No path: the body goes to clients (the server log has the folder).
            raise _HTTPError(503, "Server is not ready. The model repository holds no models.")
        not_ready = repo.not_ready()
        if not_ready:
            reasons = "; ".join(f"model {n!r}: {why}" for n, why in sorted(not_ready.items()))
            raise _HTTPError(503, f"Server is not ready. {reasons}")
        return b'{"ready":true}'

    def _model_metadata(self, name: str, version: str | None) -> bytes:
        model = self.served(name, version)
        return orjson.dumps(
            {
                "name": model.name,
                "versions": [str(model.version)],
                "platform": PLATFORM,
                "inputs": [_tensor_metadata(t) for t in model.inputs],
                "outputs": [_tensor_metadata(t) for t in model.outputs],
            }
        )

    def _model_ready(self, name: str, version: str | None) -> bytes:
        model = self.served(name, version)
        return orjson.dumps({"name": model.name, "ready": True})

    def served(self, name: str, version: str | None) -> LoadedModel:
        """The loaded model a path names, or the 404/503 that explains why there is none."""
        repo = self.repository
        repo.poll()
        entry = repo.model(name)
        if entry is None:
            models = ", ".join(repo.names()) or "none"
            raise _HTTPError(404, f"Model with name {name} does not exist. Models: {models}.")
        served = entry.served
        if version is None:
            if served is None:
                raise _HTTPError(503, f"Model with name {name} is not ready. {entry.error}")
            return served
        if served is not None and version == str(served.version):
            return served
        return _version_problem(entry, version)

    # -- inference --------------------------------------------------------------------------------

    async def _infer(
        self, scope: Scope, receive: Receive, name: str, version: str | None
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        start = time.perf_counter()
        try:
            model, request_id, body, json_length, response, response_length = await self._run(
                scope, receive, name, version
            )
        except RequestError as e:
            self.metrics.observe(self.model_label(name), e.status, time.perf_counter() - start)
            raise
        except _Disconnected:
            raise
        except Exception:
            self.metrics.observe(self.model_label(name), 500, time.perf_counter() - start)
            raise
        elapsed = time.perf_counter() - start
        self.metrics.observe(model.name, 200, elapsed)
        if self.payload_log is not None or self.model_logs is not None:
            self.log_answer(
                model, request_id, elapsed, body, json_length, response, response_length
            )
        if response_length is None:
            return 200, response, _JSON_HEADERS
        return (
            200,
            response,
            [
                (b"content-type", BINARY_CONTENT_TYPE),
                (HEADER_LENGTH, str(response_length).encode()),
            ],
        )

    def log_answer(
        self,
        model: LoadedModel,
        request_id: str,
        elapsed: float,
        body: bytes | bytearray,
        json_length: int | None,
        response: bytes,
        response_length: int | None,
    ) -> None:
        """Logs one answered request to the payload log, as sampled (REST's and gRPC's)."""
        rate = None
        if self.model_logs is not None:
            entry = self.repository.model(model.name)  # its logging.json, as last scanned
            rate = entry.log_sample_rate if entry is not None else 0.0
            if rate <= 0.0 or self._closed:
                return
            if self.payload_log is None:
                # The first inference of a model switched on. The root is made by the first
                # write; one that cannot be is a counted drop (logging never stops serving).
                self.payload_log = open_payload_log(
                    str(self.model_logs), 1.0, on_drop=self.metrics.dropped, create=False
                )
        assert self.payload_log is not None
        # Bytes, not the parsed request: parsed requests in the log's queue cost 15x their size;
        # the writer thread turns them into V2 JSON (mlrail.artifacts.v2.json_body) off the
        # request path.
        self.payload_log.offer(
            request_id,
            model.name,
            str(model.version),
            time.time() - elapsed,
            elapsed,
            body if isinstance(body, bytes) else bytes(body),  # read in many parts: a bytearray
            response,
            request_header_length=json_length,
            response_header_length=response_length,
            identity=model.identity,
            sample_rate=rate,
        )

    def model_label(self, name: str) -> str:
        """The metrics label for a requested model name."""
        # Only names the repository holds: clients must not create label values at will.
        return name if self.repository.model(name) is not None else ""

    async def _run(
        self, scope: Scope, receive: Receive, name: str, version: str | None
    ) -> tuple[LoadedModel, str, bytes | bytearray, int | None, bytes, int | None]:
        # Find the model before reading the body: a request to an unknown model is refused
        # without buffering up to max_body_bytes of it.
        model = self.served(name, version)
        request_headers = dict(scope["headers"])
        declared = _content_length(request_headers.get(b"content-length"))
        json_length = header_length(request_headers.get(HEADER_LENGTH), declared)
        body = await self._read_body(receive, declared)
        request = decode_request(model, body, json_length)
        feeds, output_names = request.feeds, request.outputs
        try:
            if request.rows <= INLINE_MAX_ROWS:
                results = model.session.run(output_names, feeds)
            else:
                results = await asyncio.get_running_loop().run_in_executor(
                    None, model.session.run, output_names, feeds
                )
        except Exception as e:  # ORT's pybind error types have no common public base
            logger.exception(
                "model %r version %d failed on a valid request", model.name, model.version
            )
            raise _HTTPError(
                500,
                f"model {model.name!r} version {model.version} failed to run "
                f"on a valid request: {e}",
            ) from e
        # The feeds go before the answer is encoded: two copies of a large batch never coexist.
        del feeds
        request.feeds = {}
        response, response_length = encode_response(model, request, results)
        return model, request.id, body, json_length, response, response_length

    async def _read_body(self, receive: Receive, declared: int | None) -> bytes | bytearray:
        limit = self.max_body_bytes
        if declared is not None and declared > limit:
            raise _HTTPError(
                413,
                f"request body of {declared} bytes is larger than the limit of {limit} bytes",
            )
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        first: bytes = message.get("body", b"")
        if len(first) > limit:
            raise _HTTPError(413, f"request body is larger than the limit of {limit} bytes")
        if not message.get("more_body", False):
            return first  # the common case: the whole body in one message, no copy
        # A body in many messages is copied into one buffer as it arrives: joining a list of
        # chunks at the end would hold the body twice.
        body = bytearray(declared) if declared is not None else bytearray()
        view = memoryview(body)
        size = 0
        chunk = first
        while True:
            end = size + len(chunk)
            # Counted while reading too: a chunked body declares no length.
            if end > limit:
                raise _HTTPError(413, f"request body is larger than the limit of {limit} bytes")
            if declared is not None and end <= declared:
                view[size:end] = chunk
            else:  # no Content-Length (chunked), or more than it said: grow
                view.release()
                del body[size:]
                body += chunk
                view = memoryview(body)
            size = end
            if not message.get("more_body", False):
                break
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
        view.release()
        if size < len(body):
            del body[size:]
        return body


def create_app(
    model_repository: str | os.PathLike[str],
    model_version: int | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    *,
    intra_op_threads: int = 1,
    poll_interval: float = 1.0,
    log_payloads: str | None = None,
    log_sample_rate: float = 1.0,
    verify_key: str | os.PathLike[str] | None = None,
) -> InferenceApp:
    """Load a model repository and return the V2 ASGI app serving it.

    Args:
        model_repository: The repository folder (``<name>/<version>/model.onnx``).
        model_version: Serve this version of every model instead of the highest one.
        max_body_bytes: The largest request body accepted (413 above it).
        intra_op_threads: ONNX Runtime threads per run (0: ONNX Runtime's default).
        poll_interval: Seconds between checks for new versions in the repository.
        log_payloads: Log every model's sampled inferences under this folder (the log root of
            :mod:`mlrail.serving.payload_log.partitioned`), or POST them as CloudEvents to
            this ``http(s)://`` URL. None: each model with a ``logging.json`` is logged at its
            rate under ``<model_repository>/_logs``.
        log_sample_rate: The fraction of answered inferences logged with ``log_payloads``,
            0 to 1 (0: nothing is logged, per-model settings included).
        verify_key: A PEM public key: serve only model versions signed with its private key
            (:mod:`mlrail.serving.repository`); None verifies nothing.

    Returns:
        The ASGI application; ``close()`` flushes its payload log.

    Raises:
        ModelError: The repository folder does not exist, or ``verify_key`` is not a usable
            public key. (A model that fails to load or verify does not raise: it is reported
            not ready and the others serve.)
        ValueError: The sample rate is outside 0..1, or the ``log_payloads`` folder cannot be
            created or written to.
    """
    if not 0.0 <= log_sample_rate <= 1.0:  # also refuses NaN
        raise ValueError(f"log_sample_rate must be between 0 and 1, got {log_sample_rate}")
    repository = Repository(
        model_repository,
        model_version,
        intra_op_threads=intra_op_threads,
        poll_interval=poll_interval,
        verify_key=verify_key,
    )
    metrics = Metrics()
    payload_log = None
    model_logs = None
    if log_payloads:
        if log_sample_rate > 0.0:
            payload_log = open_payload_log(log_payloads, log_sample_rate, on_drop=metrics.dropped)
    else:
        model_logs = repository.root / LOGS_FOLDER
    return InferenceApp(
        repository,
        max_body_bytes,
        metrics=metrics,
        payload_log=payload_log,
        model_logs=model_logs,
    )


# -- helpers (module level: no attribute lookups through self on the request path) -------------


async def _lifespan(receive: Receive, send: Send, close: Callable[[], None]) -> None:
    # Models load when the app is created; at shutdown the payload log is flushed (in a thread:
    # it may wait on a slow sink).
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await asyncio.get_running_loop().run_in_executor(None, close)
            await send({"type": "lifespan.shutdown.complete"})
            return


def _content_length(value: bytes | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise _HTTPError(400, f"Content-Length {value!r} is not a number") from None


def _error_body(message: str) -> bytes:
    try:
        return orjson.dumps({"error": message})
    except orjson.JSONEncodeError:  # text that is not Unicode, echoed from a path or a name
        return orjson.dumps({"error": message.encode("utf-8", "replace").decode("utf-8")})


def _allow(method: str, allowed: str, path: str) -> None:
    if method != allowed:
        raise _HTTPError(
            405,
            f"method {method} is not allowed on {path}; use {allowed}",
            [(b"allow", allowed.encode())],
        )


def _version_problem(entry: ModelEntry, version: str) -> LoadedModel:
    """Raise the 404/503 for a version path that is not the served version."""
    name = entry.name
    number = int(version) if version.isdigit() else None
    if number is not None and str(number) == version and number in entry.versions:
        error = entry.version_error(number)
        if error is not None:
            raise _HTTPError(503, f"Model with name {name} version {version} is not ready. {error}")
        served = entry.served
        why = (
            f"this server serves version {served.version}"
            if served
            else f"the model is not ready: {entry.error}"
        )
        raise _HTTPError(404, f"Model with name {name} version {version} is not served; {why}.")
    present = ", ".join(map(str, entry.versions)) or "none"
    raise _HTTPError(
        404, f"Model with name {name} has no version {version!r}. Versions: {present}."
    )


def _tensor_metadata(t: TensorSpec) -> dict[str, Any]:
    return {"name": t.name, "datatype": t.datatype, "shape": list(t.shape)}
