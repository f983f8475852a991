"""evaluate sends io.mlrail.model.not_blessed when it closes the gate, to real sinks; a blessed
model sends nothing; a sink that is down never fails the step."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from kfp.dsl import HTML, Artifact, ClassificationMetrics, Dataset, Metrics, Model

from mlrail import events
from mlrail.components.evaluate import evaluate, lifecycle
from mlrail.components.evaluate.core import evaluate as evaluate_core
from tests.events.receiver import Receiver, refusing_port
from tests.helpers import Trained

_WHERE = {"model_name": "penguins", "pipeline": "training", "run_id": "r-7", "run_name": "nightly"}
_LINKS = {"metrics": "/a/metrics", "blessing": "/a/blessing", "report": "/a/report", "none": ""}


@pytest.fixture(autouse=True)
def _no_k_sink(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test names its sink: a K_SINK in the shell running the tests must not add one."""
    monkeypatch.delenv("K_SINK", raising=False)


def _outputs(tmp_path: Path) -> dict[str, object]:
    return {
        "metrics": Metrics(name="metrics", uri=str(tmp_path / "metrics")),
        "classification_metrics": ClassificationMetrics(name="cm", uri=str(tmp_path / "cm")),
        "blessing": Artifact(name="blessing", uri=str(tmp_path / "blessing")),
        "report": HTML(name="report", uri=str(tmp_path / "report")),
    }


def test_not_blessed_sends_the_failed_checks_baseline_links_and_run(
    trained: Trained, onnx_model: Path, tmp_path: Path
) -> None:
    # the model is its own baseline: a change of 0 fails "must improve by 0.01"
    baseline = tmp_path / "baseline"
    shutil.copytree(onnx_model, baseline)
    ev = evaluate_core(
        onnx_model,
        trained.examples,
        thresholds={"accuracy": [">= 0.5", "change >= 0.01"], "log_loss": "<= 0.0000001"},
        baseline_model=str(baseline),
        importance_repeats=0,
    )
    assert not ev.blessed
    with Receiver().running() as r:
        sent = lifecycle.send_events(ev, events_sink=r.url, links=_LINKS, **_WHERE)
    (got,) = r.events
    assert [d.event_id for d in sent] == [got.event["id"]] and sent[0].delivered
    assert got.event["type"] == "io.mlrail.model.not_blessed"
    assert got.event["subject"] == "penguins"
    assert got.event["source"] == "/mlrail/pipelines/training/runs/r-7"
    data = got.event.get_data()
    failed = {(c["metric"], c["kind"]): c for c in data["failed_checks"]}
    assert set(failed) == {("accuracy", "change"), ("log_loss", "value")}  # not accuracy >= 0.5
    change, loss = failed["accuracy", "change"], failed["log_loss", "value"]
    assert (change["bound"], change["op"], change["verdict"], change["change"]) == (
        0.01,
        ">=",
        "fail",
        0.0,
    )
    assert change["value"] == ev.metrics["accuracy"] == change["baseline_value"]
    assert (loss["bound"], loss["op"], loss["verdict"]) == (1e-7, "<=", "fail")
    assert loss["value"] == ev.metrics["log_loss"] and loss["reason"]
    assert data["baseline"] == str(baseline)
    assert data["decided_on"] == ev.decided_on
    assert data["links"] == {
        "metrics": "/a/metrics",
        "blessing": "/a/blessing",
        "report": "/a/report",
    }
    assert (data["pipeline"], data["run_id"], data["run_name"]) == ("training", "r-7", "nightly")


def test_a_blessed_model_sends_nothing(trained: Trained, onnx_model: Path) -> None:
    ev = evaluate_core(onnx_model, trained.examples, importance_repeats=0)
    assert ev.blessed
    with Receiver().running() as r:
        assert lifecycle.send_events(ev, events_sink=r.url, **_WHERE) == []
    assert r.requests == 0


def test_no_sink_records_the_event_it_would_have_sent(trained: Trained, onnx_model: Path) -> None:
    ev = evaluate_core(
        onnx_model, trained.examples, thresholds={"accuracy": ">= 1.01"}, importance_repeats=0
    )
    (d,) = lifecycle.send_events(ev, env={})
    assert (d.event_type, d.sink, d.delivered, d.attempts) == (
        "io.mlrail.model.not_blessed",
        "",
        False,
        0,
    )
    assert events.summary([d]) == {"events": [d.line()], "events_not_delivered": 0}


def test_the_component_sends_to_a_jsonl_file_and_records_it_in_the_blessing(
    trained: Trained, onnx_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sink = tmp_path / "events" / "events.jsonl"
    out = _outputs(tmp_path)
    blessed = evaluate.python_func(
        onnx_model=Model(name="onnx_model", uri=str(onnx_model)),
        examples=Dataset(name="examples", uri=str(trained.examples)),
        thresholds={"log_loss": "<= 0.0000001"},
        baseline_model="none",
        model_name="penguins",
        events_sink=str(sink),
        pipeline_name="training",
        run_id="r-8",
        run_name="nightly",
        **out,
    )
    assert blessed is False
    (line,) = sink.read_text().splitlines()
    event = json.loads(line)
    assert event["type"] == "io.mlrail.model.not_blessed"
    assert event["source"] == "/mlrail/pipelines/training/runs/r-8"
    data = event["data"]
    assert [c["metric"] for c in data["failed_checks"]] == ["log_loss"]
    assert data["baseline"] is None and data["run_name"] == "nightly"
    blessing, metrics, report = (out[k] for k in ("blessing", "metrics", "report"))
    assert data["links"] == {"metrics": metrics.uri, "blessing": blessing.uri, "report": report.uri}
    meta = blessing.metadata
    assert meta["events_not_delivered"] == 0
    assert meta["events"] == [
        f"event io.mlrail.model.not_blessed {event['id']}: delivered to {sink}"
    ]
    assert meta["events"][0] in capsys.readouterr().out  # and the step's log says so


def test_the_component_sends_nothing_for_a_blessed_model(
    trained: Trained, onnx_model: Path, tmp_path: Path
) -> None:
    sink = tmp_path / "events.jsonl"
    out = _outputs(tmp_path)
    blessed = evaluate.python_func(
        onnx_model=Model(name="onnx_model", uri=str(onnx_model)),
        examples=Dataset(name="examples", uri=str(trained.examples)),
        baseline_model="none",
        events_sink=str(sink),
        **out,
    )
    assert blessed is True and not sink.exists()
    assert out["blessing"].metadata["events"] == []  # type: ignore[attr-defined]


def test_a_sink_that_is_down_never_fails_evaluate(
    trained: Trained, onnx_model: Path, tmp_path: Path
) -> None:
    out = _outputs(tmp_path)
    with refusing_port() as port:
        blessed = evaluate.python_func(
            onnx_model=Model(name="onnx_model", uri=str(onnx_model)),
            examples=Dataset(name="examples", uri=str(trained.examples)),
            thresholds={"accuracy": ">= 1.01"},
            baseline_model="none",
            events_sink=f"http://127.0.0.1:{port}/",
            **out,
        )
    assert blessed is False
    meta = out["blessing"].metadata  # type: ignore[attr-defined]
    assert meta["events_not_delivered"] == 1
    assert "NOT delivered" in meta["events"][0] and "ConnectionRefusedError" in meta["events"][0]
    assert (
        json.loads((Path(out["blessing"].path) / "blessing.json").read_text())["blessed"] is False
    )  # type: ignore[attr-defined]
