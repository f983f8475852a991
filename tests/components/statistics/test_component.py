from pathlib import Path

from kfp.dsl import Artifact, Dataset

from mlrail.artifacts.tfmd import load_statistics, read_partials
from mlrail.components.ingest.core import ingest
from mlrail.components.statistics import statistics
from tests.components._compile import compiled_container


def test_python_func_writes_mergeable_statistics_naming_the_examples_source(
    penguins_csv: Path, tmp_path: Path
) -> None:
    result = ingest(str(penguins_csv), str(tmp_path / "examples"))
    examples = Dataset(name="examples", uri=str(tmp_path / "examples"))
    examples.metadata["source"] = result.source
    out = Artifact(name="statistics", uri=str(tmp_path / "statistics"))
    statistics.python_func(examples=examples, statistics=out)
    md = out.metadata
    assert md["source"] == str(penguins_csv)
    assert md["num_examples_train"] == result.rows["train"]
    assert md["num_examples_eval"] == result.rows["eval"]
    assert md["split_names"] == '["train", "eval"]'
    assert set(read_partials(tmp_path / "statistics")) == {"train", "eval"}
    assert sum(ds.num_examples for ds in load_statistics(tmp_path / "statistics").datasets) == 344


def test_compiles(tmp_path: Path) -> None:
    spec = compiled_container(statistics, tmp_path)
    assert set(spec["root"]["inputDefinitions"]["artifacts"]) == {"examples"}
    assert set(spec["root"]["outputDefinitions"]["artifacts"]) == {"statistics"}
