from pathlib import Path

from kfp.dsl import Dataset

from mlrail.components.ingest import ingest
from tests.components._compile import compiled_container


def test_python_func_writes_examples_and_metadata(penguins_csv: Path, tmp_path: Path) -> None:
    examples = Dataset(name="examples", uri=str(tmp_path / "examples"))
    ingest.python_func(
        source=str(penguins_csv), examples=examples, eval_ratio=0.25, test_ratio=0.0, key_column=""
    )
    md = examples.metadata
    assert md["splits"] == ["train", "eval"] and md["rows_train"] + md["rows_eval"] == 344
    assert len(md["fingerprint"]) == 64 and md["source"] == str(penguins_csv)
    assert (tmp_path / "examples" / "eval" / "part-00000.parquet").is_file()


def test_compiles(tmp_path: Path) -> None:
    spec = compiled_container(ingest, tmp_path)
    assert set(spec["root"]["inputDefinitions"]["parameters"]) == {
        "source",
        "eval_ratio",
        "test_ratio",
        "key_column",
        "span_date",
        "scheduled_time",
    }
