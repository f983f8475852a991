import shutil
from pathlib import Path

from kfp.dsl import Artifact, Dataset

from mlrail.components.validate import validate
from tests.components._compile import compiled_container
from tests.conftest import Trained


def _outputs(tmp_path: Path) -> dict[str, Artifact]:
    return {
        n: Artifact(name=n, uri=str(tmp_path / n)) for n in ("statistics", "schema", "anomalies")
    }


def test_python_func_gates_on_anomalies(trained: Trained, tmp_path: Path) -> None:
    examples = Dataset(name="examples", uri=str(trained.examples))
    out = _outputs(tmp_path / "clean")
    assert validate.python_func(examples=examples, curated_schema="", min_examples=1, **out) is True
    assert out["anomalies"].metadata == {"num_anomalies": 0, "drift_detected": False}
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


def test_compiles(tmp_path: Path) -> None:
    spec = compiled_container(validate, tmp_path)
    assert spec["root"]["outputDefinitions"]["parameters"]["Output"]["parameterType"] == "BOOLEAN"
    curated = spec["root"]["inputDefinitions"]["parameters"]["curated_schema"]
    assert curated["defaultValue"] == "" and curated["parameterType"] == "STRING"
