"""A data-parallel worker reads only its own part of the train split, from local files or a store.

The parts are equal runs of the split's labelled rows (lengths within one row), whatever the
row groups' sizes: one epoch over all workers sees every labelled row once. What a worker reads
is checked on the bytes: every row group its run does not touch has its column chunks zeroed
(all but the label's, which every worker reads), and the worker must still read exactly its
own rows; and a worker staging from a ``file://`` store fetches exactly the footers, the label
column and the row groups its run touches, leaving the rest of its local copy empty.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlrail.artifacts.examples import Split, open_split
from mlrail.artifacts.modelspec import InputSpec, ModelSpec
from mlrail.components.train import data, multiworker, shards
from mlrail.errors import DataError

from ._data import splits

SPEC = ModelSpec(
    task="binary",
    label="y",
    inputs=[InputSpec("x", "x", "float32"), InputSpec("c", "c", "string")],
    output="probabilities",
    classes=["a", "b"],
)
READ = {"read_rows": 32, "shuffle_rows": 100}


def _table(start: int, rows: int, unlabelled: frozenset[int] = frozenset()) -> pa.Table:
    """Rows ``start`` ... with ``x`` = the row's number; every 10th label null, and every
    label of the ``unlabelled`` 50-row runs."""
    ids = range(start, start + rows)
    return pa.table(
        {
            "x": np.arange(start, start + rows, dtype=np.float64),
            "c": [f"c{v % 7}" for v in ids],
            "pad": [f"{v:08d}-{v * 7919 % 10007:05d}" for v in ids],  # bytes: a wide column
            "y": [
                None if v % 10 == 0 or v // 50 in unlabelled else ("a" if v % 3 else "b")
                for v in ids
            ],
        }
    )


def _split(
    folder: Path,
    files: int = 2,
    rows: int = 200,
    unlabelled: frozenset[int] = frozenset(),
    row_group: int = 50,
) -> Split:
    """``files`` parts of ``rows`` rows in row groups of ``row_group``."""
    folder.mkdir(parents=True)
    for f in range(files):
        table = _table(f * rows, rows, unlabelled)
        pq.write_table(table, folder / f"part-{f:05d}.parquet", row_group_size=row_group)
    return open_split(folder)


#: Rows of the 8 row groups of the uneven split (2 files of 4): 400 rows, 360 labelled.
UNEVEN = ((100, 20, 70, 10), (50, 90, 30, 30))


def _uneven(folder: Path) -> Split:
    """2 parts of 4 row groups of :data:`UNEVEN` rows: 400 rows, every 10th label null."""
    folder.mkdir(parents=True)
    start = 0
    for f, sizes in enumerate(UNEVEN):
        with pq.ParquetWriter(folder / f"part-{f:05d}.parquet", _table(1, 1).schema) as w:
            for n in sizes:  # a write_table call per row group
                w.write_table(_table(start, n), row_group_size=n)
                start += n
    split = open_split(folder)
    assert [pq.ParquetFile(p).metadata.row_group(g).num_rows for p in split.files
            for g in range(4)] == [n for sizes in UNEVEN for n in sizes]  # fmt: skip
    return split


def _runs(split: Split, count: int) -> list[tuple[list[tuple[int, int]], list[float]]]:
    """What each of ``count`` workers must read, worked out from the intact split alone: the
    split's labelled rows in chunk order cut at ``i * total // count``, each run's ``x`` and
    the chunks it touches."""
    rows = [(c, x) for c in split.chunks() for x in sorted(_labelled(split, [c]))]
    out = []
    for i in range(count):
        run = rows[i * len(rows) // count : (i + 1) * len(rows) // count]
        out.append((list(dict.fromkeys(c for c, _ in run)), [x for _, x in run]))
    return out


def _column_ranges(file: Path) -> dict[tuple[int, str], tuple[int, int]]:
    """Each ``(row group, column)`` chunk's bytes in ``file``."""
    meta = pq.ParquetFile(file).metadata
    out = {}
    for g in range(meta.num_row_groups):
        for j in range(meta.num_columns):
            c = meta.row_group(g).column(j)
            start = c.dictionary_page_offset if c.has_dictionary_page else c.data_page_offset
            out[(g, c.path_in_schema)] = (start, start + c.total_compressed_size)
    return out


def _zeroed(split: Split, keep: list[tuple[int, int]], folder: Path) -> Split:
    """A copy of ``split`` in ``folder`` with every chunk not in ``keep`` zeroed but for its
    label column: reading any of those row groups' inputs fails."""
    folder.mkdir()
    for f, file in enumerate(split.files):
        raw = bytearray(file.read_bytes())
        for (g, column), (start, end) in _column_ranges(file).items():
            if (f, g) not in keep and column != SPEC.label:
                raw[start:end] = bytes(end - start)
        (folder / file.name).write_bytes(bytes(raw))
    return open_split(folder)


def _labelled(split: Split, chunks: list[tuple[int, int]]) -> set[float]:
    """The ``x`` of the labelled rows of ``chunks`` (read from the intact split)."""
    out = set()
    for f, g in chunks:
        t = pq.ParquetFile(split.files[f]).read_row_group(g, columns=["x", "y"])
        out |= {x for x, y in zip(t["x"].to_pylist(), t["y"].to_pylist(), strict=True) if y}
    return out


def _epoch(split: Split, shard: tuple[int, int], cache_rows: int, batch: int) -> list[float]:
    rows = data.summarize_labels(split, "y", 20).labelled
    ds = data.dataset(
        split, SPEC, rows=rows, batch_size=batch, seed=5, shuffle=True, cache_rows=cache_rows,
        shard=shard, **READ,
    )  # fmt: skip
    return [float(v) for f, _, _ in ds for v in f["x"].numpy()[:, 0]]


@pytest.mark.parametrize("count", [2, 3, 4, 5, 7, 9])
@pytest.mark.parametrize("layout", ["even", "uneven"])
def test_the_parts_are_equal_runs_of_the_labelled_rows(
    tmp_path: Path, layout: str, count: int
) -> None:
    # 8 row groups, 360 labelled rows: of 45 each, or uneven (UNEVEN); whole row groups i::3
    # would give the workers 135/135/90 (even) or 126/90/144 (uneven) labelled rows
    split = _split(tmp_path / "t") if layout == "even" else _uneven(tmp_path / "t")
    assert len(split.chunks()) == 8
    whole = {c: len(_labelled(split, [c])) for c in split.chunks()}
    plans = [shards.plan_shard(split, "y", (i, count)) for i in range(count)]
    rows = [p.rows for p in plans if p]
    assert len(rows) == count and sum(rows) == 360 and max(rows) - min(rows) <= 1
    for plan, (chunks, xs) in zip(plans, _runs(split, count), strict=True):
        assert plan is not None and plan.chunks == chunks and plan.rows == len(xs)
        # only its first and last row group may be shared with a neighbour: the rest whole
        assert all(a == 0 and b == whole[c] for c, a, b in plan.pieces[1:-1])
    # disjoint, and together every labelled row once
    pieces = [(c, a, b) for p in plans if p for c, a, b in p.pieces]
    for c in split.chunks():
        spans = sorted((a, b) for k, a, b in pieces if k == c)
        assert [a for a, _ in spans] == [0] + [b for _, b in spans[:-1]]
        assert spans[-1][1] == whole[c]


@pytest.mark.parametrize("cache_rows", [0, 10_000])
@pytest.mark.parametrize("layout", ["even", "uneven"])
@pytest.mark.parametrize("count", [2, 3, 4])
def test_an_epoch_over_all_workers_reads_every_labelled_row_once(
    tmp_path: Path, count: int, layout: str, cache_rows: int
) -> None:
    split = _split(tmp_path / "t") if layout == "even" else _uneven(tmp_path / "t")
    with pytest.raises(DataError, match="cannot read Parquet"):  # the zeroing does destroy
        list(data.batches(_zeroed(split, [], tmp_path / "none"), SPEC))
    seen_by_all: list[float] = []
    for index, (chunks, xs) in enumerate(_runs(split, count)):
        plan = shards.plan_shard(split, "y", (index, count))
        assert plan is not None and plan.chunks == chunks
        # everything but the row groups its run touches destroyed: it reads its run, only that
        seen = _epoch(_zeroed(split, chunks, tmp_path / f"w{index}"), (index, count),
                      cache_rows, batch=5)  # fmt: skip
        # 360 / count rows: ceil(360 / (count * 5)) batches of 5 are exactly its run
        assert sorted(seen) == sorted(xs) and len(seen) == 360 // count
        seen_by_all += seen
    assert sorted(seen_by_all) == [float(v) for v in range(400) if v % 10]


@pytest.mark.parametrize("cache_rows", [0, 10_000])
def test_fewer_row_groups_than_workers_share_the_rows_in_equal_runs(
    tmp_path: Path, cache_rows: int
) -> None:
    split = _split(tmp_path / "train", files=1, rows=100)  # 2 row groups, 90 labelled rows
    parts = []
    for index in range(4):
        plan = shards.plan_shard(split, "y", (index, 4))
        assert plan is not None
        # runs of 22 or 23 rows: workers 0 and 1 read the first row group, 2 and 3 the second
        assert plan.chunks == [(0, index // 2)]
        assert plan.rows == [22, 23, 22, 23][index]
        seen = _epoch(_zeroed(split, plan.chunks, tmp_path / f"w{index}"), (index, 4),
                      cache_rows, batch=1)  # fmt: skip
        assert len(seen) == 23  # ceil(90 / 4) steps on every worker
        parts.append(set(seen))  # every row of its run (the 22-row runs repeat one)
    assert sum(len(p) for p in parts) == 90
    assert set().union(*parts) == {float(v) for v in range(100) if v % 10}


def test_unlabelled_row_groups_are_not_read_nor_left_to_one_worker(tmp_path: Path) -> None:
    # row groups 1 and 3 (of 0-3) have no label: by row group worker 1 would get none of them
    split = _split(tmp_path / "a", files=1, unlabelled=frozenset({1, 3}))
    plans = [shards.plan_shard(split, "y", (i, 2)) for i in (0, 1)]
    assert [p.chunks for p in plans if p] == [[(0, 0)], [(0, 2)]]
    assert [p.rows for p in plans if p] == [45, 45]
    # row group 1 unlabelled: 135 rows in runs of 67 and 68, cut inside row group 2, which
    # both read; row group 1 neither
    split = _split(tmp_path / "b", files=1, unlabelled=frozenset({1}))
    plans = [shards.plan_shard(split, "y", (i, 2)) for i in (0, 1)]
    assert [p.pieces for p in plans if p] == [
        (((0, 0), 0, 45), ((0, 2), 0, 22)), (((0, 2), 22, 45), ((0, 3), 0, 45)),
    ]  # fmt: skip


def test_too_few_labelled_rows_for_the_workers_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "train"
    folder.mkdir()
    pq.write_table(_table(1, 3), folder / "part-00000.parquet")  # 3 labelled rows
    split = open_split(folder)
    kw = {"rows": 3, "batch_size": 1, "seed": 1, "shuffle": True}
    # runs of 3 * i // 4 to 3 * (i + 1) // 4: 0, 1, 1 and 1 rows
    assert [len(_epoch(split, (i, 4), 0, batch=1)) for i in (1, 2, 3)] == [1, 1, 1]
    with pytest.raises(DataError, match=r"train \(shard 0 of 4\): no labelled rows"):
        data.dataset(split, SPEC, shard=(0, 4), **kw)  # type: ignore[arg-type]


def _fetched_ranges(source: Split, own: list[tuple[int, int]]) -> dict[int, int]:
    """Bytes a worker owning ``own`` must fetch of each file: magic, footer, the label column
    of every row group, every column of its own."""
    out = {}
    for f, file in enumerate(source.files):
        size = file.stat().st_size
        footer = pq.ParquetFile(file).metadata.serialized_size + 8
        chunks = sum(
            end - start
            for (g, column), (start, end) in _column_ranges(file).items()
            if column == "y" or (f, g) in own
        )
        out[f] = 4 + footer + chunks
        assert out[f] <= size  # a file all its own is fetched whole
    return out


@pytest.mark.parametrize("count", [2, 3, 4])
def test_a_worker_stages_only_the_row_groups_its_run_touches_from_a_store(
    tmp_path: Path, count: int
) -> None:
    # 2 files x 4 row groups of 2000 rows (1800 labelled): the data, not the footers, is most
    # of the bytes. 3 workers' runs of 4800 rows are cut inside row groups 2 and 5, which
    # two workers each fetch
    source = _split(tmp_path / "store" / "examples" / "train", rows=8000, row_group=2000)
    uri = (tmp_path / "store" / "examples" / "train").as_uri()
    assert uri.startswith("file://")
    total = sum(f.stat().st_size for f in source.files)
    fetched_by_all = 0
    runs = _runs(source, count)
    if count == 3:
        assert [len(own) for own, _ in runs] == [3, 4, 3]
    for index, (own, xs) in enumerate(runs):
        staged = shards.stage_split(
            uri, tmp_path / f"w{index}" / "train", label="y", shard=(index, count)
        )
        assert staged.shard is not None and staged.shard.chunks == own
        assert staged.total_bytes == total
        assert staged.fetched_bytes == sum(_fetched_ranges(source, own).values())
        fetched_by_all += staged.fetched_bytes
        # the local copy: the same files and layout, its own row groups' bytes and the
        # label column as in the store, every other byte never written
        assert [f.name for f in staged.split.files] == [f.name for f in source.files]
        for f, file in enumerate(source.files):
            local, store = staged.split.files[f].read_bytes(), file.read_bytes()
            assert len(local) == len(store)
            for (g, column), (start, end) in _column_ranges(file).items():
                if (f, g) in own or column == "y":
                    assert local[start:end] == store[start:end]
                else:
                    assert not any(local[start:end]), (f, g, column)
        # train reads it as the whole split's labels, and its run from it, once an epoch
        got, want = (data.summarize_labels(s, "y", 20) for s in (staged.split, source))
        assert (got.rows, got.labelled, got.counts) == (want.rows, want.labelled, want.counts)
        seen = _epoch(staged.split, (index, count), 0, batch=20)
        assert sorted(seen) == xs and len(xs) == 14_400 // count
    # one copy of the split over all workers, not one per worker: each byte once, plus what
    # every worker reads (footers, label column) and the row groups two workers' runs share
    every = sum(_fetched_ranges(source, []).values())
    shared = [c for c in source.chunks() if sum(c in own for own, _ in runs) == 2]
    assert len(shared) == (0 if 8 % count == 0 else count - 1)
    again = sum(_fetched_ranges(source, shared).values()) - every
    assert fetched_by_all == total + (count - 1) * every + again


def test_the_worker_stages_its_train_part_and_the_whole_eval_split(tmp_path: Path) -> None:
    train = [_table(0, 200), _table(200, 200)]
    p = splits(tmp_path / "a", train, _table(1000, 60), row_group_size=50)
    store = {k: p[k].as_uri() for k in ("examples", "schema", "statistics")}
    for module_file in ("", "model.py"):
        args = argparse.Namespace(label="y", module_file=module_file, **store)
        scratch = tmp_path / f"scratch{bool(module_file)}"
        local = multiworker._stage_inputs(args, scratch, (1, 2))
        assert local == {k: str(scratch / k) for k in store}
        source = open_split(p["examples"] / "train")
        staged = open_split(Path(local["examples"]) / "train")
        for f, file in enumerate(source.files):
            local = staged.files[f].read_bytes()
            for (g, column), (start, end) in _column_ranges(file).items():
                mine = f == 1  # worker 1 of 2: the second run of 180 rows, file 1's
                # a user module's outputs are checked on the first rows: worker 1 fetches them
                first = f == 0 and g == 0 and bool(module_file)
                wanted = mine or column == "y" or first
                assert any(local[start:end]) == wanted, (f, g, column, module_file)
        # eval whole (every worker validates), schema and statistics as they are
        for name in ("examples/eval", "schema", "statistics"):
            for f in (tmp_path / "a" / name).rglob("*"):
                if f.is_file():
                    copy = scratch / name / f.relative_to(tmp_path / "a" / name)
                    assert copy.read_bytes() == f.read_bytes(), copy
        assert {f.name for f in (scratch / "examples").iterdir()} == {"train", "eval"}


def test_a_store_split_that_is_not_parquet_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "train"
    folder.mkdir()
    (folder / "part-00000.parquet").write_bytes(b"PAR1 and then nothing of a footer")
    with pytest.raises(DataError, match=r"train/part-00000.parquet: not a Parquet file"):
        shards.stage_split(folder.as_uri(), tmp_path / "w", label="y", shard=(0, 2))
    shutil.rmtree(folder)
    folder.mkdir()
    with pytest.raises(DataError, match=r"train: no Parquet files in this split"):
        shards.stage_split(folder.as_uri(), tmp_path / "v", label="y", shard=(0, 2))
    pq.write_table(_table(0, 10), folder / "part-00000.parquet")
    with pytest.raises(DataError, match=r"train: label column 'label' is not in the data"):
        shards.stage_split(folder.as_uri(), tmp_path / "u", label="label", shard=(0, 2))


def test_a_corrupt_part_in_the_store_is_named_by_its_uri(tmp_path: Path) -> None:
    source = _split(tmp_path / "store" / "train", files=2)
    raw = bytearray(source.files[1].read_bytes())
    footer = pq.ParquetFile(source.files[1]).metadata.serialized_size
    raw[-8 - footer : -8 - footer + 40] = b"\xff" * 40  # the footer's start
    source.files[1].write_bytes(bytes(raw))
    uri = source.path.as_uri()
    with pytest.raises(DataError) as e:
        shards.stage_split(uri, tmp_path / "w", label="y", shard=(0, 2))
    assert str(e.value).startswith(f"{uri}/part-00001.parquet: cannot read Parquet")
    assert str(tmp_path / "w") not in str(e.value)
