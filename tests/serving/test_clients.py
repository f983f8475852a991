"""Real V2 clients at their defaults against a real ``serve`` on 127.0.0.1 (DESIGN §6, compat).

``tritonclient.http`` (``InferInput.set_data_from_numpy`` sends binary tensors by default, and a
request without requested outputs asks for binary outputs) and KServe's ``InferenceRESTClient``
(``InferInput.set_data_from_numpy`` binary by default; V2 chosen in its ``RESTConfig``, whose
default is V1, a protocol this server does not speak). Numbers, strings and dates, batch 1 and
64, under column names no identifier rule allows; every answer must equal ONNX Runtime's on the
same feeds.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton

from mlrail.datetimes import parse_days

from .helpers import ISLANDS, Running, running_server, session, write_classifier, write_columns


def _import_kserve() -> Any:
    """``kserve``, imported with an empty command line.

    Importing it runs its model server's argument parser over ``sys.argv`` (kserve 0.21,
    model_server.py), which takes pytest's own options for abbreviations of its own
    (``--co`` for ``--configure_logging``) and exits the whole test session.
    """
    argv, sys.argv = sys.argv, sys.argv[:1]
    try:
        import kserve
    finally:
        sys.argv = argv
    return kserve


kserve = _import_kserve()
InferenceRESTClient = kserve.InferenceRESTClient
InferInput = kserve.InferInput
InferRequest = kserve.InferRequest
RESTConfig = kserve.RESTConfig

BATCHES = [1, 64]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("clients") / "model_repository"
    write_classifier(root, 1, bias=0.5)
    write_columns(root)
    return root


@pytest.fixture(scope="module")
def server(repo: Path) -> Iterator[Running]:
    with running_server(repo) as running:
        yield running


def penguin_rows(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(n)
    islands = [ISLANDS[i % 3] if i % 7 else "Ísland ✓" for i in range(n)]  # and one unseen
    return {
        "bill_length_mm": rng.uniform(30, 60, (n, 1)).astype(np.float32),
        "island": np.array(islands, dtype=object).reshape(n, 1),
    }


def column_rows(n: int) -> tuple[dict[str, np.ndarray], list[str]]:
    """Feeds for the ``columns`` model (dates as days), and the same dates as ISO strings."""
    rng = np.random.default_rng(100 + n)
    iso = [f"20{10 + i % 15:02d}-0{1 + i % 9}-1{i % 10}T0{i % 10}:30:00Z" for i in range(n)]
    feeds = {
        "Größe": rng.normal(size=(n, 1)).astype(np.float32),
        "a.b/c": np.array([ISLANDS[i % 3] for i in range(n)], dtype=object).reshape(n, 1),
        "Churned?": parse_days(iso).reshape(n, 1),
        "2024 Sales": rng.uniform(0, 1e4, (n, 1)).astype(np.float32),
    }
    return feeds, iso


def expected(repo: Path, model: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    ort = session(repo / model / "1")
    names = [o.name for o in ort.get_outputs()]
    return dict(zip(names, ort.run(None, feeds), strict=True))


def triton_datatype(array: np.ndarray) -> str:
    return {"float32": "FP32", "float64": "FP64", "object": "BYTES"}[array.dtype.name]


# -- tritonclient.http ----------------------------------------------------------------------------


def triton_infer(
    server: Running, model: str, feeds: dict[str, np.ndarray], binary: bool
) -> dict[str, np.ndarray]:
    client = triton.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    try:
        inputs = []
        for name, array in feeds.items():
            item = triton.InferInput(name, list(array.shape), triton_datatype(array))
            if binary:
                item.set_data_from_numpy(array)  # the default: binary tensor data
            else:
                item.set_data_from_numpy(array, binary_data=False)
            inputs.append(item)
        result = client.infer(model, inputs)  # no outputs named: all of them, binary
        return {o["name"]: result.as_numpy(o["name"]) for o in result.get_response()["outputs"]}
    finally:
        client.close()


@pytest.mark.parametrize("rows", BATCHES)
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_tritonclient_numbers_and_strings(
    server: Running, repo: Path, rows: int, binary: bool
) -> None:
    feeds = penguin_rows(rows)

    answer = triton_infer(server, "penguins", feeds, binary)

    want = expected(repo, "penguins", feeds)
    assert answer.keys() == want.keys() == {"probabilities"}
    np.testing.assert_array_equal(answer["probabilities"], want["probabilities"])


@pytest.mark.parametrize("rows", BATCHES)
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_tritonclient_column_names_and_dates(
    server: Running, repo: Path, rows: int, binary: bool
) -> None:
    feeds, _ = column_rows(rows)

    answer = triton_infer(server, "columns", feeds, binary)

    want = expected(repo, "columns", feeds)
    for name in ("predictions", "days"):
        np.testing.assert_array_equal(answer[name], want[name])


def test_tritonclient_dates_as_iso_strings(server: Running, repo: Path) -> None:
    feeds, iso = column_rows(8)
    sent = {**feeds, "Churned?": np.array(iso, dtype=object).reshape(8, 1)}

    answer = triton_infer(server, "columns", sent, binary=True)

    np.testing.assert_array_equal(answer["days"], feeds["Churned?"])
    np.testing.assert_array_equal(
        answer["predictions"], expected(repo, "columns", feeds)["predictions"]
    )


def test_tritonclient_reads_model_metadata_and_readiness(server: Running) -> None:
    client = triton.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    try:
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("columns")
        metadata = client.get_model_metadata("columns")
        assert [i["name"] for i in metadata["inputs"]] == [
            "Größe",
            "a.b/c",
            "Churned?",
            "2024 Sales",
        ]
        assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    finally:
        client.close()


def test_tritonclient_gets_a_clear_error_for_a_bad_request(server: Running) -> None:
    client = triton.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    try:
        item = triton.InferInput("nope", [1, 1], "FP32")
        item.set_data_from_numpy(np.zeros((1, 1), np.float32))
        with pytest.raises(triton.InferenceServerException, match="has no input 'nope'"):
            client.infer("penguins", [item])
    finally:
        client.close()


# -- KServe's InferenceRESTClient -----------------------------------------------------------------


def kserve_infer(
    server: Running, model: str, feeds: dict[str, np.ndarray], binary: bool
) -> dict[str, np.ndarray]:
    inputs = []
    for name, array in feeds.items():
        item = InferInput(name, list(array.shape), triton_datatype(array))
        item.set_data_from_numpy(array, binary_data=binary)  # binary is its default
        inputs.append(item)
    request = InferRequest(model_name=model, infer_inputs=inputs)

    async def call() -> Any:
        async with InferenceRESTClient(RESTConfig(protocol="v2")) as client:
            return await client.infer(server.url, request, model_name=model)

    response = asyncio.run(call())
    return {o.name: np.asarray(o.as_numpy()) for o in response.outputs}


@pytest.mark.parametrize("rows", BATCHES)
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_kserve_client_numbers_and_strings(
    server: Running, repo: Path, rows: int, binary: bool
) -> None:
    feeds = penguin_rows(rows)

    answer = kserve_infer(server, "penguins", feeds, binary)

    want = expected(repo, "penguins", feeds)
    np.testing.assert_allclose(answer["probabilities"], want["probabilities"], rtol=0, atol=0)


@pytest.mark.parametrize("rows", BATCHES)
def test_kserve_client_column_names_and_dates(server: Running, repo: Path, rows: int) -> None:
    feeds, _ = column_rows(rows)

    answer = kserve_infer(server, "columns", feeds, binary=True)

    want = expected(repo, "columns", feeds)
    for name in ("predictions", "days"):
        np.testing.assert_array_equal(answer[name].reshape(want[name].shape), want[name])


def test_the_readme_tritonclient_example_runs_as_written(onnx_model: Path, tmp_path: Path) -> None:
    """The README's Python example, against the penguins model on a real server: it prints
    ONNX Runtime's probabilities (the client sent binary tensors, its default)."""
    import contextlib
    import io
    import re
    import shutil

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    blocks = [
        b
        for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S)
        if "tritonclient.http" in b
    ]
    assert len(blocks) == 1, "the README's tritonclient example is gone"
    models = tmp_path / "models" / "penguins"
    shutil.copytree(onnx_model / "model_repository" / "penguins", models)
    with running_server(tmp_path / "models") as running:
        code = blocks[0].replace('"127.0.0.1:8080"', f'"127.0.0.1:{running.port}"')
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, "README.md", "exec"), {})
    printed = np.array(re.findall(r"[-\d.e]+", out.getvalue()), dtype=np.float32)
    feeds = {
        "island": np.array([["Biscoe"]], object), "bill_length_mm": np.array([[46.5]], np.float32),
        "bill_depth_mm": np.array([[15.2]], np.float32),
        "flipper_length_mm": np.array([[219.0]], np.float32),
        "body_mass_g": np.array([[5200.0]], np.float32), "sex": np.array([["male"]], object),
        "year": np.array([[2008.0]], np.float32),
    }  # fmt: skip
    (want,) = session(models / "1").run(["probabilities"], feeds)
    np.testing.assert_allclose(printed, want.reshape(-1), rtol=1e-6)
