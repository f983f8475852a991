"""The split hash: each row's bucket in [0, 1), from its key column or the whole row.

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

from typing import Any

import numpy as np
import pyarrow as pa

from mlrail.datetimes import arrow_days, is_datetime
from mlrail.errors import DataError

__all__ = ["hashed_columns", "row_buckets"]

# Changing any of these moves rows between splits: bump the version with them.
_SPLIT_VERSION = "mlrail-split-v3"
_SEED = np.uint64(0x6D6C7261696C7632)  # "mlrailv2"
_NULL = np.uint64(0x9AE16A3B2F90404F)  # a missing value
_NAN = np.uint64(0x7FF8000000000000)  # every NaN
_TEXT = np.uint64(0xC3A5C85C97CB3127)  # mixed into a text value's hash with its length
_MUL = np.uint64(0x9E3779B97F4A7C15)  # odd: combining a column is a bijection of the state
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


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


def hashed_columns(schema: pa.Schema, key_column: str | None, source: str) -> list[str]:
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
