import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cloudevents.http import from_json
from hypothesis import given, settings
from hypothesis import strategies as st

from mlrail.artifacts.jsonsafe import finite
from mlrail.errors import MlrailError
from mlrail.events import Retry, Sink, emit, make_event, parse_sink, resolve_sink
from tests.events.receiver import Receiver, refusing_port

# quick back-off: these tests count attempts, they never time them
FAST = Retry(timeout=2.0, attempts=3, backoff=0.01, deadline=10.0)


def _event(**data: object):  # type: ignore[no-untyped-def]
    return make_event(
        "model.deployed",
        {"version": "3", "target": "local", **data},
        subject="penguins",
        source="/mlrail/pipelines/training/runs/r1",
    )


def test_sink_strings() -> None:
    assert parse_sink("http://h:8080/p?q=1") == Sink("http", url="http://h:8080/p?q=1")
    assert parse_sink("https://h/p#structured") == Sink(
        "http", url="https://h/p", mode="structured"
    )
    assert parse_sink("file:///var/ev%20s.jsonl") == Sink("file", path="/var/ev s.jsonl")
    assert parse_sink("ev/events.jsonl") == Sink("file", path=str(Path.cwd() / "ev/events.jsonl"))
    assert str(parse_sink("http://h/p#structured")) == "http://h/p#structured"
    with pytest.raises(MlrailError, match="'kafka' is not http, https or file"):
        parse_sink("kafka://broker/topic")
    with pytest.raises(MlrailError, match="mode 'yaml' is not binary or structured"):
        parse_sink("http://h/p#yaml")
    with pytest.raises(MlrailError, match="no host"):
        parse_sink("http:///p")
    with pytest.raises(MlrailError, match="out of range"):
        parse_sink("http://h:99999/p")


def test_explicit_sink_then_k_sink_then_none() -> None:
    assert resolve_sink("http://a/", {"K_SINK": "http://b/"}) == "http://a/"
    assert resolve_sink("", {"K_SINK": "http://b/"}) == "http://b/"
    assert resolve_sink("  ", {}) == ""


def test_binary_mode_parses(receiver: Receiver) -> None:
    event = _event(note="é日本")
    delivery = emit(event, receiver.url, retry=FAST)
    assert (delivery.delivered, delivery.attempts, delivery.status) == (True, 1, 200)
    (got,) = receiver.events
    headers = {k.lower(): v for k, v in got.headers.items()}
    assert headers["ce-type"] == "io.mlrail.model.deployed" and headers["ce-id"] == event["id"]
    assert headers["content-type"] == "application/json"
    assert json.loads(got.body) == {"version": "3", "target": "local", "note": "é日本"}
    assert {k: got.event[k] for k in got.event} == {k: event[k] for k in event}
    assert got.event.get_data() == event.get_data()


def test_structured_mode_parses(receiver: Receiver) -> None:
    event = _event()
    delivery = emit(event, receiver.url + "#structured", retry=FAST)
    assert delivery.delivered and delivery.sink == receiver.url + "#structured"
    (got,) = receiver.events
    headers = {k.lower(): v for k, v in got.headers.items()}
    assert headers["content-type"] == "application/cloudevents+json"
    assert not any(k.startswith("ce-") for k in headers)
    body = json.loads(got.body)
    assert body["type"] == "io.mlrail.model.deployed" and body["data"]["version"] == "3"
    assert got.event["subject"] == "penguins" and got.event.get_data() == event.get_data()


def test_k_sink_is_used_when_no_sink_is_given(receiver: Receiver) -> None:
    delivery = emit(_event(), "", retry=FAST, env={"K_SINK": receiver.url})
    assert delivery.delivered and delivery.sink == receiver.url and len(receiver.events) == 1


def test_no_sink_sends_nothing() -> None:
    delivery = emit(_event(), "", env={})
    assert (delivery.delivered, delivery.attempts, delivery.sink, delivery.error) == (
        False,
        0,
        "",
        "",
    )
    assert "not sent (no events sink, no K_SINK)" in delivery.line()


def test_503_then_200_is_retried_and_delivered() -> None:
    with Receiver(answers=[503, 200]).running() as r:
        delivery = emit(_event(), r.url, retry=FAST)
    assert (delivery.delivered, delivery.attempts, r.requests, len(r.events)) == (True, 2, 2, 1)


@pytest.mark.parametrize("status", [500, 503, 429])
def test_retries_are_bounded(status: int) -> None:
    with Receiver(answers=[status]).running() as r:
        delivery = emit(_event(), r.url, retry=FAST)
    assert not delivery.delivered
    assert delivery.attempts == r.requests == FAST.attempts
    assert delivery.error == f"HTTP {status}" and delivery.status == status


@pytest.mark.parametrize("status", [400, 404, 413])
def test_other_4xx_are_final(status: int) -> None:
    with Receiver(answers=[status, 200]).running() as r:
        delivery = emit(_event(), r.url, retry=FAST)
    assert (delivery.delivered, delivery.attempts, r.requests) == (False, 1, 1)
    assert "NOT delivered" in delivery.line() and f"HTTP {status}" in delivery.line()


def test_a_receiver_that_is_down_is_tried_then_given_up() -> None:
    with refusing_port() as port:
        delivery = emit(_event(), f"http://127.0.0.1:{port}/", retry=FAST)
    assert not delivery.delivered and delivery.attempts == FAST.attempts
    assert "ConnectionRefusedError" in delivery.error


def test_a_slow_receiver_costs_at_most_the_deadline() -> None:
    # every attempt waits its whole timeout (a timeout never fires early), so a 0.5 s deadline
    # leaves room for at most 3 attempts of 0.2 s, whatever the allowed number
    retry = Retry(timeout=0.2, attempts=50, backoff=0.01, deadline=0.5)
    with Receiver(hold=True).running() as r:
        delivery = emit(_event(), r.url, retry=retry)
    assert not delivery.delivered and 1 <= delivery.attempts <= 3
    assert delivery.error.startswith("TimeoutError")


def test_a_receiver_that_does_not_speak_http_is_retried_not_raised() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()

        def garbage() -> None:
            for _ in range(FAST.attempts):
                conn, _ = server.accept()
                with conn:
                    conn.recv(65536)
                    conn.sendall(b"SSH-2.0-OpenSSH\r\n\r\n")

        thread = threading.Thread(target=garbage, daemon=True)
        thread.start()
        delivery = emit(_event(), f"http://127.0.0.1:{server.getsockname()[1]}/", retry=FAST)
        thread.join()
    assert not delivery.delivered and delivery.attempts == FAST.attempts
    assert "BadStatusLine" in delivery.error


def test_a_receiver_that_trickles_its_answer_is_cut_off() -> None:
    # one byte of a (valid, 200) answer every 0.05 s: no read ever waits its 0.3 s timeout, and
    # the whole answer would take 10 s; the attempts' wall-time bound gives up first
    answer = b"HTTP/1.1 200 OK\r\nX-Pad: " + b"x" * 200 + b"\r\nContent-Length: 0\r\n\r\n"
    stop = threading.Event()
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()

        def trickle() -> None:
            conn, _ = server.accept()
            with conn:
                conn.recv(65536)
                for byte in answer:
                    if stop.wait(0.05):
                        return
                    conn.sendall(bytes([byte]))

        thread = threading.Thread(target=trickle, daemon=True)
        thread.start()
        retry = Retry(timeout=0.3, attempts=1, backoff=0.01, deadline=5.0)
        delivery = emit(_event(), f"http://127.0.0.1:{server.getsockname()[1]}/", retry=retry)
        stop.set()
        thread.join()
    assert not delivery.delivered and delivery.attempts == 1
    assert delivery.error == "TimeoutError: no answer within 0.3 s"


def test_never_raises_for_a_bad_sink_or_an_unwritable_file(tmp_path: Path) -> None:
    bad = emit(_event(), "kafka://broker/topic")
    assert not bad.delivered and "'kafka' is not http, https or file" in bad.error
    port = emit(_event(), "http://127.0.0.1:99999/")
    assert not port.delivered and "out of range" in port.error
    folder = emit(_event(), str(tmp_path))  # a folder where the file should be
    assert not folder.delivered and folder.attempts == 1 and "Is a directory" in folder.error


def test_credentials_in_a_sink_are_masked(receiver: Receiver) -> None:
    url = receiver.url.replace("http://", "http://user:s3cret@")
    delivery = emit(_event(), url + "?token=abc", retry=FAST)
    assert delivery.delivered
    for text in (delivery.sink, delivery.line(), json.dumps(delivery.metadata())):
        assert "s3cret" not in text and "abc" not in text


def test_jsonl_file_one_event_per_line(tmp_path: Path) -> None:
    path = tmp_path / "new" / "events.jsonl"
    first, second = _event(n=1), _event(n=2)
    assert emit(first, f"file://{path}").delivered
    assert emit(second, str(path)).delivered
    lines = path.read_bytes().splitlines()
    assert [from_json(line)["id"] for line in lines] == [first["id"], second["id"]]
    assert from_json(lines[1]).get_data()["n"] == 2


_WRITER = """
import sys
from mlrail.events import emit, make_event
for i in range(40):
    event = make_event("model.promoted", {"version": sys.argv[2], "i": i, "pad": "x" * 20000})
    assert emit(event, sys.argv[1]).delivered
"""


def test_concurrent_writers_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(n)]) for n in range(4)
    ]
    assert [w.wait() for w in writers] == [0, 0, 0, 0]
    events = [from_json(line) for line in path.read_bytes().splitlines()]
    assert len(events) == 160
    for n in range(4):
        mine = [e.get_data()["i"] for e in events if e.get_data()["version"] == str(n)]
        assert mine == list(range(40))


def test_delivery_metadata_is_flat_json(receiver: Receiver) -> None:
    delivery = emit(_event(), receiver.url, retry=FAST)
    assert delivery.metadata() == {
        "event_type": "io.mlrail.model.deployed",
        "event_id": delivery.event_id,
        "event_sink": receiver.url,
        "event_delivered": True,
        "event_attempts": 1,
        "event_error": "",
        "event_status": 200,
    }


@pytest.fixture(scope="module")
def shared_receiver() -> Iterator[Receiver]:
    with Receiver().running() as r:
        yield r


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=40)
@given(data=st.dictionaries(st.text(), _json, max_size=4), structured=st.booleans())
def test_any_payload_arrives_as_sent_in_both_modes(
    shared_receiver: Receiver, data: dict[str, object], structured: bool
) -> None:
    event = _event(**{f"x{k}": v for k, v in data.items()})
    sink = shared_receiver.url + ("#structured" if structured else "")
    assert emit(event, sink, retry=FAST).delivered
    got = shared_receiver.events[-1].event
    assert got["id"] == event["id"]
    assert got.get_data() == finite(event.get_data())
