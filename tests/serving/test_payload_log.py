"""Payload logging: JSON Lines and CloudEvents (KServe's logger format), sampling, and drops
that never block or fail a request. Real sinks: a tmp file and an HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import http.server
import os
import stat
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from mlrail.serving.app import InferenceApp, create_app
from mlrail.serving.payload_log import (
    BACKOFF_MAX_SECONDS,
    CE_REQUEST_TYPE,
    CE_RESPONSE_TYPE,
    PayloadLogger,
    backoff_delay,
    open_payload_log,
    writer,
)
from mlrail.serving.payload_log.file_sink import FileSink
from mlrail.serving.payload_log.writer import Entry

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
        self.entries: list[Entry] = []

    def write(self, entries: list[Entry]) -> None:
        self.entered.set()
        self.release.wait(30)
        self.entries.extend(entries)

    def close(self) -> None:
        self.release.set()


class FailingSink:
    def write(self, entries: list[Entry]) -> None:
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

    dropped = app.payload_log.dropped
    assert app.payload_log.written == 0
    # The first failure starts a back-off: what follows within it is dropped without a try.
    assert dropped["write_failed"] >= 1
    assert dropped["write_failed"] + dropped["sink_backoff"] == 3
    metrics = client.get("/metrics").text
    assert (
        f'mlrail_payload_log_dropped_total{{reason="write_failed"}} {dropped["write_failed"]}.0'
        in (metrics)
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


# -- bounded in bytes, holding bytes --------------------------------------------------------------

REQUEST = orjson.dumps(classifier_request([39.5], ["Dream"], id="r"))
RESPONSE = b'{"model_name":"penguins","model_version":"2","id":"r","outputs":[]}'


def offer(log: PayloadLogger, request: bytes = REQUEST, request_id: str = "r") -> None:
    log.offer(request_id, "penguins", "2", 1.7e9, 0.001, request, RESPONSE)


def test_the_queue_is_bounded_in_bytes_and_drops_are_counted() -> None:
    sink = BlockedSink()
    drops: list[tuple[str, int]] = []
    big = b'{"inputs":[],"pad":"' + b"x" * 1_000_000 + b'"}'  # about 1 MB each
    log = PayloadLogger(sink, 1.0, on_drop=lambda r, n: drops.append((r, n)), queue_bytes=3_500_000)

    offer(log, big, "first")
    assert sink.entered.wait(30)  # the writer holds the first one (still counted)...
    for i in range(10):  # ...so two more fit in 3.5 MB; eight are dropped
        offer(log, big, str(i))
    held = log.queued_bytes
    sink.release.set()
    log.close()

    assert held <= 3_500_000
    assert log.dropped["queue_full"] == 8 and drops.count(("queue_full", 1)) == 8
    assert [e.request_id for e in sink.entries] == ["first", "0", "1"]
    assert log.queued_bytes == 0  # given back once written


def test_a_record_larger_than_the_whole_queue_is_dropped_not_held() -> None:
    sink = BlockedSink()
    sink.release.set()
    log = PayloadLogger(sink, 1.0, queue_bytes=1000)

    offer(log, b'{"inputs":[],"pad":"' + b"x" * 2000 + b'"}')
    offer(log)
    log.close()

    assert log.dropped["queue_full"] == 1
    assert len(sink.entries) == 1


def test_the_queue_keeps_the_request_bytes_it_was_given_not_a_parsed_copy() -> None:
    sink = BlockedSink()
    sink.release.set()
    log = PayloadLogger(sink, 1.0)
    body = bytes(REQUEST)

    offer(log, body)
    log.close()

    (entry,) = sink.entries
    assert entry.request is body  # the very object: no parse, no copy


def test_a_jsonl_record_is_built_from_the_bytes_in_the_writer(tmp_path: Path) -> None:
    log = open_payload_log(str(tmp_path / "p.jsonl"), 1.0)
    request = b'{"id":"n","inputs":[{"name":"x","shape":[1,1],"datatype":"FP32","data":[NaN]}]}'

    log.offer("n", "regressor", "1", 1.7e9, 0.002, request, b'{"outputs":[{"name":"y"}]}')
    log.close()

    (record,) = read_jsonl(tmp_path / "p.jsonl")
    assert record["inputs"][0]["data"] == [None]  # NaN (accepted as missing) logged as null
    assert record["outputs"] == [{"name": "y"}]
    assert record["latency_ms"] == 2.0


# -- the file: mode, symlinks, rotation -----------------------------------------------------------


def test_the_log_file_is_created_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    log = open_payload_log(str(path), 1.0)
    log.close()

    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_symlink_at_the_log_path_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_text("not yours\n")
    link = tmp_path / "p.jsonl"
    link.symlink_to(target)

    with pytest.raises(ValueError, match="is a symbolic link; refusing to follow it"):
        open_payload_log(str(link), 1.0)
    assert target.read_text() == "not yours\n"


def test_a_log_path_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "p.jsonl"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # so opening it for writing succeeds
    try:
        with pytest.raises(ValueError, match="not a regular file"):
            open_payload_log(str(fifo), 1.0)
    finally:
        os.close(reader)


def entry(i: int) -> Entry:
    return Entry(str(i), "penguins", "2", 1.7e9, 0.001, REQUEST, RESPONSE, None, None)


def all_records(folder: Path) -> list[dict[str, Any]]:
    return [r for f in sorted(folder.glob("p*.jsonl")) for r in read_jsonl(f)]


def test_the_file_rotates_by_size_and_keeps_a_bounded_count(tmp_path: Path) -> None:
    scratch = FileSink(tmp_path / "scratch.log")
    scratch.write([entry(10)])
    scratch.close()
    one = (tmp_path / "scratch.log").stat().st_size  # one record's line
    path = tmp_path / "p.jsonl"
    sink = FileSink(path, rotate_bytes=3 * one, keep_files=3)
    for i in range(40):
        sink.write([entry(i)])
    sink.close()

    rotated = sorted(tmp_path.glob("p-*.jsonl"))
    assert len(rotated) == 3  # the oldest were removed
    for f in [path, *rotated]:
        assert f.stat().st_size <= 3 * one
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
        assert f.name == "p.jsonl" or f.name[2:10].isdigit()  # p-<UTC time>.jsonl
    ids = [int(r["id"]) for r in all_records(tmp_path)]
    assert ids == sorted(ids) and ids[-1] == 39  # the newest records, in order


def test_the_file_rotates_by_age(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    sink = FileSink(path, rotate_seconds=1e-9, keep_files=10)
    for i in range(3):
        sink.write([entry(i)])
    sink.close()

    assert len(list(tmp_path.glob("p-*.jsonl"))) == 2  # before the 2nd and 3rd writes
    assert [r["id"] for r in all_records(tmp_path)] == ["0", "1", "2"]


def test_two_workers_sharing_the_file_lose_nothing_across_rotations(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    # Two sinks on one path have their own open files, as two worker processes do.
    workers = [FileSink(path, rotate_bytes=2000, keep_files=1000) for _ in range(2)]
    for i in range(60):
        workers[i % 2].write([entry(i)])
    for w in workers:
        w.close()

    ids = sorted(int(r["id"]) for r in all_records(tmp_path))
    assert ids == list(range(60))
    assert len(list(tmp_path.glob("p-*.jsonl"))) >= 5


# -- back-off -------------------------------------------------------------------------------------


class CountingFailingSink:
    def __init__(self) -> None:
        self.calls = 0

    def write(self, entries: list[Entry]) -> None:
        self.calls += 1
        raise OSError("connection refused")

    def close(self) -> None:
        pass


def test_backoff_doubles_up_to_a_cap() -> None:
    delays = [backoff_delay(n) for n in range(1, 12)]

    assert delays[:4] == [1.0, 2.0, 4.0, 8.0]
    assert delays[-1] == BACKOFF_MAX_SECONDS and max(delays) == BACKOFF_MAX_SECONDS
    assert delays == sorted(delays)


def wait_for(condition: Callable[[], object]) -> None:
    """Wait (generously) for the writer thread to reach a state; no time is asserted."""
    for _ in range(3000):
        if condition():
            return
        threading.Event().wait(0.01)
    raise AssertionError("the writer thread never got there")


def test_records_offered_while_backing_off_are_dropped_without_trying_the_sink(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(writer, "BACKOFF_FIRST_SECONDS", 3600.0)  # no retry in this test
    sink = CountingFailingSink()
    log = PayloadLogger(sink, 1.0)

    offer(log)
    wait_for(lambda: log.dropped["write_failed"])
    for _ in range(50):
        offer(log)
    log.close()

    assert sink.calls == 1
    assert log.dropped == {"queue_full": 0, "write_failed": 1, "sink_backoff": 50}


def test_the_sink_is_tried_again_after_the_backoff_and_recovers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(writer, "BACKOFF_FIRST_SECONDS", 0.0)  # retried at once

    class FlakySink(BlockedSink):
        def __init__(self) -> None:
            super().__init__()
            self.release.set()
            self.failed = False

        def write(self, entries: list[Entry]) -> None:
            if not self.failed:
                self.failed = True
                raise OSError("collector restarting")
            super().write(entries)

    sink = FlakySink()
    log = PayloadLogger(sink, 1.0)
    offer(log, request_id="lost")
    wait_for(lambda: log.dropped["write_failed"])
    offer(log, request_id="kept")
    log.close()

    assert [e.request_id for e in sink.entries] == ["kept"]
    assert log.written == 1


def test_a_closed_collector_is_not_reconnected_for_every_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(writer, "BACKOFF_FIRST_SECONDS", 3600.0)
    with http.server.HTTPServer(("127.0.0.1", 0), Receiver) as closed:
        port = closed.server_address[1]  # bound, then closed: nothing listens
    log = open_payload_log(f"http://127.0.0.1:{port}/", 1.0)
    offer(log)
    wait_for(lambda: log.dropped["write_failed"])  # then each record is dropped on the spot
    for _ in range(100):
        offer(log)
    log.close()

    assert log.dropped["write_failed"] == 1
    assert log.dropped["sink_backoff"] == 100


def test_a_request_with_nan_literals_still_makes_a_valid_cloudevent(receiver: Any) -> None:
    log = open_payload_log(f"http://127.0.0.1:{receiver.server_address[1]}/", 1.0)
    with_nan = b'{"inputs":[{"name":"x","shape":[2,1],"datatype":"FP32","data":[NaN,1.5]}]}'
    plain = b'{"inputs":[{"name":"x","shape":[1,1],"datatype":"FP32","data":[2.5]}]}'

    log.offer("a", "regressor", "1", 1.7e9, 0.001, with_nan, RESPONSE)
    log.offer("b", "regressor", "1", 1.7e9, 0.001, plain, RESPONSE)
    log.close()

    requests = [orjson.loads(body) for _, body in receiver.received[::2]]  # strict JSON
    assert requests[0]["data"]["inputs"][0]["data"] == [None, 1.5]
    assert requests[1]["data"] == orjson.loads(plain)


def test_a_binary_extension_request_is_logged_as_v2_json(tmp_path: Path, receiver: Any) -> None:
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": [2, 1],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": 8},
                }
            ]
        }
    )
    body = header + np.array([1.5, 2.5], dtype="<f4").tobytes()
    url = f"http://127.0.0.1:{receiver.server_address[1]}/"
    logs = [open_payload_log(str(tmp_path / "p.jsonl"), 1.0), open_payload_log(url, 1.0)]

    for log in logs:
        log.offer(
            "bin", "regressor", "1", 1.7e9, 0.001, body, RESPONSE, request_header_length=len(header)
        )
        log.close()

    (record,) = read_jsonl(tmp_path / "p.jsonl")
    event = orjson.loads(receiver.received[0][1])
    for inputs in (record["inputs"], event["data"]["inputs"]):
        assert inputs[0]["data"] == [1.5, 2.5]
        assert "binary_data_size" not in inputs[0].get("parameters", {})
