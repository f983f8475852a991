import json
import shutil
from pathlib import Path

import pytest
from kfp.dsl import HTML, Artifact, Dataset, Markdown

from mlrail.components.validate import validate
from tests.components._compile import compiled_container
from tests.events.receiver import Receiver, refusing_port
from tests.helpers import Trained


@pytest.fixture(autouse=True)
def _no_k_sink(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test names its sink: a K_SINK in the shell running the tests must not add one."""
    monkeypatch.delenv("K_SINK", raising=False)


def _outputs(tmp_path: Path) -> dict[str, Artifact]:
    out = {
        n: Artifact(name=n, uri=str(tmp_path / n)) for n in ("statistics", "schema", "anomalies")
    }
    return {
        **out,
        "report": HTML(name="report", uri=str(tmp_path / "report.html")),
        "summary": Markdown(name="summary", uri=str(tmp_path / "summary.md")),
    }


def test_python_func_gates_on_anomalies(trained: Trained, tmp_path: Path) -> None:
    examples = Dataset(name="examples", uri=str(trained.examples))
    out = _outputs(tmp_path / "clean")
    assert validate.python_func(examples=examples, curated_schema="", min_examples=1, **out) is True
    assert out["anomalies"].metadata == {
        "split_names": '["train", "eval"]',
        "num_anomalies": 0,
        "anomalies": [],
        "drift_detected": False,
        "drift_baseline": "",
        "events": [],
        "events_not_delivered": 0,
    }
    page = Path(out["report"].path).read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "bill_length_mm" in page
    assert "OK" in Path(out["summary"].path).read_text(encoding="utf-8")
    assert out["schema"].metadata["num_features"] == 8
    assert out["statistics"].metadata["num_examples_train"] > 0
    # TFX's split_names property, as TFX writes it: a JSON list in a string
    assert out["statistics"].metadata["split_names"] == '["train", "eval"]'

    # the eval split loses a column: the gate closes
    shutil.copytree(trained.examples, tmp_path / "ex")
    import pyarrow.parquet as pq

    part = tmp_path / "ex" / "eval" / "part-00000.parquet"
    pq.write_table(pq.read_table(part).drop_columns(["island"]), part)
    out = _outputs(tmp_path / "bad")
    ok = validate.python_func(
        examples=Dataset(name="examples", uri=str(tmp_path / "ex")),
        curated_schema=str(trained.schema / "schema.pbtxt"),
        min_examples=1,
        **out,
    )
    assert ok is False and out["anomalies"].metadata["num_anomalies"] == 1
    (found,) = json.loads((Path(out["anomalies"].path) / "anomalies.json").read_text())["anomalies"]
    assert found["type"] == "SCHEMA_MISSING_COLUMN"
    assert out["anomalies"].metadata["anomalies"] == [f"[eval] {found['description']}"]
    assert out["anomalies"].metadata["events"] == [
        "event io.mlrail.data.anomalies_found: not sent (no events sink, no K_SINK)"
    ]
    assert "SCHEMA_MISSING_COLUMN" in Path(out["summary"].path).read_text(encoding="utf-8")


def test_drift_against_a_baseline_sets_the_flag(trained: Trained, tmp_path: Path) -> None:
    """The eval split's bills grow by half: drift against the run's own earlier statistics."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    shutil.copytree(trained.examples, tmp_path / "ex")
    for split in ("train", "eval"):
        part = tmp_path / "ex" / split / "part-00000.parquet"
        table = pq.read_table(part)
        i = table.column_names.index("bill_length_mm")
        pq.write_table(table.set_column(i, "bill_length_mm", pc.multiply(table[i], 1.5)), part)
    out = _outputs(tmp_path / "drift")
    ok = validate.python_func(
        examples=Dataset(name="examples", uri=str(tmp_path / "ex")),
        curated_schema="",
        baseline_statistics=str(trained.statistics),
        min_examples=1,
        **out,
    )
    assert ok is False
    assert out["anomalies"].metadata["drift_detected"] is True
    assert out["anomalies"].metadata["drift_baseline"] == str(trained.statistics)
    assert r"bill\_length\_mm" in Path(out["summary"].path).read_text(encoding="utf-8")


def test_compiles(tmp_path: Path) -> None:
    spec = compiled_container(validate, tmp_path)
    assert spec["root"]["outputDefinitions"]["parameters"]["Output"]["parameterType"] == "BOOLEAN"
    curated = spec["root"]["inputDefinitions"]["parameters"]["curated_schema"]
    assert curated["defaultValue"] == "" and curated["parameterType"] == "STRING"
    params = spec["root"]["inputDefinitions"]["parameters"]
    for name in ("events_sink", "model_name", "pipeline", "run_id", "run_name"):
        assert params[name]["defaultValue"] == "" and params[name]["parameterType"] == "STRING"


def _drifted(trained: Trained, root: Path) -> Dataset:
    """The trained examples with every bill half as long again: drift from trained.statistics."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    shutil.copytree(trained.examples, root)
    for split in ("train", "eval"):
        part = root / split / "part-00000.parquet"
        table = pq.read_table(part)
        i = table.column_names.index("bill_length_mm")
        pq.write_table(table.set_column(i, "bill_length_mm", pc.multiply(table[i], 1.5)), part)
    return Dataset(name="examples", uri=str(root))


def test_events_reach_a_real_receiver_with_the_artifacts_uris(
    trained: Trained, tmp_path: Path
) -> None:
    out = _outputs(tmp_path / "out")
    with Receiver().running() as receiver:
        ok = validate.python_func(
            examples=_drifted(trained, tmp_path / "ex"),
            curated_schema="",
            baseline_statistics=str(trained.statistics),
            min_examples=1,
            events_sink=receiver.url,
            model_name="penguins",
            pipeline="training",
            run_id="job-1",
            run_name="nightly",
            **out,
        )
    assert ok is False
    types = [r.event["type"] for r in receiver.events]
    assert types == ["io.mlrail.data.anomalies_found", "io.mlrail.data.drift_detected"]
    found, drift = (r.event.get_data() for r in receiver.events)
    links = {"anomalies": out["anomalies"].uri, "statistics": out["statistics"].uri}
    assert found["links"] == drift["links"] == {**links, "report": out["report"].uri}
    assert found["num_anomalies"] == out["anomalies"].metadata["num_anomalies"] > 0
    assert found["anomalies"] == out["anomalies"].metadata["anomalies"]
    assert drift["baseline"] == str(trained.statistics)
    assert {(d["split"], d["feature"]) for d in drift["drifted"]} >= {
        ("train", "bill_length_mm"),
        ("eval", "bill_length_mm"),
    }
    assert all(
        r.event["source"] == "/mlrail/pipelines/training/runs/job-1" for r in receiver.events
    )
    meta = out["anomalies"].metadata
    assert meta["events_not_delivered"] == 0
    assert meta["events"] == [
        f"event {r.event['type']} {r.event['id']}: delivered to {receiver.url}"
        for r in receiver.events
    ]


def test_clean_data_sends_no_event(trained: Trained, tmp_path: Path) -> None:
    out = _outputs(tmp_path / "out")
    with Receiver().running() as receiver:
        ok = validate.python_func(
            examples=Dataset(name="examples", uri=str(trained.examples)),
            baseline_statistics=str(trained.statistics),
            events_sink=receiver.url,
            **out,
        )
    assert ok is True and receiver.requests == 0
    assert out["anomalies"].metadata["events"] == []


def test_a_down_sink_is_recorded_and_validate_still_answers(
    trained: Trained, tmp_path: Path
) -> None:
    shutil.copytree(trained.examples, tmp_path / "ex")
    import pyarrow.parquet as pq

    part = tmp_path / "ex" / "eval" / "part-00000.parquet"
    pq.write_table(pq.read_table(part).drop_columns(["island"]), part)
    out = _outputs(tmp_path / "out")
    with refusing_port() as port:
        ok = validate.python_func(
            examples=Dataset(name="examples", uri=str(tmp_path / "ex")),
            curated_schema=str(trained.schema / "schema.pbtxt"),
            events_sink=f"http://127.0.0.1:{port}/events",
            **out,
        )
    assert ok is False
    meta = out["anomalies"].metadata
    assert meta["events_not_delivered"] == 1
    (line,) = meta["events"]
    assert line.startswith("event io.mlrail.data.anomalies_found ")
    assert f"NOT delivered to http://127.0.0.1:{port}/events after 4 attempt(s)" in line
    assert (Path(out["anomalies"].path) / "anomalies.json").is_file()


def test_a_json_lines_file_sink(trained: Trained, tmp_path: Path) -> None:
    from cloudevents.http import from_json

    sink = tmp_path / "events.jsonl"
    validate.python_func(
        examples=_drifted(trained, tmp_path / "ex"),
        baseline_statistics=str(trained.statistics),
        events_sink=str(sink),
        **_outputs(tmp_path / "out"),
    )
    got = [from_json(line) for line in sink.read_bytes().splitlines()]
    assert [e["type"] for e in got] == [
        "io.mlrail.data.anomalies_found",
        "io.mlrail.data.drift_detected",
    ]
