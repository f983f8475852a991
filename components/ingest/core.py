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

import contextlib
import datetime as dt
import hashlib
import importlib.resources
import re
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from mlrail.errors import DataError
from mlrail.io import atomic_dir, read_uri_bytes

__all__ = [
    "BUNDLED",
    "IngestResult",
    "ingest",
    "read_table",
    "resolve_source",
    "resolve_span",
]

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
    span: str = ""

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
    options = pacsv.ParseOptions(newlines_in_values=True)
    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),
            parse_options=options,
            # "", "NA", "null", ... mean missing in a text column too, as they do in a number column
            convert_options=pacsv.ConvertOptions(strings_can_be_null=True),
        )
    except pa.ArrowInvalid as e:
        raise DataError(f"{source}: malformed CSV: {_where(data, e)}") from e
    _check_mixed_columns(source, data, table)
    return table


def _where(data: bytes, error: pa.ArrowInvalid) -> str:
    """pyarrow's parse error, with the record and line it happened on.

    pyarrow knows the record number only when it parses on one thread, so the (rare) failing
    file is parsed again that way to find it.
    """
    found: list[Any] = []

    def keep(row: Any) -> str:
        found.append(row)
        return "error"

    options = pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=keep)
    with contextlib.suppress(pa.ArrowInvalid):
        pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(use_threads=False),
            parse_options=options,
        )
    if not found or found[0].number is None:
        return str(error)
    row = found[0]
    lines = data.decode("utf-8").splitlines()
    line = next((i + 1 for i, text in enumerate(lines) if text == row.text), None)
    at = f"line {line}" if line else f"record {row.number}"
    return (
        f"{at}: expected {row.expected_columns} fields, found {row.actual_columns}: "
        f"{row.text[:200]!r}"
    )


_NUMBER = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"


def _check_mixed_columns(source: str, data: bytes, table: pa.Table) -> None:
    """Refuse a column of numbers with a few non-numbers in it (a type that changes).

    pyarrow reads such a column as strings, which would silently turn a measurement into a
    category with thousands of values; one "n/a" or "12,5" among numbers is almost always a typo.
    """
    for i, name in enumerate(table.column_names):
        col = table.column(i)  # by index: duplicate names are reported by the caller
        if not pa.types.is_string(col.type):
            continue
        values = col.drop_null()
        numeric = pc.match_substring_regex(values, _NUMBER)
        n_numeric = pc.sum(numeric).as_py() or 0
        if len(values) == 0 or n_numeric == len(values) or n_numeric < 0.9 * len(values):
            continue
        bad = pc.and_(col.is_valid(), pc.invert(pc.match_substring_regex(col, _NUMBER)))
        row = int(pc.index(bad, True).as_py())
        value = col[row].as_py()
        # a data row is line row + 2 (after the header) unless a quoted field spans lines
        single_lines = data.count(b"\n") <= table.num_rows + 1
        at = f"line {row + 2}" if single_lines else f"data row {row + 1}"
        raise DataError(
            f"{source}: column {name!r} holds numbers except for {len(values) - n_numeric} "
            f"value(s), first at {at}: {value!r}; fix the value, or leave it empty if missing"
        )


def read_table(source: str) -> tuple[pa.Table, str]:
    """Read ``source`` (a path, a pyarrow filesystem URI or ``bundled:<name>``).

    Returns:
        The table and the SHA-256 of the file's bytes (its content fingerprint).
    """
    path = resolve_source(source)
    fmt = _format_of(path)
    data = read_uri_bytes(path)
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


_SPAN_TOKENS = re.compile(r"\{(YYYY|MM|DD)\}")


def resolve_span(source: str, span_date: str = "", scheduled_time: str = "") -> tuple[str, str]:
    """Fill a span pattern such as ``data/{YYYY}-{MM}-{DD}.csv`` from the run's date.

    The date is ``span_date`` (an explicit ``YYYY-MM-DD``, for backfills) or else the day of
    ``scheduled_time`` (KFP's scheduled-time placeholder on a recurring run, RFC 3339). A source
    without a pattern is returned as it is.

    Returns:
        The resolved source and the span as ``YYYY-MM-DD`` ("" when the source has no pattern).
    """
    if not _SPAN_TOKENS.search(source):
        return source, ""
    for given in (span_date, scheduled_time):
        try:
            day = dt.datetime.fromisoformat(given.replace("Z", "+00:00")).date() if given else None
        except ValueError:
            day = None  # e.g. an unresolved placeholder on a run that was not scheduled
        if day is not None:
            break
    else:
        raise ValueError(
            f"{source}: has a span pattern ({{YYYY}}, {{MM}}, {{DD}}) but no date to fill it: "
            f"give span_date (YYYY-MM-DD), or run on a schedule (scheduled time {scheduled_time!r})"
        )
    values = {"YYYY": f"{day.year:04d}", "MM": f"{day.month:02d}", "DD": f"{day.day:02d}"}
    return _SPAN_TOKENS.sub(lambda m: values[m.group(1)], source), day.isoformat()


def ingest(
    source: str,
    examples_dir: str,
    *,
    eval_ratio: float = 0.2,
    test_ratio: float = 0.0,
    key_column: str | None = None,
    span_date: str = "",
    scheduled_time: str = "",
) -> IngestResult:
    """Read ``source`` and write its splits under ``examples_dir`` (layout in the module doc).

    ``span_date`` / ``scheduled_time`` fill a span pattern in ``source`` (see ``resolve_span``).
    """
    source, span = resolve_span(source, span_date, scheduled_time)
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
    return IngestResult(source=source, fingerprint=fingerprint, rows=rows, span=span)
