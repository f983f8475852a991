"""The V2 codec through the app: the binary tensor data extension, dates, text that is not
Unicode, column-named inputs, and :func:`json_body` (the payload log's view of a body).

Binary bodies are written here by hand (``binary_body``), from the extension's description, not
with the codec's own encoder: a test that shares the code it checks cannot catch its mistakes.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from mlrail.artifacts.v2 import json_body
from mlrail.datetimes import parse_days
from mlrail.serving.app import InferenceApp, create_app

from .helpers import ISLANDS, Client, classifier_request, session, write_columns

MakeClient = Callable[[InferenceApp], Client]
LE = {"FP32": "<f4", "FP64": "<f8", "FP16": "<f2", "INT32": "<i4", "INT64": "<i8", "BOOL": "u1"}


def pack_strings(values: list[str | bytes]) -> bytes:
    """BYTES elements as the extension lays them out: a 4-byte LE length, then the bytes."""
    out = b""
    for v in values:
        raw = v.encode() if isinstance(v, str) else v
        out += struct.pack("<I", len(raw)) + raw
    return out


def binary_body(
    inputs: list[dict[str, Any]], raw: list[bytes], **extra: Any
) -> tuple[bytes, dict[str, str]]:
    """A request body with ``raw`` after the JSON part, and the headers a client sends with it."""
    header = orjson.dumps({"inputs": inputs, **extra})
    return header + b"".join(raw), {
        "Inference-Header-Content-Length": str(len(header)),
        "Content-Type": "application/octet-stream",
    }


def binary_input(name: str, datatype: str, shape: list[int], chunk: bytes) -> dict[str, Any]:
    return {
        "name": name,
        "shape": shape,
        "datatype": datatype,
        "parameters": {"binary_data_size": len(chunk)},
    }


def classifier_binary(
    lengths: list[float], islands: list[str], **extra: Any
) -> tuple[bytes, dict[str, str]]:
    numbers = np.asarray(lengths, dtype="<f4").tobytes()
    strings = pack_strings(list(islands))
    return binary_body(
        [
            binary_input("bill_length_mm", "FP32", [len(lengths), 1], numbers),
            binary_input("island", "BYTES", [len(islands), 1], strings),
        ],
        [numbers, strings],
        **extra,
    )


def split_response(response: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A (possibly binary) V2 response: its JSON part and every output as an array."""
    body: bytes = response.content
    length = response.headers.get("inference-header-content-length")
    header = orjson.loads(body[: int(length)] if length else body)
    offset = int(length) if length else len(body)
    arrays = {}
    for out in header["outputs"]:
        size = out.get("parameters", {}).get("binary_data_size")
        if size is None:
            data = [math.nan if v is None else v for v in out["data"]]
            arrays[out["name"]] = np.asarray(data).reshape(out["shape"])
            continue
        chunk = body[offset : offset + size]
        offset += size
        arrays[out["name"]] = np.frombuffer(chunk, LE[out["datatype"]]).reshape(out["shape"])
    assert offset == len(body)
    return header, arrays


def reference(folder: Path, lengths: list[float], islands: list[str]) -> np.ndarray:
    feeds = {
        "bill_length_mm": np.asarray(lengths, np.float32).reshape(-1, 1),
        "island": np.asarray(islands, dtype=object).reshape(-1, 1),
    }
    return np.asarray(session(folder).run(None, feeds)[0])


@pytest.fixture
def client(repo: Path, make_client: MakeClient) -> Client:
    return make_client(create_app(repo))


# -- binary requests and responses ------------------------------------------------------------


@pytest.mark.parametrize("rows", [1, 64])
def test_binary_request_gets_a_binary_answer_equal_to_onnx_runtime(
    client: Client, repo: Path, rows: int
) -> None:
    lengths = [30.0 + i * 0.37 for i in range(rows)]
    islands = [ISLANDS[i % 3] if i % 5 else "Ünknown ✓" for i in range(rows)]
    body, headers = classifier_binary(
        lengths, islands, id="bin-1", parameters={"binary_data_output": True}
    )

    response = client.post("/v2/models/penguins/infer", content=body, headers=headers)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    header, arrays = split_response(response)
    assert header["id"] == "bin-1" and header["model_version"] == "2"
    assert header["outputs"][0]["parameters"] == {"binary_data_size": rows * 3 * 4}
    assert "data" not in header["outputs"][0]
    expected = reference(repo / "penguins" / "2", lengths, islands)
    np.testing.assert_array_equal(arrays["probabilities"], expected)


def test_binary_request_without_binary_output_is_answered_in_json(
    client: Client, repo: Path
) -> None:
    body, headers = classifier_binary([40.0, 50.5], ["Dream", ""])

    response = client.post("/v2/models/penguins/infer", content=body, headers=headers)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert "inference-header-content-length" not in response.headers
    expected = reference(repo / "penguins" / "2", [40.0, 50.5], ["Dream", ""])
    np.testing.assert_allclose(split_response(response)[1]["probabilities"], expected, rtol=1e-6)


def test_an_output_s_own_binary_data_flag_wins_over_the_request_wide_one(client: Client) -> None:
    request = classifier_request(
        [40.0],
        ["Dream"],
        parameters={"binary_data_output": True},
        outputs=[{"name": "probabilities", "parameters": {"binary_data": False}}],
    )
    response = client.post("/v2/models/penguins/infer", json=request)
    assert response.status_code == 200 and "data" in response.json()["outputs"][0]

    request["parameters"] = {}
    request["outputs"] = [{"name": "probabilities", "parameters": {"binary_data": True}}]
    response = client.post("/v2/models/penguins/infer", json=request)
    assert response.status_code == 200
    assert response.headers["inference-header-content-length"]
    header, arrays = split_response(response)
    assert arrays["probabilities"].shape == (1, 3)


def test_json_and_binary_inputs_mix_in_one_request(client: Client) -> None:
    strings = pack_strings(["Biscoe"])
    body, headers = binary_body(
        [
            {"name": "bill_length_mm", "shape": [1, 1], "datatype": "FP64", "data": [41.5]},
            binary_input("island", "BYTES", [1, 1], strings),
        ],
        [strings],
    )
    json_answer = client.post(
        "/v2/models/penguins/infer", json=classifier_request([41.5], ["Biscoe"])
    )

    response = client.post("/v2/models/penguins/infer", content=body, headers=headers)

    assert response.status_code == 200, response.text
    assert response.json()["outputs"] == json_answer.json()["outputs"]


def test_a_header_length_equal_to_the_body_is_an_all_json_request(client: Client) -> None:
    body = orjson.dumps(classifier_request([40.0], ["Dream"]))
    response = client.post(
        "/v2/models/penguins/infer",
        content=body,
        headers={"Inference-Header-Content-Length": str(len(body))},
    )
    assert response.status_code == 200, response.text


def _lengths(n: int) -> bytes:
    return np.arange(n, dtype="<f4").tobytes()


def _bad_case(case: str) -> tuple[bytes, dict[str, str]]:
    """Bodies whose sizes do not add up, each as a client might really get it wrong."""
    good = pack_strings(["Dream"])
    numbers = _lengths(1)
    if case == "header longer than the body":
        body, headers = classifier_binary([40.0], ["Dream"])
        return body, {**headers, "Inference-Header-Content-Length": str(len(body) + 1)}
    if case == "header not a number":
        body, headers = classifier_binary([40.0], ["Dream"])
        return body, {**headers, "Inference-Header-Content-Length": "12abc"}
    if case == "header negative":
        body, headers = classifier_binary([40.0], ["Dream"])
        return body, {**headers, "Inference-Header-Content-Length": "-5"}
    if case == "header huge":
        body, headers = classifier_binary([40.0], ["Dream"])
        return body, {**headers, "Inference-Header-Content-Length": "9" * 40}
    if case == "size negative":
        fp = binary_input("bill_length_mm", "FP32", [1, 1], numbers)
        fp["parameters"]["binary_data_size"] = -4
        return binary_body([fp, binary_input("island", "BYTES", [1, 1], good)], [numbers, good])
    if case == "size huge":
        fp = binary_input("bill_length_mm", "FP32", [1, 1], numbers)
        fp["parameters"]["binary_data_size"] = 2**62
        return binary_body([fp, binary_input("island", "BYTES", [1, 1], good)], [numbers, good])
    if case == "size beyond int64":  # written as text: orjson cannot write it
        fp = binary_input("bill_length_mm", "FP32", [1, 1], numbers)
        fp["parameters"]["binary_data_size"] = 123456789
        body, _ = binary_body([fp, binary_input("island", "BYTES", [1, 1], good)], [])
        header = body.replace(b"123456789", str(2**70).encode())
        return header + numbers + good, {"Inference-Header-Content-Length": str(len(header))}
    if case == "size not a number":
        fp = binary_input("bill_length_mm", "FP32", [1, 1], numbers)
        fp["parameters"]["binary_data_size"] = "4"
        return binary_body([fp, binary_input("island", "BYTES", [1, 1], good)], [numbers, good])
    if case == "size not shape x dtype":
        two = _lengths(2)  # 8 bytes for a [1, 1] FP32 tensor
        return binary_body(
            [
                binary_input("bill_length_mm", "FP32", [1, 1], two),
                binary_input("island", "BYTES", [1, 1], good),
            ],
            [two, good],
        )
    if case == "size past the end":
        fp = binary_input("bill_length_mm", "FP32", [1, 1], numbers)
        body, headers = binary_body([fp, binary_input("island", "BYTES", [1, 1], good)], [numbers])
        return body, headers
    if case == "bytes claimed by no input":
        return binary_body(
            [
                binary_input("bill_length_mm", "FP32", [1, 1], numbers),
                binary_input("island", "BYTES", [1, 1], good),
            ],
            [numbers, good, b"\x00\x01"],
        )
    if case == "truncated BYTES length prefix":
        cut = good + b"\x05\x00"  # a second element's length, cut after 2 of its 4 bytes
        return binary_body(
            [
                binary_input("bill_length_mm", "FP32", [2, 1], _lengths(2)),
                binary_input("island", "BYTES", [2, 1], cut),
            ],
            [_lengths(2), cut],
        )
    if case == "BYTES element longer than its data":
        lying = struct.pack("<I", 1000) + b"Dream"
        return binary_body(
            [
                binary_input("bill_length_mm", "FP32", [1, 1], numbers),
                binary_input("island", "BYTES", [1, 1], lying),
            ],
            [numbers, lying],
        )
    if case == "BYTES with more elements than the shape":
        two = pack_strings(["Dream", "Biscoe"])
        return binary_body(
            [
                binary_input("bill_length_mm", "FP32", [1, 1], numbers),
                binary_input("island", "BYTES", [1, 1], two),
            ],
            [numbers, two],
        )
    if case == "BYTES not UTF-8":
        latin = pack_strings([b"Dr\xe9am"])
        return binary_body(
            [
                binary_input("bill_length_mm", "FP32", [1, 1], numbers),
                binary_input("island", "BYTES", [1, 1], latin),
            ],
            [numbers, latin],
        )
    if case == "binary infinity":
        inf = np.array([np.inf], "<f4").tobytes()
        return binary_body(
            [
                binary_input("bill_length_mm", "FP32", [1, 1], inf),
                binary_input("island", "BYTES", [1, 1], good),
            ],
            [inf, good],
        )
    if case == "FP64 beyond FP32":
        big = np.array([1e300], "<f8").tobytes()
        return binary_body(
            [
                binary_input("bill_length_mm", "FP64", [1, 1], big),
                binary_input("island", "BYTES", [1, 1], good),
            ],
            [big, good],
        )
    if case == "both data and binary_data_size":
        fp = binary_input("bill_length_mm", "FP32", [1, 1], numbers)
        fp["data"] = [1.0]
        return binary_body([fp, binary_input("island", "BYTES", [1, 1], good)], [numbers, good])
    if case == "binary_data_size without the header":
        body, _ = classifier_binary([40.0], ["Dream"])
        return body[: body.index(b"}]}") + 3], {}
    raise AssertionError(case)


BAD_BINARY = [
    ("header longer than the body", ["Inference-Header-Content-Length", "larger than the body"]),
    ("header not a number", ["Inference-Header-Content-Length", "'12abc'", "non-negative"]),
    ("header negative", ["Inference-Header-Content-Length", "'-5'"]),
    ("header huge", ["Inference-Header-Content-Length", "non-negative integer"]),
    ("size negative", ["input 'bill_length_mm'", '"binary_data_size" must be', "-4"]),
    ("size huge", ["input 'bill_length_mm'", str(2**62), "runs past the end"]),
    ("size beyond int64", ["input 'bill_length_mm'", "non-negative integer"]),
    ("size not a number", ["input 'bill_length_mm'", "non-negative integer", "'4'"]),
    ("size not shape x dtype", ["input 'bill_length_mm'", "is 8 bytes", "1 FP32 value", "4 bytes"]),
    ("size past the end", ["input 'island'", "runs past the end", "0 byte(s)"]),
    ("bytes claimed by no input", ["2 byte(s) of binary data", "claimed by no input"]),
    ("truncated BYTES length prefix", ["input 'island'", "inside the length of element 1"]),
    ("BYTES element longer than its data", ["input 'island'", "element 0 claims 1000 bytes"]),
    ("BYTES with more elements than the shape", ["input 'island'", "left after the 1 element"]),
    ("BYTES not UTF-8", ["input 'island'", "element 0 is not UTF-8"]),
    ("binary infinity", ["input 'bill_length_mm'", "element 0 (inf) is infinite"]),
    ("FP64 beyond FP32", ["input 'bill_length_mm'", "element 0 (1e+300)", "beyond FP32"]),
    ("both data and binary_data_size", ["input 'bill_length_mm'", 'both "data"']),
    ("binary_data_size without the header", ["input 'bill_length_mm'", "no Inference-Header"]),
]


@pytest.mark.parametrize(("case", "words"), BAD_BINARY, ids=[c for c, _ in BAD_BINARY])
def test_binary_sizes_that_do_not_add_up_are_400_naming_the_input(
    client: Client, case: str, words: list[str]
) -> None:
    body, headers = _bad_case(case)

    response = client.post("/v2/models/penguins/infer", content=body, headers=headers)

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    for word in words:
        assert word in error, (word, error)


def test_a_binary_request_to_an_unknown_model_is_404_before_its_body_is_read(
    client: Client,
) -> None:
    body, headers = classifier_binary([40.0], ["Dream"])
    response = client.post("/v2/models/nope/infer", content=body, headers=headers)
    assert response.status_code == 404


# -- text that is not Unicode ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "status", "words"),
    [
        ("id", 422, ['"id" is not valid Unicode']),
        ("data", 400, ["input 'island'", "element 1", "not valid Unicode"]),
        ("name", 422, ["inputs[1]", "not valid Unicode"]),
        ("output", 422, ["not valid Unicode"]),
    ],
)
def test_a_lone_surrogate_escape_is_a_4xx_with_one_line(
    client: Client, where: str, status: int, words: list[str]
) -> None:
    request = classifier_request([40.0, 41.0], ["Dream", "SURROGATE"], id="ok")
    if where == "id":
        request["id"] = "SURROGATE"
    elif where == "name":
        request["inputs"][1]["name"] = "SURROGATE"
    elif where == "output":
        request["outputs"] = [{"name": "SURROGATE"}]
    if where != "data":
        request["inputs"][1]["data"] = ["Dream", "Biscoe"]
    body = orjson.dumps(request).replace(b"SURROGATE", b"\\ud800")

    response = client.post("/v2/models/penguins/infer", content=body)

    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert "\n" not in error
    for word in words:
        assert word in error, (word, error)


def test_a_valid_surrogate_pair_is_text(client: Client) -> None:
    body = orjson.dumps(classifier_request([40.0], ["P"], id="P")).replace(
        b'"P"', b'"\\ud83d\\ude00"'
    )
    response = client.post("/v2/models/penguins/infer", content=body)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == "\U0001f600"


# -- column-named inputs and dates ----------------------------------------------------------------


@pytest.fixture
def columns_client(tmp_path: Path, make_client: MakeClient) -> Client:
    write_columns(tmp_path / "repo")
    return make_client(create_app(tmp_path / "repo"))


def columns_request(
    sizes: list[Any],
    labels: list[Any],
    dates: list[Any],
    sales: list[Any],
    *,
    date_type: str = "BYTES",
) -> dict[str, Any]:
    n = len(sizes)
    return {
        "inputs": [
            {"name": "Größe", "shape": [n, 1], "datatype": "FP32", "data": sizes},
            {"name": "a.b/c", "shape": [n, 1], "datatype": "BYTES", "data": labels},
            {"name": "Churned?", "shape": [n, 1], "datatype": date_type, "data": dates},
            {"name": "2024 Sales", "shape": [n, 1], "datatype": "FP32", "data": sales},
        ]
    }


def test_metadata_lists_the_column_names_and_dates_as_fp64(columns_client: Client) -> None:
    inputs = columns_client.get("/v2/models/columns").json()["inputs"]
    assert [(i["name"], i["datatype"]) for i in inputs] == [
        ("Größe", "FP32"),
        ("a.b/c", "BYTES"),
        ("Churned?", "FP64"),
        ("2024 Sales", "FP32"),
    ]


DATES = [
    "2012-01-01",
    "2012-01-01T18:00:00Z",
    "2012-01-01T10:00:00+02:00",
    "2012-01-01 06:00",
    None,
    "",
]


def test_dates_as_iso_strings_become_days_since_1970_bit_for_bit(columns_client: Client) -> None:
    n = len(DATES)
    request = columns_request([1.0] * n, ["Dream"] * n, DATES, [2.0] * n)

    response = columns_client.post("/v2/models/columns/infer", json=request)

    assert response.status_code == 200, response.text
    days = split_response(response)[1]["days"].ravel()
    expected = parse_days(DATES)
    assert expected[0] == 15340.0 and expected[1] == 15340.75
    np.testing.assert_array_equal(days, expected)  # NaN for null and ""


@pytest.mark.parametrize("date_type", ["FP64", "FP32", "INT32"])
def test_dates_as_numbers_of_days_are_taken_as_they_are(
    columns_client: Client, date_type: str
) -> None:
    values = [15340, -1, 0] if date_type == "INT32" else [15340.5, -1.25, 0.0]
    request = columns_request([1.0] * 3, ["Dream"] * 3, values, [2.0] * 3, date_type=date_type)

    response = columns_client.post("/v2/models/columns/infer", json=request)

    assert response.status_code == 200, response.text
    np.testing.assert_array_equal(split_response(response)[1]["days"].ravel(), values)


def test_dates_in_binary_strings_and_numbers_agree(columns_client: Client) -> None:
    sizes = np.array([1.0, 2.0], "<f4").tobytes()
    labels = pack_strings(["Dream", "Größe"])
    dates = pack_strings(["2012-01-01T18:00:00Z", ""])
    sales = np.array([3.0, 4.0], "<f4").tobytes()
    body, headers = binary_body(
        [
            binary_input("Größe", "FP32", [2, 1], sizes),
            binary_input("a.b/c", "BYTES", [2, 1], labels),
            binary_input("Churned?", "BYTES", [2, 1], dates),
            binary_input("2024 Sales", "FP32", [2, 1], sales),
        ],
        [sizes, labels, dates, sales],
        parameters={"binary_data_output": True},
    )

    response = columns_client.post("/v2/models/columns/infer", content=body, headers=headers)

    assert response.status_code == 200, response.text
    np.testing.assert_array_equal(split_response(response)[1]["days"].ravel(), [15340.75, np.nan])


def test_a_bad_date_string_is_400_naming_the_input_and_element(columns_client: Client) -> None:
    request = columns_request([1.0] * 3, ["x"] * 3, ["2012-01-01", "2012-13-45", None], [0.0] * 3)

    response = columns_client.post("/v2/models/columns/infer", json=request)

    assert response.status_code == 400
    error = response.json()["error"]
    assert "input 'Churned?'" in error and "element 1 ('2012-13-45')" in error


def test_a_date_input_refuses_booleans_and_bool_datatype(columns_client: Client) -> None:
    request = columns_request([1.0], ["x"], [True], [0.0])
    response = columns_client.post("/v2/models/columns/infer", json=request)
    assert response.status_code == 400 and "input 'Churned?'" in response.json()["error"]
    request = columns_request([1.0], ["x"], [True], [0.0], date_type="BOOL")
    response = columns_client.post("/v2/models/columns/infer", json=request)
    assert response.status_code == 400 and "BYTES" in response.json()["error"]


def test_the_tf_side_names_are_not_inputs_of_a_column_named_model(columns_client: Client) -> None:
    request = columns_request([1.0], ["x"], ["2012-01-01"], [0.0])
    request["inputs"][0]["name"] = "in_grosse"
    response = columns_client.post("/v2/models/columns/infer", json=request)
    assert response.status_code == 400
    assert "no input 'in_grosse'" in response.json()["error"]
    assert "Größe" in response.json()["error"]


# -- json_body: the payload log's view -----------------------------------------------------------


def test_json_body_of_a_binary_request_is_the_json_request(client: Client) -> None:
    body, headers = classifier_binary([40.5, 41.0], ["Dream", "Größe"], id="x")

    document = json_body(body, int(headers["Inference-Header-Content-Length"]))

    assert document == {
        "id": "x",
        "inputs": [
            {"name": "bill_length_mm", "shape": [2, 1], "datatype": "FP32", "data": [40.5, 41.0]},
            {"name": "island", "shape": [2, 1], "datatype": "BYTES", "data": ["Dream", "Größe"]},
        ],
    }


def test_json_body_of_a_binary_response_equals_the_json_response(client: Client) -> None:
    request = classifier_request([40.0, 50.0], ["Dream", "Biscoe"], id="same")
    as_json = client.post("/v2/models/penguins/infer", json=request)
    request["parameters"] = {"binary_data_output": True}
    as_binary = client.post("/v2/models/penguins/infer", json=request)

    length = int(as_binary.headers["inference-header-content-length"])

    assert json_body(as_binary.content, length) == as_json.json()
    assert json_body(as_json.content, None) == as_json.json()


@pytest.mark.parametrize(
    ("body", "length"),
    [(b"not json", None), (b"[1]", None), (b'{"inputs": []}', 99), (b"{}", -1)],
)
def test_json_body_refuses_what_is_not_a_v2_body(body: bytes, length: int | None) -> None:
    with pytest.raises(ValueError):
        json_body(body, length)


def test_the_payload_log_records_a_binary_exchange_as_json(repo: Path, tmp_path: Path) -> None:
    log = tmp_path / "logs"
    app = create_app(repo, log_payloads=str(log))
    client = Client(app)
    body, headers = classifier_binary(
        [40.5], ["Größe"], id="logged", parameters={"binary_data_output": True}
    )
    try:
        response = client.post("/v2/models/penguins/infer", content=body, headers=headers)
        assert response.status_code == 200
    finally:
        client.close()
        app.close()

    (path,) = log.glob("penguins/*/*/part-*.jsonl")
    (record,) = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert record["id"] == "logged"
    assert [i["data"] for i in record["inputs"]] == [[40.5], ["Größe"]]
    length = int(response.headers["inference-header-content-length"])
    assert record["outputs"] == json_body(response.content, length)["outputs"]


@pytest.mark.parametrize("where", ["input name", "output name", "shape"])
def test_an_error_does_not_echo_a_megabyte_of_the_request(client: Client, where: str) -> None:
    request = classifier_request([40.0], ["Dream"])
    if where == "input name":
        request["inputs"][0]["name"] = "x" * 1_000_000
    elif where == "output name":
        request["outputs"] = [{"name": "y" * 1_000_000}]
    else:
        request["inputs"][0]["shape"] = [1] * 200_000

    response = client.post("/v2/models/penguins/infer", json=request)

    assert response.status_code == 400
    assert len(response.content) < 1000
