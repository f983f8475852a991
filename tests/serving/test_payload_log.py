"""Payload logging: JSON Lines and CloudEvents (KServe's logger format), sampling, and drops
that never block or fail a request. Real sinks: a tmp file and an HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from mlrail.serving.app import InferenceApp, create_app
from mlrail.serving.payload_log import (
    CE_REQUEST_TYPE,
    CE_RESPONSE_TYPE,
    PayloadLogger,
    _Entry,
    open_payload_log,
)

from .helpers import Client, classifier_request

MakeClient = Callable[[InferenceApp], Client]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def infer(client: Client, request: dict[str, Any], model: str = "penguins") -> dict[str, Any]:
    response = client.post(f"/v2/models/{model}/infer", json=request)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_jsonl_record_holds_the_request_inputs_and_response_outputs(
    repo: Path, tmp_path: Path, make_client: MakeClient
) -> None:
    log = tmp_path / "payloads.jsonl"
    app = create_app(repo, log_payloads=str(log))
    client = make_client(app)
    request = classifier_request([39.5, None], ["Dream", "Biscoe"], id="req-1")

    answer = infer(client, request)
    infer(
        client,
        {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [3.0]}]},
        model="regressor",
    )
    app.close()

    first, second = read_jsonl(log)
    assert set(first) == {"id", "model", "version", "timestamp", "latency_ms", "inputs", "outputs"}
    assert first["id"] == "req-1" and first["model"] == "penguins" and first["version"] == "2"
    assert first["inputs"] == request["inputs"]  # as sent: null stays null
    assert first["outputs"] == answer["outputs"]
    assert first["latency_ms"] > 0
    assert datetime.fromisoformat(first["timestamp"]).tzinfo is not None
    assert second["model"] == "regressor" and second["outputs"][0]["data"] == [7.0]
    assert second["id"]  # a generated id, the one the response carried


def test_failed_requests_are_not_logged(
    repo: Path, tmp_path: Path, make_client: MakeClient
) -> None:
    log = tmp_path / "payloads.jsonl"
    app = create_app(repo, log_payloads=str(log))
    client = make_client(app)

    assert client.post("/v2/models/penguins/infer", content=b"{not json").status_code == 422
    assert client.post("/v2/models/nope/infer", json={"inputs": []}).status_code == 404
    app.close()

    assert log.read_bytes() == b""


def test_the_file_is_appended_to_not_truncated(
    repo: Path, tmp_path: Path, make_client: MakeClient
) -> None:
    log = tmp_path / "payloads.jsonl"
    log.write_bytes(b'{"earlier": true}\n')
    app = create_app(repo, log_payloads=str(log))
    infer(make_client(app), classifier_request([40.0], ["Dream"]))
    app.close()

    records = read_jsonl(log)
    assert records[0] == {"earlier": True} and records[1]["model"] == "penguins"


def test_sample_rate_logs_about_that_fraction(
    repo: Path, tmp_path: Path, make_client: MakeClient
) -> None:
    log = tmp_path / "payloads.jsonl"
    app = create_app(repo, log_payloads=str(log), log_sample_rate=0.5)
    client = make_client(app)
    for i in range(300):
        infer(client, classifier_request([40.0], ["Dream"], id=str(i)))
    app.close()

    # Binomial(300, 0.5): outside [100, 200] has probability below 1e-8.
    assert 100 <= len(read_jsonl(log)) <= 200


def test_sample_rate_zero_or_no_destination_logs_nothing(repo: Path, tmp_path: Path) -> None:
    assert (
        create_app(repo, log_payloads=str(tmp_path / "p.jsonl"), log_sample_rate=0.0).payload_log
        is None
    )
    assert create_app(repo).payload_log is None


@pytest.mark.parametrize("rate", [-0.1, 1.5, float("nan")])
def test_sample_rate_outside_0_to_1_is_refused(repo: Path, tmp_path: Path, rate: float) -> None:
    with pytest.raises(ValueError, match="log_sample_rate must be between 0 and 1"):
        create_app(repo, log_payloads=str(tmp_path / "p.jsonl"), log_sample_rate=rate)


def test_a_log_file_that_cannot_be_opened_is_refused_at_start(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot open payload log"):
        create_app(repo, log_payloads=str(tmp_path / "no" / "such" / "folder" / "p.jsonl"))


class BlockedSink:
    """A sink that does not return until released: a stalled disk or collector."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.entries: list[_Entry] = []

    def write(self, entries: list[_Entry]) -> None:
        self.entered.set()
        self.release.wait(30)
        self.entries.extend(entries)

    def close(self) -> None:
        self.release.set()


class FailingSink:
    def write(self, entries: list[_Entry]) -> None:
        raise OSError("disk full")

    def close(self) -> None:
        pass


def test_a_stalled_sink_drops_and_counts_records_and_requests_still_answer(
    repo: Path, make_client: MakeClient
) -> None:
    sink = BlockedSink()
    app = create_app(repo)
    app.payload_log = PayloadLogger(sink, 1.0, queue_size=2, on_drop=app.metrics.dropped)
    client = make_client(app)

    infer(client, classifier_request([40.0], ["Dream"], id="first"))
    assert sink.entered.wait(30)  # the writer is stuck on the first record
    for i in range(10):  # two fit in the queue, eight are dropped; every request answers
        infer(client, classifier_request([40.0], ["Dream"], id=str(i)))
    dropped = app.payload_log.dropped["queue_full"]
    sink.release.set()
    app.close()

    assert dropped == 8
    assert [e.request_id for e in sink.entries] == ["first", "0", "1"]
    metrics = client.get("/metrics").text
    assert 'mlrail_payload_log_dropped_total{reason="queue_full"} 8.0' in metrics


def test_a_failing_sink_counts_drops_and_requests_still_answer(
    repo: Path, make_client: MakeClient
) -> None:
    app = create_app(repo)
    app.payload_log = PayloadLogger(FailingSink(), 1.0, on_drop=app.metrics.dropped)
    client = make_client(app)

    for _ in range(3):
        infer(client, classifier_request([40.0], ["Dream"]))
    app.close()

    assert app.payload_log.dropped["write_failed"] == 3 and app.payload_log.written == 0
    assert (
        'mlrail_payload_log_dropped_total{reason="write_failed"} 3.0' in client.get("/metrics").text
    )


# -- CloudEvents ----------------------------------------------------------------------------------


class Receiver(http.server.BaseHTTPRequestHandler):
    """Collects POSTs; answers the status the server was told to."""

    protocol_version = "HTTP/1.1"  # keep-alive, as a broker ingress does

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        server: Any = self.server
        server.received.append((dict(self.headers), body))
        self.send_response(server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Any]:
    server: Any = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.received = []
    server.status = 202
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_cloudevents_match_kserve_payload_logger(
    repo: Path, make_client: MakeClient, receiver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POD_NAMESPACE", "team-a")
    url = f"http://127.0.0.1:{receiver.server_address[1]}/events"
    app = create_app(repo, log_payloads=url)
    client = make_client(app)
    request = classifier_request([39.5], ["Dream"], id="ce-1")

    answer = client.post("/v2/models/penguins/infer", json=request)
    app.close()

    assert answer.status_code == 200
    (req_headers, req_body), (resp_headers, resp_body) = receiver.received
    for headers in (req_headers, resp_headers):
        assert headers["Content-Type"] == "application/cloudevents+json"  # structured mode
    req, resp = orjson.loads(req_body), orjson.loads(resp_body)
    assert req["type"] == CE_REQUEST_TYPE == "org.kubeflow.serving.inference.request"
    assert resp["type"] == CE_RESPONSE_TYPE == "org.kubeflow.serving.inference.response"
    for event in (req, resp):
        assert event["specversion"] == "1.0" and event["id"] == "ce-1"
        assert event["source"] == "/v2/models/penguins/versions/2"
        assert event["datacontenttype"] == "application/json"
        assert event["inferenceservicename"] == "penguins" and event["namespace"] == "team-a"
        assert event["component"] == "predictor" and event["modelversion"] == "2"
        assert datetime.fromisoformat(event["time"]).tzinfo is not None
    assert req["data"] == request
    assert resp["data"] == answer.json()
    assert resp["latencyus"] >= 0


def test_a_collector_answering_500_counts_drops(
    repo: Path, make_client: MakeClient, receiver: Any
) -> None:
    receiver.status = 500
    app = create_app(repo, log_payloads=f"http://127.0.0.1:{receiver.server_address[1]}/")
    client = make_client(app)

    assert (
        client.post(
            "/v2/models/penguins/infer", json=classifier_request([40.0], ["Dream"])
        ).status_code
        == 200
    )
    app.close()

    assert app.payload_log is not None and app.payload_log.dropped["write_failed"] == 1


def test_an_unreachable_collector_counts_drops(repo: Path, make_client: MakeClient) -> None:
    with http.server.HTTPServer(("127.0.0.1", 0), Receiver) as closed:
        port = closed.server_address[1]  # bound, then closed: nothing listens
    app = create_app(repo, log_payloads=f"http://127.0.0.1:{port}/")
    client = make_client(app)

    assert (
        client.post(
            "/v2/models/penguins/infer", json=classifier_request([40.0], ["Dream"])
        ).status_code
        == 200
    )
    app.close()

    assert app.payload_log is not None and app.payload_log.dropped["write_failed"] == 1


def test_a_url_without_host_is_refused() -> None:
    with pytest.raises(ValueError, match="has no host"):
        open_payload_log("http:///path", 1.0)
