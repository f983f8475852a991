"""The V2 REST app in process (httpx ASGITransport): every endpoint, results, and bad requests."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from mlrail.serving.app import INLINE_MAX_ROWS, InferenceApp, create_app

from .helpers import (
    ISLANDS,
    Client,
    classifier_request,
    corrupt,
    publish_classifier,
    session,
    write_regressor,
    write_reshaper,
)

MakeClient = Callable[[InferenceApp], Client]


@pytest.fixture
def client(repo: Path, make_client: MakeClient) -> Client:
    return make_client(create_app(repo))


def run_classifier(folder: Path, lengths: list[float], islands: list[str]) -> np.ndarray:
    """What ONNX Runtime itself answers for these rows: the reference for the server."""
    result = session(folder).run(
        None,
        {
            "bill_length_mm": np.asarray(lengths, dtype=np.float32).reshape(-1, 1),
            "island": np.asarray(islands, dtype=object).reshape(-1, 1),
        },
    )
    return np.asarray(result[0])


def output(response_json: dict[str, Any], name: str = "probabilities") -> np.ndarray:
    (out,) = [o for o in response_json["outputs"] if o["name"] == name]
    data = [np.nan if v is None else v for v in out["data"]]  # JSON null is a NaN output
    return np.asarray(data, dtype=np.float32).reshape(out["shape"])


# -- health and metadata --------------------------------------------------------------------------


def test_live(client: Client) -> None:
    response = client.get("/v2/health/live")
    assert (response.status_code, response.json()) == (200, {"live": True})


def test_ready_when_every_model_is(client: Client) -> None:
    response = client.get("/v2/health/ready")
    assert (response.status_code, response.json()) == (200, {"ready": True})


def test_server_metadata(client: Client) -> None:
    response = client.get("/v2")
    assert response.status_code == 200
    assert response.json() == {
        "name": "mlrail",
        "version": "0.1.0",
        "extensions": ["binary_tensor_data"],
    }
    assert response.headers["content-type"] == "application/json"


def test_models_list(client: Client) -> None:
    assert client.get("/v2/models").json() == {"models": ["penguins", "regressor"]}


def test_model_metadata_as_kserve_writes_it(client: Client) -> None:
    response = client.get("/v2/models/penguins")

    assert response.status_code == 200
    assert response.json() == {
        "name": "penguins",
        "versions": ["2"],
        "platform": "onnxruntime_onnx",
        "inputs": [
            {"name": "bill_length_mm", "datatype": "FP32", "shape": [-1, 1]},
            {"name": "island", "datatype": "BYTES", "shape": [-1, 1]},
        ],
        "outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]}],
    }


def test_versioned_metadata_and_ready(client: Client) -> None:
    assert client.get("/v2/models/regressor/versions/1").json()["outputs"] == [
        {"name": "predictions", "datatype": "FP32", "shape": [-1, 1]}
    ]
    response = client.get("/v2/models/penguins/versions/2/ready")
    assert (response.status_code, response.json()) == (200, {"name": "penguins", "ready": True})


def test_model_ready(client: Client) -> None:
    response = client.get("/v2/models/regressor/ready")
    assert (response.status_code, response.json()) == (200, {"name": "regressor", "ready": True})


@pytest.mark.parametrize(
    "path",
    [
        "/v2/models/nope",
        "/v2/models/nope/ready",
        "/v2/models/nope/versions/1",
    ],
)
def test_unknown_model_is_404_naming_it(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert "Model with name nope does not exist" in response.json()["error"]


@pytest.mark.parametrize("version", ["7", "abc", "02"])
def test_unknown_version_is_404_listing_versions(client: Client, version: str) -> None:
    for path in (
        f"/v2/models/penguins/versions/{version}",
        f"/v2/models/penguins/versions/{version}/ready",
    ):
        response = client.get(path)
        assert response.status_code == 404
        assert f"has no version {version!r}" in response.json()["error"]
        assert "Versions: 1, 2" in response.json()["error"]


def test_version_on_disk_but_not_served_is_404_saying_which_is(client: Client) -> None:
    response = client.post(
        "/v2/models/penguins/versions/1/infer", json=classifier_request([40.0], ["Dream"])
    )
    assert response.status_code == 404
    assert "version 1 is not served; this server serves version 2" in response.json()["error"]


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/v1/models/penguins",
        "/v2/nothing",
        "/v2/models/x/y",
        "/v2/repository/models/penguins/load",
    ],
)
def test_unknown_path_is_404_json(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert f"no endpoint at {path}" in response.json()["error"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "/v2/health/live", "GET"),
        ("DELETE", "/v2", "GET"),
        ("PUT", "/v2/models/penguins", "GET"),
        ("GET", "/v2/models/penguins/infer", "POST"),
    ],
)
def test_wrong_method_is_405_with_allow(
    client: Client, method: str, path: str, allowed: str
) -> None:
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    assert method in response.json()["error"]


# -- inference ------------------------------------------------------------------------------------


def test_infer_equals_onnx_runtime_on_the_same_inputs(repo: Path, client: Client) -> None:
    lengths, islands = [39.1, 46.5, 50.0, 35.2], ["Torgersen", "Dream", "Biscoe", "Atlantis"]

    response = client.post(
        "/v2/models/penguins/infer", json=classifier_request(lengths, islands, id="req-42")
    )

    assert response.status_code == 200
    body = response.json()
    assert body["model_name"] == "penguins" and body["model_version"] == "2"
    assert body["id"] == "req-42"
    assert [(o["name"], o["datatype"], o["shape"]) for o in body["outputs"]] == [
        ("probabilities", "FP32", [4, 3])
    ]
    expected = run_classifier(repo / "penguins" / "2", lengths, islands)
    np.testing.assert_array_equal(output(body), expected)  # float32 survives JSON exactly


def test_infer_on_a_versioned_path(repo: Path, client: Client) -> None:
    response = client.post(
        "/v2/models/regressor/versions/1/infer",
        json={
            "inputs": [{"name": "x", "shape": [3, 1], "datatype": "FP32", "data": [0.5, -1.0, 4.0]}]
        },
    )
    assert response.status_code == 200
    assert response.json()["outputs"][0]["data"] == [2.0, -1.0, 9.0]


def test_request_without_id_gets_a_fresh_one(client: Client) -> None:
    response = client.post("/v2/models/penguins/infer", json=classifier_request([40.0], ["Dream"]))
    first = uuid.UUID(response.json()["id"])  # raises unless it is a UUID
    again = client.post("/v2/models/penguins/infer", json=classifier_request([40.0], ["Dream"]))
    assert first.version == 4 and str(first) == response.json()["id"]
    assert again.json()["id"] != response.json()["id"]


@pytest.mark.parametrize("datatype", ["FP64", "FP16", "INT32", "INT64", "UINT8"])
def test_other_numeric_datatypes_are_cast_to_fp32(
    repo: Path, client: Client, datatype: str
) -> None:
    lengths = [40, 3, 51]
    request = classifier_request(lengths, ["Dream", "Biscoe", "Torgersen"])
    request["inputs"][0]["datatype"] = datatype

    response = client.post("/v2/models/penguins/infer", json=request)

    assert response.status_code == 200, response.text
    expected = run_classifier(repo / "penguins" / "2", lengths, ["Dream", "Biscoe", "Torgersen"])
    np.testing.assert_array_equal(output(response.json()), expected)


def test_fp64_values_round_to_fp32_as_onnx_runtime_would_see_them(
    repo: Path, client: Client
) -> None:
    lengths = [0.1, 1 / 3, 45.123456789012345]
    request = classifier_request(lengths, ["Dream"] * 3)
    request["inputs"][0]["datatype"] = "FP64"

    response = client.post("/v2/models/penguins/infer", json=request)

    expected = run_classifier(repo / "penguins" / "2", lengths, ["Dream"] * 3)
    np.testing.assert_array_equal(output(response.json()), expected)


def test_null_is_a_missing_value(repo: Path, client: Client) -> None:
    response = client.post(
        "/v2/models/penguins/infer", json=classifier_request([None, 40.0], ["Dream", None])
    )

    assert response.status_code == 200, response.text
    expected = run_classifier(repo / "penguins" / "2", [np.nan, 40.0], ["Dream", ""])
    np.testing.assert_array_equal(output(response.json()), expected)


def test_nan_literal_from_python_json_is_a_missing_value(repo: Path, client: Client) -> None:
    body = json.dumps(classifier_request([float("nan"), 41.0], ["Dream", "Biscoe"]))
    assert "NaN" in body  # what json.dumps (and requests' json=) send for a missing value

    response = client.post("/v2/models/penguins/infer", content=body)

    assert response.status_code == 200, response.text
    expected = run_classifier(repo / "penguins" / "2", [np.nan, 41.0], ["Dream", "Biscoe"])
    np.testing.assert_array_equal(output(response.json()), expected)


def test_nested_data_is_accepted(repo: Path, client: Client) -> None:
    request = classifier_request([], [])
    request["inputs"][0].update(shape=[2, 1], data=[[40.0], [42.0]])
    request["inputs"][1].update(shape=[2, 1], data=[["Dream"], ["Biscoe"]])

    response = client.post("/v2/models/penguins/infer", json=request)

    assert response.status_code == 200, response.text
    expected = run_classifier(repo / "penguins" / "2", [40.0, 42.0], ["Dream", "Biscoe"])
    np.testing.assert_array_equal(output(response.json()), expected)


def test_requested_outputs_are_returned(client: Client) -> None:
    request = classifier_request([40.0], ["Dream"], outputs=[{"name": "probabilities"}])
    response = client.post("/v2/models/penguins/infer", json=request)
    assert [o["name"] for o in response.json()["outputs"]] == ["probabilities"]


def test_a_batch_too_large_to_run_inline_gives_the_same_answer(repo: Path, client: Client) -> None:
    rows = INLINE_MAX_ROWS * 2 + 1
    rng = np.random.default_rng(0)
    lengths = rng.uniform(30, 60, rows).astype(np.float32).tolist()
    islands = [ISLANDS[i % 3] for i in range(rows)]

    response = client.post("/v2/models/penguins/infer", json=classifier_request(lengths, islands))

    assert response.status_code == 200
    expected = run_classifier(repo / "penguins" / "2", lengths, islands)
    np.testing.assert_array_equal(output(response.json()), expected)


def test_an_empty_batch_is_answered_with_an_empty_tensor(client: Client) -> None:
    response = client.post("/v2/models/penguins/infer", json=classifier_request([], []))
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["shape"] == [0, 3]


def test_onnx_runtime_failure_on_a_valid_request_is_500_with_the_reason(
    tmp_path: Path, make_client: MakeClient
) -> None:
    write_reshaper(tmp_path)
    client = make_client(create_app(tmp_path))

    response = client.post(
        "/v2/models/reshaper/infer",
        json={"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [1.0]}]},
    )

    assert response.status_code == 500
    assert "'reshaper' version 1 failed to run" in response.json()["error"]
    assert "Reshape" in response.json()["error"]


# -- bad requests: 4xx with a message naming the problem ------------------------------------------


def fp(
    name: str, data: list[Any], shape: list[int] | None = None, datatype: str = "FP32"
) -> dict[str, Any]:
    return {
        "name": name,
        "shape": shape if shape is not None else [len(data), 1],
        "datatype": datatype,
        "data": data,
    }


ISLAND = fp("island", ["Dream"], datatype="BYTES")
LENGTH = fp("bill_length_mm", [40.0])

BAD_REQUESTS: list[tuple[str, Any, int, list[str]]] = [
    # (case, inputs or raw body, status, words the error must contain)
    (
        "unknown input name",
        [LENGTH, ISLAND, fp("islnd", ["x"], datatype="BYTES")],
        400,
        ["no input 'islnd'", "bill_length_mm, island"],
    ),
    ("missing input", [LENGTH], 400, ["missing input(s) 'island'"]),
    ("no inputs", [], 400, ["missing input(s) 'bill_length_mm', 'island'"]),
    ("input given twice", [LENGTH, ISLAND, LENGTH], 400, ["'bill_length_mm' is given more"]),
    (
        "shape of rank 1",
        [fp("bill_length_mm", [40.0], shape=[1]), ISLAND],
        400,
        ["input 'bill_length_mm'", "shape [1]", "[-1, 1]"],
    ),
    (
        "shape [1, 2]",
        [fp("bill_length_mm", [40.0, 1.0], shape=[1, 2]), ISLAND],
        400,
        ["input 'bill_length_mm'", "shape [1, 2]"],
    ),
    (
        "data longer than shape",
        [fp("bill_length_mm", [40.0, 41.0], shape=[1, 1]), ISLAND],
        400,
        ["input 'bill_length_mm'", "needs 1 value(s), got 2"],
    ),
    (
        "data shorter than shape",
        [LENGTH, fp("island", ["a"], shape=[2, 1], datatype="BYTES")],
        400,
        ["input 'island'", "needs 2 value(s), got 1"],
    ),
    (
        "ragged nested data",
        [
            fp("bill_length_mm", [[40.0], [1.0, 2.0]], shape=[2, 1]),
            fp("island", ["a", "b"], datatype="BYTES"),
        ],
        400,
        ["input 'bill_length_mm'", "not a rectangular array"],
    ),
    (
        "batch sizes differ",
        [fp("bill_length_mm", [1.0, 2.0]), ISLAND],
        400,
        ["'island' has 1 rows but input 'bill_length_mm' has 2"],
    ),
    (
        "BYTES to an FP32 input",
        [fp("bill_length_mm", ["40"], datatype="BYTES"), ISLAND],
        400,
        ["input 'bill_length_mm'", "datatype BYTES does not match the model's FP32"],
    ),
    (
        "numbers to a BYTES input",
        [LENGTH, fp("island", [1.0], datatype="FP32")],
        400,
        ["input 'island'", "datatype FP32 does not match the model's BYTES"],
    ),
    (
        "BOOL to an FP32 input",
        [fp("bill_length_mm", [True], datatype="BOOL"), ISLAND],
        400,
        ["input 'bill_length_mm'", "datatype BOOL"],
    ),
    (
        "not a V2 datatype",
        [fp("bill_length_mm", [1.0], datatype="FLOAT"), ISLAND],
        400,
        ["input 'bill_length_mm'", "'FLOAT' is not a V2 datatype"],
    ),
    (
        "'NaN' string in FP32 data",
        [fp("bill_length_mm", ["NaN"]), ISLAND],
        400,
        ["input 'bill_length_mm'", "element 0 is 'NaN' (a JSON string)", "null for a missing"],
    ),
    (
        "string among numbers",
        [fp("bill_length_mm", [1.0, "x"]), fp("island", ["a", "b"], datatype="BYTES")],
        400,
        ["input 'bill_length_mm'", "element 1 is 'x'"],
    ),
    (
        "string among nulls",
        [fp("bill_length_mm", [None, "x"]), fp("island", ["a", "b"], datatype="BYTES")],
        400,
        ["input 'bill_length_mm'", "element 1 is 'x'"],
    ),
    (
        "booleans in FP32 data",
        [fp("bill_length_mm", [True]), ISLAND],
        400,
        ["input 'bill_length_mm'", "element 0 is True (a JSON boolean)"],
    ),
    (
        "number in BYTES data",
        [LENGTH, fp("island", [3], datatype="BYTES")],
        400,
        ["input 'island'", "element 0 is 3 (a JSON number)"],
    ),
    (
        "object in BYTES data",
        [LENGTH, fp("island", [{"a": 1}], datatype="BYTES")],
        400,
        ["input 'island'", "a JSON object"],
    ),
    (
        "fraction in INT64 data",
        [fp("bill_length_mm", [1.5], datatype="INT64"), ISLAND],
        400,
        ["input 'bill_length_mm'", "INT64 data must be integers", "element 0 is 1.5"],
    ),
    (
        "beyond FP32's range",
        [fp("bill_length_mm", [1e39], datatype="FP64"), ISLAND],
        400,
        ["input 'bill_length_mm'", "infinite or beyond FP32's range"],
    ),
    (
        "integer beyond INT64",
        [fp("bill_length_mm", [10**400], datatype="INT64"), ISLAND],
        400,
        ["input 'bill_length_mm'", "beyond INT64's range"],
    ),
    (
        "integer beyond FP64",
        [fp("bill_length_mm", [10**400], datatype="FP64"), ISLAND],
        400,
        ["input 'bill_length_mm'", "beyond FP32's range"],
    ),
    (
        "a long string echoed short",
        [fp("bill_length_mm", ["x" * 10_000]), ISLAND],
        400,
        ["input 'bill_length_mm'", "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx..."],
    ),
    ("unknown output", None, 400, ["no output 'proba'", "probabilities"]),
    (
        "Infinity literal",
        b'{"inputs": [{"name": "bill_length_mm", "shape": [1, 1], '
        b'"datatype": "FP32", "data": [Infinity]}, '
        b'{"name": "island", "shape": [1, 1], "datatype": "BYTES", '
        b'"data": ["Dream"]}]}',
        400,
        ["input 'bill_length_mm'", "element 0 (inf) is infinite"],
    ),
    ("not JSON", b"bill_length_mm=40&island=Dream", 422, ["not valid JSON"]),
    ("truncated JSON", b'{"inputs": [', 422, ["not valid JSON"]),
    ("not UTF-8", b'{"inputs": ["\xff\xfe"]}', 422, ["not valid JSON"]),
    ("deeply nested JSON", b"[" * 100_000, 422, ["not valid JSON"]),
    ("empty body", b"", 422, ["not valid JSON"]),
    ("JSON array", b"[1, 2]", 422, ["must be a JSON object", "got a JSON array"]),
    ("JSON string", b'"infer"', 422, ["must be a JSON object", "got a JSON string"]),
    ("no inputs field", b'{"input": []}', 422, ['no \\"inputs\\" list']),
    ("inputs not a list", b'{"inputs": {"name": "x"}}', 422, ['"inputs" must be a list']),
    ("input not an object", b'{"inputs": [1]}', 422, ["inputs[0] must be an object"]),
    ("input without name", b'{"inputs": [{"shape": [1, 1]}]}', 422, ["inputs[0] has no"]),
    (
        "shape not a list",
        [fp("bill_length_mm", [1.0], shape=None) | {"shape": "1,1"}, ISLAND],
        422,
        ["input 'bill_length_mm'", '"shape" must be a list of non-negative integers'],
    ),
    (
        "negative shape",
        [fp("bill_length_mm", [1.0], shape=[-1, 1]), ISLAND],
        422,
        ["input 'bill_length_mm'", "non-negative"],
    ),
    (
        "boolean in shape",
        [fp("bill_length_mm", [1.0], shape=[True, 1]), ISLAND],
        422,
        ["input 'bill_length_mm'", "non-negative integers"],
    ),
    (
        "data not a list",
        [fp("bill_length_mm", [1.0]) | {"data": 40.0}, ISLAND],
        422,
        ["input 'bill_length_mm'", '"data" must be a list'],
    ),
    (
        "datatype missing",
        [{"name": "island", "shape": [1, 1], "data": ["a"]}, LENGTH],
        422,
        ["input 'island'", '"datatype" must be a string'],
    ),
    ("id not a string", {"id": 7, "inputs": [LENGTH, ISLAND]}, 422, ['"id" must be a string']),
    (
        "outputs not a list",
        {"outputs": "probabilities", "inputs": [LENGTH, ISLAND]},
        422,
        ['"outputs" must be a list'],
    ),
    (
        "parameters not an object",
        {"parameters": [1], "inputs": [LENGTH, ISLAND]},
        422,
        ['"parameters" must be an object'],
    ),
]


def body_of(case: str, payload: Any) -> bytes:
    if isinstance(payload, bytes):
        return payload
    if case == "unknown output":
        return orjson.dumps({"inputs": [LENGTH, ISLAND], "outputs": [{"name": "proba"}]})
    if isinstance(payload, dict):
        return orjson.dumps(payload)
    # json, not orjson: one case holds an integer beyond 64 bits, which only json writes.
    return json.dumps({"inputs": payload}).encode()


@pytest.mark.parametrize(
    ("case", "payload", "status", "words"), BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS]
)
def test_bad_request_is_4xx_naming_the_problem(
    client: Client, case: str, payload: Any, status: int, words: list[str]
) -> None:
    response = client.post("/v2/models/penguins/infer", content=body_of(case, payload))

    assert response.status_code == status, response.text
    error = response.json()["error"]
    for word in words:
        assert word.replace('\\"', '"') in error, (word, error)


def test_infer_on_unknown_model_or_version_is_404(client: Client) -> None:
    request = classifier_request([40.0], ["Dream"])
    assert client.post("/v2/models/nope/infer", json=request).status_code == 404
    response = client.post("/v2/models/penguins/versions/9/infer", json=request)
    assert response.status_code == 404 and "no version '9'" in response.json()["error"]


# -- oversized bodies -----------------------------------------------------------------------------


def test_body_over_the_limit_is_413_from_content_length(
    repo: Path, make_client: MakeClient
) -> None:
    client = make_client(create_app(repo, max_body_bytes=1024))
    body = orjson.dumps(classifier_request([40.0] * 100, ["Dream"] * 100))
    assert len(body) > 1024

    response = client.post("/v2/models/penguins/infer", content=body)

    assert response.status_code == 413
    assert f"{len(body)} bytes is larger than the limit of 1024" in response.json()["error"]


def test_body_at_the_limit_is_accepted(repo: Path, make_client: MakeClient) -> None:
    body = orjson.dumps(classifier_request([40.0], ["Dream"]))
    client = make_client(create_app(repo, max_body_bytes=len(body)))

    assert client.post("/v2/models/penguins/infer", content=body).status_code == 200


def call_asgi(
    app: InferenceApp,
    method: str,
    path: str,
    chunks: list[bytes],
    headers: list[tuple[bytes, bytes]] | None = None,
) -> tuple[int, dict[str, Any]]:
    """Call the ASGI app directly, sending the body in chunks without a Content-Length."""
    messages = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(dict(message))

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": headers or [],
        "query_string": b"",
    }
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], orjson.loads(sent[1]["body"])


def test_chunked_body_over_the_limit_is_413_while_reading(repo: Path) -> None:
    app = create_app(repo, max_body_bytes=1000)

    status, body = call_asgi(app, "POST", "/v2/models/penguins/infer", [b" " * 600] * 3)

    assert status == 413 and "larger than the limit of 1000 bytes" in body["error"]


def test_chunked_body_under_the_limit_is_read_whole(repo: Path) -> None:
    app = create_app(repo)
    body = orjson.dumps(classifier_request([40.0, 41.0], ["Dream", "Biscoe"]))
    chunks = [body[i : i + 7] for i in range(0, len(body), 7)]

    status, response = call_asgi(app, "POST", "/v2/models/penguins/infer", chunks)

    assert status == 200 and response["outputs"][0]["shape"] == [2, 3]


@pytest.mark.parametrize("declared_delta", [0, 5, -5], ids=["exact", "more", "less"])
def test_a_body_in_many_parts_with_a_content_length_is_read_whole(
    repo: Path, declared_delta: int
) -> None:
    # The parts are copied into one buffer of the declared size; a body that turns out longer
    # or shorter than declared (which uvicorn would not pass on) is still read as it came.
    app = create_app(repo)
    body = orjson.dumps(classifier_request([40.0, 41.0], ["Dream", "Biscoe"]))
    chunks = [body[i : i + 9] for i in range(0, len(body), 9)]
    declared = str(len(body) + declared_delta).encode()
    length = [(b"content-length", declared)]

    status, response = call_asgi(app, "POST", "/v2/models/penguins/infer", chunks, length)

    assert status == 200, response
    assert response["outputs"][0]["shape"] == [2, 3]


def test_a_binary_body_in_many_parts_is_read_whole(repo: Path) -> None:
    app = create_app(repo)
    numbers = np.array([40.0], "<f4").tobytes()
    strings = b"\x05\x00\x00\x00Dream"
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "bill_length_mm",
                    "shape": [1, 1],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": 4},
                },
                {
                    "name": "island",
                    "shape": [1, 1],
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": 9},
                },
            ]
        }
    )
    body = header + numbers + strings
    headers = [
        (b"content-length", str(len(body)).encode()),
        (b"inference-header-content-length", str(len(header)).encode()),
    ]

    status, response = call_asgi(
        app, "POST", "/v2/models/penguins/infer", [body[:10], body[10:]], headers
    )

    assert status == 200, response


def test_client_disconnect_while_sending_gets_no_response(repo: Path) -> None:
    app = create_app(repo)
    sent: list[Any] = []
    messages = [
        {"type": "http.request", "body": b"{", "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v2/models/penguins/infer", "headers": []}
    asyncio.run(app(scope, receive, send))

    assert sent == []


def test_lifespan_is_acknowledged(repo: Path) -> None:
    app = create_app(repo)
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    asyncio.run(app({"type": "lifespan"}, receive, send))

    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]


# -- versions, pinning and models that fail to load -----------------------------------------------


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll until the predicate holds (a deadline, not a speed assertion)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached before the deadline")
        time.sleep(0.02)


def test_a_new_version_is_served_without_restart(repo: Path, make_client: MakeClient) -> None:
    client = make_client(create_app(repo, poll_interval=0.0))
    request = classifier_request([40.0], ["Dream"])
    assert client.post("/v2/models/penguins/infer", json=request).json()["model_version"] == "2"

    new = publish_classifier(repo, 3, bias=-2.0)
    wait_for(lambda: client.get("/v2/models/penguins").json()["versions"] == ["3"])

    body = client.post("/v2/models/penguins/infer", json=request).json()
    assert body["model_version"] == "3"
    np.testing.assert_array_equal(output(body), run_classifier(new, [40.0], ["Dream"]))


def test_pinned_version_is_served(repo: Path, make_client: MakeClient) -> None:
    client = make_client(create_app(repo, model_version=1))

    body = client.post(
        "/v2/models/penguins/infer", json=classifier_request([40.0], ["Dream"])
    ).json()

    assert body["model_version"] == "1"
    assert client.get("/v2/models/penguins").json()["versions"] == ["1"]
    np.testing.assert_array_equal(
        output(body), run_classifier(repo / "penguins" / "1", [40.0], ["Dream"])
    )
    assert client.get("/v2/models/penguins/versions/1/ready").status_code == 200
    assert client.get("/v2/models/penguins/versions/2/ready").status_code == 404


def test_a_corrupt_model_is_not_ready_and_the_others_still_serve(
    repo: Path, make_client: MakeClient
) -> None:
    corrupt(repo / "broken" / "1")
    client = make_client(create_app(repo))

    # The file is named relative to the repository: clients are not shown the server's paths.
    for path in ("/v2/models/broken/ready", "/v2/models/broken"):
        response = client.get(path)
        assert response.status_code == 503
        error = response.json()["error"]
        assert "Model with name broken is not ready. broken/1/model.onnx: " in error
        assert str(repo) not in error
    response = client.post("/v2/models/broken/infer", json={"inputs": []})
    assert response.status_code == 503 and "broken/1/model.onnx" in response.json()["error"]
    assert str(repo) not in response.text
    response = client.get("/v2/health/ready")
    assert response.status_code == 503 and "model 'broken'" in response.json()["error"]
    assert str(repo) not in response.text

    assert client.get("/v2/health/live").status_code == 200
    assert (
        client.post(
            "/v2/models/penguins/infer", json=classifier_request([40.0], ["Dream"])
        ).status_code
        == 200
    )
    assert client.get("/v2/models/regressor/ready").status_code == 200


def test_a_corrupt_new_version_is_reported_and_the_old_one_serves(
    repo: Path, make_client: MakeClient
) -> None:
    client = make_client(create_app(repo))
    corrupt(repo / "penguins" / "3")
    client.app.repository.refresh()

    response = client.get("/v2/models/penguins/versions/3/ready")
    assert response.status_code == 503 and "penguins/3/model.onnx: " in response.json()["error"]
    assert str(repo) not in response.text
    assert client.get("/v2/models/penguins").json()["versions"] == ["2"]
    assert client.get("/v2/health/ready").status_code == 200


def test_empty_repository_is_not_ready(tmp_path: Path, make_client: MakeClient) -> None:
    client = make_client(create_app(tmp_path))

    response = client.get("/v2/health/ready")

    assert response.status_code == 503 and "holds no models" in response.json()["error"]
    assert str(tmp_path) not in response.text
    write_regressor(tmp_path, 1)
    client.app.repository.refresh()
    assert client.get("/v2/health/ready").status_code == 200
