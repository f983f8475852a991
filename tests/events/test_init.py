"""events.send: the one call other steps make; it never raises."""

import logging
from pathlib import Path

import pytest
from cloudevents.http import from_json

from mlrail import events
from tests.events.receiver import Receiver, refusing_port


def test_send_builds_and_delivers(receiver: Receiver) -> None:
    delivery = events.send(
        "model.rolled_back",
        {"version": "2", "from_version": "3", "links": {"release_record": "file:///r/3.json"}},
        model_name="penguins",
        events_sink=receiver.url,
        pipeline="training",
        run_id="r-1",
    )
    assert delivery.delivered
    (got,) = receiver.events
    assert got.event["type"] == "io.mlrail.model.rolled_back"
    assert got.event["source"] == "/mlrail/pipelines/training/runs/r-1"
    assert got.event["subject"] == "penguins"
    assert got.event.get_data() == {
        "pipeline": "training",
        "run_id": "r-1",
        "version": "2",
        "from_version": "3",
        "links": {"release_record": "file:///r/3.json"},
    }


def test_send_reads_k_sink(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K_SINK", str(tmp_path / "events.jsonl"))
    assert events.send("model.promoted", {"version": "4"}).delivered
    (line,) = (tmp_path / "events.jsonl").read_bytes().splitlines()
    assert from_json(line).get_data() == {"version": "4"}


def test_send_never_raises_and_says_why(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="mlrail.events")
    with refusing_port() as port:
        down = events.send(
            "model.deployed",
            {"version": "1", "target": "local"},
            events_sink=f"http://127.0.0.1:{port}/",
            retry=events.Retry(backoff=0.01),
        )
    assert not down.delivered and down.attempts == 4
    unbuilt = events.send("model.deployed", {"version": "1"}, events_sink="/dev/null")
    assert not unbuilt.delivered and "data has no 'target'" in unbuilt.error
    assert unbuilt.line().startswith("event model.deployed: not sent: event io.mlrail.model")
    unknown = events.send("model.exploded", {}, env={})
    assert not unknown.delivered and "is not one of mlrail's" in unknown.error
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warned == [down.line(), unbuilt.line(), unknown.line()]


def test_summary_of_a_steps_events(receiver: Receiver) -> None:
    sink = receiver.url
    canary = events.send(
        "model.canary_started", {"version": "4", "traffic_percent": 10}, events_sink=sink
    )
    bad = events.send("model.promoted", {}, events_sink=sink)  # no version: not built
    quiet = events.send("model.deployed", {"version": "4", "target": "local"}, env={})
    assert events.summary([canary, bad, quiet]) == {
        "events": [canary.line(), bad.line(), quiet.line()],
        "events_not_delivered": 1,
    }
    assert [e.event["type"] for e in receiver.events] == ["io.mlrail.model.canary_started"]
