"""``GET /metrics``: Prometheus text exposition of request counts, errors and latency."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mlrail.serving.app import InferenceApp, create_app

from .helpers import Client, classifier_request, write_reshaper

MakeClient = Callable[[InferenceApp], Client]


def samples(client: Client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of /metrics, keyed by (name, labels), parsed by prometheus_client."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(labels.items())


def test_requests_are_counted_by_model_and_status(repo: Path, make_client: MakeClient) -> None:
    client = make_client(create_app(repo))
    for _ in range(3):
        client.post("/v2/models/penguins/infer", json=classifier_request([40.0], ["Dream"]))
    client.post("/v2/models/penguins/infer", content=b"{not json")
    client.post("/v2/models/penguins/infer", json=classifier_request([40.0], ["Dream"] * 2))
    client.post("/v2/models/regressor/versions/9/infer", json={"inputs": []})

    got = samples(client)

    requests = "mlrail_inference_requests_total"
    assert got[key(requests, model="penguins", status="200")] == 3
    assert got[key(requests, model="penguins", status="422")] == 1
    assert got[key(requests, model="penguins", status="400")] == 1
    assert got[key(requests, model="regressor", status="404")] == 1
    errors = "mlrail_inference_errors_total"
    assert got[key(errors, model="penguins", kind="client")] == 2
    assert got[key(errors, model="regressor", kind="client")] == 1
    latency = "mlrail_inference_request_duration_seconds"
    assert got[key(f"{latency}_count", model="penguins")] == 5
    assert got[key(f"{latency}_sum", model="penguins")] > 0
    assert got[key(f"{latency}_bucket", model="penguins", le="+Inf")] == 5


def test_onnx_runtime_failures_are_server_errors(tmp_path: Path, make_client: MakeClient) -> None:
    write_reshaper(tmp_path)
    client = make_client(create_app(tmp_path))
    one_row = {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [1.0]}]}

    assert client.post("/v2/models/reshaper/infer", json=one_row).status_code == 500

    got = samples(client)
    assert got[key("mlrail_inference_requests_total", model="reshaper", status="500")] == 1
    assert got[key("mlrail_inference_errors_total", model="reshaper", kind="server")] == 1


def test_unknown_model_names_share_one_empty_label(repo: Path, make_client: MakeClient) -> None:
    client = make_client(create_app(repo))
    for name in ("a", "b", "c" * 300):
        assert client.post(f"/v2/models/{name}/infer", json={"inputs": []}).status_code == 404

    got = samples(client)

    assert got[key("mlrail_inference_requests_total", model="", status="404")] == 3
    models = {dict(labels).get("model") for _, labels in got}
    assert models <= {None, "", "penguins", "regressor"}  # no label value per client-sent name


def test_metrics_only_answers_get(repo: Path, make_client: MakeClient) -> None:
    client = make_client(create_app(repo))

    response = client.post("/metrics")

    assert response.status_code == 405 and response.headers["allow"] == "GET"


@pytest.mark.parametrize("path", ["/v2/health/live", "/v2/models/penguins"])
def test_other_endpoints_are_not_counted_as_inference(
    repo: Path, make_client: MakeClient, path: str
) -> None:
    client = make_client(create_app(repo))
    client.get(path)

    got = samples(client)

    assert not [k for k in got if k[0] == "mlrail_inference_requests_total"]


def test_payload_log_drops_are_exported_as_zero_before_any(
    repo: Path, make_client: MakeClient
) -> None:
    got = samples(make_client(create_app(repo)))

    for reason in ("queue_full", "write_failed"):
        assert got[key("mlrail_payload_log_dropped_total", reason=reason)] == 0
