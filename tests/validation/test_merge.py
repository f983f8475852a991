"""Statistics artifacts of shards merged into the artifact of the whole (mlrail.validation.merge),
against one pass over the same Parquet parts; validate's artifact is mergeable too."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tensorflow_metadata.proto.v0 import statistics_pb2

from mlrail.artifacts import tfmd
from mlrail.errors import DataError
from mlrail.validation.merge import (
    merge_statistics,
    read_partial_statistics,
    statistics_artifact,
)
from mlrail.validation.statistics import compute_statistics
from tests.validation.test_partial import _assert_agree, mixed_table, shards


def _examples(root: Path, splits: dict[str, list[pa.Table]]) -> Path:
    """An examples artifact: each split's tables as its Parquet parts, in order."""
    for split, tables in splits.items():
        (root / split).mkdir(parents=True)
        for k, t in enumerate(tables):
            pq.write_table(t, root / split / f"part-{k:05d}.parquet")
    return root


@pytest.mark.parametrize("n", [2, 5])
def test_merged_shard_artifacts_agree_with_one_pass_over_their_parts(
    tmp_path: Path, n: int
) -> None:
    rows = 150_000
    train = shards(mixed_table(rows, seed=n), [i * rows // n for i in range(1, n)] + [rows])
    # eval in the first shards only; with 5, one of its shards is empty
    evals = shards(mixed_table(900, seed=n + 1), [300, 300][: n - 1])
    folders = []
    for k in range(len(train)):  # n shards and an empty one (cut at rows)
        splits = {"train": [train[k]]}
        if k < len(evals):  # eval only in the first shards
            splits["eval"] = [evals[k]]
        ex = _examples(tmp_path / f"ex{k}", splits)
        statistics_artifact(ex, tmp_path / f"st{k}")
        folders.append(tmp_path / f"st{k}")
    merged = merge_statistics(folders, tmp_path / "merged")
    whole = compute_statistics(_examples(tmp_path / "whole", {"train": train, "eval": evals}))
    assert [d.name for d in merged.datasets] == ["train", "eval"]
    one = {d.name: d for d in whole.datasets}
    _assert_agree(one["train"], merged.datasets[0], train)
    _assert_agree(one["eval"], merged.datasets[1], evals)
    # written in TFX's layout, each split's state beside its FeatureStats.pb; readers agree
    assert tfmd.read_statistics(tmp_path / "merged") == {d.name: d for d in merged.datasets}
    files = sorted(
        str(p.relative_to(tmp_path / "merged")) for p in (tmp_path / "merged").rglob("*")
    )
    assert files == [
        "Split-eval",
        "Split-eval/FeatureStats.pb",
        "Split-eval/mlrail_partial.bin",
        "Split-train",
        "Split-train/FeatureStats.pb",
        "Split-train/mlrail_partial.bin",
        "statistics.json",
    ]


def test_a_merged_artifact_merges_again_as_its_parts_would(tmp_path: Path) -> None:
    parts = shards(mixed_table(3_000, seed=11), [1_000, 2_000])
    folders = []
    for k, part in enumerate(parts):
        statistics_artifact(_examples(tmp_path / f"ex{k}", {"train": [part]}), tmp_path / f"st{k}")
        folders.append(tmp_path / f"st{k}")
    merge_statistics(folders[:2], tmp_path / "first-two")
    again = merge_statistics([tmp_path / "first-two", folders[2]], tmp_path / "again")
    at_once = merge_statistics(folders, tmp_path / "at-once")
    assert again == at_once  # all exact at this size: equal, histograms included
    state = read_partial_statistics(tmp_path / "again")["train"]
    assert state.rows == 3_000 and state.source.endswith("Split-train/mlrail_partial.bin")


def test_an_input_without_a_mergeable_state_is_named(tmp_path: Path) -> None:
    statistics_artifact(
        _examples(tmp_path / "ex", {"train": [mixed_table(10, 1)]}), tmp_path / "ok"
    )
    stats = compute_statistics(tmp_path / "ex")
    tfmd.write_statistics(tmp_path / "old", stats, {})  # as written before: no state
    with pytest.raises(DataError, match=rf"^{tmp_path / 'old'}: split 'train' has no mergeable"):
        merge_statistics([tmp_path / "ok", tmp_path / "old"], tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(DataError, match=rf"^{tmp_path / 'nowhere'}: no such file or folder"):
        merge_statistics([tmp_path / "nowhere"], tmp_path / "out")
    with pytest.raises(DataError, match=r"no statistics artifacts to merge"):
        merge_statistics([], tmp_path / "out")
    (tmp_path / "ok" / "Split-train" / tfmd.PARTIAL_FILE).write_bytes(b"not a state")
    with pytest.raises(DataError, match=r"Split-train/mlrail_partial\.bin: not mlrail's partial"):
        merge_statistics([tmp_path / "ok"], tmp_path / "out")


def test_a_column_of_numbers_in_one_shard_and_text_in_another_is_named(tmp_path: Path) -> None:
    a = statistics_artifact(
        _examples(tmp_path / "a", {"train": [pa.table({"x": [1.0]})]}), tmp_path / "sa"
    )
    statistics_artifact(
        _examples(tmp_path / "b", {"train": [pa.table({"x": ["1"]})]}), tmp_path / "sb"
    )
    assert a.datasets[0].features[0].type == statistics_pb2.FeatureNameStatistics.FLOAT
    with pytest.raises(
        DataError, match=r"sb/Split-train/mlrail_partial\.bin: column 'x' is string"
    ):
        merge_statistics([tmp_path / "sa", tmp_path / "sb"], tmp_path / "out")


def test_partial_states_only_with_their_splits(tmp_path: Path) -> None:
    stats = compute_statistics(_examples(tmp_path / "ex", {"train": [mixed_table(10, 2)]}))
    with pytest.raises(ValueError, match=r"mergeable states for splits \['eval'\]"):
        tfmd.write_statistics(tmp_path / "st", stats, {}, {"eval": b""})


def test_validate_writes_a_mergeable_statistics_artifact(tmp_path: Path) -> None:
    from mlrail.components.validate.core import validate

    table = mixed_table(2_000, seed=3).drop_columns(["raw"])  # no anomaly-only type
    ex = _examples(
        tmp_path / "ex", {"train": [table.slice(0, 1_500)], "eval": [table.slice(1_500)]}
    )
    validate(ex, tmp_path / "st", tmp_path / "schema", tmp_path / "an")
    written = tfmd.load_statistics(tmp_path / "st")
    merged = merge_statistics([tmp_path / "st"], tmp_path / "merged")
    assert merged == written  # exact at this size: the state is the statistics' own


def test_mlrail_validate_writes_a_mergeable_statistics_artifact(tmp_path: Path) -> None:
    from mlrail.components.validate.files import validate_source

    table = mixed_table(500, seed=8).drop_columns(["raw", "t"])
    pq.write_table(table, tmp_path / "data.parquet")
    validate_source(str(tmp_path / "data.parquet"), tmp_path / "out")
    written = tfmd.load_statistics(tmp_path / "out" / "statistics")
    assert merge_statistics([tmp_path / "out" / "statistics"], tmp_path / "m") == written
