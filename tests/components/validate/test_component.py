import json
import shutil
from pathlib import Path

from kfp.dsl import HTML, Artifact, Dataset, Markdown

from mlrail.components.validate import validate
from tests.components._compile import compiled_container
from tests.helpers import Trained


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
        "num_anomalies": 0,
        "anomalies": [],
        "drift_detected": False,
        "drift_baseline": "",
    }
    page = Path(out["report"].path).read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "bill_length_mm" in page
    assert "OK" in Path(out["summary"].path).read_text(encoding="utf-8")
    assert out["schema"].metadata["num_features"] == 8
    assert out["statistics"].metadata["num_examples_train"] > 0

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
