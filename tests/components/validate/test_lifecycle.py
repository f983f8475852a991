"""validate sends data.anomalies_found and data.drift_detected as it decides, to real sinks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from cloudevents.http import from_json

from mlrail import events
from mlrail.components.validate.core import validate
from tests.components.validate.test_core import _examples, _moved, _train
from tests.events.receiver import Receiver, refusing_port

_WHERE = {"model_name": "penguins", "pipeline": "training", "run_id": "r-7", "run_name": "nightly"}


@pytest.fixture(autouse=True)
def _no_k_sink(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test names its sink: a K_SINK in the shell running the tests must not add one."""
    monkeypatch.delenv("K_SINK", raising=False)


def _outs(root: Path) -> dict[str, Path]:
    return {
        "statistics_dir": root / "st",
        "schema_dir": root / "sc",
        "anomalies_dir": root / "an",
        "report_file": root / "report.html",
    }


def _missing_column(tmp_path: Path) -> Path:
    """Train as usual; eval lost its "k" column: one anomaly, no baseline, so no drift."""
    return _examples(tmp_path / "ex", train=_train(), eval=_train().drop_columns(["k"]))


def _drifted(tmp_path: Path) -> Path:
    """The baseline's statistics (from _train) and data moved from it (the hand-worked case)."""
    old = _examples(tmp_path / "old", train=_train(), eval=_train())
    validate(old, tmp_path / "base", tmp_path / "old_sc", tmp_path / "old_an")
    return _examples(tmp_path / "new", train=_moved(), eval=_moved())


def test_anomalies_are_sent_with_count_lines_and_links(tmp_path: Path) -> None:
    out = _outs(tmp_path)
    with Receiver().running() as receiver:
        report = validate(_missing_column(tmp_path), **out, events_sink=receiver.url, **_WHERE)
    assert not report.ok and not report.drift_detected
    (got,) = receiver.events
    event = got.event
    assert event["type"] == "io.mlrail.data.anomalies_found"
    assert event["subject"] == "penguins"
    assert event["source"] == "/mlrail/pipelines/training/runs/r-7"
    headers = {k.lower(): v for k, v in got.headers.items()}
    assert headers["ce-type"] == "io.mlrail.data.anomalies_found"  # binary mode
    (anomaly,) = report.anomalies
    assert anomaly.type == "SCHEMA_MISSING_COLUMN"
    assert event.get_data() == {
        "pipeline": "training",
        "run_id": "r-7",
        "run_name": "nightly",
        "num_anomalies": 1,
        "anomalies": [f"[eval] {anomaly.description}"],
        "links": {
            "anomalies": str(out["anomalies_dir"]),
            "statistics": str(out["statistics_dir"]),
            "report": str(out["report_file"]),
        },
    }
    # sent after the artifacts are written: the links lead to them
    assert json.loads((out["anomalies_dir"] / "anomalies.json").read_text())["num_anomalies"] == 1
    assert out["report_file"].is_file()
    (delivery,) = report.deliveries
    assert delivery.delivered and delivery.event_id == event["id"]


def test_only_the_first_few_anomalies_travel(tmp_path: Path) -> None:
    many = pa.table({f"c{i}": [1.0, 2.0] for i in range(8)})
    ex = _examples(tmp_path / "ex", train=many, eval=many.select(["c0"]))
    with Receiver().running() as receiver:
        report = validate(ex, **_outs(tmp_path), events_sink=receiver.url)
    assert report.num_anomalies == 7
    data = receiver.events[0].event.get_data()
    assert data["num_anomalies"] == 7
    assert data["anomalies"] == [f"[eval] {a.description}" for a in report.anomalies[:5]]


def test_drift_sends_anomalies_then_drift_with_each_feature_over_its_threshold(
    tmp_path: Path,
) -> None:
    new = _drifted(tmp_path)
    with Receiver().running() as receiver:
        report = validate(
            new,
            **_outs(tmp_path),
            baseline_statistics=tmp_path / "base",
            events_sink=receiver.url + "#structured",
            event_links={"anomalies": "gs://b/run/anomalies", "statistics": ""},
            **_WHERE,
        )
    assert report.drift_detected
    types = [r.event["type"] for r in receiver.events]
    assert types == ["io.mlrail.data.anomalies_found", "io.mlrail.data.drift_detected"]
    assert all(
        {k.lower(): v for k, v in r.headers.items()}["content-type"].startswith(
            "application/cloudevents+json"
        )
        for r in receiver.events
    )
    found, drift = (r.event.get_data() for r in receiver.events)
    assert found["num_anomalies"] == 4
    assert drift["baseline"] == str(tmp_path / "base")
    assert drift["links"] == {"anomalies": "gs://b/run/anomalies"}  # an empty link is left out
    assert drift["run_name"] == "nightly"
    by = {(d["split"], d["feature"]): d for d in drift["drifted"]}
    assert set(by) == {(s, f) for s in ("train", "eval") for f in ("x", "color")}
    expected = {
        (c.split, c.feature): (c.measure, c.value, c.threshold)
        for c in report.comparisons
        if c.kind == "drift"
    }
    for key, d in by.items():
        assert (d["measure"], d["value"], d["threshold"]) == expected[key]
        assert d["value"] > d["threshold"]
    assert [d.delivered for d in report.deliveries] == [True, True]


def test_clean_data_sends_nothing(tmp_path: Path) -> None:
    """The same data against its own baseline: drift measured (all 0), no anomaly, no event."""
    old = _examples(tmp_path / "old", train=_train(), eval=_train())
    validate(old, tmp_path / "base", tmp_path / "sc0", tmp_path / "an0")
    with Receiver().running() as receiver:
        report = validate(
            old, **_outs(tmp_path), baseline_statistics=tmp_path / "base", events_sink=receiver.url
        )
    assert report.ok and any(c.kind == "drift" for c in report.comparisons)
    assert receiver.requests == 0 and report.deliveries == []


def test_a_down_sink_never_fails_validate(tmp_path: Path) -> None:
    out = _outs(tmp_path)
    with refusing_port() as port:
        report = validate(
            _missing_column(tmp_path),
            **out,
            events_sink=f"http://127.0.0.1:{port}/events",
            event_retry=events.Retry(backoff=0.01),
        )
    assert not report.ok and (out["anomalies_dir"] / "anomalies.json").is_file()
    (delivery,) = report.deliveries
    assert not delivery.delivered and delivery.attempts == 4
    assert "ConnectionRefusedError" in delivery.error
    assert events.summary(report.deliveries)["events_not_delivered"] == 1


def test_a_json_lines_file_sink(tmp_path: Path) -> None:
    sink = tmp_path / "sinks" / "events.jsonl"
    validate(
        _drifted(tmp_path),
        **_outs(tmp_path),
        baseline_statistics=tmp_path / "base",
        events_sink=f"file://{sink}",
        **_WHERE,
    )
    lines = sink.read_bytes().splitlines()
    got = [from_json(line) for line in lines]
    assert [e["type"] for e in got] == [
        "io.mlrail.data.anomalies_found",
        "io.mlrail.data.drift_detected",
    ]
    assert all(e["subject"] == "penguins" for e in got)
    assert len(got[1].get_data()["drifted"]) == 4


def test_k_sink_is_the_default_sink(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Receiver().running() as receiver:
        monkeypatch.setenv("K_SINK", receiver.url)
        validate(_missing_column(tmp_path), **_outs(tmp_path))
    assert [r.event["type"] for r in receiver.events] == ["io.mlrail.data.anomalies_found"]


def test_no_sink_builds_no_event_but_says_what_was_not_sent(tmp_path: Path) -> None:
    """With no sink and no K_SINK, validate does not even import the CloudEvents SDK."""
    ex = _missing_column(tmp_path)
    script = (
        "import sys\n"
        "from mlrail.components.validate.core import validate\n"
        f"r = validate({str(ex)!r}, *[{str(tmp_path)!r} + n for n in ('/s', '/c', '/a')])\n"
        "print([d.line() for d in r.deliveries])\n"
        "print('cloudevents' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "K_SINK"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    lines, imported = done.stdout.splitlines()[-2:]
    assert lines == str(
        ["event io.mlrail.data.anomalies_found: not sent (no events sink, no K_SINK)"]
    )
    assert imported == "False"
