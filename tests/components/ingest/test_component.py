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
    assert md["format"] == "csv" and md["files"] == [str(penguins_csv)] and md["num_files"] == 1
    assert md["span"] == "" and md["spans"] == [] and md["missing_spans"] == []
    assert (tmp_path / "examples" / "eval" / "part-00000.parquet").is_file()


def test_metadata_lists_at_most_100_files_and_the_spans(tmp_path: Path) -> None:
    for i in range(101):
        (tmp_path / "2026-05-06").mkdir(exist_ok=True)
        (tmp_path / "2026-05-06" / f"{i:03d}.csv").write_bytes(b"x\n%d\n" % i)
    examples = Dataset(name="examples", uri=str(tmp_path / "examples"))
    ingest.python_func(
        source=str(tmp_path / "{YYYY}-{MM}-{DD}"),
        examples=examples,
        span_date="2026-05-06",
        span_window=2,
    )
    md = examples.metadata
    assert len(md["files"]) == 100 and md["num_files"] == 101
    assert md["files"][0] == str(tmp_path / "2026-05-06" / "000.csv")
    assert md["span"] == "2026-05-06" and md["spans"] == ["2026-05-06"]
    assert md["missing_spans"] == ["2026-05-05"]


def test_compiles(tmp_path: Path) -> None:
    spec = compiled_container(ingest, tmp_path)
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert set(parameters) == {
        "source",
        "eval_ratio",
        "test_ratio",
        "key_column",
        "span_date",
        "scheduled_time",
        "span_window",
    }
    assert parameters["span_window"]["defaultValue"] == 1
