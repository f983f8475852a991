"""The OpenAPI 3.0 document of the server's endpoints, served at ``GET /v2/openapi.json``.

Its V2 schemas follow the Open Inference Protocol's REST specification as KServe publishes it
(``open_inference_rest.yaml``); the error statuses are the ones :mod:`mlrail.serving.app` answers.
The binary tensor data extension (:mod:`mlrail.artifacts.v2`) appears as the
``application/octet-stream`` form of the infer request and response: the JSON object, then the
tensors' bytes, split by the ``Inference-Header-Content-Length`` header.
The fuzz test (``tests/serving/test_fuzz.py``) drives schemathesis with this document against a
real server, so a schema that drifts from what the server does fails a test.
"""

from __future__ import annotations

from typing import Any

from mlrail import __version__
from mlrail.artifacts.v2.wire import V2_DATATYPES

__all__ = ["OPENAPI_PATH", "openapi_document"]

OPENAPI_PATH = "/v2/openapi.json"

# The codec's list (an enum is a set: its order in the document carries nothing).
_V2_DATATYPES = list(V2_DATATYPES)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("ErrorResponse"), description)


_NAME = {
    "name": "model_name",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "A model in the repository (a folder name).",
}
_VERSION = {
    "name": "model_version",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "A version number; only the served version answers 200.",
}
_BINARY = {
    "schema": {"type": "string", "format": "binary"},
    "description": (
        "Binary tensor data extension: the V2 JSON object (its length in the "
        "Inference-Header-Content-Length header), then the bytes of each tensor whose "
        'parameters hold "binary_data_size", in order: little-endian, row-major; BYTES '
        "elements each a 4-byte little-endian length and UTF-8 bytes."
    ),
}
_HEADER_LENGTH = {
    "name": "Inference-Header-Content-Length",
    "in": "header",
    "required": False,
    "schema": {"type": "integer", "minimum": 0},
    "description": "The length of the JSON part of a binary tensor data body, in bytes.",
}
_UNKNOWN = _error("Unknown model or version, or a version that is not the one served.")
_NOT_READY = _error("The model is not ready (it failed to load); the message says why.")


def _model_operations(versioned: bool) -> dict[str, dict[str, Any]]:
    """The metadata, ready and infer operations, on the plain or the versioned model path."""
    parameters = [_NAME, _VERSION] if versioned else [_NAME]
    suffix = "Version" if versioned else ""
    return {
        "": {
            "get": {
                "operationId": f"modelMetadata{suffix}",
                "summary": "Model metadata: inputs and outputs with V2 datatypes and shapes.",
                "parameters": parameters,
                "responses": {
                    "200": _json(_ref("MetadataModelResponse"), "The model's metadata."),
                    "404": _UNKNOWN,
                    "503": _NOT_READY,
                },
            }
        },
        "/ready": {
            "get": {
                "operationId": f"modelReady{suffix}",
                "summary": "Whether the model is ready to infer.",
                "parameters": parameters,
                "responses": {
                    "200": _json(_ref("ModelReadyResponse"), "The model is ready."),
                    "404": _UNKNOWN,
                    "503": _NOT_READY,
                },
            }
        },
        "/infer": {
            "post": {
                "operationId": f"modelInfer{suffix}",
                "summary": "Run the model on a V2 inference request.",
                "description": (
                    "A date or timestamp input (FP64 in the metadata: days since 1970-01-01 "
                    "UTC) also takes BYTES ISO 8601 strings such as 2012-01-31 or "
                    "2012-01-31T10:00:00Z."
                ),
                "parameters": [*parameters, _HEADER_LENGTH],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": _ref("InferenceRequest")},
                        "application/octet-stream": _BINARY,
                    },
                },
                "responses": {
                    "200": {
                        "description": (
                            "The model's outputs; as binary tensor data (with the "
                            "Inference-Header-Content-Length header) when the request asks."
                        ),
                        "content": {
                            "application/json": {"schema": _ref("InferenceResponse")},
                            "application/octet-stream": _BINARY,
                        },
                    },
                    "400": _error(
                        "A V2 request this model cannot take: unknown, missing or repeated "
                        "input; shape; datatype; data not matching them; unknown output; "
                        "binary data whose sizes do not add up; text that is not Unicode."
                    ),
                    "404": _UNKNOWN,
                    "413": _error("The body is larger than the server's limit."),
                    "422": _error("The body is not a V2 inference request (or not JSON)."),
                    "500": _error("ONNX Runtime failed on a valid request."),
                    "503": _NOT_READY,
                },
            }
        },
    }


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.0.3 document describing every endpoint the server answers."""
    paths: dict[str, Any] = {
        "/v2": {
            "get": {
                "operationId": "serverMetadata",
                "summary": "Server name, version and protocol extensions.",
                "responses": {"200": _json(_ref("MetadataServerResponse"), "Server metadata.")},
            }
        },
        "/v2/health/live": {
            "get": {
                "operationId": "serverLive",
                "summary": "Liveness: the server answers.",
                "responses": {"200": _json(_ref("ServerLiveResponse"), "The server is live.")},
            }
        },
        "/v2/health/ready": {
            "get": {
                "operationId": "serverReady",
                "summary": "Readiness: every model in the repository is loaded.",
                "responses": {
                    "200": _json(_ref("ServerReadyResponse"), "Every model is ready."),
                    "503": _error("Some model is not ready, or there is none; says which."),
                },
            }
        },
        "/v2/models": {
            "get": {
                "operationId": "listModels",
                "summary": "The models in the repository.",
                "responses": {"200": _json(_ref("ModelListResponse"), "Model names.")},
            }
        },
        OPENAPI_PATH: {
            "get": {
                "operationId": "openapi",
                "summary": "This document.",
                "responses": {"200": _json({"type": "object"}, "The OpenAPI document.")},
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics, text exposition format 0.0.4.",
                "responses": {
                    "200": {
                        "description": "The metrics.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
    }
    for suffix, item in _model_operations(versioned=False).items():
        paths[f"/v2/models/{{model_name}}{suffix}"] = item
    for suffix, item in _model_operations(versioned=True).items():
        paths[f"/v2/models/{{model_name}}/versions/{{model_version}}{suffix}"] = item

    tensor_metadata = {
        "type": "object",
        "required": ["name", "datatype", "shape"],
        "properties": {
            "name": {"type": "string"},
            "datatype": {"type": "string", "enum": _V2_DATATYPES},
            "shape": {"type": "array", "items": {"type": "integer"}},
        },
    }
    parameters = {"type": "object", "additionalProperties": True}
    schemas: dict[str, Any] = {
        "ErrorResponse": {
            "type": "object",
            "required": ["error"],
            "properties": {"error": {"type": "string"}},
        },
        "MetadataServerResponse": {
            "type": "object",
            "required": ["name", "version", "extensions"],
            "properties": {
                "name": {"type": "string"},
                "version": {"type": "string"},
                "extensions": {"type": "array", "items": {"type": "string"}},
            },
        },
        "ServerLiveResponse": {
            "type": "object",
            "required": ["live"],
            "properties": {"live": {"type": "boolean"}},
        },
        "ServerReadyResponse": {
            "type": "object",
            "required": ["ready"],
            "properties": {"ready": {"type": "boolean"}},
        },
        "ModelListResponse": {
            "type": "object",
            "required": ["models"],
            "properties": {"models": {"type": "array", "items": {"type": "string"}}},
        },
        "ModelReadyResponse": {
            "type": "object",
            "required": ["name", "ready"],
            "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}},
        },
        "MetadataModelResponse": {
            "type": "object",
            "required": ["name", "platform", "inputs", "outputs"],
            "properties": {
                "name": {"type": "string"},
                "versions": {"type": "array", "items": {"type": "string"}},
                "platform": {"type": "string"},
                "inputs": {"type": "array", "items": _ref("MetadataTensor")},
                "outputs": {"type": "array", "items": _ref("MetadataTensor")},
            },
        },
        "MetadataTensor": tensor_metadata,
        "InferenceRequest": {
            "type": "object",
            "required": ["inputs"],
            "properties": {
                "id": {"type": "string"},
                "parameters": parameters,
                "inputs": {"type": "array", "items": _ref("RequestInput")},
                "outputs": {"type": "array", "items": _ref("RequestOutput")},
            },
        },
        "RequestInput": {
            "type": "object",
            "description": 'Its values in "data", or binary ("parameters": {"binary_data_size"}).',
            "required": ["name", "shape", "datatype"],
            "properties": {
                "name": {"type": "string"},
                "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                "datatype": {"type": "string", "enum": _V2_DATATYPES},
                "parameters": parameters,
                "data": _ref("TensorData"),
            },
        },
        "RequestOutput": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string"}, "parameters": parameters},
        },
        "InferenceResponse": {
            "type": "object",
            "required": ["model_name", "outputs"],
            "properties": {
                "model_name": {"type": "string"},
                "model_version": {"type": "string"},
                "id": {"type": "string"},
                "parameters": parameters,
                "outputs": {"type": "array", "items": _ref("ResponseOutput")},
            },
        },
        "ResponseOutput": {
            "type": "object",
            "description": 'Its values in "data", or binary ("parameters": {"binary_data_size"}).',
            "required": ["name", "shape", "datatype"],
            "properties": {
                "name": {"type": "string"},
                "shape": {"type": "array", "items": {"type": "integer"}},
                "datatype": {"type": "string", "enum": _V2_DATATYPES},
                "parameters": parameters,
                "data": _ref("TensorData"),
            },
        },
        "TensorData": {
            "description": "Row-major values, flat or nested to the shape; null is missing.",
            "type": "array",
            "items": {
                "anyOf": [
                    {"type": "number"},
                    {"type": "string"},
                    {"type": "boolean"},
                    {"type": "array", "items": {}},
                ],
                "nullable": True,
            },
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "mlrail serve: Open Inference Protocol v2 (KServe v2 REST)",
            "version": __version__,
        },
        "paths": paths,
        "components": {"schemas": schemas},
    }
