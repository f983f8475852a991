"""``inference.GRPCInferenceService`` over the REST server's :class:`InferenceApp`.

One app serves both protocols: the same :class:`~mlrail.serving.repository.Repository` (so a
new version is picked up by either, at the same poll), the same Prometheus metrics (gRPC
calls are counted under the HTTP status they correspond to, so one dashboard covers both) and
the same payload log. Requests are decoded by the same codec (:mod:`.codec`).

Statuses, from the REST status each refusal has (:mod:`mlrail.serving.app`):

=====================  ==========================================================================
INVALID_ARGUMENT       400/422: a request this model cannot take; the message names the input
NOT_FOUND              404: unknown model or version
UNAVAILABLE            503: the model is not ready (the message says why)
RESOURCE_EXHAUSTED     a message larger than the body limit (gRPC's own check, before decoding),
                       or more calls at once than the server takes
INTERNAL               500: ONNX Runtime failed on a valid request
=====================  ==========================================================================

ServerReady and ModelReady answer ``ready: false`` (not an error) when a model is not ready,
as Triton does; ModelReady for a model the repository does not hold is NOT_FOUND, as REST's 404.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import grpc

from mlrail import __version__
from mlrail.artifacts.v2 import EXTENSIONS, RequestError, decode_request, encode_response
from mlrail.serving.app import INLINE_MAX_ROWS, PLATFORM, SERVER_NAME, InferenceApp
from mlrail.serving.grpc import inference_pb2 as pb
from mlrail.serving.grpc import inference_pb2_grpc as pb_grpc
from mlrail.serving.grpc.codec import response_message, v2_body
from mlrail.serving.model import LoadedModel

__all__ = ["InferenceServicer", "status_code"]

logger = logging.getLogger("mlrail.serving")

_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    503: grpc.StatusCode.UNAVAILABLE,
}


def status_code(http_status: int) -> grpc.StatusCode:
    """The gRPC status for a REST status this server answers."""
    return _CODES.get(http_status, grpc.StatusCode.INTERNAL)


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    """The V2 gRPC calls, answered from ``app``'s repository, metrics and payload log.

    Args:
        app: The REST app whose repository, metrics and payload log are shared.
    """

    def __init__(self, app: InferenceApp) -> None:
        self.app = app
        self._server_metadata = pb.ServerMetadataResponse(
            name=SERVER_NAME, version=__version__, extensions=list(EXTENSIONS)
        )

    async def ServerLive(  # noqa: N802 (the protocol's method names)
        self, request: pb.ServerLiveRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(  # noqa: N802
        self, request: pb.ServerReadyRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ServerReadyResponse:
        try:
            self.app.server_ready()
        except RequestError:
            return pb.ServerReadyResponse(ready=False)
        return pb.ServerReadyResponse(ready=True)

    async def ModelReady(  # noqa: N802
        self, request: pb.ModelReadyRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ModelReadyResponse:
        try:
            self.app.served(request.name, request.version or None)
        except RequestError as e:
            if e.status == 503:
                return pb.ModelReadyResponse(ready=False)
            await context.abort(status_code(e.status), e.message)
        return pb.ModelReadyResponse(ready=True)

    async def ServerMetadata(  # noqa: N802
        self, request: pb.ServerMetadataRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ServerMetadataResponse:
        return self._server_metadata

    async def ModelMetadata(  # noqa: N802
        self, request: pb.ModelMetadataRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ModelMetadataResponse:
        try:
            model = self.app.served(request.name, request.version or None)
        except RequestError as e:
            await context.abort(status_code(e.status), e.message)
        tensor = pb.ModelMetadataResponse.TensorMetadata
        return pb.ModelMetadataResponse(
            name=model.name,
            versions=[str(model.version)],
            platform=PLATFORM,
            inputs=[tensor(name=t.name, datatype=t.datatype, shape=t.shape) for t in model.inputs],
            outputs=[
                tensor(name=t.name, datatype=t.datatype, shape=t.shape) for t in model.outputs
            ],
        )

    async def ModelInfer(  # noqa: N802
        self, request: pb.ModelInferRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ModelInferResponse:
        app = self.app
        start = time.perf_counter()
        name = request.model_name
        try:
            model = app.served(name, request.model_version or None)
            body, json_length = v2_body(request)
            decoded = decode_request(model, body, json_length)
            results = await _run(model, decoded.outputs, decoded.feeds, decoded.rows)
            decoded.feeds = {}  # the feeds go before the answer is built, as REST does
            response = response_message(model, decoded, results)
        except RequestError as e:
            app.metrics.observe(app.model_label(name), e.status, time.perf_counter() - start)
            await context.abort(status_code(e.status), e.message)
        elapsed = time.perf_counter() - start
        app.metrics.observe(model.name, 200, elapsed)
        if _logged(app, model):
            # The REST form of the answer, made only for a logged model: the payload log holds
            # one format whichever protocol the request came in.
            logged, logged_length = encode_response(model, decoded, results)
            app.log_answer(model, decoded.id, elapsed, body, json_length, logged, logged_length)
        return response


async def _run(
    model: LoadedModel, outputs: list[str], feeds: dict[str, Any], rows: int
) -> list[Any]:
    """``session.run``, on the event loop for small batches and in a thread for large ones
    (:data:`mlrail.serving.app.INLINE_MAX_ROWS`); an ONNX Runtime failure is a 500."""
    try:
        if rows <= INLINE_MAX_ROWS:
            results: list[Any] = model.session.run(outputs, feeds)
        else:
            results = await asyncio.get_running_loop().run_in_executor(
                None, model.session.run, outputs, feeds
            )
    except Exception as e:  # ORT's pybind error types have no common public base
        logger.exception("model %r version %d failed on a valid request", model.name, model.version)
        message = f"model {model.name!r} version {model.version} failed to run on a valid request"
        raise RequestError(500, f"{message}: {e}") from e
    return results


def _logged(app: InferenceApp, model: LoadedModel) -> bool:
    """Whether an answer of ``model`` may be sampled into the payload log."""
    if app.model_logs is None:
        return app.payload_log is not None
    entry = app.repository.model(model.name)  # its logging.json, as last scanned
    return entry is not None and entry.log_sample_rate > 0.0
