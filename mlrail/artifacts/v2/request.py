"""V2 inference requests checked against the model and decoded into ONNX Runtime's feeds.

The request-wide checks (id, parameters, each input named once and all present, one batch size,
the outputs asked for and how to return them) and each input's envelope (shape, datatype,
``data`` or ``binary_data_size``) are here; the elements are read by :mod:`.json_data` or
:mod:`.binary_data`, whichever wire form the input came in.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlrail.artifacts.tensors import TensorSpec
from mlrail.artifacts.v2.binary_data import binary_numbers, unpack_strings
from mlrail.artifacts.v2.body import parse_json
from mlrail.artifacts.v2.json_data import decode_numbers, json_strings
from mlrail.artifacts.v2.model import V2Model
from mlrail.artifacts.v2.values import strings_to_input
from mlrail.artifacts.v2.wire import (
    ACCEPTS,
    ACCEPTS_DATETIME,
    V2_DATATYPES,
    bad,
    json_type,
    not_v2,
    short,
)

__all__ = ["InferenceRequest", "decode_request"]

#: The largest product of a shape's non-zero dimensions: far beyond any body (which is the limit
#: that matters), below numpy's (2**63 bytes), so a shape such as [0, 2**62] is a 400.
_MAX_EXTENT = 2**48

_NONE: frozenset[str] = frozenset()


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


def decode_request(
    model: V2Model, body: bytes | bytearray, json_length: int | None
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
        return _decode_request(model, parse_json(body, body), None)
    view = memoryview(body)
    if json_length > len(view):
        raise bad(
            f"Inference-Header-Content-Length {json_length} is larger than the body "
            f"({len(view)} bytes)"
        )
    header, binary = view[:json_length], view[json_length:]
    return _decode_request(model, parse_json(header, None), binary)


def _decode_request(
    model: V2Model, request: dict[str, Any], binary: memoryview | None
) -> InferenceRequest:
    request_id = request.get("id")
    if request_id is None:
        request_id = _random_uuid()  # KServe answers a request without id with a fresh UUID
    elif not isinstance(request_id, str):
        raise not_v2(f'"id" must be a string, got a JSON {json_type(request_id)}')
    parameters = request.get("parameters")
    if parameters is None:
        binary_default = False
    elif not isinstance(parameters, dict):
        raise not_v2(f'"parameters" must be an object, got a JSON {json_type(parameters)}')
    else:
        binary_default = _flag(parameters, "binary_data_output", '"parameters"')

    items = request.get("inputs")
    if not isinstance(items, list):
        if items is None:
            raise not_v2('request has no "inputs" list')
        raise not_v2(f'"inputs" must be a list, got a JSON {json_type(items)}')
    feeds: dict[str, np.ndarray] = {}
    batch: tuple[str, int] | None = None
    offset = 0
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            raise not_v2(
                f'inputs[{position}] must be an object with "name", "shape", '
                f'"datatype" and "data", got a JSON {json_type(item)}'
            )
        name = item.get("name")
        if not isinstance(name, str):
            raise not_v2(f'inputs[{position}] has no "name" string')
        spec = model.input_index.get(name)
        if spec is None:
            raise bad(
                f"model {model.name!r} has no input {short(name, 80)}; its inputs are: "
                f"{', '.join(t.name for t in model.inputs)}"
            )
        if name in feeds:
            raise bad(f"input {name!r} is given more than once")
        array, offset = _decode_input(spec, item, binary, offset)
        item["data"] = None  # the parsed list can go now: only the array is needed
        if model.batched:
            if batch is None:
                batch = (name, array.shape[0])
            elif array.shape[0] != batch[1]:
                raise bad(
                    f"input {name!r} has {array.shape[0]} rows but input {batch[0]!r} has "
                    f"{batch[1]}; every input must have the same batch size"
                )
        feeds[name] = array
    if binary is not None and offset != len(binary):
        raise bad(
            f"{len(binary) - offset} byte(s) of binary data after the JSON part are claimed by "
            'no input (the inputs\' "binary_data_size" add up to '
            f"{offset}, the body has {len(binary)} after Inference-Header-Content-Length)"
        )
    if len(feeds) != len(model.inputs):
        missing = [t.name for t in model.inputs if t.name not in feeds]
        raise bad(
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
        raise not_v2(f'{where}: "{key}" must be true or false, got {short(value)}')
    return value


def _requested_outputs(
    model: V2Model, outputs: Any, binary_default: bool
) -> tuple[list[str], frozenset[str]]:
    if outputs is None:
        every = list(model.output_names)
        return every, frozenset(every) if binary_default else _NONE
    if not isinstance(outputs, list):
        raise not_v2(f'"outputs" must be a list, got a JSON {json_type(outputs)}')
    names: list[str] = []
    binary: set[str] = set()
    for position, item in enumerate(outputs):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str):
            raise not_v2(f'outputs[{position}] must be an object with a "name" string')
        if name not in model.output_index:
            raise bad(
                f"model {model.name!r} has no output {short(name, 80)}; its outputs are: "
                f"{', '.join(model.output_names)}"
            )
        parameters = item.get("parameters")
        if parameters is None:
            parameters = {}
        elif not isinstance(parameters, dict):
            raise not_v2(f'outputs[{position}]: "parameters" must be an object')
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
        raise not_v2(
            f'input {name!r}: "shape" must be a list of non-negative integers, got {short(shape)}'
        )
    # One pass over the dimensions: a loop, not all()/zip() generators, on the request path.
    model_shape = spec.shape
    fits = len(shape) == len(model_shape)
    size = extent = 1
    for axis, dim in enumerate(shape):
        if type(dim) is not int or dim < 0:  # `type is`: JSON true is not a dimension
            raise not_v2(
                f'input {name!r}: "shape" must be a list of non-negative integers, '
                f"got {short(shape)}"
            )
        size *= dim
        extent *= dim or 1
        if fits and model_shape[axis] != -1 and model_shape[axis] != dim:
            fits = False
    if extent > _MAX_EXTENT:  # even with no elements, numpy cannot make an array this shape
        raise bad(f"input {name!r}: shape {short(shape, 80)} is too large")
    datatype = item.get("datatype")
    if type(datatype) is not str:
        raise not_v2(f'input {name!r}: "datatype" must be a string such as {spec.datatype!r}')
    parameters = item.get("parameters")
    binary_size: int | None = None
    if parameters is not None:
        if not isinstance(parameters, dict):
            raise not_v2(f'input {name!r}: "parameters" must be an object')
        if "binary_data_size" in parameters:
            binary_size = parameters["binary_data_size"]
            if type(binary_size) is not int or binary_size < 0:
                raise bad(
                    f'input {name!r}: "binary_data_size" must be a non-negative integer, '
                    f"got {short(binary_size)}"
                )
    data = item.get("data")
    if binary_size is None:
        if type(data) is not list:
            raise not_v2(
                f'input {name!r}: "data" must be a list, got a JSON {json_type(data)}'
                + ("" if data is not None else ' (or binary data with "binary_data_size")')
            )
    elif data is not None:
        raise bad(f'input {name!r} has both "data" and "binary_data_size"; send one')

    if not fits:
        raise bad(
            f"input {name!r}: shape {short(shape, 80)} does not match the model's "
            f"{list(model_shape)} (-1: any size)"
        )
    accepts = ACCEPTS_DATETIME if spec.datetime else ACCEPTS[spec.datatype]
    if datatype not in accepts:
        if datatype not in V2_DATATYPES:
            raise bad(
                f"input {name!r}: {short(datatype)} is not a V2 datatype "
                f"({', '.join(V2_DATATYPES)})"
            )
        accepted = sorted(accepts - {spec.datatype})
        also = f" (or {', '.join(accepted)}, converted)" if accepted else ""
        raise bad(
            f"input {name!r}: datatype {datatype} does not match the model's "
            f"{spec.datatype}; send {spec.datatype}{also}"
        )

    if binary_size is not None:
        if binary is None:
            raise bad(
                f'input {name!r} has "binary_data_size" but the request has no '
                "Inference-Header-Content-Length header saying where its JSON part ends"
            )
        if binary_size > len(binary) - offset:
            raise bad(
                f'input {name!r}: "binary_data_size" {binary_size} runs past the end of the '
                f"body ({len(binary) - offset} byte(s) of binary data left for it)"
            )
        chunk = binary[offset : offset + binary_size]
        offset += binary_size
        if datatype == "BYTES":
            array = strings_to_input(spec, unpack_strings(name, chunk, size))
        else:
            array = binary_numbers(spec, datatype, chunk, size)
    elif datatype == "BYTES":
        array = strings_to_input(spec, json_strings(name, data or [], size))
    else:
        array = decode_numbers(spec, datatype, data or [], size)
    return array.reshape(shape), offset


# -- small helpers ------------------------------------------------------------------------------

_UUID_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def _random_uuid() -> str:
    """``str(uuid.uuid4())`` in a third of the time (uuid.UUID's constructor is most of it)."""
    h = os.urandom(16).hex()
    # The version (4) and RFC 4122 variant digits make it a valid UUID4, as KServe sends.
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_UUID_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"
