"""The Open Inference Protocol v2 codec: requests decoded into ONNX Runtime feeds, answers encoded.

Two wire forms, both as KServe 0.21 and Triton read and write them:

- JSON: the whole body is one V2 JSON object, each tensor's elements in its ``data`` list.
- The binary tensor data extension (what ``tritonclient.http`` and KServe's
  ``InferenceRESTClient`` send by default): the body is the JSON object followed by raw tensor
  bytes; the ``Inference-Header-Content-Length`` HTTP header gives the JSON part's length, and an
  input whose bytes follow carries ``"parameters": {"binary_data_size": N}`` instead of ``data``.
  The bytes of those inputs follow in the order the inputs are listed, little-endian, row-major;
  a BOOL is one byte (0 or 1), a BYTES element is a 4-byte little-endian length and then its
  bytes (UTF-8 text). Outputs are returned the same way when the request asks for it, per output
  (``"outputs": [{"name": ..., "parameters": {"binary_data": true}}]``) or for all outputs not
  asking otherwise (request ``"parameters": {"binary_data_output": true}``); the response then
  carries ``Inference-Header-Content-Length`` and ``application/octet-stream``.

Every size is checked before it is used: the header length against the body, each
``binary_data_size`` against the shape times the datatype's width (and against what is left of
the body), BYTES length prefixes against the bytes left, and no unclaimed bytes may remain.
A mismatch is a :class:`RequestError` (400) naming the input, never an exception from numpy.

Value conventions, for clients that export rows with missing values:

- A numeric input takes numbers; FP64, FP16 and integer datatypes are cast to the model's FP32.
  ``null`` is a missing value (NaN, which the model imputes, as in training) — and so is the
  non-standard ``NaN`` literal Python's ``json.dumps`` writes, as KServe (stdlib json) accepts it.
  Strings such as ``"NaN"``, booleans, infinities and numbers beyond FP32's range are rejected.
- A BYTES input takes strings; ``null`` is a missing value (``""``, the model's OOV).
- A date or timestamp input (``datetime`` in ``model_spec.json``; an FP64 graph input of days
  since 1970-01-01 UTC, :mod:`mlrail.datetimes`) takes numbers of days (FP64, FP32 or integers)
  or BYTES ISO 8601 strings (``2012-01-01``, ``2012-01-01T10:00:00Z``, ``...+02:00``); ``null``
  and ``""`` are missing (NaN).
- ``data`` may be flat (row-major, as KServe and Triton write it) or nested to the shape.
- Text must be valid Unicode: a lone surrogate escape (``"\\ud800"``) or invalid UTF-8 in a
  binary BYTES element is refused with the place named.

:func:`json_body` turns any request or response body (binary or not) back into its V2 JSON
object, binary tensors decoded into ``data`` lists: the payload log calls it off the request path.

The format is shared: the server decodes requests and encodes answers with it, and what writes
or reads V2 bodies elsewhere (golden requests, smoke tests) describes them the same way. It needs
of a model only what :class:`V2Model` names, so it does not depend on the server.

Modules, each one seam of the format:

- ``wire``: the names and datatypes, :class:`RequestError` and the message helpers.
- ``model``: :class:`V2Model`, what the codec reads of a model.
- ``body``: the header, the JSON part, and :func:`json_body`.
- ``request``: :func:`decode_request`, the request-wide and per-input checks.
- ``json_data``, ``binary_data``: tensor elements in either wire form; ``values``: the cast to
  the model's dtype both share.
- ``response``: :func:`encode_response`.
"""

from mlrail.artifacts.v2.body import header_length, json_body
from mlrail.artifacts.v2.model import V2Model
from mlrail.artifacts.v2.request import InferenceRequest, decode_request
from mlrail.artifacts.v2.response import encode_response
from mlrail.artifacts.v2.wire import (
    BINARY_CONTENT_TYPE,
    EXTENSIONS,
    HEADER_LENGTH,
    RequestError,
)

__all__ = [
    "BINARY_CONTENT_TYPE",
    "EXTENSIONS",
    "HEADER_LENGTH",
    "InferenceRequest",
    "RequestError",
    "V2Model",
    "decode_request",
    "encode_response",
    "header_length",
    "json_body",
]
