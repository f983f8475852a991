"""``mlrail validate``, ``schema`` and ``evaluate`` on files, as a person runs them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from mlrail.cli import main
from tests.helpers import Trained

DATA = Path(__file__).parents[1] / "fixtures" / "bad_data"


def test_validate_clean_data_exits_0_and_writes_the_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["validate", str(DATA / "clean.csv"), "--out", str(out)]) == 0
    assert "Data validation: ✅ OK" in capsys.readouterr().out
    for f in (
        "report.html",
        "summary.md",
        "statistics/Split-data/FeatureStats.pb",  # TFX's layout: the files are split "data"
        "statistics/statistics.json",
        "anomalies/Split-data/SchemaDiff.pb",
        "schema/schema.pbtxt",
    ):
        assert (out / f).is_file(), f
    assert json.loads((out / "anomalies" / "anomalies.json").read_text())["ok"] is True


def test_validate_exits_1_on_an_anomaly_against_a_written_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = tmp_path / "schema.pbtxt"
    assert main(["schema", str(DATA / "clean.csv"), "-o", str(schema)]) == 0
    parsed = text_format.Parse(schema.read_text(), schema_pb2.Schema())
    x = next(f for f in parsed.feature if f.name == "x")
    assert (x.float_domain.min, x.float_domain.max) == (0.0, 29.5)  # observed range, to edit
    code = main(
        ["validate", str(DATA / "unseen_category.csv"), "--schema", str(schema),
         "--out", str(tmp_path / "v")]
    )  # fmt: skip
    assert code == 1
    out = capsys.readouterr().out
    assert "ENUM_TYPE_UNEXPECTED_STRING_VALUES" in out and "Ærøskøbing" in out


def test_validate_reports_drift_against_a_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(DATA / "clean.csv"), "--out", str(tmp_path / "a")]) == 0
    shifted = tmp_path / "shifted.csv"
    lines = (DATA / "clean.csv").read_text().splitlines()
    rows = [line.split(",") for line in lines[1:]]
    shifted.write_text(
        "\n".join([lines[0]] + [",".join([str(float(r[0]) + 100), *r[1:]]) for r in rows]) + "\n"
    )
    capsys.readouterr()
    code = main(
        ["validate", str(shifted), "--baseline", str(tmp_path / "a" / "statistics"),
         "--baseline-split", "data", "--out", str(tmp_path / "b")]
    )  # fmt: skip
    assert code == 1
    report = json.loads((tmp_path / "b" / "anomalies" / "anomalies.json").read_text())
    assert report["drift_detected"] is True
    (x,) = [c for c in report["comparisons"] if c["feature"] == "x" and c["kind"] == "drift"]
    assert x["exceeded"] and x["value"] > 0.9  # disjoint ranges: the divergence is near 1


def test_schema_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", str(DATA / "clean.csv"), "-o", "-", "--no-ranges"]) == 0
    parsed = text_format.Parse(capsys.readouterr().out, schema_pb2.Schema())
    assert [f.name for f in parsed.feature] == ["x", "y", "colour", "label"]
    assert not any(
        f.HasField("float_domain") and f.float_domain.HasField("min") for f in parsed.feature
    )


def test_validate_bad_file_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(DATA / "ragged_row.csv"), "--out", "/nonexistent/x"]) == 2
    err = capsys.readouterr().err
    assert "ragged_row.csv" in err and "line 7" in err


def test_evaluate_a_model_on_a_file_against_a_baseline(
    trained: Trained, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = trained.examples / "eval" / "part-00000.parquet"
    code = main(
        ["evaluate", str(trained.model), str(data), "--baseline", str(trained.model),
         "--out", str(tmp_path / "e")]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and "blessed" in out and "accuracy" in out
    blessing = json.loads((tmp_path / "e" / "blessing" / "blessing.json").read_text())
    assert any(c["kind"] == "change" for c in blessing["checks"])  # compared with the baseline
    assert (tmp_path / "e" / "report.html").is_file()
    # an impossible bound: not blessed, exit 1
    shutil.rmtree(tmp_path / "e")
    code = main(
        ["evaluate", str(trained.model), str(trained.examples), "--thresholds",
         '{"accuracy": ">= 1.01"}', "--out", str(tmp_path / "e")]
    )  # fmt: skip
    assert code == 1 and "NOT blessed" in capsys.readouterr().out
