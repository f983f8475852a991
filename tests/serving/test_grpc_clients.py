"""The client x protocol x dtype matrix: four real V2 clients at their defaults against one real
``serve`` with REST and gRPC on, on 127.0.0.1 (DESIGN §6, compat).

Clients (each in a process of its own, :mod:`tests.serving.grpc_clients`): ``tritonclient.grpc``
and KServe's ``InferenceGRPCClient`` (gRPC, ``raw_input_contents``), ``tritonclient.http`` and
KServe's ``InferenceRESTClient`` (REST, binary tensor data). Inputs:

- numbers: the ``regressor`` (one FP32 input), answers compared with ONNX Runtime's;
- strings: the penguins model trained and exported by the session fixtures (FP32 and BYTES
  inputs, with missing values), on ``golden.json``'s request, answers compared with
  ``golden.json``'s.

Batch 1 and 64 (golden rows repeated to 64).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from .helpers import Running, free_port, running_server, session, write_regressor

CLIENTS = ["triton-grpc", "kserve-grpc", "triton-http", "kserve-rest"]
DTYPES = ["numbers", "strings"]
BATCHES = [1, 64]
ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def repo(onnx_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("grpc-clients") / "models"
    shutil.copytree(onnx_model / "model_repository" / "penguins", root / "penguins")
    write_regressor(root, 1, bias=0.25)
    return root


@pytest.fixture(scope="module")
def served(repo: Path) -> Any:
    grpc_port = free_port()
    with running_server(repo, grpc_port=grpc_port) as running:
        yield running, grpc_port


def _numbers(rows: int) -> dict[str, Any]:
    x = np.random.default_rng(rows).normal(size=(rows, 1)).astype(np.float32)
    return {"x": {"datatype": "FP32", "shape": [rows, 1], "data": x.reshape(-1).tolist()}}


def _golden(onnx_model: Path, rows: int) -> tuple[dict[str, Any], np.ndarray]:
    """golden.json's request repeated to ``rows`` rows, and its answer repeated alike."""
    golden = json.loads((onnx_model / "golden.json").read_text())
    inputs = {}
    for item in golden["request"]["inputs"]:
        n = item["shape"][0]
        data = [item["data"][i % n] for i in range(rows)]
        if item["datatype"] != "BYTES":
            data = [np.nan if v is None else v for v in data]  # a missing number, as NaN
        inputs[item["name"]] = {"datatype": item["datatype"], "shape": [rows, 1], "data": data}
    (output,) = golden["outputs"]
    want = np.array(output["data"], np.float32).reshape(output["shape"])
    return inputs, want[np.arange(rows) % want.shape[0]]


def _cases(onnx_model: Path) -> list[dict[str, Any]]:
    cases = []
    for dtype in DTYPES:
        for rows in BATCHES:
            if dtype == "numbers":
                cases.append({"model": "regressor", "inputs": _numbers(rows)})
            else:
                cases.append({"model": "penguins", "inputs": _golden(onnx_model, rows)[0]})
    return cases


@pytest.fixture(scope="module")
def answers(served: tuple[Running, int], onnx_model: Path) -> dict[str, list[Any]]:
    """Every client's answers to every case, one client process each."""
    running, grpc_port = served
    out = {}
    for client in CLIENTS:
        port = grpc_port if client.endswith("grpc") else running.port
        done = subprocess.run(
            [sys.executable, "-m", "tests.serving.grpc_clients", client, f"127.0.0.1:{port}"],
            input=json.dumps(_cases(onnx_model)),
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        out[client] = json.loads(done.stdout)
    return out


@pytest.mark.parametrize("rows", BATCHES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("client", CLIENTS)
def test_each_client_gets_the_golden_answers(
    answers: dict[str, list[Any]], repo: Path, onnx_model: Path, client: str, dtype: str, rows: int
) -> None:
    answer = answers[client][DTYPES.index(dtype) * len(BATCHES) + BATCHES.index(rows)]
    assert "error" not in answer, answer
    if dtype == "numbers":
        x = np.array(_numbers(rows)["x"]["data"], np.float32).reshape(rows, 1)
        (want,) = session(repo / "regressor" / "1").run(None, {"x": x})
        got = np.array(answer["predictions"]["data"], np.float32).reshape(
            answer["predictions"]["shape"]
        )
        np.testing.assert_array_equal(got, want)
    else:
        _, want = _golden(onnx_model, rows)
        got = np.array(answer["probabilities"]["data"], np.float32)
        got = got.reshape(answer["probabilities"]["shape"])
        assert got.shape == (rows, want.shape[1])
        # golden.json holds ONNX Runtime's FP32 answer for its rows, printed exactly
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
