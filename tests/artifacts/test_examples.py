"""The examples layout and its one reader: what ingest writes, every step reads the same way."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlrail.artifacts.examples import (
    EVAL,
    TRAIN,
    open_split,
    part_files,
    part_name,
    read_split,
    split_names,
    stream,
)
from mlrail.errors import DataError


def _split(root: Path, *tables: pa.Table, row_group_size: int = 2) -> Path:
    root.mkdir(parents=True)
    for k, t in enumerate(tables):
        pq.write_table(t, root / part_name(k), row_group_size=row_group_size)
    return root


def test_layout_names() -> None:
    assert (TRAIN, EVAL) == ("train", "eval")
    assert part_name() == "part-00000.parquet" and part_name(12) == "part-00012.parquet"


def test_splits_are_the_sub_folders_sorted(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no splits"):
        split_names(tmp_path / "missing")
    with pytest.raises(DataError, match="no splits"):
        split_names(tmp_path)
    for name in ("train", "eval", "test"):
        (tmp_path / name).mkdir()
    (tmp_path / "stray.txt").write_text("")
    assert split_names(tmp_path) == ["eval", "test", "train"]


def test_read_split_joins_the_parts_in_name_order(tmp_path: Path) -> None:
    folder = _split(tmp_path / "train", pa.table({"x": [1, 2, 3]}), pa.table({"x": [4.5]}))
    assert [f.name for f in part_files(folder)] == [part_name(0), part_name(1)]
    assert read_split(folder).column("x").to_pylist() == [1.0, 2.0, 3.0, 4.5]
    with pytest.raises(DataError, match="no Parquet files in this split"):
        read_split(tmp_path)


def test_open_split_reads_the_footers_only(tmp_path: Path) -> None:
    folder = _split(tmp_path / "train", pa.table({"x": range(5)}), pa.table({"x": range(0)}))
    split = open_split(folder)
    assert split.rows == 5
    assert split.row_groups[0] == (2, 2, 1)
    assert split.chunks() == [(0, 0), (0, 1), (0, 2)]


def test_stream_whole_files_and_chunks(tmp_path: Path) -> None:
    empty = pa.table({"x": pa.array([], pa.int64()), "s": pa.array([], pa.string())})
    table = pa.table({"x": [1, 2, 3], "s": ["a", "b", "a"]})
    split = open_split(_split(tmp_path / "train", table, empty))
    whole = list(stream(split, batch_size=10))
    # a file with no rows still gives its columns, as one empty batch
    assert [(f.name, b.num_rows) for f, b in whole] == [(part_name(0), 3), (part_name(1), 0)]
    picked = list(stream(split, batch_size=10, columns=["x"], chunks=[(0, 1), (0, 0)]))
    assert [b.column("x").to_pylist() for _, b in picked] == [[3], [1, 2]]
    coded = next(stream(split, batch_size=10, dictionary=True))[1]
    assert pa.types.is_dictionary(coded.schema.field("s").type)


def test_stream_names_the_file(tmp_path: Path) -> None:
    folder = _split(tmp_path / "train", pa.table({"x": [1]}))
    split = open_split(folder)
    with pytest.raises(DataError, match=rf"{part_name(0)}: column\(s\) 'y' missing"):
        list(stream(split, batch_size=10, columns=["y"]))
    (folder / part_name(1)).write_bytes(b"garbage")
    with pytest.raises(DataError, match=f"{part_name(1)}: cannot read Parquet"):
        open_split(folder)
