"""ingest: read a data source and write deterministic train/eval(/test) splits as Parquet.

Reading (formats, folders, globs, URIs, spans, streaming, errors) is :mod:`mlrail.sources`.

Output layout of the ``examples`` artifact (a folder)::

    examples/
      train/part-00000.parquet
      eval/part-00000.parquet
      test/part-00000.parquet      only when test_ratio > 0

Each file holds its split's rows in one or more row groups, text columns dictionary-encoded;
a split with no rows is still written (the schema, zero rows).

Every row lands in a split by a hash of its key column (or of the whole row when no key is
given), so the same row always goes to the same split, whatever the order of the rows and files,
the block size or the file format. The hash (version ``mlrail-split-v3``; v2 differed only for
dates, timestamps and uint64 values above 2**63) is vectorised:

- a number by the bits of its float64 value (an integer beyond 2**53 by its int64 or uint64
  bits), so that ``3``, ``3.0`` and the decimal ``3.00`` agree; -0.0 is 0.0 and every NaN is
  one NaN; booleans are 0 and 1;
- a text value by a polynomial hash of its UTF-8 bytes, computed once per distinct value
  (binary values by their bytes alike); a dictionary-encoded column as its values;
- a date or timestamp by the float64 bits of its days since 1970-01-01 UTC
  (:func:`mlrail.datetimes.arrow_days`), so a CSV date, a Parquet ``date32`` and a
  ``timestamp[ns]`` at its midnight agree, as do one instant in any unit or zone; a time of
  day or a duration by the integer encoding it; a missing value by a fixed word;
- a row's columns are combined in the order of their sorted names, then mixed (splitmix64);
  the row's bucket is the top 53 bits / 2**53, compared with the ratios.

Columns of other types (lists, structs, maps, ...) are written to the splits as they are but
left out of the whole-row hash; naming one as ``key_column``, or a source with no column the
hash can read, is a :class:`~mlrail.errors.DataError` naming the column and its type.
"""

from __future__ import annotations

import base64
import logging
import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mlrail import sources
from mlrail.datetimes import arrow_days, is_datetime
from mlrail.errors import DataError
from mlrail.io import atomic_dir
from mlrail.redact import redact
from mlrail.sources import BUNDLED, resolve_source, resolve_span

__all__ = [
    "BUNDLED",
    "IngestResult",
    "ingest",
    "resolve_source",
    "resolve_span",
    "row_buckets",
]

log = logging.getLogger(__name__)

SPLIT_FILE = "part-00000.parquet"
#: How many file names the component lists in the artifact's metadata (the count is kept).
MAX_LISTED_FILES = 100
#: Rows gathered per split before a row group is written: fewer, larger row groups.
ROW_GROUP_ROWS = 64 * 1024

# The split hash. Changing any of these moves rows between splits: bump the version with them.
_SPLIT_VERSION = "mlrail-split-v3"
_SEED = np.uint64(0x6D6C7261696C7632)  # "mlrailv2"
_NULL = np.uint64(0x9AE16A3B2F90404F)  # a missing value
_NAN = np.uint64(0x7FF8000000000000)  # every NaN
_TEXT = np.uint64(0xC3A5C85C97CB3127)  # mixed into a text value's hash with its length
_MUL = np.uint64(0x9E3779B97F4A7C15)  # odd: combining a column is a bijection of the state
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@dataclass(frozen=True)
class IngestResult:
    """What ingest read and wrote.

    Attributes:
        source: The source read (its span pattern filled when it reads one span; a URI's
            credentials masked).
        fingerprint: SHA-256 of the input's bytes, file names and sizes.
        rows: Rows per split, in split order.
        span: The span date (``YYYY-MM-DD``), "" without a span pattern.
        spans: The days of the span window that had files.
        missing_spans: The days of the span window that had none.
        files: The files read, in order.
        format: ``csv``, ``parquet`` or ``jsonl``.
    """

    source: str
    fingerprint: str
    rows: dict[str, int]
    span: str = ""
    spans: list[str] = field(default_factory=list)
    missing_spans: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    format: str = ""

    @property
    def splits(self) -> list[str]:
        return list(self.rows)


def ingest(
    source: str,
    examples_dir: str,
    *,
    eval_ratio: float = 0.2,
    test_ratio: float = 0.0,
    key_column: str | None = None,
    span_date: str = "",
    scheduled_time: str = "",
    span_window: int = 1,
    block_size: int = sources.BLOCK_SIZE,
) -> IngestResult:
    """Read ``source`` and write its splits under ``examples_dir`` (layout in the module doc).

    Args:
        source: What to read (see :mod:`mlrail.sources`); may hold a span pattern.
        examples_dir: The folder to write; replaced as a whole, and only on success.
        eval_ratio: Share of rows for the eval split.
        test_ratio: Share of rows for an optional test split (0 for none).
        key_column: Column whose hash decides the split; None to hash the whole row.
        span_date: ``YYYY-MM-DD`` filling the span pattern (backfills).
        scheduled_time: The run's scheduled time; fills the pattern when ``span_date`` is empty.
        span_window: How many daily spans to read, ending at the span date.
        block_size: Bytes per block read (memory in flight is a few blocks).

    Returns:
        Rows per split, the fingerprint, and the files and spans read.

    Raises:
        DataError: bad input (see :mod:`mlrail.sources`) or a missing key column.
        ValueError: ratios out of range, or a span pattern with no date.
    """
    if not 0.0 < eval_ratio < 1.0 or not 0.0 <= test_ratio < 1.0 or eval_ratio + test_ratio >= 1.0:
        raise ValueError(
            f"eval_ratio={eval_ratio} and test_ratio={test_ratio} must be in [0, 1) "
            "with eval_ratio > 0 and a non-empty share left for train"
        )
    resolved = sources.resolve(
        source, span_date=span_date, scheduled_time=scheduled_time, span_window=span_window
    )
    splits = ["train", "eval"] + (["test"] if test_ratio > 0 else [])
    # one pool parses blocks and splits them (measured: faster than a pool for each)
    with ThreadPoolExecutor(sources.worker_count(), thread_name_prefix="mlrail-ingest") as pool:

        def write(blocks: sources.Blocks) -> tuple[dict[str, int], str]:
            with atomic_dir(examples_dir) as tmp:  # a pass that widens a column is redone
                writer = _SplitWriter(tmp, splits, eval_ratio, test_ratio, pool)
                rows = _write_splits(blocks, writer, key_column, resolved)
            return rows, blocks.fingerprint

        rows, fingerprint = sources.stream(resolved, write, block_size=block_size, executor=pool)
    one_span = resolved.span and len(resolved.patterns) == 1  # the source, its date filled in
    return IngestResult(
        # the metadata is kept in the pipeline's database: no credentials of a URI in it
        source=redact(resolved.patterns[0] if one_span else resolved.source),
        fingerprint=fingerprint,
        rows=rows,
        span=resolved.span,
        spans=list(resolved.spans),
        missing_spans=list(resolved.missing_spans),
        files=[f.name for f in resolved.files],
        format=resolved.format,
    )


def _write_splits(
    blocks: sources.Blocks,
    writer: _SplitWriter,
    key_column: str | None,
    resolved: sources.Resolved,
) -> dict[str, int]:
    """Hash, split and write every block; the next block is parsed while one is written."""
    try:
        columns: list[str] | None = None
        for table in blocks:
            if columns is None:
                columns = _hashed_columns(table.schema, key_column, redact(resolved.source))
            writer.put(table, columns)
        assert blocks.schema is not None  # read_blocks raises on an input with no rows
        return writer.finish(blocks.schema)
    finally:
        writer.abort()


class _SplitWriter:
    """Hashes and splits tables on a thread pool; appends the parts to the split files in order.

    Splitting a block overlaps with parsing the next ones and with writing the one before.
    """

    def __init__(
        self,
        folder: Path,
        splits: list[str],
        eval_ratio: float,
        test_ratio: float,
        pool: ThreadPoolExecutor,
    ):
        self._folder = folder
        self._splits = splits
        # bucket < eval_ratio: eval; < eval + test: test; the rest: train
        self._bounds = (eval_ratio, eval_ratio + test_ratio)
        self._pool = pool
        self._queue: queue.Queue[Future[dict[str, pa.Table]] | None] = queue.Queue(3)
        self._writers: dict[str, Any] = {}
        self._pending: dict[str, list[pa.Table]] = {s: [] for s in splits}
        self._rows = dict.fromkeys(splits, 0)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="mlrail-write", daemon=True)
        self._thread.start()

    def put(self, table: pa.Table, columns: list[str]) -> None:
        """Queue ``table`` to be split by the hash of ``columns`` (blocks while a few are in
        flight)."""
        self._raise()
        self._queue.put(self._pool.submit(self._split, table, columns))

    def finish(self, schema: pa.Schema) -> dict[str, int]:
        """Write what is left and close the files (an empty split gets the schema, no rows)."""
        self._queue.put(None)
        self._thread.join()
        self._raise()
        encoded = _encode_text(schema.empty_table()).schema
        # the last row groups of the splits, side by side: the tail of the run
        for done in [self._pool.submit(self._flush, s, encoded, True) for s in self._splits]:
            done.result()
        return self._rows

    def abort(self) -> None:
        """Stop the writing thread and close the files; safe after :meth:`finish`."""
        if self._thread.is_alive():
            self._error = self._error or RuntimeError("aborted")
            self._queue.put(None)
            self._thread.join()
        for w in self._writers.values():
            w.close()
        self._writers.clear()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _split(self, table: pa.Table, columns: list[str]) -> dict[str, pa.Table]:
        # text as dictionaries once: the hash, the filter and the Parquet writer all use them
        # (measured: the write a fifth faster than when it builds its own dictionaries)
        table = _encode_text(table)
        bucket = row_buckets(table, columns)
        below = [bucket < bound for bound in self._bounds]
        masks = {"eval": below[0], "test": below[1] & ~below[0], "train": ~below[1]}
        return {s: table.filter(pa.array(masks[s])) for s in self._splits}

    def _work(self) -> None:
        while (future := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain: the main thread stops at its next put
            try:
                for split, part in future.result().items():
                    if part.num_rows:
                        self._pending[split].append(part)
                        self._flush(split, part.schema)
            except BaseException as e:
                self._error = e

    def _flush(self, split: str, schema: pa.Schema, final: bool = False) -> None:
        pending = self._pending[split]
        rows = sum(t.num_rows for t in pending)
        if rows < ROW_GROUP_ROWS and not final:
            return
        writer = self._writers.get(split)
        if writer is None:
            (self._folder / split).mkdir()
            writer = _writer(self._folder / split / SPLIT_FILE, schema)
            self._writers[split] = writer
        if rows:
            # one dictionary per text column and row group, as Parquet stores it
            part = pa.concat_tables(pending).unify_dictionaries()
            writer.write_table(part, row_group_size=rows)
            self._rows[split] += rows
        pending.clear()
        if final:
            writer.close()
            del self._writers[split]


def _encode_text(table: pa.Table) -> pa.Table:
    """``table`` with its text columns dictionary-encoded."""
    for i, f in enumerate(table.schema):
        if pa.types.is_string(f.type) or pa.types.is_large_string(f.type):
            table = table.set_column(i, f.name, table.column(i).dictionary_encode())
    return table


def _writer(path: Path, schema: pa.Schema) -> Any:
    """A Parquet writer for tables whose text columns are dictionaries (see ``_encode_text``).

    The Arrow schema stored in the file (``ARROW:schema``, which pyarrow reads back) is the one
    with plain text columns: readers get ``string`` as from any Parquet file, while the writer
    takes the dictionaries as they are instead of building its own.
    """
    plain = pa.schema(
        [
            pa.field(f.name, f.type.value_type, f.nullable, f.metadata)
            if pa.types.is_dictionary(f.type)
            else f
            for f in schema
        ]
    )
    writer = pq.ParquetWriter(
        path,
        schema,
        store_schema=False,  # the plain one is stored below
        use_dictionary=[f.name for f in schema if pa.types.is_dictionary(f.type)],
        write_statistics=False,  # measured: a fifth of the write; validate computes its own
    )
    # (a schema's own metadata is dropped with store_schema=False: added to the footer instead,
    # so types Parquet cannot name, e.g. durations and zones, read back as they were written)
    stored = base64.b64encode(plain.serialize().to_pybytes())
    writer.add_key_value_metadata({"ARROW:schema": stored.decode()})
    return writer


# ------------------------------------------------------------------------------- the split hash


def _hashable(t: pa.DataType) -> bool:
    """Whether the split hash reads values of type ``t`` (see the module doc)."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    return bool(
        pa.types.is_null(t)
        or pa.types.is_boolean(t)
        or pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_decimal(t)
        or (pa.types.is_temporal(t) and not pa.types.is_interval(t))
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_string_view(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_fixed_size_binary(t)
    )


def _hashed_columns(schema: pa.Schema, key_column: str | None, source: str) -> list[str]:
    """The columns whose hash splits the rows: the key column, or every hashable one sorted.

    Raises:
        DataError: the key column is missing or of a type the hash cannot read, or no column
            can be hashed.
    """
    if key_column is not None:
        if key_column not in schema.names:
            raise DataError(
                f"{source}: key column {key_column!r} is not in the data "
                f"(columns: {', '.join(map(repr, schema.names))})"
            )
        t = schema.field(key_column).type
        if not _hashable(t):
            raise DataError(
                f"{source}: key column {key_column!r} has type {t}, which the split hash cannot "
                "read; give a number, text, date or timestamp column"
            )
        return [key_column]
    columns = sorted(f.name for f in schema if _hashable(f.type))
    if not columns:
        kinds = ", ".join(f"{f.name!r} ({f.type})" for f in schema)
        raise DataError(
            f"{source}: no column the split hash can read (columns: {kinds}); give key_column "
            "naming a number, text, date or timestamp column"
        )
    return columns


def row_buckets(table: pa.Table, columns: list[str]) -> np.ndarray:
    """Each row's bucket in [0, 1) from the split hash of ``columns`` (see the module doc).

    Args:
        table: The rows.
        columns: The columns to hash, in this order (the key column, or all names sorted).

    Returns:
        float64 buckets, one per row.
    """
    state = np.full(table.num_rows, _SEED, dtype=np.uint64)
    for name in columns:
        words = _column_words(table.column(name), name)
        np.bitwise_xor(state, words, out=state)
        np.multiply(state, _MUL, out=state)
    _mix(state)
    return (state >> np.uint64(11)).astype(np.float64) * (1.0 / 2.0**53)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, in place: every input bit moves every output bit."""
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def _column_words(column: pa.ChunkedArray, name: str) -> np.ndarray:
    """One uint64 word per row of ``column`` (see the module doc)."""
    t = column.type
    if pa.types.is_string_view(t) or pa.types.is_fixed_size_binary(t):
        column = column.cast(pa.string() if pa.types.is_string_view(t) else pa.binary())
        t = column.type
    if _is_bytes(t):
        column = column.dictionary_encode()
        t = column.type
    words = _dictionary_words if pa.types.is_dictionary(t) else _words
    return _concatenated(column, lambda chunk: words(chunk, name))


def _concatenated(column: pa.ChunkedArray, words: Any) -> np.ndarray:
    """``words`` of each chunk, as one array (no copy for the usual single chunk)."""
    if column.num_chunks == 1:
        return words(column.chunk(0))
    out = np.empty(len(column), dtype=np.uint64)
    at = 0
    for chunk in column.chunks:
        out[at : at + len(chunk)] = words(chunk)
        at += len(chunk)
    return out


def _with_nulls(words: np.ndarray, chunk: pa.Array) -> np.ndarray:
    """``words`` (a fresh array) with the missing values' words set to the null word."""
    if chunk.null_count:
        bitmap = np.frombuffer(chunk.buffers()[0], dtype=np.uint8)
        missing = np.unpackbits(~bitmap, bitorder="little")
        missing = missing[chunk.offset : chunk.offset + len(chunk)].view(bool)
        words[missing] = _NULL
    return words


def _values(chunk: pa.Array, dtype: Any) -> np.ndarray:
    data = np.frombuffer(chunk.buffers()[1], dtype=dtype)
    return data[chunk.offset : chunk.offset + len(chunk)]


def _words(chunk: pa.Array, name: str) -> np.ndarray:
    t = chunk.type
    if pa.types.is_null(t):
        return np.full(len(chunk), _NULL, dtype=np.uint64)
    if pa.types.is_boolean(t):  # as the numbers 0 and 1
        bits = np.unpackbits(np.frombuffer(chunk.buffers()[1], dtype=np.uint8), bitorder="little")
        words = bits[chunk.offset : chunk.offset + len(chunk)].astype(np.float64).view(np.uint64)
    elif pa.types.is_floating(t):
        words = _float_words(_values(chunk, t.to_pandas_dtype()).astype(np.float64, copy=False))
    elif pa.types.is_uint64(t):
        words = _uint_words(_values(chunk, np.uint64))
    elif pa.types.is_integer(t):
        wide = chunk.view(pa.int64()) if t.bit_width == 64 else chunk.cast(pa.int64())
        words = _int_words(_values(wide, np.int64))
    elif pa.types.is_decimal(t):  # as the float64 nearest its value: 3.00 is 3
        words = _float_words(chunk.cast(pa.float64(), safe=False).fill_null(0.0).to_numpy())
    elif is_datetime(t):  # by its days: the same instant in any unit, zone or date type
        words = _float_words(np.nan_to_num(arrow_days(chunk), nan=0.0))
    elif pa.types.is_temporal(t):  # a time of day, a duration: by the integer that encodes it
        storage = chunk.view(pa.int64() if t.bit_width == 64 else pa.int32())
        words = _values(storage, storage.type.to_pandas_dtype()).astype(np.int64).view(np.uint64)
    else:
        raise DataError(
            f"column {name!r} of type {t} cannot be hashed for the split; "
            "give key_column naming a number or text column"
        )
    return _with_nulls(words, chunk)


def _float_words(x: np.ndarray) -> np.ndarray:
    words = (x + 0.0).view(np.uint64)  # -0.0 + 0.0 is 0.0
    with np.errstate(over="ignore", invalid="ignore"):  # huge values and ±inf sum to inf or NaN
        maybe_nan = np.isnan(np.add.reduce(x))  # cheaper than a mask when there is no NaN
    if maybe_nan:
        words[np.isnan(x)] = _NAN
    return words


def _int_words(i: np.ndarray) -> np.ndarray:
    """An integer hashes as the float64 of its value when that is exact (3 as 3.0), so a column
    read as integers in one file or format and as floats in another splits alike."""
    exact = (i + np.int64(2**53)).view(np.uint64) <= np.uint64(2**54)  # |i| <= 2**53, no abs
    return np.where(exact, i.astype(np.float64).view(np.uint64), i.view(np.uint64))


def _uint_words(u: np.ndarray) -> np.ndarray:
    """A uint64 as :func:`_int_words`: its float64 when that is exact, else its own bits."""
    exact = u <= np.uint64(2**53)
    return np.where(exact, u.astype(np.float64).view(np.uint64), u)


def _dictionary_words(chunk: pa.DictionaryArray, name: str) -> np.ndarray:
    if not len(chunk.dictionary):  # every value missing (a text block of nulls only)
        return np.full(len(chunk), _NULL, dtype=np.uint64)
    hashed = _dictionary_hashes(chunk.dictionary, name)
    indices = chunk.indices
    return _with_nulls(np.take(hashed, _values(indices, indices.type.to_pandas_dtype())), chunk)


def _dictionary_hashes(dictionary: pa.Array, name: str) -> np.ndarray:
    """The hash of each value of a (small) dictionary: text by its UTF-8 bytes."""
    t = dictionary.type
    if pa.types.is_string_view(t):
        return _dictionary_hashes(dictionary.cast(pa.string()), name)
    if not _is_bytes(t):  # numbers as their values, like the same column not encoded
        return _words(dictionary, name)
    return _text_hashes(dictionary)


def _is_bytes(t: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
    )


def _text_hashes(values: pa.Array) -> np.ndarray:
    """A polynomial hash of each value's bytes (sum of byte_i * MUL**(len-1-i)), mixed.

    Vectorised over the Arrow buffers: each byte's power comes from its distance to the end of
    its value; ``np.add.reduceat`` sums each value's bytes. Empty values have no bytes and keep 0
    before the length is mixed in.
    """
    n = len(values)
    large = pa.types.is_large_string(values.type) or pa.types.is_large_binary(values.type)
    offsets_type = np.int64 if large else np.int32
    offsets = np.frombuffer(values.buffers()[1], dtype=offsets_type)[
        values.offset : values.offset + n + 1
    ].astype(np.int64)
    lengths = np.diff(offsets)
    start, end = int(offsets[0]), int(offsets[-1])
    sums = np.zeros(n, dtype=np.uint64)
    if end > start:
        data = np.frombuffer(values.buffers()[2], dtype=np.uint8)[start:end].astype(np.uint64)
        longest = int(lengths.max())
        powers = np.cumprod(np.full(longest, _MUL, dtype=np.uint64))  # wraps: arithmetic mod 2**64
        powers = np.concatenate([np.ones(1, dtype=np.uint64), powers[:-1]])
        ends = np.repeat(offsets[1:], lengths)
        distance = ends - 1 - np.arange(start, end)
        terms = (data + np.uint64(1)) * np.take(powers, distance)
        present = lengths > 0
        sums[present] = np.add.reduceat(terms, offsets[:-1][present] - start)
    return _mix(sums ^ (lengths.astype(np.uint64) * _TEXT))
