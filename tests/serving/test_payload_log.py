"""Payload logging: the partitioned JSON Lines layout and CloudEvents (KServe's logger format),
sampling, identity, per-model switches, and drops that never block or fail a request. Real sinks:
a tmp log root and an HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import http.server
import os
import stat
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import orjson
import pytest

from mlrail.serving.app import InferenceApp, create_app
from mlrail.serving.payload_log import (
    BACKOFF_MAX_SECONDS,
    CE_IDENTITY_EXTENSION,
    CE_REQUEST_TYPE,
    CE_RESPONSE_TYPE,
    PayloadLogger,
    backoff_delay,
    open_payload_log,
    writer,
)
from mlrail.serving.payload_log.file_sink import FileSink
from mlrail.serving.payload_log.writer import Entry

from .helpers import Client, classifier_model, classifier_request

MakeClient = Callable[[InferenceApp], Client]
IDENTITY = "onnx-graph-v1:" + "ab" * 32


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def part_files(root: Path) -> list[Path]:
    """The log's files, in the order one process wrote them (folder, then name: time, seq)."""
    return sorted(root.glob("*/*/*/part-*.jsonl"))


def read_log(root: Path) -> list[dict[str, Any]]:
    return [r for f in part_files(root) for r in read_jsonl(f)]


def infer(client: Client, request: dict[str, Any], model: str = "penguins") -> dict[str, Any]:
    response = client.post(f"/v2/models/{model}/infer", json=request)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def with_identity(repo: Path, version: int, identity: str = IDENTITY) -> None:
    """A penguins version whose file records ``mlrail.identity``, as export_onnx writes it."""
    model = classifier_model(bias=2.0)
    onnx.helper.set_model_props(model, {"mlrail.identity": identity})
    folder = repo / "penguins" / str(version)
    folder.mkdir(parents=True)
    onnx.save(model, str(folder / "model.onnx"))


def test_a_record_holds_the_inputs_outputs_and_the_answering_model(
    repo: Path, tmp_path: Path, make_client: MakeClient
) -> None:
    root = tmp_path / "logs"
    app = create_app(repo, log_payloads=str(root))
    client = make_client(app)
    request = classifier_request([39.5, None], ["Dream", "Biscoe"], id="req-1")

    answer = infer(client, request)
    infer(
        client,
        {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [3.0]}]},
        model="regressor",
    )
    app.close()

    first, second = read_log(root)  # penguins/..., then regressor/...
    assert set(first) == {
        "id", "model", "version", "identity", "timestamp", "latency_ms", "inputs", "outputs"
    }  # fmt: skip
    assert first["id"] == "req-1" and first["model"] == "penguins" and first["version"] == "2"
    assert first["identity"] is None  # the test models record none
    assert first["inputs"] == request["inputs"]  # as sent: null stays null
    assert first["outputs"] == answer["outputs"]
    assert first["latency_ms"] > 0
    assert datetime.fromisoformat(first["timestamp"]).tzinfo is not None
    assert second["model"] == "regressor" and second["outputs"][0]["data"] == [7.0]
    assert second["id"]  # a generated id, the one the response carried


def test_records_sit_in_the_hour_folder_of_their_timestamp(
    repo: Path, tmp_path: Path, make_client: MakeClient
) -> None:
    root = tmp_path / "logs"
    app = create_app(repo, log_payloads=str(root))
    infer(make_client(app), classifier_request([40.0], ["Dream"]))
    app.close()

    (path,) = part_files(root)
    (record,) = read_jsonl(path)
    moment = datetime.fromisoformat(record["timestamp"])
    assert path.parent.relative_to(root).parts == (
        "penguins", moment.strftime("%Y-%m-%d"), moment.strftime("%H")
    )  # fmt: skip
    assert path.name.startswith("part-") and f"-{os.getpid()}-" in path.name


def test_a_record_names_the_identity_the_served_version_records(
    repo: Path, tmp_path: Path, make_client: MakeClient
) -> None:
    with_identity(repo, 3)
    root = tmp_path / "logs"
    app = create_app(repo, log_payloads=str(root))
    answer = infer(make_client(app), classifier_request([40.0], ["Dream"]))
    app.close()

    (record,) = read_log(root)
    assert answer["model_version"] == "3"
    assert record["version"] == "3" and record["identity"] == IDENTITY


def test_failed_requests_are_not_logged(
    repo: Path, tmp_path: Path, make_client: MakeClient
) -> None:
    root = tmp_path / "logs"
    app = create_app(repo, log_payloads=str(root))
    client = make_client(app)

    assert client.post("/v2/models/penguins/infer", content=b"{not json").status_code == 422
    assert client.post("/v2/models/nope/infer", json={"inputs": []}).status_code == 404
    app.close()

    assert root.is_dir() and part_files(root) == []


def test_earlier_files_under_the_root_are_left_alone(
    repo: Path, tmp_path: Path, make_client: MakeClient
) -> None:
    root = tmp_path / "logs"
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)  # well within the retention
    earlier = root / "penguins" / an_hour_ago.strftime("%Y-%m-%d/%H") / "part-earlier.jsonl"
    earlier.parent.mkdir(parents=True)
    earlier.write_bytes(b'{"earlier": true}\n')
    app = create_app(repo, log_payloads=str(root))
    infer(make_client(app), classifier_request([40.0], ["Dream"]))
    app.close()

    assert earlier.read_bytes() == b'{"earlier": true}\n'
    assert [r.get("model") for r in read_log(root)] == [None, "penguins"]


def test_sample_rate_logs_about_that_fraction(
    repo: Path, tmp_path: Path, make_client: MakeClient
) -> None:
    root = tmp_path / "logs"
    app = create_app(repo, log_payloads=str(root), log_sample_rate=0.5)
    client = make_client(app)
    for i in range(300):
        infer(client, classifier_request([40.0], ["Dream"], id=str(i)))
    app.close()

    # Binomial(300, 0.5): outside [100, 200] has probability below 1e-8.
    assert 100 <= len(read_log(root)) <= 200


def test_sample_rate_zero_or_no_destination_logs_nothing(repo: Path, tmp_path: Path) -> None:
    assert (
        create_app(repo, log_payloads=str(tmp_path / "logs"), log_sample_rate=0.0).payload_log
        is None
    )
    assert create_app(repo).payload_log is None


@pytest.mark.parametrize("rate", [-0.1, 1.5, float("nan")])
def test_sample_rate_outside_0_to_1_is_refused(repo: Path, tmp_path: Path, rate: float) -> None:
    with pytest.raises(ValueError, match="log_sample_rate must be between 0 and 1"):
        create_app(repo, log_payloads=str(tmp_path / "logs"), log_sample_rate=rate)


def test_a_log_root_that_cannot_be_created_is_refused_at_start(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot use payload log folder .*no/such"):
        create_app(repo, log_payloads=str(tmp_path / "no" / "such" / "logs"))


def test_a_log_root_that_is_a_file_is_refused_at_start(repo: Path, tmp_path: Path) -> None:
    (tmp_path / "p.jsonl").write_text("")  # the old single-file layout's path

    with pytest.raises(ValueError, match="p.jsonl is not a folder"):
        create_app(repo, log_payloads=str(tmp_path / "p.jsonl"))


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
    app.model_logs = None  # every model, to this logger
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
    app.model_logs = None
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
    assert CE_IDENTITY_EXTENSION not in req  # the test model records no identity: absent


def test_cloudevents_carry_the_answering_identity_as_an_extension(
    repo: Path, make_client: MakeClient, receiver: Any
) -> None:
    with_identity(repo, 3)
    app = create_app(repo, log_payloads=f"http://127.0.0.1:{receiver.server_address[1]}/")
    infer(make_client(app), classifier_request([39.5], ["Dream"], id="ce-2"))
    app.close()

    events = [orjson.loads(body) for _, body in receiver.received]
    assert [e["type"] for e in events] == [CE_REQUEST_TYPE, CE_RESPONSE_TYPE]
    for event in events:
        assert event[CE_IDENTITY_EXTENSION] == IDENTITY and event["modelversion"] == "3"


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
    log = open_payload_log(str(tmp_path / "logs"), 1.0)
    request = b'{"id":"n","inputs":[{"name":"x","shape":[1,1],"datatype":"FP32","data":[NaN]}]}'

    log.offer("n", "regressor", "1", 1.7e9, 0.002, request, b'{"outputs":[{"name":"y"}]}')
    log.close()

    (record,) = read_log(tmp_path / "logs")
    assert record["inputs"][0]["data"] == [None]  # NaN (accepted as missing) logged as null
    assert record["outputs"] == [{"name": "y"}]
    assert record["latency_ms"] == 2.0
    assert record["identity"] is None


# -- the files: modes, symlinks, rotation, workers ------------------------------------------------


def entry(i: int, timestamp: float = 1.7e9, model: str = "penguins") -> Entry:
    return Entry(str(i), model, "2", timestamp, 0.001, REQUEST, RESPONSE, None, None, IDENTITY)


def test_files_are_owner_only_and_folders_too(tmp_path: Path) -> None:
    root = tmp_path / "logs"
    log = open_payload_log(str(root), 1.0)
    offer(log)
    log.close()

    (path,) = part_files(root)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for folder in (root, path.parent, path.parent.parent, path.parent.parent.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700


@pytest.mark.parametrize("where", ["model", "day", "hour"])
def test_a_symlink_inside_the_log_tree_is_refused_and_counted(tmp_path: Path, where: str) -> None:
    root = tmp_path / "logs"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    folders = {"model": root / "penguins", "day": root / "penguins" / "2023-11-14"}
    folders["hour"] = folders["day"] / "22"  # 1.7e9 is 2023-11-14T22:13:20Z
    link = folders[where]
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(elsewhere, target_is_directory=True)
    log = open_payload_log(str(root), 1.0)

    offer(log)
    log.close()

    assert log.dropped["write_failed"] == 1 and log.written == 0
    assert list(elsewhere.rglob("*")) == []  # nothing written through the link


def test_a_file_rotates_by_size_and_every_record_is_kept_in_order(tmp_path: Path) -> None:
    scratch = FileSink(tmp_path / "scratch")
    scratch.write([entry(10)])
    scratch.close()
    (one_file,) = part_files(tmp_path / "scratch")
    one = one_file.stat().st_size  # one record's line
    root = tmp_path / "logs"
    sink = FileSink(root, max_file_bytes=3 * one)
    for i in range(40):
        sink.write([entry(i)])
    sink.close()

    files = part_files(root)
    assert len(files) == 14  # 40 records, 3 a file
    for f in files:
        assert f.stat().st_size <= 3 * one
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert [int(r["id"]) for r in read_log(root)] == list(range(40))


def test_a_new_file_starts_when_the_hour_changes(tmp_path: Path) -> None:
    root = tmp_path / "logs"
    hour = 3600.0
    base = 1_700_000_000.0 - 1_700_000_000.0 % hour  # 2023-11-14T22:00:00Z
    sink = FileSink(root, clock=lambda: base + hour + 10)  # then, not now (retention)
    sink.write([entry(0, base + 10), entry(1, base + hour - 1)])
    sink.write([entry(2, base + hour), entry(3, base + hour + 5)])
    sink.close()

    by_folder = {f.parent.relative_to(root).as_posix(): read_jsonl(f) for f in part_files(root)}
    assert {k: [r["id"] for r in v] for k, v in by_folder.items()} == {
        "penguins/2023-11-14/22": ["0", "1"],
        "penguins/2023-11-14/23": ["2", "3"],
    }


def test_two_workers_on_one_root_each_write_their_own_files(
    repo: Path, tmp_path: Path, make_client: MakeClient
) -> None:
    root = tmp_path / "logs"
    # Two apps in one process stand for two worker processes here (the real two-worker server
    # is in test_server.py); a process's files are its own, so nothing is shared.
    apps = [create_app(repo, log_payloads=str(root)) for _ in range(2)]
    clients = [make_client(app) for app in apps]
    for i in range(60):
        infer(clients[i % 2], classifier_request([40.0], ["Dream"], id=str(i)))
    for app in apps:
        app.close()

    files = part_files(root)
    assert len(files) == 2  # one each
    ids = sorted(int(r["id"]) for r in read_log(root))
    assert ids == list(range(60))
    assert {tuple(sorted(int(r["id"]) % 2 for r in read_jsonl(f))) for f in files} == {
        (0,) * 30,
        (1,) * 30,
    }


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
    logs = [open_payload_log(str(tmp_path / "logs"), 1.0), open_payload_log(url, 1.0)]

    for log in logs:
        log.offer(
            "bin", "regressor", "1", 1.7e9, 0.001, body, RESPONSE, request_header_length=len(header)
        )
        log.close()

    (record,) = read_log(tmp_path / "logs")
    event = orjson.loads(receiver.received[0][1])
    for inputs in (record["inputs"], event["data"]["inputs"]):
        assert inputs[0]["data"] == [1.5, 2.5]
        assert "binary_data_size" not in inputs[0].get("parameters", {})
