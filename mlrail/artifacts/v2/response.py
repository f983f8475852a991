"""V2 inference responses: ONNX Runtime's results as the V2 JSON object, each output in its
``data`` list or, when the request asked for it, as binary tensor data after the JSON part."""

from __future__ import annotations

from typing import Any

import orjson

from mlrail.artifacts.v2.binary_data import pack
from mlrail.artifacts.v2.model import V2Model
from mlrail.artifacts.v2.request import InferenceRequest

__all__ = ["encode_response"]


def encode_response(
    model: V2Model, request: InferenceRequest, results: list[Any]
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
            chunk = pack(array, datatype)
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
