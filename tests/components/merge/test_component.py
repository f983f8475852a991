from pathlib import Path

from kfp.dsl import Artifact, Dataset

from mlrail.artifacts.tfmd import load_statistics
from mlrail.components.ingest.core import ingest
from mlrail.components.merge import merge
from mlrail.components.plan.core import plan
from mlrail.components.statistics.core import statistics
from tests.components._compile import compiled_container
from tests.components.merge.shards import penguin_shards


def test_python_func_merges_collected_artifacts_into_one_of_each(tmp_path: Path) -> None:
    penguin_shards(tmp_path / "data", 3)
    shards = [s.item() for s in plan(str(tmp_path / "data"))]
    examples, stats = [], []
    for i, shard in enumerate(shards):
        result = ingest(shard["source"], str(tmp_path / f"ex{i}"))
        statistics(tmp_path / f"ex{i}", tmp_path / f"st{i}")
        e = Dataset(name="examples", uri=str(tmp_path / f"ex{i}"))
        e.metadata.update(
            {"source": result.source, "fingerprint": result.fingerprint, "format": "csv"}
        )
        e.metadata.update({"files": result.files, "num_files": 1})
        s = Artifact(name="statistics", uri=str(tmp_path / f"st{i}"))
        s.metadata["source"] = result.source
        examples.append(e)
        stats.append(s)
    out_examples = Dataset(name="examples", uri=str(tmp_path / "examples"))
    out_stats = Artifact(name="statistics", uri=str(tmp_path / "statistics"))
    merge.python_func(
        shards=shards,
        shard_examples=examples[::-1],  # the collected order is not the plan's
        shard_statistics=stats,
        examples=out_examples,
        statistics=out_stats,
        source=str(tmp_path / "data"),
    )
    md = out_examples.metadata
    assert md["splits"] == ["eval", "train"] and md["num_shards"] == 3
    assert md["rows_train"] + md["rows_eval"] == 344
    assert md["source"] == str(tmp_path / "data") and md["format"] == "csv"
    assert md["files"] == [s["name"] for s in shards] and md["num_files"] == 3
    assert len(md["fingerprint"]) == 64
    assert out_stats.metadata["num_examples_train"] == md["rows_train"]
    assert out_stats.metadata["split_names"] == '["train", "eval"]'
    merged = load_statistics(tmp_path / "statistics")
    assert sum(ds.num_examples for ds in merged.datasets) == 344


def test_compiles(tmp_path: Path) -> None:
    spec = compiled_container(merge, tmp_path)
    inputs = spec["root"]["inputDefinitions"]
    assert set(inputs["parameters"]) == {"shards", "source"}
    assert inputs["artifacts"]["shard_examples"]["isArtifactList"] is True
    assert inputs["artifacts"]["shard_statistics"]["isArtifactList"] is True
    assert set(spec["root"]["outputDefinitions"]["artifacts"]) == {"examples", "statistics"}
