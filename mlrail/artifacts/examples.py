"""The examples artifact: its layout, and the one reader of it.

ingest writes it; validate, train, evaluate and export_onnx read it. Layout (a folder)::

    examples/
      train/part-00000.parquet
      eval/part-00000.parquet
      test/part-00000.parquet      only when ingest's test_ratio > 0

One folder per split, named by the split; in it the split's rows as Parquet parts (ingest writes
one, :func:`part_name`; a reader takes every ``*.parquet`` file, in name order). A split with no
rows still has a part: the columns and their types, zero rows. There is no other file.

Reading: :func:`read_split` gives a whole split as one table (evaluation sets, parity rows);
:func:`open_split` and :func:`stream` give it in record batches, never the whole split in memory
(statistics, training).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from mlrail.errors import DataError

__all__ = [
    "EVAL",
    "PART_GLOB",
    "TEST",
    "TRAIN",
    "Split",
    "open_split",
    "part_files",
    "part_name",
    "read_split",
    "split_names",
    "stream",
]

#: The splits ingest writes: ``train`` and ``eval`` always, ``test`` when asked for.
TRAIN, EVAL, TEST = "train", "eval", "test"
#: The files of a split that readers take.
PART_GLOB = "*.parquet"


def part_name(index: int = 0) -> str:
    """The file name of a split's ``index``-th part: ``part-00000.parquet``, ..."""
    return f"part-{index:05d}.parquet"


def split_names(examples_dir: str | Path) -> list[str]:
    """The splits of an examples folder (its sub-folders), sorted by name.

    Raises:
        DataError: naming the folder when it is missing or has no split.
    """
    root = Path(examples_dir)
    splits = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not splits:
        raise DataError(f"{root}: no splits (expected sub-folders such as train/ and eval/)")
    return splits


def part_files(split_dir: str | Path) -> tuple[Path, ...]:
    """A split's Parquet parts, in name order.

    Raises:
        DataError: naming the folder when it holds no Parquet file.
    """
    path = Path(split_dir)
    files = tuple(sorted(path.glob(PART_GLOB)))
    if not files:
        raise DataError(f"{path}: no Parquet files in this split")
    return files


def read_split(split_dir: str | Path) -> pa.Table:
    """All ``*.parquet`` parts of one split as a table."""
    path = Path(split_dir)
    files = part_files(path)
    try:
        return pa.concat_tables([pq.read_table(f) for f in files], promote_options="permissive")
    except (pa.ArrowException, OSError) as e:
        raise DataError(f"{path}: cannot read Parquet: {e}") from e


@dataclass(frozen=True)
class Split:
    """A split's Parquet files, each with its row groups' sizes (from the footers only)."""

    path: Path
    files: tuple[Path, ...]
    row_groups: tuple[tuple[int, ...], ...]

    @property
    def rows(self) -> int:
        return sum(sum(g) for g in self.row_groups)

    def chunks(self) -> list[tuple[int, int]]:
        """Every ``(file index, row group index)`` with rows, in file order."""
        return [
            (f, g) for f, groups in enumerate(self.row_groups) for g, n in enumerate(groups) if n
        ]


def open_split(split_dir: str | Path) -> Split:
    """The split's ``*.parquet`` files and their row groups, read from the footers.

    Raises:
        DataError: naming the folder when it holds no Parquet file, or the file that is not
            readable Parquet.
    """
    path = Path(split_dir)
    files = part_files(path)
    groups = []
    for f in files:
        try:
            meta = pq.ParquetFile(f).metadata
        except (pa.ArrowException, OSError) as e:
            raise DataError(f"{f}: cannot read Parquet: {e}") from e
        groups.append(tuple(meta.row_group(i).num_rows for i in range(meta.num_row_groups)))
    return Split(path, files, tuple(groups))


def _text(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))


def stream(
    split: Split,
    *,
    batch_size: int,
    columns: Sequence[str] | None = None,
    chunks: Sequence[tuple[int, int]] | None = None,
    dictionary: bool = False,
) -> Iterator[tuple[Path, pa.RecordBatch]]:
    """The split's rows as record batches of at most ``batch_size`` rows, each with its file.

    Args:
        split: From :func:`open_split`.
        batch_size: Most rows per batch.
        columns: The columns to read (all by default); every file must have them.
        chunks: The ``(file, row group)`` chunks to read, in this order (e.g. a shuffled
            :meth:`Split.chunks`). None: every file whole, in order, and a file with no rows
            gives one empty batch (its columns and their types still count).
        dictionary: Read text columns dictionary-encoded, as stored: counting codes beats
            hashing strings.

    Raises:
        DataError: naming the file that cannot be read, or lacks one of ``columns``.
    """
    order: list[tuple[int, int | None]] = (
        [(f, None) for f in range(len(split.files))] if chunks is None else list(chunks)
    )
    for f, g in order:
        file = split.files[f]
        try:
            read_dictionary = None
            if dictionary:
                read_dictionary = [c.name for c in pq.read_schema(file) if _text(c.type)]
            # Without pre-buffering one row group at a time is in memory (with it, a 5M-row
            # file took 2.4x the peak memory of a 1M-row one).
            pf = pq.ParquetFile(file, read_dictionary=read_dictionary, pre_buffer=False)
            if columns is not None:
                missing = [c for c in columns if c not in pf.schema_arrow.names]
                if missing:
                    raise DataError(f"{file}: column(s) {', '.join(map(repr, missing))} missing")
            groups = None if g is None else [g]
            cols = None if columns is None else list(columns)
            empty = True
            for batch in pf.iter_batches(batch_size=batch_size, row_groups=groups, columns=cols):
                empty = False
                yield file, batch
            if empty and g is None:  # header only: its columns and their types still count
                yield file, pa.RecordBatch.from_pylist([], schema=pf.schema_arrow)
        except (pa.ArrowException, OSError) as e:
            raise DataError(f"{file}: cannot read Parquet: {e}") from e
