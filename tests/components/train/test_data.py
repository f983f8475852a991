"""Training input streamed from Parquet: bounded batches, every labelled row, seeded order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlrail.artifacts.examples import Split, open_split
from mlrail.artifacts.modelspec import InputSpec, ModelSpec
from mlrail.components.train import data
from mlrail.errors import DataError

SPEC = ModelSpec(
    task="binary",
    label="y",
    inputs=[InputSpec("x", "x", "float32"), InputSpec("c", "c", "string")],
    output="probabilities",
    classes=["a", "b"],
)


def _split(tmp_path: Path, files: int = 3, rows: int = 250, row_group: int = 50) -> Split:
    """``files`` parts of ``rows`` rows in row groups of ``row_group``; every 10th label null."""
    folder = tmp_path / "train"
    folder.mkdir()
    for f in range(files):
        start = f * rows
        x = np.arange(start, start + rows, dtype=np.float64)
        y = ["a" if v % 3 else "b" for v in range(start, start + rows)]
        table = pa.table(
            {
                "x": x,
                "c": [f"c{v % 7}" for v in range(start, start + rows)],
                "y": [None if v % 10 == 0 else label for v, label in zip(x, y, strict=True)],
            }
        )
        pq.write_table(table, folder / f"part-{f:05d}.parquet", row_group_size=row_group)
    return open_split(folder)


def test_a_split_is_read_in_bounded_batches_across_files_and_row_groups(tmp_path: Path) -> None:
    split = _split(tmp_path)
    assert split.rows == 750 and len(split.chunks()) == 15  # 3 files x 5 row groups
    seen = list(data.batches(split, SPEC, read_rows=32))
    assert len(seen) > 15 and max(len(b.labels) for b in seen) <= 32
    xs = np.concatenate([b.features["x"][:, 0] for b in seen])
    # every labelled row once, unlabelled ones skipped
    assert sorted(xs.tolist()) == [float(v) for v in range(750) if v % 10]
    assert {b.features["c"].dtype for b in seen} == {np.dtype(object)}
    assert all(np.all(b.weights == 1) for b in seen)


def test_the_streamed_dataset_holds_every_labelled_row_in_batches(tmp_path: Path) -> None:
    split = _split(tmp_path)
    labels = data.summarize_labels(split, "y", 20)
    assert (labels.rows, labels.labelled, labels.counts) == (750, 675, {"a": 450, "b": 225})
    ds = data.dataset(
        split, SPEC, rows=labels.labelled, batch_size=64, seed=1, shuffle=True,
        read_rows=32, shuffle_rows=100, cache_rows=0,
    )  # fmt: skip
    sizes, xs = [], []
    for features, y, w in ds:
        sizes.append(len(y))
        xs.extend(features["x"].numpy()[:, 0].tolist())
        assert features["c"].dtype.name == "string" and w.shape == y.shape
    assert sizes == [64] * 10 + [35]
    assert sorted(xs) == [float(v) for v in range(750) if v % 10]
    assert xs != sorted(xs)  # shuffled


@pytest.mark.parametrize("cache_rows", [0, 10_000])
def test_the_order_depends_only_on_the_seed(tmp_path: Path, cache_rows: int) -> None:
    split = _split(tmp_path)

    def two_epochs(seed: int) -> list[float]:
        ds = data.dataset(
            split, SPEC, rows=675, batch_size=64, seed=seed, shuffle=True,
            read_rows=32, shuffle_rows=100, cache_rows=cache_rows,
        )  # fmt: skip
        return [float(v) for _ in range(2) for f, _, _ in ds for v in f["x"].numpy()[:, 0]]

    a, b = two_epochs(7), two_epochs(7)
    assert a == b
    assert a[:675] != a[675:]  # each epoch has its own order
    assert two_epochs(8) != a


def test_class_weights_ride_with_each_row(tmp_path: Path) -> None:
    split = _split(tmp_path, files=1)
    weights = np.array([0.5, 2.0], np.float32)
    for b in data.batches(split, SPEC, class_weights=weights, read_rows=40):
        np.testing.assert_array_equal(b.weights, weights[b.labels])


def test_a_regression_label_is_not_counted(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    pq.write_table(pa.table({"y": np.linspace(0, 1, 1000)}), folder / "p.parquet")
    s = data.summarize_labels(open_split(folder), "y", 20)
    assert s.counts is None and s.labelled == 1000


def test_a_part_without_an_input_column_is_named_before_training(tmp_path: Path) -> None:
    split = _split(tmp_path, files=2)
    pq.write_table(pa.table({"x": [1.0], "y": ["a"]}), split.files[1])
    problems = data.check_columns(open_split(split.path), SPEC)
    assert problems == [f"{split.files[1]}: column 'c' (a model input) is missing"]


def test_a_corrupt_part_is_named(tmp_path: Path) -> None:
    split = _split(tmp_path, files=2)
    split.files[1].write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match=r"part-00001.parquet: cannot read Parquet"):
        open_split(split.path)


def _epoch(ds) -> tuple[list[int], list[float]]:  # type: ignore[no-untyped-def]
    sizes, xs = [], []
    for f, y, _ in ds:
        sizes.append(len(y))
        xs.extend(float(v) for v in f["x"].numpy()[:, 0])
    return sizes, xs


@pytest.mark.parametrize("cache_rows", [0, 10_000])
def test_shards_are_disjoint_and_cover_the_split(tmp_path: Path, cache_rows: int) -> None:
    # 2 files x 5 row groups of 50 rows (45 labelled): runs of 225 rows, a file per worker
    split = _split(tmp_path, files=2)
    rows = data.summarize_labels(split, "y", 20).labelled
    seen = []
    for index in (0, 1):
        ds = data.dataset(
            split, SPEC, rows=rows, batch_size=25, seed=3, shuffle=True, read_rows=32,
            shuffle_rows=100, cache_rows=cache_rows, shard=(index, 2),
        )  # fmt: skip
        sizes, xs = _epoch(ds)
        assert sizes == [25] * 9  # ceil(450 / (2 * 25)) batches on each worker
        assert len(set(xs)) == len(xs) == 225
        seen.append(set(xs))
    assert not seen[0] & seen[1]
    assert sorted(seen[0] | seen[1]) == [float(v) for v in range(500) if v % 10]
    # held or streamed: the first run of the split's labelled rows, its first 5 row groups
    assert {int(x) // 50 for x in seen[0]} == {0, 1, 2, 3, 4}


@pytest.mark.parametrize("cache_rows", [0, 10_000])
def test_an_odd_split_gives_every_worker_its_rows_and_the_same_steps(
    tmp_path: Path, cache_rows: int
) -> None:
    # 15 row groups, 675 labelled rows: runs of 337 and 338, cut inside row group 7 (whole
    # row groups would give 8 and 7 of them: 360 and 315 rows)
    split = _split(tmp_path, files=3)
    rows = data.summarize_labels(split, "y", 20).labelled
    labelled = [float(v) for v in range(750) if v % 10]
    own = {0: set(labelled[:337]), 1: set(labelled[337:])}
    for index in (0, 1):
        ds = data.dataset(
            split, SPEC, rows=rows, batch_size=32, seed=3, shuffle=True, read_rows=32,
            shuffle_rows=100, cache_rows=cache_rows, shard=(index, 2),
        )  # fmt: skip
        for _ in range(2):  # every epoch, not only the first
            sizes, xs = _epoch(ds)
            # ceil(675 / 64) steps: 352 rows, its whole run and the rest from the next pass
            assert sizes == [32] * 11
            assert set(xs) == own[index]


def test_a_bad_shard_is_refused(tmp_path: Path) -> None:
    split = _split(tmp_path, files=1)  # 5 row groups
    kw = {"rows": 225, "batch_size": 8, "seed": 1, "shuffle": True, "cache_rows": 0}
    with pytest.raises(ValueError, match=r"shard \(2, 2\): expected \(worker index"):
        data.dataset(split, SPEC, shard=(2, 2), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("cache_rows", [0, 10_000])
def test_every_column_rides_with_its_row_whatever_its_type(tmp_path: Path, cache_rows: int) -> None:
    """Numbers, dates and several text columns (each with its own words, packed together
    to cross) come out with their own row's values, held or streamed through windows."""
    folder = tmp_path / "train"
    folder.mkdir()
    for f in range(2):
        v = np.arange(f * 300, f * 300 + 300)
        table = pa.table(
            {
                "x": v.astype(np.float64),
                "z": -v.astype(np.int64),
                "c": [f"c{i % 7}" for i in v],
                "d": [None if i % 11 == 0 else f"d{i % 13}" for i in v],
                "t": pa.array(v.astype("datetime64[D]")),
                "y": ["a" if i % 3 else "b" for i in v],
            }
        )
        pq.write_table(table, folder / f"part-{f:05d}.parquet", row_group_size=70)
    spec = ModelSpec(
        task="binary",
        label="y",
        inputs=[
            InputSpec("c", "c", "string"),
            InputSpec("x", "x", "float32"),
            InputSpec("t", "t", "datetime"),
            InputSpec("d", "d", "string"),
            InputSpec("z", "z", "float32"),
        ],
        output="probabilities",
        classes=["a", "b"],
    )
    ds = data.dataset(
        open_split(folder), spec, rows=600, batch_size=16, seed=5, shuffle=True,
        read_rows=32, shuffle_rows=100, cache_rows=cache_rows,
    )  # fmt: skip
    seen = []
    for f, y, _ in ds:
        assert [f[k].dtype.name for k in "cxtdz"] == ["string", "float32", "float64"] + [
            "string",
            "float32",
        ]
        for c, x, t, d, z, label in zip(
            *(f[k].numpy()[:, 0] for k in "cxtdz"), y.numpy(), strict=True
        ):
            i = int(x)
            seen.append(i)
            assert (c.decode(), float(t), d.decode(), float(z)) == (
                f"c{i % 7}",
                float(i),
                "" if i % 11 == 0 else f"d{i % 13}",
                -float(i),
            )
            assert label == (0 if i % 3 else 1)
    assert sorted(seen) == list(range(600)) and seen != sorted(seen)
