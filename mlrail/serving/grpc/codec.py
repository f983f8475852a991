"""V2 gRPC messages to and from the codec the REST server uses (:mod:`mlrail.artifacts.v2`).

A ``ModelInferRequest`` becomes the V2 REST body with the binary tensor data extension: a JSON
part naming the inputs (``binary_data_size`` for each ``raw_input_contents`` entry, whose layout
is the extension's: little-endian, row-major, BYTES as 4-byte length + bytes) or carrying the
typed ``contents`` as ``data`` lists, then the raw bytes. :func:`mlrail.artifacts.v2.
decode_request` checks and decodes it exactly as it does a REST request, so both protocols
accept and refuse the same requests with the same messages, and the payload log stores gRPC
inferences in the same form as REST ones.

The answer is built from ONNX Runtime's arrays directly: ``raw_output_contents`` when the
request sent raw inputs (as Triton answers), else typed ``contents``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from mlrail.artifacts.v2 import InferenceRequest, RequestError, V2Model
from mlrail.artifacts.v2.binary_data import pack
from mlrail.serving.grpc import inference_pb2 as pb

__all__ = ["CONTENTS_FIELD", "response_message", "v2_body"]

#: The ``InferTensorContents`` field that carries each datatype's typed elements (FP16 has
#: none: it travels only as raw bytes).
CONTENTS_FIELD = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def _bad(message: str) -> RequestError:
    return RequestError(400, message)


def v2_body(request: pb.ModelInferRequest) -> tuple[bytes, int]:
    """The V2 REST body (JSON part + binary tensor data) that says what ``request`` says.

    Returns:
        The body, and the length of its JSON part (``Inference-Header-Content-Length``).

    Raises:
        RequestError: ``raw_input_contents`` does not have one entry per input, an input has
            both raw and typed contents, typed contents sit in the wrong field for the
            datatype, or BYTES contents are not UTF-8 (400, naming the input).
    """
    raw = request.raw_input_contents
    inputs = request.inputs
    if raw and len(raw) != len(inputs):
        raise _bad(
            f"raw_input_contents has {len(raw)} entries but inputs has {len(inputs)}; send one "
            "raw_input_contents entry per input, in the order of inputs"
        )
    items: list[dict[str, Any]] = []
    for position, tensor in enumerate(inputs):
        item: dict[str, Any] = {
            "name": tensor.name,
            "shape": list(tensor.shape),
            "datatype": tensor.datatype,
        }
        has_contents = tensor.HasField("contents")
        if raw:
            if has_contents and tensor.contents.ByteSize():
                raise _bad(
                    f"input {tensor.name!r} has both contents and raw_input_contents[{position}]; "
                    "a request sends every input one way"
                )
            item["parameters"] = {"binary_data_size": len(raw[position])}
        else:
            item["data"] = _typed(tensor) if has_contents else []
        items.append(item)
    header: dict[str, Any] = {
        "inputs": items,
        # Raw in, raw out (Triton's rule): the codec then returns every output as bytes.
        "parameters": {"binary_data_output": bool(raw)},
    }
    if request.id:
        header["id"] = request.id
    if request.outputs:
        header["outputs"] = [{"name": o.name} for o in request.outputs]
    json_part = orjson.dumps(header)
    return b"".join([json_part, *raw]), len(json_part)


def _typed(tensor: pb.ModelInferRequest.InferInputTensor) -> list[Any]:
    """The input's typed elements as a JSON ``data`` list, from the field its datatype uses."""
    contents = tensor.contents
    field = CONTENTS_FIELD.get(tensor.datatype)
    used = [f.name for f, _ in contents.ListFields()]
    if field is None:
        if tensor.datatype == "FP16":
            raise _bad(
                f"input {tensor.name!r}: FP16 has no typed contents field; send it in "
                "raw_input_contents"
            )
        return []  # an unknown datatype: the codec names it and lists the V2 datatypes
    if used and used != [field]:
        raise _bad(
            f"input {tensor.name!r}: datatype {tensor.datatype} takes its elements in "
            f"contents.{field}, got {', '.join('contents.' + u for u in used)}"
        )
    values = list(getattr(contents, field))
    if tensor.datatype != "BYTES":
        return values
    try:
        return [v.decode("utf-8") for v in values]
    except UnicodeDecodeError as e:
        index = next(i for i, v in enumerate(values) if not _is_utf8(v))
        raise _bad(
            f"input {tensor.name!r}: element {index} of contents.bytes_contents is not UTF-8 "
            f"text: {e.reason}"
        ) from None


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def response_message(
    model: V2Model, request: InferenceRequest, results: list[Any]
) -> pb.ModelInferResponse:
    """The ``ModelInferResponse`` for ``session.run``'s results, raw or typed as requested."""
    response = pb.ModelInferResponse(
        model_name=model.name, model_version=str(model.version), id=request.id
    )
    raw = request.binary_outputs
    for name, array in zip(request.outputs, results, strict=True):
        datatype = model.output_index[name].datatype
        tensor = response.outputs.add(name=name, datatype=datatype, shape=array.shape)
        if name in raw:
            response.raw_output_contents.append(pack(array, datatype))
            continue
        flat = np.asarray(array).ravel()
        field = getattr(tensor.contents, CONTENTS_FIELD[datatype])
        if datatype == "BYTES":
            field.extend(v if isinstance(v, bytes) else str(v).encode() for v in flat.tolist())
        else:
            field.extend(flat.tolist())
    return response
