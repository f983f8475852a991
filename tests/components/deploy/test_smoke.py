"""The smoke test on its own: golden requests to a real V2 server, and the answers it refuses."""

from __future__ import annotations

import json
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from mlrail.components.deploy.kserve import golden_rows, smoke_test

from .scenarios import FakeClock
from .v2_servers import Servers


@pytest.fixture(scope="module")
def golden(onnx_model: Path) -> dict[str, Any]:
    return dict(json.loads((onnx_model / "golden.json").read_text()))


class Recorder:
    """An HTTP client that records each POST and answers from a list (or the real server)."""

    def __init__(self, *answers: tuple[int, bytes] | Exception) -> None:
        self.answers = list(answers)
        self.posts: list[tuple[str, dict[str, Any], dict[str, str]]] = []

    def __call__(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> tuple[int, bytes]:
        self.posts.append((url, json.loads(body), dict(headers)))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_the_exported_model_passes_on_the_real_server(
    golden: dict[str, Any], servers: Servers
) -> None:
    result = smoke_test(golden, servers.good, "penguins", clock=FakeClock())
    assert result.ok and result.reason == "" and result.attempts == 1
    assert result.rows == 8 and result.max_abs_diff is not None
    assert result.max_abs_diff <= result.tolerance
    assert result.url == f"{servers.good}/v2/models/penguins/infer"


def test_a_wrong_model_fails_and_the_reason_shows_the_numbers(
    golden: dict[str, Any], servers: Servers
) -> None:
    result = smoke_test(golden, servers.bad, "penguins", clock=FakeClock())
    assert not result.ok and result.max_abs_diff is not None and result.max_abs_diff > 0.5
    assert "ONNX Runtime gave" in result.reason and "probabilities[" in result.reason


def test_the_bound_is_absolute_plus_relative(golden: dict[str, Any]) -> None:
    data = list(golden["outputs"][0]["data"])
    big = max(range(len(data)), key=lambda i: data[i])  # a value near 1
    data[big] += 5e-5

    def check(**bound: float) -> bool:
        http = Recorder((200, _answer(golden, data=data)))
        return smoke_test(golden, "http://x", "penguins", http=http, **bound).ok

    assert check(tolerance=1e-4, rtol=0)
    assert not check(tolerance=1e-5, rtol=0)
    assert check(tolerance=0, rtol=1e-4)  # 5e-5 <= 1e-4 x |~1|


def test_an_unknown_model_is_a_4xx_named_and_not_retried(
    golden: dict[str, Any], servers: Servers
) -> None:
    clock = FakeClock()
    result = smoke_test(golden, servers.good, "birds", clock=clock)
    assert not result.ok and result.attempts == 1 and clock.sleeps == []
    assert result.reason.startswith(f"HTTP 404 from {servers.good}/v2/models/birds/infer")


def test_unavailable_is_retried_then_passes(golden: dict[str, Any], servers: Servers) -> None:
    from mlrail.components.deploy.kserve.smoke import urllib_post

    calls: list[str] = []

    def flaky(url: str, body: bytes, headers: Mapping[str, str], timeout: float):
        calls.append(url)
        if len(calls) == 1:
            return 503, b"no healthy upstream"
        return urllib_post(url, body, headers, timeout)

    clock = FakeClock()
    result = smoke_test(golden, servers.good, "penguins", http=flaky, clock=clock)
    assert result.ok and result.attempts == 2 and clock.sleeps == [1.0]


def test_no_answer_is_retried_then_reported(golden: dict[str, Any]) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    clock = FakeClock()
    result = smoke_test(golden, closed, "penguins", clock=clock)
    assert not result.ok and result.attempts == 3 and clock.sleeps == [1.0, 2.0]
    assert result.reason.startswith(f"no answer from {closed}/v2/models/penguins/infer")
    assert result.max_abs_diff is None and result.latency_ms is None


def test_through_an_ingress_the_host_header_names_the_service(golden: dict[str, Any]) -> None:
    expected = json.dumps({"outputs": golden["outputs"]}).encode()
    http = Recorder((200, expected))
    result = smoke_test(
        golden,
        "http://latest-penguins-predictor-mlrail.example.com",
        "penguins",
        http=http,
        ingress_url="http://istio-ingressgateway.istio-system:80/",
        clock=FakeClock(),
    )
    assert result.ok and result.max_abs_diff == 0
    ((url, request, headers),) = http.posts
    assert url == "http://istio-ingressgateway.istio-system:80/v2/models/penguins/infer"
    assert headers["Host"] == "latest-penguins-predictor-mlrail.example.com"
    assert request == golden["request"]


def _answer(golden: dict[str, Any], **changes: Any) -> bytes:
    output = {**golden["outputs"][0], **changes}
    return json.dumps({"model_name": "penguins", "outputs": [output]}).encode()


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda g: b"<html>upstream connect error</html>", "not a V2 inference response"),
        (lambda g: b'{"outputs": {}}', "not a V2 inference response"),
        (lambda g: _answer(g, name="scores"), "output 'probabilities' missing"),
        (lambda g: _answer(g, shape=[3, 8]), "has shape [3, 8], not [8, 3]"),
        (lambda g: _answer(g, data=g["outputs"][0]["data"][:-1]), "the wrong count"),
        (lambda g: _answer(g, data=["NaN"] * 24), "holds non-numbers"),
    ],
)
def test_answers_that_are_not_the_model_output_fail(
    golden: dict[str, Any], make: Any, reason: str
) -> None:
    result = smoke_test(golden, "http://x", "penguins", http=Recorder((200, make(golden))))
    assert not result.ok and reason in result.reason


def test_nested_data_is_read_as_flat(golden: dict[str, Any]) -> None:
    flat = golden["outputs"][0]["data"]
    nested = [flat[i : i + 3] for i in range(0, len(flat), 3)]
    result = smoke_test(
        golden, "http://x", "penguins", http=Recorder((200, _answer(golden, data=nested)))
    )
    assert result.ok


def test_rows_with_missing_values_are_left_out_for_triton() -> None:
    golden = {
        "request": {
            "inputs": [
                {"name": "x", "shape": [3, 1], "datatype": "FP32", "data": [1.0, None, 3.0]},
                {"name": "s", "shape": [3, 1], "datatype": "BYTES", "data": ["a", "b", "c"]},
            ]
        },
        "outputs": [{"name": "p", "shape": [3, 2], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6]}],
    }
    request, outputs = golden_rows(golden, drop_missing=True)
    assert request["inputs"][0]["shape"] == [2, 1]
    assert request["inputs"][0]["data"] == [1.0, 3.0]
    assert request["inputs"][1]["data"] == ["a", "c"]
    assert outputs == [{"name": "p", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 5, 6]}]
    assert golden_rows(golden, drop_missing=False) == (golden["request"], golden["outputs"])
    answer = json.dumps({"outputs": outputs}).encode()
    http = Recorder((200, answer))
    result = smoke_test(golden, "http://x", "p", http=http, drop_missing=True)
    assert result.ok and result.rows == 2
    assert None not in http.posts[0][1]["inputs"][0]["data"]
