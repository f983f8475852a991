"""A bare ASGI app speaking the Open Inference Protocol v2 (KServe v2 REST) over a model repository.

No web framework: DESIGN §4 measured the HTTP layer, not ONNX Runtime, as the cost to cut. JSON
is read and written with orjson; each model's inputs, dtypes and output names are looked up in
tables built once when the model loads (:class:`mlrail.serving.repository.LoadedModel`).

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

Answered inferences are sampled into the payload log when one is given
(:mod:`mlrail.serving.payload_log`): after the response is encoded, off the request path.

Errors are ``{"error": "<what was wrong, naming the input>"}``. Statuses follow KServe: 422
where its (FastAPI) request schema rejects a body, 400 where its ``InvalidInput`` does, 404/503
for unknown/unready models (KServe answers versioned paths with 501; we serve them):

=====  ======================================================================================
400    a V2 request this model cannot take: unknown, missing or repeated input; shape; datatype;
       data that does not match its shape or datatype; an infinite number; unknown output
404    unknown path, model or version (or a version on disk that is not the one served)
405    wrong method for the path
413    body larger than ``max_body_bytes`` (from Content-Length, and counted while reading)
422    the body is not a V2 inference request: not JSON, not an object, fields of the wrong type
503    the model (or, for /v2/health/ready, some model) is not ready; the message says why
500    ONNX Runtime failed on a valid request (or a bug here); the message says what failed
=====  ======================================================================================

Value conventions, for clients that export rows with missing values:

- A numeric input takes JSON numbers; FP64, FP16 and integer datatypes are cast to the model's
  FP32. ``null`` is a missing value (NaN, which the model imputes, as in training) — and so is
  the non-standard ``NaN`` literal Python's ``json.dumps`` writes, as KServe (stdlib json)
  accepts it. Strings such as ``"NaN"``, booleans, infinities and numbers beyond FP32's range
  are rejected.
- A BYTES input takes JSON strings; ``null`` is a missing value (``""``, the model's OOV).
- ``data`` may be flat (row-major, as KServe and Triton write it) or nested to the shape.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

import numpy as np
import orjson

from mlrail import __version__
from mlrail.serving.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from mlrail.serving.metrics import Metrics
from mlrail.serving.openapi import openapi_document
from mlrail.serving.payload_log import PayloadLogger, open_payload_log
from mlrail.serving.repository import LoadedModel, ModelEntry, Repository, TensorSpec

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

_FLOAT_TYPES = frozenset({"FP16", "FP32", "FP64"})
_INT_TYPES = frozenset({"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"})
_V2_DATATYPES = ("BOOL", *sorted(_INT_TYPES), "FP16", "FP32", "FP64", "BYTES")
# Request datatypes each model datatype accepts: numbers convert (cast), numbers and strings don't.
_ACCEPTS: dict[str, frozenset[str]] = {
    **{t: _FLOAT_TYPES | _INT_TYPES for t in _FLOAT_TYPES},
    **{t: _INT_TYPES for t in _INT_TYPES},
    "BOOL": frozenset({"BOOL"}),
    "BYTES": frozenset({"BYTES"}),
}
_JSON_HEADERS = [(b"content-type", b"application/json")]
_METRICS_HEADERS = [(b"content-type", METRICS_CONTENT_TYPE)]


class _HTTPError(Exception):
    """A response other than 200, with the message for the client."""

    def __init__(self, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []


class _Disconnected(Exception):
    """The client went away while its request was being read."""


def _bad(message: str) -> _HTTPError:
    return _HTTPError(400, message)


def _not_v2(message: str) -> _HTTPError:
    return _HTTPError(422, message)


class InferenceApp:
    """The ASGI application: V2 REST over a :class:`Repository`.

    Args:
        repository: The loaded model repository.
        max_body_bytes: The largest request body accepted; larger ones get 413.
        metrics: Where requests are counted (a fresh :class:`Metrics` if not given).
        payload_log: Where sampled inferences go (none if not given); closed with the app.
    """

    def __init__(
        self,
        repository: Repository,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        *,
        metrics: Metrics | None = None,
        payload_log: PayloadLogger | None = None,
    ):
        if max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be positive, got {max_body_bytes}")
        self.repository = repository
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics or Metrics()
        self.payload_log = payload_log
        self._server_metadata = orjson.dumps(
            {"name": SERVER_NAME, "version": __version__, "extensions": []}
        )
        self._openapi = orjson.dumps(openapi_document())

    def close(self) -> None:
        """Flush and stop the payload log (uvicorn's shutdown calls this through lifespan)."""
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
        except _HTTPError as e:
            status, body = e.status, orjson.dumps({"error": e.message})
            headers = _JSON_HEADERS + e.headers if e.headers else _JSON_HEADERS
        except _Disconnected:
            return
        except Exception as e:  # a bug here must still answer JSON, and be logged
            logger.exception("%s %s failed", scope.get("method"), scope.get("path"))
            status, body = 500, orjson.dumps({"error": f"internal error: {type(e).__name__}: {e}"})
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
        status, body = await self._route_v2(scope, receive)
        return status, body, _JSON_HEADERS

    async def _route_v2(self, scope: Scope, receive: Receive) -> tuple[int, bytes]:
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
                return 200, self._model_metadata(name, version)
            if rest == ["ready"]:
                _allow(method, "GET", path)
                return 200, self._model_ready(name, version)
            if rest == ["infer"]:
                _allow(method, "POST", path)
                return await self._infer(scope, receive, name, version)
        elif n == 1:
            _allow(method, "GET", path)
            return 200, self._server_metadata
        elif parts == ["v2", "health", "live"]:
            _allow(method, "GET", path)
            return 200, b'{"live":true}'
        elif parts == ["v2", "health", "ready"]:
            _allow(method, "GET", path)
            return 200, self._server_ready()
        elif parts == ["v2", "openapi.json"]:
            _allow(method, "GET", path)
            return 200, self._openapi
        elif parts == ["v2", "models"]:
            _allow(method, "GET", path)
            self.repository.poll()
            return 200, orjson.dumps({"models": self.repository.names()})
        raise _HTTPError(404, f"no endpoint at {path}")

    # -- health and metadata ----------------------------------------------------------------------

    def _server_ready(self) -> bytes:
        # Ready only when every model is (Triton's strict readiness): Kubernetes routes traffic
        # by this probe, and a pod whose model cannot load must not receive requests for it.
        repo = self.repository
        repo.poll()
        if not repo.names():
            raise _HTTPError(
                503, f"Server is not ready. The model repository {repo.root} holds no models."
            )
        not_ready = repo.not_ready()
        if not_ready:
            reasons = "; ".join(f"model {n!r}: {why}" for n, why in sorted(not_ready.items()))
            raise _HTTPError(503, f"Server is not ready. {reasons}")
        return b'{"ready":true}'

    def _model_metadata(self, name: str, version: str | None) -> bytes:
        model = self._served(name, version)
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
        model = self._served(name, version)
        return orjson.dumps({"name": model.name, "ready": True})

    def _served(self, name: str, version: str | None) -> LoadedModel:
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
    ) -> tuple[int, bytes]:
        start = time.perf_counter()
        try:
            model, request, request_id, response = await self._run(scope, receive, name, version)
        except _HTTPError as e:
            self.metrics.observe(self._model_label(name), e.status, time.perf_counter() - start)
            raise
        except _Disconnected:
            raise
        except Exception:
            self.metrics.observe(self._model_label(name), 500, time.perf_counter() - start)
            raise
        elapsed = time.perf_counter() - start
        self.metrics.observe(model.name, 200, elapsed)
        if self.payload_log is not None:
            self.payload_log.offer(
                request_id,
                model.name,
                str(model.version),
                time.time() - elapsed,
                elapsed,
                request,
                response,
            )
        return 200, response

    def _model_label(self, name: str) -> str:
        # Only names the repository holds: clients must not create label values at will.
        return name if self.repository.model(name) is not None else ""

    async def _run(
        self, scope: Scope, receive: Receive, name: str, version: str | None
    ) -> tuple[LoadedModel, dict[str, Any], str, bytes]:
        # Find the model before reading the body: a request to an unknown model is refused
        # without buffering up to max_body_bytes of it.
        model = self._served(name, version)
        request_headers = dict(scope["headers"])
        if b"inference-header-content-length" in request_headers:
            raise _bad(
                "the binary tensor data extension (Inference-Header-Content-Length) is "
                "not supported; send the inputs as JSON"
            )
        body = await self._read_body(receive, request_headers.get(b"content-length"))
        request = _parse_json(body)
        feeds, output_names, request_id = _decode_request(model, request)
        rows = _rows(feeds)
        try:
            if rows <= INLINE_MAX_ROWS:
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
        return (
            model,
            request,
            request_id,
            _encode_response(model, request_id, output_names, results),
        )

    async def _read_body(self, receive: Receive, content_length: bytes | None) -> bytes:
        limit = self.max_body_bytes
        if content_length is not None:
            try:
                declared = int(content_length)
            except ValueError:
                raise _bad(f"Content-Length {content_length!r} is not a number") from None
            if declared > limit:
                raise _HTTPError(
                    413,
                    f"request body of {declared} bytes is larger than the limit of {limit} bytes",
                )
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            # Counted while reading too: a chunked body declares no length.
            if size > limit:
                raise _HTTPError(413, f"request body is larger than the limit of {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def create_app(
    model_repository: str | os.PathLike[str],
    model_version: int | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    *,
    intra_op_threads: int = 1,
    poll_interval: float = 1.0,
    log_payloads: str | None = None,
    log_sample_rate: float = 1.0,
) -> InferenceApp:
    """Load a model repository and return the V2 ASGI app serving it.

    Args:
        model_repository: The repository folder (``<name>/<version>/model.onnx``).
        model_version: Serve this version of every model instead of the highest one.
        max_body_bytes: The largest request body accepted (413 above it).
        intra_op_threads: ONNX Runtime threads per run (0: ONNX Runtime's default).
        poll_interval: Seconds between checks for new versions in the repository.
        log_payloads: Log sampled inferences to this JSON Lines file, or POST them as
            CloudEvents to this ``http(s)://`` URL (:mod:`mlrail.serving.payload_log`).
        log_sample_rate: The fraction of answered inferences logged, 0 to 1.

    Returns:
        The ASGI application; ``close()`` flushes its payload log.

    Raises:
        ModelError: The repository folder does not exist. (A model that fails to load does not
            raise: it is reported not ready and the others serve.)
        ValueError: The sample rate is outside 0..1, or the payload log cannot be opened.
    """
    if not 0.0 <= log_sample_rate <= 1.0:  # also refuses NaN
        raise ValueError(f"log_sample_rate must be between 0 and 1, got {log_sample_rate}")
    repository = Repository(
        model_repository,
        model_version,
        intra_op_threads=intra_op_threads,
        poll_interval=poll_interval,
    )
    metrics = Metrics()
    payload_log = None
    if log_payloads and log_sample_rate > 0.0:
        payload_log = open_payload_log(log_payloads, log_sample_rate, on_drop=metrics.dropped)
    return InferenceApp(repository, max_body_bytes, metrics=metrics, payload_log=payload_log)


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


def _parse_json(body: bytes) -> dict[str, Any]:
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError:
        # orjson is strict JSON; the stdlib also takes NaN/Infinity, which Python clients write
        # for missing values and which KServe (stdlib json) accepts. Only the error path pays.
        try:
            request = json.loads(body)
        except (ValueError, RecursionError) as e:
            raise _not_v2(f"request body is not valid JSON: {e}") from None
    if not isinstance(request, dict):
        raise _not_v2(
            'request body must be a JSON object with an "inputs" list, '
            f"got a JSON {_json_type(request)}"
        )
    return request


def _decode_request(
    model: LoadedModel, request: dict[str, Any]
) -> tuple[dict[str, np.ndarray], list[str], str]:
    """Check a V2 inference request against the model and build ONNX Runtime's feeds."""
    request_id = request.get("id")
    if request_id is None:
        request_id = _random_uuid()  # KServe answers a request without id with a fresh UUID
    elif not isinstance(request_id, str):
        raise _not_v2(f'"id" must be a string, got a JSON {_json_type(request_id)}')
    parameters = request.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise _not_v2(f'"parameters" must be an object, got a JSON {_json_type(parameters)}')

    items = request.get("inputs")
    if not isinstance(items, list):
        if items is None:
            raise _not_v2('request has no "inputs" list')
        raise _not_v2(f'"inputs" must be a list, got a JSON {_json_type(items)}')
    feeds: dict[str, np.ndarray] = {}
    batch: tuple[str, int] | None = None
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            raise _not_v2(
                f'inputs[{position}] must be an object with "name", "shape", '
                f'"datatype" and "data", got a JSON {_json_type(item)}'
            )
        name = item.get("name")
        if not isinstance(name, str):
            raise _not_v2(f'inputs[{position}] has no "name" string')
        spec = model.input_index.get(name)
        if spec is None:
            raise _bad(
                f"model {model.name!r} has no input {name!r}; its inputs are: "
                f"{', '.join(t.name for t in model.inputs)}"
            )
        if name in feeds:
            raise _bad(f"input {name!r} is given more than once")
        array = _decode_input(spec, item)
        if model.batched:
            if batch is None:
                batch = (name, array.shape[0])
            elif array.shape[0] != batch[1]:
                raise _bad(
                    f"input {name!r} has {array.shape[0]} rows but input {batch[0]!r} has "
                    f"{batch[1]}; every input must have the same batch size"
                )
        feeds[name] = array
    if len(feeds) != len(model.inputs):
        missing = [t.name for t in model.inputs if t.name not in feeds]
        raise _bad(
            f"missing input(s) {', '.join(map(repr, missing))}; model {model.name!r} "
            f"takes: {', '.join(t.name for t in model.inputs)}"
        )
    return feeds, _requested_outputs(model, request.get("outputs")), request_id


def _requested_outputs(model: LoadedModel, outputs: Any) -> list[str]:
    if outputs is None:
        return list(model.output_names)
    if not isinstance(outputs, list):
        raise _not_v2(f'"outputs" must be a list, got a JSON {_json_type(outputs)}')
    names: list[str] = []
    for position, item in enumerate(outputs):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str):
            raise _not_v2(f'outputs[{position}] must be an object with a "name" string')
        if name not in model.output_index:
            raise _bad(
                f"model {model.name!r} has no output {name!r}; its outputs are: "
                f"{', '.join(model.output_names)}"
            )
        if name not in names:
            names.append(name)
    return names or list(model.output_names)


def _decode_input(spec: TensorSpec, item: dict[str, Any]) -> np.ndarray:
    name = spec.name
    shape = item.get("shape")
    if type(shape) is not list:
        raise _not_v2(
            f'input {name!r}: "shape" must be a list of non-negative integers, got {shape!r}'
        )
    # One pass over the dimensions: a loop, not all()/zip() generators, on the request path.
    model_shape = spec.shape
    fits = len(shape) == len(model_shape)
    size = 1
    for axis, dim in enumerate(shape):
        if type(dim) is not int or dim < 0:  # `type is`: JSON true is not a dimension
            raise _not_v2(
                f'input {name!r}: "shape" must be a list of non-negative integers, got {shape!r}'
            )
        size *= dim
        if fits and model_shape[axis] != -1 and model_shape[axis] != dim:
            fits = False
    datatype = item.get("datatype")
    if type(datatype) is not str:
        raise _not_v2(f'input {name!r}: "datatype" must be a string such as {spec.datatype!r}')
    data = item.get("data")
    if type(data) is not list:
        raise _not_v2(f'input {name!r}: "data" must be a list, got a JSON {_json_type(data)}')

    if not fits:
        raise _bad(
            f"input {name!r}: shape {shape} does not match the model's "
            f"{list(model_shape)} (-1: any size)"
        )
    if datatype not in _ACCEPTS[spec.datatype]:
        if datatype not in _V2_DATATYPES:
            raise _bad(
                f"input {name!r}: {datatype!r} is not a V2 datatype ({', '.join(_V2_DATATYPES)})"
            )
        accepted = sorted(_ACCEPTS[spec.datatype] - {spec.datatype})
        also = f" (or {', '.join(accepted)}, converted)" if accepted else ""
        raise _bad(
            f"input {name!r}: datatype {datatype} does not match the model's "
            f"{spec.datatype}; send {spec.datatype}{also}"
        )

    if spec.datatype == "BYTES":
        array = _decode_strings(name, data, size)
    else:
        array = _decode_numbers(spec, datatype, data, size)
    return array.reshape(shape)


#: Largest finite value of each float dtype a model input may have.
_FLOAT_MAX = {np.dtype(t): float(np.finfo(t).max) for t in (np.float16, np.float32, np.float64)}
#: Up to this many values, a flat list of plain numbers is checked in Python and converted in one
#: call: for the batch-1 requests most clients send, numpy's per-call overhead (errstate,
#: isinf, ...) costs more than the values themselves.
_FAST_MAX = 64


def _decode_numbers(spec: TensorSpec, datatype: str, data: list[Any], size: int) -> np.ndarray:
    name = spec.name
    limit = _FLOAT_MAX.get(spec.dtype)
    if limit is not None and len(data) == size and size <= _FAST_MAX:
        ints_only = datatype in _INT_TYPES
        for v in data:
            t = type(v)
            # bool, None, str, nested lists, NaN and out-of-range values take the full path below
            if not (t is int or (t is float and not ints_only)) or not -limit <= v <= limit:
                break
        else:
            return np.array(data, dtype=spec.dtype)
    try:
        raw = np.asarray(data)  # infer first, to tell numbers from strings and booleans
    except ValueError as e:  # nested lists of different lengths
        raise _bad(f"input {name!r}: data is not a rectangular array: {e}") from None
    if raw.size != size:
        raise _bad(f"input {name!r}: shape needs {size} value(s), got {raw.size}")
    kind = raw.dtype.kind
    target = spec.dtype
    if spec.datatype == "BOOL":
        if kind != "b":
            raise _bad(
                f"input {name!r}: BOOL data must be true/false, {_first_offender(data, (bool,))}"
            )
        return raw.astype(target, copy=False)
    if datatype in _INT_TYPES and kind not in "iu":
        if kind == "O" and all(type(v) is int for v in raw.flat):
            raise _bad(f"input {name!r}: a value is beyond {datatype}'s range")
        raise _bad(
            f"input {name!r}: {datatype} data must be integers, {_first_offender(data, (int,))}"
        )
    if kind == "O":
        # JSON null (a missing value) or an integer too large for int64.
        if target.kind != "f":
            raise _bad(
                f"input {name!r}: {datatype} data must be integers, {_first_offender(data, (int,))}"
            )
        if any(v is not None and type(v) not in (int, float) for v in raw.flat):
            raise _bad(
                f"input {name!r}: {datatype} data must be numbers (null for a missing "
                f"value), {_first_offender(data, (int, float, type(None)))}"
            )
        try:
            raw = np.asarray([math.nan if v is None else float(v) for v in raw.flat])
        except OverflowError:  # an integer beyond even FP64
            raise _bad(f"input {name!r}: a value is beyond {spec.datatype}'s range") from None
    elif kind not in "iuf":
        hint = " (null for a missing value)" if target.kind == "f" else ""
        raise _bad(
            f"input {name!r}: {datatype} data must be numbers{hint}, "
            f"{_first_offender(data, (int, float))}"
        )
    with np.errstate(over="ignore", invalid="ignore"):  # out-of-range values are checked below
        array = raw.astype(target, copy=False)
    if target.kind == "f":
        if np.isinf(array).any():
            index = int(np.flatnonzero(np.isinf(array))[0])
            raise _bad(
                f"input {name!r}: element {index} ({_short(raw.flat[index].item())}) is "
                f"infinite or beyond {spec.datatype}'s range"
            )
    elif not np.array_equal(array, raw):
        index = int(np.flatnonzero(array.ravel() != raw.ravel())[0])
        raise _bad(
            f"input {name!r}: element {index} ({_short(raw.flat[index].item())}) does not "
            f"fit {spec.datatype}"
        )
    return array


def _decode_strings(name: str, data: list[Any], size: int) -> np.ndarray:
    flat = data
    if any(type(v) is list for v in data):
        nested = np.empty(0, dtype=object)
        try:
            nested = np.asarray(data, dtype=object)
        except ValueError as e:
            raise _bad(f"input {name!r}: data is not a rectangular array: {e}") from None
        flat = nested.ravel().tolist()
    if len(flat) != size:
        raise _bad(f"input {name!r}: shape needs {size} value(s), got {len(flat)}")
    if not all(type(v) is str for v in flat):
        if any(v is not None and type(v) is not str for v in flat):
            raise _bad(
                f"input {name!r}: BYTES data must be strings (null for a missing value), "
                f"{_first_offender(flat, (str, type(None)))}"
            )
        flat = ["" if v is None else v for v in flat]  # missing string: the model's OOV
    array = np.empty(size, dtype=object)
    array[:] = flat  # element-wise: np.array(list_of_str) would make a fixed-width unicode array
    return array


def _first_offender(data: list[Any], ok: tuple[type, ...]) -> str:
    """Describe the first element (row-major) whose JSON type is not one of ``ok``.

    Reads the parsed JSON, not the numpy array: numpy turns ``[1, "x"]`` into two strings.
    """
    for index, value in enumerate(_leaves(data)):
        if type(value) not in ok:
            return f"element {index} is {_short(value)} (a JSON {_json_type(value)})"
    return "some elements are not"


def _short(value: Any, limit: int = 40) -> str:
    """``repr(value)``, cut short: an error message must not echo a megabyte of the request."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}..."


def _leaves(data: list[Any]) -> Iterator[Any]:
    # A stack, not recursion: JSON nesting may be deeper than Python's recursion limit.
    stack = [iter(data)]
    while stack:
        for value in stack[-1]:
            if type(value) is list:
                stack.append(iter(value))
                break
            yield value
        else:
            stack.pop()


def _rows(feeds: dict[str, np.ndarray]) -> int:
    for array in feeds.values():
        return int(array.shape[0]) if array.ndim else 1
    return 0


def _encode_response(
    model: LoadedModel, request_id: str, names: list[str], results: list[Any]
) -> bytes:
    outputs = []
    for name, array in zip(names, results, strict=True):
        spec = model.output_index[name]
        flat = array.ravel()  # row-major, as KServe sends tensors
        # orjson writes numeric numpy arrays itself; strings come back from ORT as objects.
        data: Any = (
            flat
            if flat.dtype.kind != "O"
            else [
                v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in flat.tolist()
            ]
        )
        outputs.append(
            {"name": name, "shape": list(array.shape), "datatype": spec.datatype, "data": data}
        )
    return orjson.dumps(
        {
            "model_name": model.name,
            "model_version": str(model.version),
            "id": request_id,
            "outputs": outputs,
        },
        option=orjson.OPT_SERIALIZE_NUMPY,
    )


_UUID_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def _random_uuid() -> str:
    """``str(uuid.uuid4())`` in a third of the time (uuid.UUID's constructor is most of it)."""
    h = os.urandom(16).hex()
    # The version (4) and RFC 4122 variant digits make it a valid UUID4, as KServe sends.
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_UUID_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
