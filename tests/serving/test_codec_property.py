"""Property: for any shapes, datatypes and values (strings with non-ASCII, empty ones, NaN), a
request sent as JSON or as binary tensor data, answered as JSON or as binary, gives the same
arrays, and they are the arrays sent (the model echoes its inputs).

Binary bodies are written here from the extension's description, not by the codec's encoder.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from typing import Any

import numpy as np
import onnx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from mlrail.artifacts.v2 import json_body
from mlrail.serving.app import create_app

from .helpers import Client

# V2 datatype -> (ONNX element type, little-endian numpy dtype, hypothesis strategy of elements)
TYPES: dict[str, tuple[int, str, st.SearchStrategy[Any]]] = {
    "FP32": (TensorProto.FLOAT, "<f4", st.floats(width=32, allow_infinity=False)),
    "FP64": (TensorProto.DOUBLE, "<f8", st.floats(allow_infinity=False)),
    "FP16": (TensorProto.FLOAT16, "<f2", st.floats(width=16, allow_infinity=False)),
    "INT32": (TensorProto.INT32, "<i4", st.integers(-(2**31), 2**31 - 1)),
    "INT64": (TensorProto.INT64, "<i8", st.integers(-(2**63), 2**63 - 1)),
    "BOOL": (TensorProto.BOOL, "u1", st.booleans()),
    "BYTES": (TensorProto.STRING, "", st.text(max_size=12)),
}


def echo_model() -> onnx.ModelProto:
    """One input per datatype, ``[batch, width_<type>]``, each returned unchanged."""
    inputs, outputs, nodes = [], [], []
    for datatype, (element, _, _) in TYPES.items():
        shape = ["batch", f"width_{datatype}"]
        inputs.append(helper.make_tensor_value_info(f"{datatype}_in", element, shape))
        outputs.append(helper.make_tensor_value_info(f"{datatype}_out", element, shape))
        nodes.append(helper.make_node("Identity", [f"{datatype}_in"], [f"{datatype}_out"]))
    graph = helper.make_graph(nodes, "echo", inputs, outputs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    folder = tmp_path_factory.mktemp("echo") / "echo" / "1"
    folder.mkdir(parents=True)
    onnx.save(echo_model(), str(folder / "model.onnx"))
    client = Client(create_app(folder.parent.parent))
    yield client
    client.close()


@st.composite
def tensors(draw: st.DrawFn) -> dict[str, tuple[list[int], list[Any]]]:
    """Each datatype's shape and flat row-major values, all with the same batch size."""
    rows = draw(st.integers(0, 4))
    out = {}
    for datatype, (_, _, elements) in TYPES.items():
        width = draw(st.integers(1, 3))
        values = draw(st.lists(elements, min_size=rows * width, max_size=rows * width))
        out[datatype] = ([rows, width], values)
    return out


def as_array(datatype: str, values: list[Any]) -> np.ndarray:
    if datatype == "BYTES":
        array = np.empty(len(values), dtype=object)
        array[:] = values
        return array
    numpy_type = {"BOOL": "?"}.get(datatype, TYPES[datatype][1])
    return np.asarray(values, dtype=numpy_type)


def json_input(datatype: str, shape: list[int], values: list[Any]) -> dict[str, Any]:
    data = [None if isinstance(v, float) and math.isnan(v) else v for v in values]  # NaN: null
    return {"name": f"{datatype}_in", "shape": shape, "datatype": datatype, "data": data}


def binary_chunk(datatype: str, values: list[Any]) -> bytes:
    if datatype == "BYTES":
        return b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values)
    return as_array(datatype, values).astype(TYPES[datatype][1]).tobytes()


def request_body(
    sent: dict[str, tuple[list[int], list[Any]]], binary_in: bool, binary_out: bool
) -> tuple[bytes, dict[str, str]]:
    inputs, chunks = [], []
    for datatype, (shape, values) in sent.items():
        if binary_in:
            chunk = binary_chunk(datatype, values)
            chunks.append(chunk)
            inputs.append(
                {
                    "name": f"{datatype}_in",
                    "shape": shape,
                    "datatype": datatype,
                    "parameters": {"binary_data_size": len(chunk)},
                }
            )
        else:
            inputs.append(json_input(datatype, shape, values))
    header = orjson.dumps({"inputs": inputs, "parameters": {"binary_data_output": binary_out}})
    headers = {"Inference-Header-Content-Length": str(len(header))} if binary_in else {}
    return header + b"".join(chunks), headers


def answer_arrays(response: Any) -> dict[str, np.ndarray]:
    length = response.headers.get("inference-header-content-length")
    document = json_body(response.content, int(length) if length else None)
    arrays = {}
    for out in document["outputs"]:
        datatype = out["datatype"]
        values = [math.nan if v is None else v for v in out["data"]]
        arrays[datatype] = as_array(datatype, values).reshape(out["shape"])
    return arrays


def same(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape or a.dtype.kind != b.dtype.kind:
        return False
    if a.dtype.kind == "f":
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))


@settings(max_examples=60)
@given(sent=tensors())
def test_json_and_binary_round_trips_give_the_arrays_sent(
    client: Client, sent: dict[str, tuple[list[int], list[Any]]]
) -> None:
    answers = []
    for binary_in in (False, True):
        for binary_out in (False, True):
            body, headers = request_body(sent, binary_in, binary_out)
            response = client.post("/v2/models/echo/infer", content=body, headers=headers)
            assert response.status_code == 200, response.text
            assert ("inference-header-content-length" in response.headers) == binary_out
            answers.append(answer_arrays(response))

    for datatype, (shape, values) in sent.items():
        want = as_array(datatype, values).reshape(shape)
        for answer in answers:
            assert same(answer[datatype], want), (datatype, answer[datatype], want)


def test_the_property_test_s_model_serves_every_datatype(client: Client) -> None:
    metadata = client.get("/v2/models/echo").json()
    assert sorted(i["datatype"] for i in metadata["inputs"]) == sorted(TYPES)


@pytest.mark.parametrize("shape", [[0, 2**63 - 1], [0, 2**64 - 1], [2**30, 2**30]])
def test_an_empty_tensor_of_a_huge_shape_is_a_400_not_a_numpy_error(
    client: Client, shape: list[int]
) -> None:
    request = {"inputs": [{"name": "FP32_in", "shape": shape, "datatype": "FP32", "data": []}]}

    response = client.post("/v2/models/echo/infer", content=orjson.dumps(request))

    assert response.status_code == 400
    assert response.json()["error"] == f"input 'FP32_in': shape {shape} is too large"
