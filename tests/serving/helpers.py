"""Small real ONNX models in a tmp model repository, and a synchronous client for the ASGI app.

The models are built with ``onnx.helper`` and run by real ONNX Runtime sessions (no mocks):

- ``classifier``: ``bill_length_mm`` (FP32 [N,1]) and ``island`` (BYTES [N,1], through an
  ``ai.onnx.ml`` LabelEncoder) -> MatMul + Add -> Softmax -> ``probabilities`` FP32 [N,3].
  ``bias`` differs per version, so two versions give different answers.
- ``regressor``: ``x`` (FP32 [N,1]) -> ``x * 2 + bias`` -> ``predictions`` FP32 [N,1].
- ``reshaper``: ``x`` (FP32 [N,1]) reshaped to [2, -1]: a valid request with one row makes ONNX
  Runtime fail inside the graph (the server's 500 path).
- ``columns``: one input per column, named by the column (any text) or by its TensorFlow-side
  name (older exports): FP32 numbers, BYTES strings (through a LabelEncoder) and FP64 dates
  (days since 1970), summed into ``predictions`` FP32 [N,1]; ``days`` returns the first date
  input unchanged (FP64), to check the server's date conversion bit for bit.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from mlrail.artifacts.modelspec import InputSpec, ModelSpec, input_names
from mlrail.serving.app import InferenceApp

ISLANDS = ["Biscoe", "Dream", "Torgersen"]


def _save(model: onnx.ModelProto, folder: Path, spec: ModelSpec | None) -> Path:
    onnx.checker.check_model(model)
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / "model.onnx"))
    if spec is not None:
        spec.write(folder)
    return folder


def classifier_model(bias: float = 0.0) -> onnx.ModelProto:
    """FP32 + string inputs -> class probabilities [N, 3]."""
    weights = numpy_helper.from_array(
        np.array([[0.05, -0.02, 0.01], [-0.5, 0.3, 0.9]], dtype=np.float32), "weights"
    )
    offset = numpy_helper.from_array(np.array([bias, 0.0, -bias], dtype=np.float32), "offset")
    nodes = [
        helper.make_node(
            "LabelEncoder",
            ["island"],
            ["island_code"],
            domain="ai.onnx.ml",
            keys_strings=ISLANDS,
            values_floats=[1.0, 2.0, 3.0],
            default_float=0.0,
        ),
        helper.make_node("Concat", ["bill_length_mm", "island_code"], ["features"], axis=1),
        helper.make_node("MatMul", ["features", "weights"], ["logits_raw"]),
        helper.make_node("Add", ["logits_raw", "offset"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "classifier",
        [
            helper.make_tensor_value_info("bill_length_mm", TensorProto.FLOAT, ["batch", 1]),
            helper.make_tensor_value_info("island", TensorProto.STRING, ["batch", 1]),
        ],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 3])],
        initializer=[weights, offset],
    )
    return helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 2)],
        ir_version=8,
    )


def regressor_model(bias: float = 1.0) -> onnx.ModelProto:
    """One FP32 input -> x * 2 + bias [N, 1]."""
    two = numpy_helper.from_array(np.array([2.0], dtype=np.float32), "two")
    offset = numpy_helper.from_array(np.array([bias], dtype=np.float32), "offset")
    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["x", "two"], ["scaled"]),
            helper.make_node("Add", ["scaled", "offset"], ["predictions"]),
        ],
        "regressor",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1])],
        [helper.make_tensor_value_info("predictions", TensorProto.FLOAT, ["batch", 1])],
        initializer=[two, offset],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def reshaper_model() -> onnx.ModelProto:
    """Reshapes [N, 1] to [2, -1]: fails at run time for an odd N."""
    target = numpy_helper.from_array(np.array([2, -1], dtype=np.int64), "target")
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "target"], ["predictions"])],
        "reshaper",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1])],
        [helper.make_tensor_value_info("predictions", TensorProto.FLOAT, [2, "half"])],
        initializer=[target],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


#: The columns the ``columns`` model takes by default: names no identifier rule allows.
COLUMNS = [
    ("Größe", "float32"),
    ("a.b/c", "string"),
    ("Churned?", "datetime"),
    ("2024 Sales", "float32"),
]


def columns_model(columns: list[tuple[str, str]], graph_names: list[str]) -> onnx.ModelProto:
    """Inputs ``graph_names`` (one per column, of the column's dtype) -> their sum, and ``days``."""
    nodes = []
    graph_inputs = []
    terms = []
    days = None
    for (_, dtype), name in zip(columns, graph_names, strict=True):
        term = f"term_{len(terms)}"
        if dtype == "string":
            graph_inputs.append(
                helper.make_tensor_value_info(name, TensorProto.STRING, ["batch", 1])
            )
            nodes.append(
                helper.make_node(
                    "LabelEncoder",
                    [name],
                    [term],
                    domain="ai.onnx.ml",
                    keys_strings=ISLANDS,
                    values_floats=[1.0, 2.0, 3.0],
                    default_float=0.0,
                )
            )
        elif dtype == "datetime":
            graph_inputs.append(
                helper.make_tensor_value_info(name, TensorProto.DOUBLE, ["batch", 1])
            )
            nodes.append(helper.make_node("Cast", [name], [term], to=TensorProto.FLOAT))
            if days is None:
                days = name
                nodes.append(helper.make_node("Identity", [name], ["days"]))
        else:
            graph_inputs.append(
                helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", 1])
            )
            nodes.append(helper.make_node("Identity", [name], [term]))
        terms.append(term)
    nodes.append(helper.make_node("Sum", terms, ["predictions"]))
    outputs = [helper.make_tensor_value_info("predictions", TensorProto.FLOAT, ["batch", 1])]
    if days is not None:
        outputs.append(helper.make_tensor_value_info("days", TensorProto.DOUBLE, ["batch", 1]))
    graph = helper.make_graph(nodes, "columns", graph_inputs, outputs)
    return helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 2)],
        ir_version=8,
    )


def write_columns(
    repo: Path,
    version: int = 1,
    columns: list[tuple[str, str]] | None = None,
    *,
    graph_names: str = "column",
    name: str = "columns",
) -> Path:
    """A ``columns`` model whose graph inputs are the columns (``graph_names="column"``, as
    export_onnx writes them now) or the TensorFlow-side names (``"name"``, older exports)."""
    columns = COLUMNS if columns is None else columns
    tf_names = input_names([c for c, _ in columns])
    spec = ModelSpec(
        task="regression",
        label="y",
        output="predictions",
        inputs=[InputSpec(tf_names[c], c, dtype) for c, dtype in columns],
    )
    names = [c if graph_names == "column" else tf_names[c] for c, _ in columns]
    return _save(columns_model(columns, names), repo / name / str(version), spec)


CLASSIFIER_SPEC = ModelSpec(
    task="multiclass",
    label="species",
    output="probabilities",
    classes=["A", "B", "C"],
    inputs=[
        InputSpec("bill_length_mm", "bill_length_mm", "float32"),
        InputSpec("island", "island", "string"),
    ],
)
REGRESSOR_SPEC = ModelSpec(
    task="regression",
    label="y",
    output="predictions",
    inputs=[InputSpec("x", "x", "float32")],
)


def write_classifier(repo: Path, version: int, bias: float = 0.0, name: str = "penguins") -> Path:
    """Write a classifier version straight into ``repo/name/version``."""
    return _save(classifier_model(bias), repo / name / str(version), CLASSIFIER_SPEC)


def write_regressor(repo: Path, version: int, bias: float = 1.0, name: str = "regressor") -> Path:
    return _save(regressor_model(bias), repo / name / str(version), REGRESSOR_SPEC)


def write_reshaper(repo: Path, version: int = 1, name: str = "reshaper") -> Path:
    return _save(reshaper_model(), repo / name / str(version), REGRESSOR_SPEC)


def publish_classifier(repo: Path, version: int, bias: float, name: str = "penguins") -> Path:
    """Add a version the way deploy does: build it in a hidden folder, then rename it in."""
    staging = repo / name / f".{version}.tmp"
    _save(classifier_model(bias), staging, CLASSIFIER_SPEC)
    final = repo / name / str(version)
    os.replace(staging, final)
    return final


def corrupt(folder: Path, content: bytes = b"this is not an ONNX protobuf" * 4) -> Path:
    """Overwrite ``folder/model.onnx`` with bytes ONNX Runtime cannot load."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.onnx"
    path.write_bytes(content)
    return path


def session(folder: Path) -> ort.InferenceSession:
    """An independent ONNX Runtime session on a version folder, the reference for results."""
    return ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])


def classifier_request(lengths: list[Any], islands: list[Any], **extra: Any) -> dict[str, Any]:
    return {
        "inputs": [
            {
                "name": "bill_length_mm",
                "shape": [len(lengths), 1],
                "datatype": "FP32",
                "data": lengths,
            },
            {"name": "island", "shape": [len(islands), 1], "datatype": "BYTES", "data": islands},
        ],
        **extra,
    }


class Client:
    """A synchronous client for the ASGI app through httpx's ASGITransport (in process)."""

    def __init__(self, app: InferenceApp) -> None:
        self.app = app
        self._runner = asyncio.Runner()
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://mlrail.test"
        )

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self._runner.run(self._client.request(method, path, **kwargs))

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def close(self) -> None:
        self._runner.run(self._client.aclose())
        self._runner.close()


def copy_version(src: Path, dest: Path) -> None:
    """Copy a version folder in atomically (copy to a hidden name, then rename)."""
    staging = dest.with_name(f".{dest.name}.tmp")
    shutil.copytree(src, staging)
    os.replace(staging, dest)


# -- a real server in a subprocess ---------------------------------------------------------------

SERVE = """
import json, sys
from mlrail.serving.server import serve
serve(sys.argv[1], port=int(sys.argv[2]), **json.loads(sys.argv[3]))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Running:
    url: str
    port: int
    process: subprocess.Popen[str]


@contextmanager
def running_server(repo: Path, **options: object) -> Iterator[Running]:
    """``serve(repo, port=<free>, **options)`` in a subprocess, up and answering /v2/health/live."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(repo), str(port), json.dumps(options)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise AssertionError(
                    f"server exited {process.returncode}: {process.communicate()[1]}"
                )
            try:
                if httpx.get(f"{url}/v2/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("server did not come up before the deadline")
            time.sleep(0.05)
        yield Running(url=url, port=port, process=process)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        process.communicate()  # reaps it and closes the pipes
