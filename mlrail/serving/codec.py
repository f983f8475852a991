"""Open Inference Protocol v2 bodies: requests decoded into ONNX Runtime feeds, answers encoded.

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
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from mlrail.artifacts.tensors import TensorSpec
from mlrail.datetimes import parse_days
from mlrail.serving.repository import LoadedModel

__all__ = [
    "BINARY_CONTENT_TYPE",
    "EXTENSIONS",
    "HEADER_LENGTH",
    "InferenceRequest",
    "RequestError",
    "decode_request",
    "encode_response",
    "header_length",
    "json_body",
]

#: The HTTP header giving the length of the JSON part of a binary body (lower case, as ASGI).
HEADER_LENGTH = b"inference-header-content-length"
#: Content type of a response with binary tensors after its JSON part.
BINARY_CONTENT_TYPE = b"application/octet-stream"
#: Protocol extensions implemented here, as ``GET /v2`` lists them.
EXTENSIONS = ("binary_tensor_data",)

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
# A date input also takes ISO 8601 strings.
_ACCEPTS_DATETIME = _ACCEPTS["FP64"] | {"BYTES"}
# The binary (little-endian) element type of each fixed-size V2 datatype.
_WIRE: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.uint8),  # one byte, 0 or 1: checked before the view as bool
    "INT8": np.dtype("i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "UINT8": np.dtype("u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
_LENGTH = struct.Struct("<I")
#: Largest finite value of each float dtype a model input may have.
_FLOAT_MAX = {np.dtype(t): float(np.finfo(t).max) for t in (np.float16, np.float32, np.float64)}
#: Up to this many values, a flat list of plain numbers is checked in Python and converted in one
#: call: for the batch-1 requests most clients send, numpy's per-call overhead (errstate,
#: isinf, ...) costs more than the values themselves.
_FAST_MAX = 64
#: The largest product of a shape's non-zero dimensions: far beyond any body (which is the limit
#: that matters), below numpy's (2**63 bytes), so a shape such as [0, 2**62] is a 400.
_MAX_EXTENT = 2**48
#: Distinct BYTES values decoded once per binary input, at most.
_STRING_CACHE = 4096
#: JSON longer than this is parsed by the stdlib, not orjson (memory: see _parse_json).
_LARGE_JSON = 1024 * 1024
# A JSON escape that can only be half of a surrogate pair: the one way a lone surrogate (text
# that is not Unicode, which ONNX Runtime and orjson cannot encode) gets into a parsed request.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


_NONE: frozenset[str] = frozenset()


class RequestError(Exception):
    """A request the server refuses, with the HTTP status and the message for the client.

    Attributes:
        status: 400 (a V2 request this model cannot take) or 422 (not a V2 request at all).
        message: What was wrong, naming the input, element or field.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _bad(message: str) -> RequestError:
    return RequestError(400, message)


def _not_v2(message: str) -> RequestError:
    return RequestError(422, message)


@dataclass(slots=True)
class InferenceRequest:
    """A decoded V2 inference request, ready for ``session.run``.

    Attributes:
        id: The request's ``id``, or a fresh UUID4 when it has none (as KServe answers).
        feeds: The inputs as ONNX Runtime takes them, keyed by graph input name.
        outputs: The outputs to compute, in the order to answer them.
        binary_outputs: The outputs to return as binary tensor data.
        rows: The batch size (the first dimension of the inputs).
    """

    id: str
    feeds: dict[str, np.ndarray]
    outputs: list[str]
    binary_outputs: frozenset[str]
    rows: int


def header_length(value: bytes | None, content_length: int | None = None) -> int | None:
    """The ``Inference-Header-Content-Length`` header as a number (None when absent).

    Args:
        value: The header's value, as ASGI gives it.
        content_length: The body's declared length, when known, to refuse a header longer
            than the body before reading it.

    Raises:
        RequestError: The value is not a non-negative integer, or exceeds ``content_length``.
    """
    if value is None:
        return None
    text = value.strip()
    if not text.isdigit() or len(text) > 18:  # no sign, no spaces inside, below 2**63
        raise _bad(
            f"Inference-Header-Content-Length {_short(value.decode('latin-1'))} is not a "
            "non-negative integer (the length of the JSON part of the body, in bytes)"
        )
    length = int(text)
    if content_length is not None and length > content_length:
        raise _bad(
            f"Inference-Header-Content-Length {length} is larger than the body "
            f"({content_length} bytes)"
        )
    return length


# -- requests -----------------------------------------------------------------------------------


def decode_request(
    model: LoadedModel, body: bytes | bytearray, json_length: int | None
) -> InferenceRequest:
    """Check a V2 inference request against the model and build ONNX Runtime's feeds.

    Args:
        model: The model that will answer.
        body: The whole request body.
        json_length: ``Inference-Header-Content-Length`` (:func:`header_length`): the body is
            this many bytes of JSON followed by binary tensor data. None: all JSON.

    Returns:
        The feeds, the outputs to compute and how to return them.

    Raises:
        RequestError: The request is not V2 (422), or this model cannot take it (400); the
            message names the input and, where there is one, the element.
    """
    if json_length is None:  # all JSON: no views (the batch-1 path counts each microsecond)
        return _decode_request(model, _parse_json(body, body), None)
    view = memoryview(body)
    if json_length > len(view):
        raise _bad(
            f"Inference-Header-Content-Length {json_length} is larger than the body "
            f"({len(view)} bytes)"
        )
    header, binary = view[:json_length], view[json_length:]
    return _decode_request(model, _parse_json(header, None), binary)


def _parse_json(
    raw: bytes | bytearray | memoryview, whole: bytes | bytearray | None
) -> dict[str, Any]:
    """The JSON part of a body; ``whole`` is the same bytes when the body is all JSON."""
    request: Any
    if len(raw) > _LARGE_JSON:
        # orjson first builds a document tree sized from the input: for a 17.7 MB request its
        # peak was 270 MB (traced) against the stdlib's 76 MB, for 0.32 s instead of 0.45 s.
        request = _parse_stdlib(whole if whole is not None else bytes(raw))
    else:
        try:
            request = orjson.loads(raw)
        except orjson.JSONDecodeError:
            # orjson is strict JSON; the stdlib also takes NaN/Infinity, which Python clients
            # write for missing values and which KServe (stdlib json) accepts.
            request = _parse_stdlib(bytes(raw))
    if not isinstance(request, dict):
        raise _not_v2(
            'request body must be a JSON object with an "inputs" list, '
            f"got a JSON {_json_type(request)}"
        )
    return request


def _parse_stdlib(data: bytes | bytearray) -> Any:
    try:
        request = json.loads(data)
    except (ValueError, RecursionError) as e:
        raise _not_v2(f"request body is not valid JSON: {e}") from None
    if _SURROGATE_ESCAPE.search(data):  # orjson refuses lone surrogates; the stdlib does not
        _refuse_surrogates(request)
    return request


def _refuse_surrogates(request: Any) -> None:
    """Raise naming the first string that is not Unicode (a lone surrogate escape).

    Runs only when the body holds such an escape (orjson refuses them, the stdlib parser
    does not): the strings then reach ONNX Runtime and orjson, which cannot encode them.
    """
    why = "is not valid Unicode (a lone surrogate escape such as \\ud800)"
    request_id = request.get("id") if isinstance(request, dict) else None
    if isinstance(request_id, str) and not _is_unicode(request_id):
        raise _not_v2(f'"id" {why}')
    inputs = request.get("inputs") if isinstance(request, dict) else None
    for position, item in enumerate(inputs if isinstance(inputs, list) else []):
        if not isinstance(item, dict):
            continue
        name = item.get("name")
        if isinstance(name, str) and not _is_unicode(name):
            raise _not_v2(f"inputs[{position}]: the name {why}")
        data = item.get("data")
        if isinstance(data, list):
            for index, value in enumerate(_leaves(data)):
                if type(value) is str and not _is_unicode(value):
                    raise _bad(f"input {name!r}: element {index} {why}")
    # Anywhere else (output names, parameters, keys): the request as a whole.
    try:
        orjson.dumps(request)
    except orjson.JSONEncodeError:
        raise _not_v2(f"request body: a string {why}") from None


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _decode_request(
    model: LoadedModel, request: dict[str, Any], binary: memoryview | None
) -> InferenceRequest:
    request_id = request.get("id")
    if request_id is None:
        request_id = _random_uuid()  # KServe answers a request without id with a fresh UUID
    elif not isinstance(request_id, str):
        raise _not_v2(f'"id" must be a string, got a JSON {_json_type(request_id)}')
    parameters = request.get("parameters")
    if parameters is None:
        binary_default = False
    elif not isinstance(parameters, dict):
        raise _not_v2(f'"parameters" must be an object, got a JSON {_json_type(parameters)}')
    else:
        binary_default = _flag(parameters, "binary_data_output", '"parameters"')

    items = request.get("inputs")
    if not isinstance(items, list):
        if items is None:
            raise _not_v2('request has no "inputs" list')
        raise _not_v2(f'"inputs" must be a list, got a JSON {_json_type(items)}')
    feeds: dict[str, np.ndarray] = {}
    batch: tuple[str, int] | None = None
    offset = 0
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
                f"model {model.name!r} has no input {_short(name, 80)}; its inputs are: "
                f"{', '.join(t.name for t in model.inputs)}"
            )
        if name in feeds:
            raise _bad(f"input {name!r} is given more than once")
        array, offset = _decode_input(spec, item, binary, offset)
        item["data"] = None  # the parsed list can go now: only the array is needed
        if model.batched:
            if batch is None:
                batch = (name, array.shape[0])
            elif array.shape[0] != batch[1]:
                raise _bad(
                    f"input {name!r} has {array.shape[0]} rows but input {batch[0]!r} has "
                    f"{batch[1]}; every input must have the same batch size"
                )
        feeds[name] = array
    if binary is not None and offset != len(binary):
        raise _bad(
            f"{len(binary) - offset} byte(s) of binary data after the JSON part are claimed by "
            'no input (the inputs\' "binary_data_size" add up to '
            f"{offset}, the body has {len(binary)} after Inference-Header-Content-Length)"
        )
    if len(feeds) != len(model.inputs):
        missing = [t.name for t in model.inputs if t.name not in feeds]
        raise _bad(
            f"missing input(s) {', '.join(map(repr, missing))}; model {model.name!r} "
            f"takes: {', '.join(t.name for t in model.inputs)}"
        )
    outputs, binary_outputs = _requested_outputs(model, request.get("outputs"), binary_default)
    rows = 0
    for array in feeds.values():
        rows = int(array.shape[0]) if array.ndim else 1
        break
    return InferenceRequest(request_id, feeds, outputs, binary_outputs, rows)


def _flag(parameters: dict[str, Any], key: str, where: str) -> bool:
    value = parameters.get(key, False)
    if type(value) is not bool:
        raise _not_v2(f'{where}: "{key}" must be true or false, got {_short(value)}')
    return value


def _requested_outputs(
    model: LoadedModel, outputs: Any, binary_default: bool
) -> tuple[list[str], frozenset[str]]:
    if outputs is None:
        every = list(model.output_names)
        return every, frozenset(every) if binary_default else _NONE
    if not isinstance(outputs, list):
        raise _not_v2(f'"outputs" must be a list, got a JSON {_json_type(outputs)}')
    names: list[str] = []
    binary: set[str] = set()
    for position, item in enumerate(outputs):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str):
            raise _not_v2(f'outputs[{position}] must be an object with a "name" string')
        if name not in model.output_index:
            raise _bad(
                f"model {model.name!r} has no output {_short(name, 80)}; its outputs are: "
                f"{', '.join(model.output_names)}"
            )
        parameters = item.get("parameters")
        if parameters is None:
            parameters = {}
        elif not isinstance(parameters, dict):
            raise _not_v2(f'outputs[{position}]: "parameters" must be an object')
        # An output's own binary_data wins; without it, the request-wide binary_data_output.
        wanted = (
            _flag(parameters, "binary_data", f"output {name!r}")
            if "binary_data" in parameters
            else binary_default
        )
        if wanted:
            binary.add(name)
        if name not in names:
            names.append(name)
    if not names:
        names = list(model.output_names)
        return names, frozenset(names) if binary_default else frozenset()
    return names, frozenset(binary)


def _decode_input(
    spec: TensorSpec, item: dict[str, Any], binary: memoryview | None, offset: int
) -> tuple[np.ndarray, int]:
    """One input as ONNX Runtime takes it, and the offset of the next input's binary data."""
    name = spec.name
    shape = item.get("shape")
    if type(shape) is not list:
        raise _not_v2(
            f'input {name!r}: "shape" must be a list of non-negative integers, got {_short(shape)}'
        )
    # One pass over the dimensions: a loop, not all()/zip() generators, on the request path.
    model_shape = spec.shape
    fits = len(shape) == len(model_shape)
    size = extent = 1
    for axis, dim in enumerate(shape):
        if type(dim) is not int or dim < 0:  # `type is`: JSON true is not a dimension
            raise _not_v2(
                f'input {name!r}: "shape" must be a list of non-negative integers, '
                f"got {_short(shape)}"
            )
        size *= dim
        extent *= dim or 1
        if fits and model_shape[axis] != -1 and model_shape[axis] != dim:
            fits = False
    if extent > _MAX_EXTENT:  # even with no elements, numpy cannot make an array this shape
        raise _bad(f"input {name!r}: shape {_short(shape, 80)} is too large")
    datatype = item.get("datatype")
    if type(datatype) is not str:
        raise _not_v2(f'input {name!r}: "datatype" must be a string such as {spec.datatype!r}')
    parameters = item.get("parameters")
    binary_size: int | None = None
    if parameters is not None:
        if not isinstance(parameters, dict):
            raise _not_v2(f'input {name!r}: "parameters" must be an object')
        if "binary_data_size" in parameters:
            binary_size = parameters["binary_data_size"]
            if type(binary_size) is not int or binary_size < 0:
                raise _bad(
                    f'input {name!r}: "binary_data_size" must be a non-negative integer, '
                    f"got {_short(binary_size)}"
                )
    data = item.get("data")
    if binary_size is None:
        if type(data) is not list:
            raise _not_v2(
                f'input {name!r}: "data" must be a list, got a JSON {_json_type(data)}'
                + ("" if data is not None else ' (or binary data with "binary_data_size")')
            )
    elif data is not None:
        raise _bad(f'input {name!r} has both "data" and "binary_data_size"; send one')

    if not fits:
        raise _bad(
            f"input {name!r}: shape {_short(shape, 80)} does not match the model's "
            f"{list(model_shape)} (-1: any size)"
        )
    accepts = _ACCEPTS_DATETIME if spec.datetime else _ACCEPTS[spec.datatype]
    if datatype not in accepts:
        if datatype not in _V2_DATATYPES:
            raise _bad(
                f"input {name!r}: {_short(datatype)} is not a V2 datatype "
                f"({', '.join(_V2_DATATYPES)})"
            )
        accepted = sorted(accepts - {spec.datatype})
        also = f" (or {', '.join(accepted)}, converted)" if accepted else ""
        raise _bad(
            f"input {name!r}: datatype {datatype} does not match the model's "
            f"{spec.datatype}; send {spec.datatype}{also}"
        )

    if binary_size is not None:
        if binary is None:
            raise _bad(
                f'input {name!r} has "binary_data_size" but the request has no '
                "Inference-Header-Content-Length header saying where its JSON part ends"
            )
        if binary_size > len(binary) - offset:
            raise _bad(
                f'input {name!r}: "binary_data_size" {binary_size} runs past the end of the '
                f"body ({len(binary) - offset} byte(s) of binary data left for it)"
            )
        chunk = binary[offset : offset + binary_size]
        offset += binary_size
        if datatype == "BYTES":
            array = _strings_to_input(spec, _unpack_strings(name, chunk, size))
        else:
            array = _binary_numbers(spec, datatype, chunk, size)
    elif datatype == "BYTES":
        array = _strings_to_input(spec, _json_strings(name, data or [], size))
    else:
        array = _decode_numbers(spec, datatype, data or [], size)
    return array.reshape(shape), offset


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
    if size == 0:  # numpy calls an empty list float64, which is no reason to refuse it
        return np.empty(0, dtype=spec.dtype)
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
            raw = np.fromiter(
                (math.nan if v is None else float(v) for v in raw.flat), np.float64, raw.size
            )
        except OverflowError:  # an integer beyond even FP64
            raise _bad(f"input {name!r}: a value is beyond {spec.datatype}'s range") from None
    elif kind not in "iuf":
        hint = " (null for a missing value)" if target.kind == "f" else ""
        raise _bad(
            f"input {name!r}: {datatype} data must be numbers{hint}, "
            f"{_first_offender(data, (int, float))}"
        )
    return _to_target(spec, raw)


def _to_target(spec: TensorSpec, raw: np.ndarray) -> np.ndarray:
    """Cast numbers to the model's dtype, refusing infinities and values beyond its range."""
    name, target = spec.name, spec.dtype
    with np.errstate(over="ignore", invalid="ignore"):  # out-of-range values are checked below
        array = raw.astype(target, copy=False)
    if target.kind == "f":
        infinite = np.isinf(array)
        if infinite.any():
            index = int(np.flatnonzero(infinite)[0])
            raise _bad(
                f"input {name!r}: element {index} ({_short(raw.flat[index].item())}) is "
                f"infinite or beyond {spec.datatype}'s range"
            )
    elif raw.dtype != target and not np.array_equal(array, raw):
        index = int(np.flatnonzero(array.ravel() != raw.ravel())[0])
        raise _bad(
            f"input {name!r}: element {index} ({_short(raw.flat[index].item())}) does not "
            f"fit {spec.datatype}"
        )
    return array


def _binary_numbers(spec: TensorSpec, datatype: str, chunk: memoryview, size: int) -> np.ndarray:
    name = spec.name
    wire = _WIRE[datatype]
    if len(chunk) != size * wire.itemsize:
        raise _bad(
            f'input {name!r}: "binary_data_size" is {len(chunk)} bytes but its shape holds '
            f"{size} {datatype} value(s) of {wire.itemsize} byte(s): {size * wire.itemsize} bytes"
        )
    # A view on the body, not a copy: the cast below makes the one copy that is needed.
    raw = np.frombuffer(chunk, dtype=wire)
    if datatype == "BOOL":
        if raw.size and raw.max() > 1:
            index = int(np.flatnonzero(raw > 1)[0])
            raise _bad(
                f"input {name!r}: element {index} is byte {raw[index]}; a binary BOOL is 0 or 1"
            )
        return raw.view(np.bool_).copy()
    if spec.datetime or spec.dtype.kind == "f":
        return _to_target(spec, raw)
    return _to_target(spec, raw) if raw.dtype != spec.dtype else raw.copy()


def _unpack_strings(name: str, chunk: memoryview, size: int) -> list[str]:
    """BYTES binary data: ``size`` elements, each a 4-byte little-endian length and its bytes."""
    out: list[str] = []
    offset, end = 0, len(chunk)
    unpack = _LENGTH.unpack_from
    # Categorical columns repeat a few values: one str per distinct value, not per row (600,000
    # rows of three islands took 33 MB of str objects without it). Bounded, so free text with
    # unique values is not held twice.
    seen: dict[bytes, str] = {}
    for index in range(size):
        if end - offset < 4:
            raise _bad(
                f"input {name!r}: binary BYTES data ends inside the length of element {index} "
                f"(the shape needs {size} elements; each is a 4-byte length and its bytes)"
            )
        (length,) = unpack(chunk, offset)
        offset += 4
        if length > end - offset:
            raise _bad(
                f"input {name!r}: element {index} claims {length} bytes but only "
                f"{end - offset} are left in its binary data"
            )
        raw = chunk[offset : offset + length].tobytes()
        text = seen.get(raw)
        if text is None:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise _bad(
                    f"input {name!r}: element {index} is not UTF-8 text: {e.reason}"
                ) from None
            if len(seen) < _STRING_CACHE:
                seen[raw] = text
        out.append(text)
        offset += length
    if offset != end:
        raise _bad(
            f"input {name!r}: {end - offset} byte(s) of binary BYTES data left after the "
            f"{size} element(s) its shape holds"
        )
    return out


def _json_strings(name: str, data: list[Any], size: int) -> list[Any]:
    """A BYTES input's JSON data, flattened and checked to be strings or nulls."""
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
    return flat


def _strings_to_input(spec: TensorSpec, flat: list[Any]) -> np.ndarray:
    if spec.datetime:
        try:
            return parse_days(flat)
        except ValueError as e:
            raise _bad(f"input {spec.name!r}: {e}") from None
    if None in flat:
        flat = ["" if v is None else v for v in flat]  # missing string: the model's OOV
    array = np.empty(len(flat), dtype=object)
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


# -- responses ----------------------------------------------------------------------------------


def encode_response(
    model: LoadedModel, request: InferenceRequest, results: list[Any]
) -> tuple[bytes, int | None]:
    """The V2 response body for ``session.run``'s results.

    Args:
        model: The model that answered.
        request: The decoded request (its id, outputs and which of them go binary).
        results: ``session.run``'s arrays, one per ``request.outputs``.

    Returns:
        The body, and the length of its JSON part when binary tensor data follows it (the
        ``Inference-Header-Content-Length`` to send), else None.
    """
    binary = request.binary_outputs
    outputs = []
    chunks: list[bytes] = []
    for name, array in zip(request.outputs, results, strict=True):
        datatype = model.output_index[name].datatype
        shape = list(array.shape)
        if name in binary:
            chunk = _pack(array, datatype)
            chunks.append(chunk)
            outputs.append(
                {
                    "name": name,
                    "shape": shape,
                    "datatype": datatype,
                    "parameters": {"binary_data_size": len(chunk)},
                }
            )
            continue
        flat = array.ravel()  # row-major, as KServe sends tensors
        # orjson writes numeric numpy arrays itself; strings come back from ORT as objects.
        data: Any = (
            flat
            if flat.dtype.kind != "O"
            else [
                v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in flat.tolist()
            ]
        )
        outputs.append({"name": name, "shape": shape, "datatype": datatype, "data": data})
    header = orjson.dumps(
        {
            "model_name": model.name,
            "model_version": str(model.version),
            "id": request.id,
            "outputs": outputs,
        },
        option=orjson.OPT_SERIALIZE_NUMPY,
    )
    if not chunks:
        return header, None
    return b"".join([header, *chunks]), len(header)


def _pack(array: np.ndarray, datatype: str) -> bytes:
    if datatype == "BYTES":
        parts = []
        for v in array.ravel().tolist():
            raw = v if isinstance(v, bytes) else str(v).encode("utf-8", "replace")
            parts.append(_LENGTH.pack(len(raw)))
            parts.append(raw)
        return b"".join(parts)
    return np.ascontiguousarray(array, dtype=_WIRE[datatype]).tobytes()


# -- the payload log's view ---------------------------------------------------------------------


def json_body(body: bytes | bytearray, header_length: int | None) -> dict[str, Any]:
    """A V2 request or response body as its JSON object, binary tensors decoded into ``data``.

    For the payload log, off the request path: the server keeps the bytes it received and sent,
    and this turns them into what a JSON client would have sent or received. Each tensor that
    carried ``binary_data_size`` gets a flat ``data`` list instead (numbers, booleans, or BYTES
    as text, invalid UTF-8 replaced), and the parameter is dropped.

    Args:
        body: The body as it was on the wire.
        header_length: Its ``Inference-Header-Content-Length``, or None for an all-JSON body.

    Returns:
        The V2 JSON object.

    Raises:
        ValueError: The body is not a V2 body (not JSON, or binary data that does not fit).
    """
    view = memoryview(body)
    split = len(view) if header_length is None else header_length
    if not 0 <= split <= len(view):
        raise ValueError(f"header length {split} is outside the body ({len(view)} bytes)")
    try:
        document = orjson.loads(view[:split])
    except orjson.JSONDecodeError:
        document = json.loads(bytes(view[:split]))  # NaN literals, as decode_request takes them
    if not isinstance(document, dict):
        raise ValueError("not a V2 body: the JSON part is not an object")
    binary = view[split:]
    offset = 0
    for key in ("inputs", "outputs"):
        tensors = document.get(key)
        if not isinstance(tensors, list):
            continue
        for tensor in tensors:
            parameters = tensor.get("parameters") if isinstance(tensor, dict) else None
            if not isinstance(parameters, dict) or "binary_data_size" not in parameters:
                continue
            size = parameters.pop("binary_data_size")
            if not parameters:
                del tensor["parameters"]
            if type(size) is not int or not 0 <= size <= len(binary) - offset:
                raise ValueError(f"{key}: tensor {tensor.get('name')!r}: bad binary_data_size")
            tensor["data"] = _unpack_any(binary[offset : offset + size], tensor.get("datatype"))
            offset += size
    return document


def _unpack_any(chunk: memoryview, datatype: Any) -> list[Any]:
    if datatype == "BYTES":
        out = []
        offset = 0
        while offset + 4 <= len(chunk):
            (length,) = _LENGTH.unpack_from(chunk, offset)
            out.append(str(chunk[offset + 4 : offset + 4 + length], "utf-8", "replace"))
            offset += 4 + length
        return out
    wire = _WIRE.get(datatype) if isinstance(datatype, str) else None
    if wire is None or len(chunk) % wire.itemsize:
        raise ValueError(f"binary data of datatype {datatype!r} cannot be decoded")
    values = np.frombuffer(chunk, dtype=wire)
    if datatype == "BOOL":
        return values.astype(bool).tolist()
    # Through orjson, so each value reads as a JSON client would have seen it: FP32's shortest
    # text (0.6409714, not float64's 0.6409714221954346) and NaN as null.
    result: list[Any] = orjson.loads(orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY))
    return result


# -- small helpers ------------------------------------------------------------------------------

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
