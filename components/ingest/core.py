"""ingest: read a CSV or Parquet file and write deterministic train/eval(/test) splits as Parquet.

Output layout of the ``examples`` artifact (a folder)::

    examples/
      train/part-00000.parquet
      eval/part-00000.parquet
      test/part-00000.parquet      only when test_ratio > 0

Every row lands in a split by a hash of its key column (or of the whole row when no key is
given), so the same row always goes to the same split, whatever the file's order or size.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from mlrail.errors import DataError
from mlrail.io import atomic_dir

__all__ = ["BUNDLED", "IngestResult", "ingest", "read_table", "resolve_source"]

#: Data sets shipped inside the package, addressable as ``bundled:<name>``.
BUNDLED = {"penguins": "penguins.csv"}
SPLIT_FILE = "part-00000.parquet"
_SALT = b"mlrail-split-v1"


@dataclass(frozen=True)
class IngestResult:
    """What ingest wrote: rows per split, the input's content hash and where it came from."""

    source: str
    fingerprint: str
    rows: dict[str, int]
    columns: list[str] = field(default_factory=list)

    @property
    def splits(self) -> list[str]:
        return list(self.rows)


def resolve_source(source: str) -> str:
    """Map ``bundled:<name>`` to the packaged file; return anything else unchanged."""
    if source.startswith("bundled:"):
        name = source.removeprefix("bundled:")
        if name not in BUNDLED:
            raise DataError(f"{source}: no bundled data set {name!r} (have: {', '.join(BUNDLED)})")
        return str(importlib.resources.files("mlrail") / "data" / BUNDLED[name])
    return source


def _read_bytes(source: str) -> bytes:
    try:
        if "://" in source:
            fs, path = pafs.FileSystem.from_uri(source)
        else:
            fs, path = pafs.LocalFileSystem(), str(Path(source).resolve())
        with fs.open_input_stream(path) as f:
            return bytes(f.read())
    except FileNotFoundError as e:
        raise DataError(f"{source}: no such file") from e
    except (OSError, pa.ArrowException) as e:
        raise DataError(f"{source}: cannot read: {e}") from e


def _format_of(source: str) -> str:
    name = source.lower().split("?")[0]
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".txt")):
        return "csv"
    raise DataError(f"{source}: unknown file type; expected a .csv or .parquet file")


def _parse_csv(source: str, data: bytes) -> pa.Table:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise DataError(
            f"{source}: not UTF-8 text: byte 0x{data[e.start]:02x} "
            f"at offset {e.start} (line {line})"
        ) from e
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data.strip():
        raise DataError(f"{source}: the file is empty ({len(data)} bytes); expected a header row")
    try:
        return pacsv.read_csv(
            pa.BufferReader(data),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
        )
    except pa.ArrowInvalid as e:
        raise DataError(f"{source}: malformed CSV: {e}") from e


def read_table(source: str) -> tuple[pa.Table, str]:
    """Read ``source`` (a path, a pyarrow filesystem URI or ``bundled:<name>``).

    Returns:
        The table and the SHA-256 of the file's bytes (its content fingerprint).
    """
    path = resolve_source(source)
    fmt = _format_of(path)
    data = _read_bytes(path)
    fingerprint = hashlib.sha256(data).hexdigest()
    if fmt == "csv":
        table = _parse_csv(source, data)
    else:
        if not data:
            raise DataError(f"{source}: the file is empty (0 bytes)")
        try:
            table = pq.read_table(pa.BufferReader(data))
        except (pa.ArrowException, OSError) as e:
            raise DataError(f"{source}: not a readable Parquet file: {e}") from e
    names = table.column_names
    blank = [i + 1 for i, n in enumerate(names) if not n.strip()]
    if blank:
        raise DataError(f"{source}: column {blank[0]} has an empty name in the header")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DataError(f"{source}: duplicate column name(s) in the header: {', '.join(dupes)}")
    if table.num_rows == 0:
        raise DataError(f"{source}: has a header but no data rows")
    return table, fingerprint


def _buckets(table: pa.Table, key_column: str | None, source: str) -> np.ndarray:
    """A number in [0, 1) per row from a salted hash of its key (or of the whole row)."""
    if key_column:
        if key_column not in table.column_names:
            raise DataError(f"{source}: key column {key_column!r} is not in the data")
        keys = [repr(v) for v in table.column(key_column).to_pylist()]
    else:
        cols = [table.column(c).to_pylist() for c in table.column_names]
        keys = ["\x1f".join(repr(v) for v in row) for row in zip(*cols, strict=True)]
    out = np.empty(len(keys), dtype=np.float64)
    for i, k in enumerate(keys):
        digest = hashlib.blake2b(k.encode(), digest_size=8, key=_SALT).digest()
        out[i] = struct.unpack(">Q", digest)[0] / 2.0**64
    return out


def ingest(
    source: str,
    examples_dir: str,
    *,
    eval_ratio: float = 0.2,
    test_ratio: float = 0.0,
    key_column: str | None = None,
) -> IngestResult:
    """Read ``source`` and write its splits under ``examples_dir`` (layout in the module doc)."""
    if not 0.0 < eval_ratio < 1.0 or not 0.0 <= test_ratio < 1.0 or eval_ratio + test_ratio >= 1.0:
        raise ValueError(
            f"eval_ratio={eval_ratio} and test_ratio={test_ratio} must be in [0, 1) "
            "with eval_ratio > 0 and a non-empty share left for train"
        )
    table, fingerprint = read_table(source)
    bucket = _buckets(table, key_column, source)
    masks = {
        "train": bucket >= eval_ratio + test_ratio,
        "eval": bucket < eval_ratio,
    }
    if test_ratio > 0:
        masks["test"] = (bucket >= eval_ratio) & (bucket < eval_ratio + test_ratio)
    rows: dict[str, int] = {}
    with atomic_dir(examples_dir) as tmp:
        for split, mask in masks.items():
            part = table.filter(pa.array(mask))
            (tmp / split).mkdir()
            pq.write_table(part, tmp / split / SPLIT_FILE)
            rows[split] = part.num_rows
    return IngestResult(
        source=source, fingerprint=fingerprint, rows=rows, columns=table.column_names
    )
