"""Benchmark the V2 inference server against its baselines, measured in the same run.

    python bench/bench_serving.py [--requests 2000] [--runs 5] [--model-repository DIR]

Figures, each the median of ``--runs`` runs (min-max across runs), batch of one row:

- ``onnxruntime``: ``session.run`` alone, the floor no server can beat;
- ``app in-process``: the ASGI app called directly (JSON in, validation, run, JSON out);
- ``http mlrail``: ``serve()`` in a subprocess, one keep-alive client, request-to-response;
- ``http floor``: a bare ASGI app answering fixed JSON under the same uvicorn settings, the
  cost of HTTP itself (the baseline for "http mlrail");
- ``http kserve``: KServe 0.21's FastAPI V2 app over the same model (only if ``kserve`` is
  installed; it is a reference, not a dependency), bound to 127.0.0.1 under the same uvicorn.

Without ``--model-repository`` a small model (5 FP32 + 2 string inputs, like penguins) is built
with ``onnx.helper`` in a temporary folder.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from _servers import start_server

FLOATS = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"]
STRINGS = ["island", "sex"]


def build_repository(root: Path) -> Path:
    """A penguins-shaped classifier: 5 FP32 + 2 string inputs -> probabilities [N, 3]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from mlrail.artifacts.modelspec import InputSpec, ModelSpec

    nodes, inputs = [], []
    for name in STRINGS:
        inputs.append(helper.make_tensor_value_info(name, TensorProto.STRING, ["N", 1]))
        nodes.append(
            helper.make_node(
                "LabelEncoder",
                [name],
                [f"{name}_code"],
                domain="ai.onnx.ml",
                keys_strings=["a", "b", "c"],
                values_floats=[1.0, 2.0, 3.0],
                default_float=0.0,
            )
        )
    inputs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 1]) for n in FLOATS]
    nodes += [
        helper.make_node("Concat", FLOATS + [f"{s}_code" for s in STRINGS], ["x"], axis=1),
        helper.make_node("MatMul", ["x", "w"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    w = numpy_helper.from_array(np.linspace(-1, 1, 21, dtype=np.float32).reshape(7, 3), "w")
    graph = helper.make_graph(
        nodes,
        "bench",
        inputs,
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 3])],
        initializer=[w],
    )
    model = helper.make_model(
        graph,
        ir_version=8,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 2)],
    )
    folder = root / "penguins" / "1"
    folder.mkdir(parents=True)
    onnx.save(model, str(folder / "model.onnx"))
    ModelSpec(
        task="multiclass",
        label="species",
        output="probabilities",
        classes=["A", "B", "C"],
        inputs=[InputSpec(n, n, "string") for n in STRINGS]
        + [InputSpec(n, n, "float32") for n in FLOATS],
    ).write(folder)
    return root


def request_body() -> bytes:
    inputs = [{"name": n, "shape": [1, 1], "datatype": "BYTES", "data": ["b"]} for n in STRINGS]
    inputs += [{"name": n, "shape": [1, 1], "datatype": "FP32", "data": [1.5]} for n in FLOATS]
    return orjson.dumps({"id": "1", "inputs": inputs})


def feeds() -> dict[str, np.ndarray]:
    out = {n: np.array([["b"]], dtype=object) for n in STRINGS}
    out.update({n: np.array([[1.5]], dtype=np.float32) for n in FLOATS})
    return out


# -- measurements (each returns per-request seconds) ----------------------------------------------


def time_onnxruntime(repo: Path, n: int) -> list[float]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(
        str(next(repo.glob("*/1/model.onnx"))), options, providers=["CPUExecutionProvider"]
    )
    x = feeds()
    for _ in range(200):
        session.run(None, x)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        session.run(None, x)
        times.append(time.perf_counter() - t)
    return times


def time_app(repo: Path, n: int) -> list[float]:
    import asyncio

    from mlrail.serving.app import create_app

    app = create_app(repo)
    body = request_body()
    name = app.repository.names()[0]
    scope = {
        "type": "http",
        "method": "POST",
        "path": f"/v2/models/{name}/infer",
        "headers": [(b"content-length", str(len(body)).encode())],
    }
    message = {"type": "http.request", "body": body, "more_body": False}
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return message

    async def send(m: Any) -> None:
        if m["type"] == "http.response.start":
            statuses.append(m["status"])

    async def run() -> list[float]:
        for _ in range(200):
            await app(scope, receive, send)
        times = []
        for _ in range(n):
            t = time.perf_counter()
            await app(scope, receive, send)
            times.append(time.perf_counter() - t)
        return times

    times = asyncio.run(run())
    assert set(statuses) == {200}, set(statuses)
    return times


def time_http(port: int, path: str, body: bytes, n: int) -> list[float]:
    """Sequential requests on one keep-alive connection, each sent in a single write.

    A raw socket, not http.client: Python 3.11's http.client writes headers and body separately,
    which adds a round of TCP scheduling to every request and hides the server's own cost.
    """
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buffer = b""
    times = []
    for i in range(n + 200):
        t = time.perf_counter()
        sock.sendall(request)
        while b"\r\n\r\n" not in buffer:
            buffer += sock.recv(65536)
        head, _, buffer = buffer.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
        while len(buffer) < length:
            buffer += sock.recv(65536)
        buffer = buffer[length:]
        if i >= 200:
            times.append(time.perf_counter() - t)
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"{path}: {head.splitlines()[0].decode()}")
    sock.close()
    return times


# -- servers in subprocesses (this file re-invoked with --serve KIND) -----------------------------


async def _floor_app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    body = b'{"model_name":"m","model_version":"1","id":"1","outputs":[]}'
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _kserve_app(repo: Path) -> Any:
    import fastapi
    import onnxruntime as ort
    from kserve import Model
    from kserve.model_repository import ModelRepository
    from kserve.protocol.dataplane import DataPlane
    from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse
    from kserve.protocol.rest.server import RESTServer

    path = next(repo.glob("*/1/model.onnx"))

    class OnnxModel(Model):  # what a KServe custom ONNX predictor looks like
        def __init__(self) -> None:
            super().__init__(path.parent.parent.name)
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            self.session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
            self.ready = True

        def predict(self, payload: InferRequest, headers: Any = None) -> InferResponse:
            x = {
                i.name: i.as_numpy().astype(np.float32 if i.datatype == "FP32" else object)
                for i in payload.inputs
            }
            (y,) = self.session.run(None, x)
            return InferResponse(
                model_name=self.name,
                response_id=payload.id,
                infer_outputs=[InferOutput("probabilities", list(y.shape), "FP32", data=y)],
            )

    registry = ModelRepository()
    registry.update(OnnxModel())
    server = RESTServer("unused", DataPlane(model_registry=registry), None, 0)
    app = fastapi.FastAPI()
    server._register_endpoints(app)
    server._add_exception_handlers(app)
    return app


def _serve(kind: str, port: int, repo: str) -> None:
    import logging

    import uvicorn

    from mlrail.serving.server import serve

    if kind == "mlrail":
        serve(repo, port=port)
        return
    logging.disable(logging.INFO)  # KServe logs every request at INFO; compare without it
    app = _floor_app if kind == "floor" else _kserve_app(Path(repo))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def start(kind: str, repo: Path) -> tuple[subprocess.Popen[bytes], int]:
    return start_server(__file__, kind, repo)


def summarize(runs: list[list[float]]) -> tuple[float, float, float]:
    medians = [statistics.median(r) for r in runs]
    return statistics.median(medians), min(medians), max(medians)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--model-repository", type=Path)
    parser.add_argument(
        "--serve", nargs=3, metavar=("KIND", "PORT", "REPO"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.serve:
        _serve(args.serve[0], int(args.serve[1]), args.serve[2])
        return

    with tempfile.TemporaryDirectory() as tmp:
        repo = args.model_repository or build_repository(Path(tmp))
        name = sorted(p.name for p in repo.iterdir() if p.is_dir())[0]
        body = request_body()
        infer = f"/v2/models/{name}/infer"
        results: dict[str, tuple[float, float, float]] = {}
        results["onnxruntime"] = summarize(
            [time_onnxruntime(repo, args.requests) for _ in range(args.runs)]
        )
        results["app in-process"] = summarize(
            [time_app(repo, args.requests) for _ in range(args.runs)]
        )
        kinds = ["mlrail", "floor"]
        if importlib.util.find_spec("kserve") and importlib.util.find_spec("fastapi"):
            kinds.append("kserve")
        for kind in kinds:
            process, port = start(kind, repo)
            try:
                path = infer if kind != "floor" else "/"
                results[f"http {kind}"] = summarize(
                    [time_http(port, path, body, args.requests) for _ in range(args.runs)]
                )
            finally:
                process.terminate()
                process.wait()

    print(f"batch 1, {args.requests} requests x {args.runs} runs; median (min-max) per request")
    for label, (median, low, high) in results.items():
        print(f"  {label:16s} {median * 1e6:8.1f} us  ({low * 1e6:.1f}-{high * 1e6:.1f})")
    ratios = [
        ("app in-process / onnxruntime", "app in-process", "onnxruntime"),
        ("http mlrail / http floor", "http mlrail", "http floor"),
        ("http kserve / http mlrail", "http kserve", "http mlrail"),
    ]
    for label, a, b in ratios:
        if a in results and b in results:
            print(f"  {label:30s} {results[a][0] / results[b][0]:.2f}x")
    print(json.dumps({k: round(v[0] * 1e6, 1) for k, v in results.items()}))


if __name__ == "__main__":
    main()
