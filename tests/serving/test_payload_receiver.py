"""The payload receiver, run for real on 127.0.0.1 (`mlrail payload-receiver` in a subprocess):
fed by a real `mlrail serve --log-payloads <its URL>` (the server's CloudEvents sink, structured
mode) and by binary-mode CloudEvents built with the ``cloudevents`` SDK as KServe's logger
sends them. The files it writes are read back and checked against the payload log's layout and
record format (/tmp/monitor-spec.md section 1, :mod:`mlrail.serving.payload_receiver`).

Waiting is by polling the receiver's /metrics until its counters say the work is done (a
deadline only turns a hang into a failure); nothing asserts on elapsed time.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import onnx
import pytest
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from mlrail.artifacts.identity import IDENTITY_METADATA_KEY, model_identity
from mlrail.serving.payload_receiver import Pairs, parse_event

from .helpers import classifier_request, free_port, write_classifier

# `mlrail payload-receiver`, exactly as the CLI builds it (program.py registers the same
# function; this launcher does not depend on that line).
LAUNCHER = """
import sys
from mlrail.cli.options import Parser
from mlrail.cli.payloads import add_payload_receiver
p = Parser(prog="mlrail")
add_payload_receiver(p.add_subparsers(dest="command", required=True))
a = p.parse_args(sys.argv[1:])
sys.exit(a.func(a))
"""
PART = re.compile(r"^part-\d{8}T\d{12}Z-[A-Za-z0-9._]+-\d+-\d+\.jsonl$")
REQUEST_TYPE = "org.kubeflow.serving.inference.request"
RESPONSE_TYPE = "org.kubeflow.serving.inference.response"
DEADLINE = 120.0


@dataclass
class Receiver:
    url: str
    process: subprocess.Popen[str]

    def metrics(self) -> dict[str, float]:
        text = httpx.get(f"{self.url}metrics", timeout=5).text
        return {
            line.split(" ")[0]: float(line.split(" ")[1])
            for line in text.splitlines()
            if line and not line.startswith("#")
        }

    def wait_for(self, what: Callable[[dict[str, float]], bool]) -> dict[str, float]:
        deadline = time.monotonic() + DEADLINE
        while True:
            m = self.metrics()
            if what(m):
                return m
            assert time.monotonic() < deadline, f"the receiver never got there: {m}"
            time.sleep(0.05)

    def stop(self) -> str:
        """SIGTERM (as Kubernetes stops a pod); its output once it exited."""
        self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=60)
        assert self.process.returncode == 0, err
        return out


def _wait_up(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + DEADLINE
    while True:
        if process.poll() is not None:
            raise AssertionError(f"exited {process.returncode}: {process.communicate()[1]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{url} did not come up"
        time.sleep(0.05)


@contextmanager
def receiver(root: str, *flags: str, env: dict[str, str] | None = None) -> Iterator[Receiver]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, "payload-receiver", "--port", str(port), "--to", root]
        + list(flags),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_up(f"{url}healthz", process)
        yield Receiver(url, process)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


@contextmanager
def mlrail_serve(repo: Path, log_to: str, *flags: str) -> Iterator[str]:
    """The real `mlrail serve` (python -m mlrail.cli) logging its payloads to ``log_to``."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mlrail.cli", "serve", "--model-repository", str(repo)]
        + ["--port", str(port), "--log-payloads", log_to, *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_up(f"{url}/v2/health/ready", process)
        yield url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        process.communicate()


def read_log(root: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Every record under ``root`` with the file it is in (relative to the root)."""
    found = []
    for path in sorted(root.rglob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            found.append((path.relative_to(root), json.loads(line)))
    return found


def check_layout(where: Path, record: dict[str, Any]) -> None:
    """The record is in its model's folder for the UTC hour of its timestamp, in a part file."""
    moment = datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00"))
    assert record["timestamp"].endswith("Z") and moment.tzinfo is not None
    assert where.parts[:3] == (
        record["model"],
        moment.astimezone(UTC).strftime("%Y-%m-%d"),
        moment.astimezone(UTC).strftime("%H"),
    )
    assert PART.match(where.name), where.name
    assert set(record) == {
        "id",
        "model",
        "version",
        "identity",
        "timestamp",
        "latency_ms",
        "inputs",
        "outputs",
    }


# --- fed by the real mlrail serve -----------------------------------------------------------


@pytest.fixture
def identified_repo(tmp_path: Path) -> tuple[Path, str]:
    """A repository of one classifier whose file records its identity, as export_onnx does."""
    repo = tmp_path / "models"
    folder = write_classifier(repo, 1)
    proto = onnx.load(str(folder / "model.onnx"))
    identity = model_identity(proto)
    onnx.helper.set_model_props(proto, {IDENTITY_METADATA_KEY: identity})
    onnx.save(proto, str(folder / "model.onnx"))
    return repo, identity


def test_mlrail_serve_traffic_lands_as_one_record_per_inference(
    identified_repo: tuple[Path, str], tmp_path: Path
) -> None:
    repo, identity = identified_repo
    root = tmp_path / "logs"
    sent: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    before = time.time()
    with receiver(str(root)) as rcv, mlrail_serve(repo, rcv.url) as serve:
        for i in range(5):
            request = classifier_request([30.0 + i, 45.5], ["Biscoe", "Dream"], id=f"req-{i}")
            response = httpx.post(f"{serve}/v2/models/penguins/infer", json=request, timeout=30)
            assert response.status_code == 200, response.text
            sent[f"req-{i}"] = (request, response.json())
        # an inference the server refused is not logged, so never half-paired
        bad = httpx.post(f"{serve}/v2/models/penguins/infer", json={"inputs": []}, timeout=30)
        assert bad.status_code == 400
        rcv.wait_for(lambda m: m["mlrail_payload_receiver_records_total"] == 5)
        out = rcv.stop()
    after = time.time()
    assert "stopped: 5 record(s), 5 written" in out
    records = read_log(root)
    assert sorted(r["id"] for _, r in records) == sorted(sent)
    for where, record in records:
        check_layout(where, record)
        request, response = sent[record["id"]]
        assert record["model"] == "penguins"
        assert record["version"] == "1" == response["model_version"]
        assert record["identity"] == identity
        assert record["inputs"] == request["inputs"]
        assert record["outputs"] == response["outputs"]
        assert record["latency_ms"] > 0
        stamp = datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00")).timestamp()
        assert before <= stamp <= after
    # one receiver process: its files are its own, created owner-only
    for path in root.rglob("part-*.jsonl"):
        assert path.stat().st_mode & 0o777 == 0o600


def test_a_sample_rate_of_0_5_at_the_server_records_only_what_was_sent(
    identified_repo: tuple[Path, str], tmp_path: Path
) -> None:
    repo, _ = identified_repo
    root = tmp_path / "logs"
    with (
        receiver(str(root)) as rcv,
        mlrail_serve(repo, rcv.url, "--log-sample-rate", "0.5") as serve,
    ):
        for i in range(40):
            request = classifier_request([30.0], ["Biscoe"], id=f"r{i}")
            response = httpx.post(f"{serve}/v2/models/penguins/infer", json=request, timeout=30)
            assert response.status_code == 200
        # the server decides what is sampled; whatever came is paired whole, nothing left over
        m = rcv.wait_for(
            lambda m: (
                m['mlrail_payload_receiver_events_total{type="request"}']
                == m['mlrail_payload_receiver_events_total{type="response"}']
                == m["mlrail_payload_receiver_records_total"]
                and m["mlrail_payload_receiver_pending"] == 0
            )
        )
        rcv.stop()
    records = read_log(root)
    assert len(records) == m["mlrail_payload_receiver_records_total"]
    assert 0 < len(records) < 40  # 2**-40 chance each way of a false failure


# --- KServe's logger: binary mode -----------------------------------------------------------


def kserve_event(kind: str, event_id: str, data: dict[str, Any], **extensions: str) -> CloudEvent:
    """A CloudEvent as KServe's logger (pkg/logger/worker.go) makes it."""
    attributes = {
        "id": event_id,
        "type": kind,
        "source": "http://localhost:9081/",
        "specversion": "1.0",
        "inferenceservicename": "penguins-triton",
        "namespace": "mlrail",
        "component": "predictor",
        "endpoint": "",
        **extensions,
    }
    return CloudEvent(attributes, json.dumps(data).encode())


def post_binary(url: str, event: CloudEvent) -> httpx.Response:
    headers, body = to_binary(event)
    headers = {**headers, "content-type": "application/json"}
    return httpx.post(url, headers=headers, content=body, timeout=10)


V2_REQUEST = {
    "inputs": [{"name": "bill_length_mm", "datatype": "FP32", "shape": [1, 1], "data": [39.1]}]
}
V2_RESPONSE = {
    "model_name": "penguins-triton",
    "model_version": "3",
    "outputs": [
        {"name": "probabilities", "datatype": "FP32", "shape": [1, 2], "data": [0.25, 0.75]}
    ],
}


def test_kserve_logger_events_in_binary_mode_pair_in_either_order(tmp_path: Path) -> None:
    root = tmp_path / "logs"
    with receiver(str(root)) as rcv:
        # the response may come first: KServe's logger sends each from its own goroutine
        response = kserve_event(RESPONSE_TYPE, "a", V2_RESPONSE, time="2026-12-03T07:45:01.5Z")
        request = kserve_event(REQUEST_TYPE, "a", V2_REQUEST, time="2026-12-03T07:59:59.999999Z")
        assert post_binary(rcv.url, response).status_code == 202
        assert rcv.metrics()["mlrail_payload_receiver_pending"] == 1
        assert post_binary(rcv.url, request).status_code == 202
        second_request = kserve_event(REQUEST_TYPE, "b", V2_REQUEST, time="2026-12-03T08:00:00Z")
        second_response = kserve_event(RESPONSE_TYPE, "b", V2_RESPONSE)
        assert post_binary(rcv.url, second_request).status_code == 202
        assert post_binary(rcv.url, second_response).status_code == 202
        rcv.wait_for(lambda m: m["mlrail_payload_receiver_records_written_total"] == 2)
        rcv.stop()
    records = {r["id"]: (where, r) for where, r in read_log(root)}
    where, record = records["a"]
    check_layout(where, record)
    assert record == {
        "id": "a",
        "model": "penguins-triton",
        "version": "3",  # from the response body: KServe's logger sends no modelversion
        "identity": None,  # KServe's logger cannot say which identity answered
        "timestamp": "2026-12-03T07:59:59.999999Z",  # the request's, not the response's
        "latency_ms": None,
        "inputs": V2_REQUEST["inputs"],
        "outputs": V2_RESPONSE["outputs"],
    }
    # the next hour's request goes to the next hour's folder
    assert records["b"][0].parts[:3] == ("penguins-triton", "2026-12-03", "08")
    assert where.parts[:3] == ("penguins-triton", "2026-12-03", "07")


def test_unpaired_events_are_dropped_and_counted_not_written(tmp_path: Path) -> None:
    root = tmp_path / "logs"
    with receiver(str(root), "--max-pending", "2") as rcv:
        for i in range(3):  # the third pushes the first out: bounded memory
            assert post_binary(rcv.url, kserve_event(REQUEST_TYPE, f"r{i}", V2_REQUEST)).is_success
        m = rcv.metrics()
        assert m['mlrail_payload_receiver_dropped_total{reason="evicted"}'] == 1
        assert m["mlrail_payload_receiver_pending"] == 2
        # its response comes too late: it waits in turn, never written half
        assert post_binary(rcv.url, kserve_event(RESPONSE_TYPE, "r0", V2_RESPONSE)).is_success
        # an error answer has no outputs to record: counted, the request not kept waiting
        assert post_binary(rcv.url, kserve_event(REQUEST_TYPE, "e", V2_REQUEST)).is_success
        error = kserve_event(RESPONSE_TYPE, "e", {"error": "model not ready"})
        assert post_binary(rcv.url, error).status_code == 202
        m = rcv.metrics()
        assert m['mlrail_payload_receiver_dropped_total{reason="error_response"}'] == 1
        assert m["mlrail_payload_receiver_records_total"] == 0
        rcv.stop()
    assert read_log(root) == []


def test_an_event_whose_other_half_never_comes_expires_and_is_counted(tmp_path: Path) -> None:
    with receiver(str(tmp_path / "logs"), "--pending-ttl", "0.1") as rcv:
        assert post_binary(rcv.url, kserve_event(REQUEST_TYPE, "alone", V2_REQUEST)).is_success
        # dropped by the receiver's own tick, with no other event arriving
        m = rcv.wait_for(
            lambda m: m['mlrail_payload_receiver_dropped_total{reason="expired"}'] == 1
        )
        assert m["mlrail_payload_receiver_pending"] == 0
        rcv.stop()
    assert read_log(tmp_path / "logs") == []


# --- bad input ------------------------------------------------------------------------------

BAD = [
    ({"content-type": "text/plain"}, b"hello", "not a CloudEvent: no ce-specversion header"),
    ({"content-type": "application/cloudevents+json"}, b"{", "the structured CloudEvent is"),
    ({"content-type": "application/cloudevents+json"}, b"[1]", "is not a JSON object"),
    (
        {"content-type": "application/cloudevents+json"},
        json.dumps({"specversion": "1.0", "id": "x", "type": "other", "data": {}}).encode(),
        "type 'other': expected org.kubeflow.serving.inference.request",
    ),
    (
        {"content-type": "application/cloudevents+json"},
        json.dumps({"specversion": "1.0", "type": REQUEST_TYPE, "data": V2_REQUEST}).encode(),
        "no id: the request and its response are paired by it",
    ),
    (
        {"content-type": "application/cloudevents+json"},
        json.dumps({"specversion": "1.0", "id": "x", "type": REQUEST_TYPE, "data": {}}).encode(),
        "not a V2 inference request: the data has no inputs list",
    ),
    (
        {"ce-specversion": "1.0", "ce-id": "x", "ce-type": REQUEST_TYPE, "ce-source": "s"},
        b"\x00\x01binary tensor bytes",
        "the event's data is not JSON",
    ),
    (
        {
            "ce-specversion": "1.0",
            "ce-id": "x",
            "ce-type": REQUEST_TYPE,
            "ce-source": "s",
            "ce-time": "yesterday",
            "content-type": "application/json",
        },
        json.dumps(V2_REQUEST).encode(),
        "time 'yesterday' is not an RFC 3339 time",
    ),
]


def test_bad_input_is_a_400_naming_what_is_wrong_and_the_receiver_goes_on(
    tmp_path: Path,
) -> None:
    with receiver(str(tmp_path / "logs"), "--max-body-bytes", "1000") as rcv:
        for headers, body, message in BAD:
            answer = httpx.post(rcv.url, headers=headers, content=body, timeout=10)
            assert (answer.status_code, message in answer.text) == (400, True), answer.text
        # large enough that the client is still sending when the answer comes
        too_big = httpx.post(
            rcv.url, headers={"content-type": "application/json"}, content=b"x" * 4_000_000
        )
        assert too_big.status_code == 413
        assert "4000000 bytes is over the limit of 1000" in too_big.text
        # a model name that is not one folder is refused, not written outside its folder
        request = kserve_event(REQUEST_TYPE, "m", V2_REQUEST, inferenceservicename="../x")
        assert post_binary(rcv.url, request).status_code == 202
        response = kserve_event(RESPONSE_TYPE, "m", V2_RESPONSE, inferenceservicename="../x")
        refused = post_binary(rcv.url, response)
        assert refused.status_code == 400 and "cannot name a folder" in refused.text
        m = rcv.metrics()
        assert m['mlrail_payload_receiver_rejected_total{reason="bad_event"}'] == len(BAD)
        assert m['mlrail_payload_receiver_rejected_total{reason="too_large"}'] == 1
        assert httpx.get(f"{rcv.url}healthz").text == "ok\n"
        rcv.stop()
    assert not (tmp_path / "x").exists() and read_log(tmp_path / "logs") == []


def test_a_request_without_content_length_is_refused_with_411(tmp_path: Path) -> None:
    with receiver(str(tmp_path / "logs")) as rcv:
        port = int(rcv.url.rsplit(":", 1)[1].strip("/"))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
            answer = b""
            while chunk := s.recv(1000):  # the server closes the connection after its answer
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 411 "), answer
        assert b"a Content-Length is required" in answer
        rcv.stop()


def test_bodies_in_flight_are_bounded_and_the_excess_is_a_503(tmp_path: Path) -> None:
    flags = ("--max-body-bytes", "1000", "--max-bytes-in-flight", "1000")
    with receiver(str(tmp_path / "logs"), *flags) as rcv:
        port = int(rcv.url.rsplit(":", 1)[1].strip("/"))
        with socket.create_connection(("127.0.0.1", port), timeout=30) as slow:
            # a client that sends its headers and then stalls: its 1000 bytes are reserved
            slow.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
            rcv.wait_for(lambda m: m["mlrail_payload_receiver_bytes_in_flight"] == 1000)
            busy = post_binary(rcv.url, kserve_event(REQUEST_TYPE, "a", V2_REQUEST))
            assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
            slow.sendall(b" " * 999)  # the rest: not an event, answered 400
            assert slow.recv(100).startswith(b"HTTP/1.1 400 ")
        rcv.wait_for(lambda m: m["mlrail_payload_receiver_bytes_in_flight"] == 0)
        assert post_binary(rcv.url, kserve_event(REQUEST_TYPE, "a", V2_REQUEST)).status_code == 202
        assert rcv.metrics()['mlrail_payload_receiver_rejected_total{reason="busy"}'] == 1
        rcv.stop()


# --- an object store: immutable part objects ------------------------------------------------


def test_an_object_store_gets_new_part_objects_never_rewritten(tmp_path: Path) -> None:
    """A ``file://`` URI goes through the same pyarrow filesystem calls as ``s3://``."""
    root = tmp_path / "bucket" / "payload-logs"
    flags = ("--flush-bytes", "1", "--flush-seconds", "3600")  # flush at the next tick
    with receiver(f"file://{root}", *flags) as rcv:
        for event_id in ("a", "b"):
            post_binary(rcv.url, kserve_event(REQUEST_TYPE, event_id, V2_REQUEST))
            post_binary(rcv.url, kserve_event(RESPONSE_TYPE, event_id, V2_RESPONSE))
        rcv.wait_for(lambda m: m["mlrail_payload_receiver_records_written_total"] == 2)
        first = {p: p.read_bytes() for p in root.rglob("*.jsonl")}
        post_binary(rcv.url, kserve_event(REQUEST_TYPE, "c", V2_REQUEST))
        post_binary(rcv.url, kserve_event(RESPONSE_TYPE, "c", V2_RESPONSE))
        rcv.wait_for(lambda m: m["mlrail_payload_receiver_records_written_total"] == 3)
        rcv.stop()
    after = {p: p.read_bytes() for p in root.rglob("*.jsonl")}
    assert len(first) == 1 and len(after) == 2
    for path, data in first.items():
        assert after[path] == data  # the first object is as it was: nothing appended
    assert sorted(r["id"] for _, r in read_log(root)) == ["a", "b", "c"]
    for where, record in read_log(root):
        check_layout(where, record)


def test_buffered_records_are_written_when_the_receiver_is_stopped(tmp_path: Path) -> None:
    root = tmp_path / "bucket"
    with receiver(f"file://{root}") as rcv:  # default flush: 60 s or 16 MiB, neither reached
        post_binary(rcv.url, kserve_event(REQUEST_TYPE, "a", V2_REQUEST))
        post_binary(rcv.url, kserve_event(RESPONSE_TYPE, "a", V2_RESPONSE))
        rcv.wait_for(lambda m: m["mlrail_payload_receiver_records_total"] == 1)
        assert list(root.rglob("*.jsonl")) == []
        out = rcv.stop()  # SIGTERM, as Kubernetes stops the pod
    assert "1 written" in out
    assert [r["id"] for _, r in read_log(root)] == ["a"]


def test_a_failing_object_store_drops_and_counts_and_the_receiver_stays_up(tmp_path: Path) -> None:
    closed = free_port()  # nothing listens there: every write to the store fails
    uri = f"s3://logs/payloads?endpoint_override=127.0.0.1:{closed}&scheme=http&region=us-east-1"
    env = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_EC2_METADATA_DISABLED": "1"}
    with receiver(uri, "--flush-bytes", "1", env=env) as rcv:
        post_binary(rcv.url, kserve_event(REQUEST_TYPE, "a", V2_REQUEST))
        assert post_binary(rcv.url, kserve_event(RESPONSE_TYPE, "a", V2_RESPONSE)).is_success
        m = rcv.wait_for(
            lambda m: m['mlrail_payload_receiver_dropped_total{reason="store_failed"}'] == 1
        )
        assert m["mlrail_payload_receiver_records_written_total"] == 0
        # still taking events, still healthy
        assert post_binary(rcv.url, kserve_event(REQUEST_TYPE, "b", V2_REQUEST)).is_success
        assert httpx.get(f"{rcv.url}healthz").status_code == 200
        rcv.stop()


# --- pairing, in process ---------------------------------------------------------------------


def _event(kind: str, event_id: str, size_data: int = 0) -> Any:
    # a tensor of about ``size_data`` bytes: what a waiting event holds
    tensor = [{"name": "t", "datatype": "BYTES", "shape": [1], "data": ["x" * size_data]}]
    body = json.dumps({"inputs" if kind == REQUEST_TYPE else "outputs": tensor}).encode()
    headers = {
        "ce-specversion": "1.0",
        "ce-id": event_id,
        "ce-type": kind,
        "ce-inferenceservicename": "m",
        "content-type": "application/json",
    }
    return parse_event(headers, body)


def test_pending_pairs_are_bounded_in_bytes_and_a_duplicate_half_is_counted() -> None:
    now = [0.0]
    pairs = Pairs(max_pending=100, max_pending_bytes=1000, ttl_seconds=10, clock=lambda: now[0])
    assert pairs.add(_event(REQUEST_TYPE, "a", 600), 0.0) is None
    assert pairs.add(_event(REQUEST_TYPE, "b", 600), 0.0) is None  # over 1000 bytes: a goes
    assert pairs.dropped["evicted"] == 1 and pairs.pending == 1
    assert pairs.add(_event(REQUEST_TYPE, "b"), 0.0) is None
    assert pairs.dropped["duplicate"] == 1 and pairs.pending == 1
    assert pairs.add(_event(RESPONSE_TYPE, "a"), 0.0) is None  # its request was evicted
    record = pairs.add(_event(RESPONSE_TYPE, "b"), 0.0)
    assert record is not None and record["id"] == "b"
    now[0] = 11.0
    pairs.expire()  # the response of "a" waited out its time
    assert pairs.dropped["expired"] == 1 and pairs.pending == 0
    assert pairs.add(_event(REQUEST_TYPE, "huge", 5000), 0.0) is None  # larger than all: not held
    assert pairs.pending == 0 and pairs.dropped["evicted"] == 2
