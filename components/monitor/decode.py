"""Logged V2 requests back into the training table, and responses into the model's output.

By the model's input spec (``model_spec.json`` in the served version's folder,
:class:`mlrail.artifacts.modelspec.ModelSpec`), each logged record becomes one row per batch
row of the feature table, columns named by ``InputSpec.column`` (the data's own names) in the
spec's order:

- ``float32`` inputs: a ``float64`` column; ``null`` (and NaN) is missing (null), as the server
  takes it;
- ``string`` inputs: a ``string`` column; ``null`` and ``""`` are missing (null), since the model
  maps both to its OOV bucket;
- ``datetime`` inputs (days since 1970-01-01 UTC, sent as numbers or ISO 8601 strings,
  :mod:`mlrail.datetimes`): a ``timestamp[us, UTC]`` column, the microsecond nearest the days
  sent (exact from 1880 to 2059, where float64 days resolve microseconds); ``null``, NaN and
  ``""`` missing.

A number input logged from the binary extension holds the float32's shortest decimal (the
logger's conversion): the same float32, and the client's own decimal when it had 7 digits or
fewer. Booleans in a number input read as 1 and 0, as numpy and Arrow read them (the server
refuses them, so its logs have none).

An input is found by its column name, or by its TensorFlow-side name (models exported before the
graph took the columns' names); its shape is ``[n, 1]`` or ``[n]`` and its data flat or nested to
the shape. Requests that used the binary extension were turned into JSON by the logger.

The response's output named by the spec (``probabilities`` or ``predictions``, ``[n, k]`` or
``[n]``) becomes one numpy array, row for row with the table. With each row go its request id,
its row within the request (so a ground-truth file joins on request id and row), the record's
timestamp and the server's latency.

A record that cannot be decoded (an input missing, a wrong shape, batch sizes that disagree, a
value of the wrong type: text in a number input, a number in a text one, a date that is not
ISO 8601; the output missing or of another width) is skipped and counted by reason, never
raised; an input the model does not take is ignored.

Values are collected per column across records and turned into arrays once per chunk of rows
(no per-value Python work on the common path).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlrail.artifacts.modelspec import CLASSIFICATION, ModelSpec
from mlrail.components.monitor.logs import (
    GroupKey,
    LogFile,
    LogWindow,
    ReadStats,
    Record,
    group_order,
    iter_records,
    list_files,
)
from mlrail.datetimes import parse_days

__all__ = [
    "TIMESTAMP",
    "Decoded",
    "Decoder",
    "WindowDecoded",
    "decode",
    "decode_window",
]

#: The Arrow type of a decoded date or timestamp input, and of the rows' timestamps.
TIMESTAMP = pa.timestamp("us", tz="UTC")
_US_PER_DAY = 86_400_000_000
#: Beyond this many days from 1970 (about year 294,000) microseconds overflow int64.
_MAX_DAYS = 100_000_000
#: Rows decoded into arrays at a time: bounds the Python objects held while reading.
CHUNK_ROWS = 65_536
_NULL_STRING = pa.scalar(None, pa.string())
_FLOAT_TYPES = {"FP16": np.float32, "FP32": np.float32, "FP64": np.float64}


@dataclass(frozen=True)
class Decoded:
    """The decoded rows of one group of records.

    Attributes:
        features: The feature table: one row per batch row, one column per model input
            (``InputSpec.column``), in the spec's order.
        outputs: The model's output (the spec's ``output``), row for row with ``features``:
            ``[rows, k]`` or ``[rows]``, float32 (float64 when the server answered FP64).
        keys: Row for row with ``features``: ``request_id`` (string), ``row`` (int32, the row
            within its request), ``timestamp`` (``timestamp[us, UTC]``), ``latency_ms``
            (float64, the request's latency, repeated per row).
        records: Records decoded.
        skipped: Records not decoded, by reason (``missing_input``, ``bad_input_shape``,
            ``bad_input_data``, ``batch_mismatch``, ``bad_value``, ``missing_output``,
            ``bad_output_shape``).
        first: For each reason, the first record skipped for it (request id and what was wrong).
    """

    features: pa.Table
    outputs: np.ndarray
    keys: pa.Table
    records: int
    skipped: Counter[str]
    first: dict[str, str]

    @property
    def rows(self) -> int:
        return self.features.num_rows

    @property
    def request_ids(self) -> np.ndarray:
        """The request id of each row (object array of str)."""
        return np.asarray(self.keys.column("request_id").to_pylist(), dtype=object)

    @property
    def latencies(self) -> np.ndarray:
        """The latency of each decoded *record* (ms, one per request, not per row)."""
        first_rows = pc.equal(self.keys.column("row"), 0)
        return np.asarray(
            self.keys.column("latency_ms").filter(first_rows).to_numpy(zero_copy_only=False)
        )


class _Skip(Exception):
    """A record that cannot be decoded: its reason and what was wrong."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail


def _numbers(values: list[Any]) -> pa.Array:
    """Numbers (or null/NaN) as float64, NaN as null."""
    try:
        return pa.array(values, type=pa.float64(), from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError):
        pass
    # slow path, only for a chunk the fast one refused: integers beyond int64 are numbers too
    out = []
    for v in values:
        if v is None:
            out.append(math.nan)
        elif type(v) is float or type(v) is int:
            out.append(float(v))
        else:
            raise ValueError(f"{v!r} is not a number")
    return pa.array(out, type=pa.float64(), from_pandas=True)


def _strings(values: list[Any]) -> pa.Array:
    """Strings (or null) as a string column, "" as null."""
    try:
        arr = pa.array(values, type=pa.string())
    except (pa.ArrowException, TypeError) as e:
        raise ValueError(str(e)) from None
    return pc.if_else(pc.equal(arr, ""), _NULL_STRING, arr)


def _datetimes(values: list[Any]) -> pa.Array:
    """Days since 1970 (numbers) or ISO 8601 strings as UTC timestamps; null, NaN, "" missing."""
    try:
        days = pa.array(values, type=pa.float64(), from_pandas=True).to_numpy(zero_copy_only=False)
    except (pa.ArrowException, TypeError, ValueError):
        days = parse_days(values)  # strings (and numbers mixed with them); raises ValueError
    missing = ~np.isfinite(days)
    days = np.where(missing, 0.0, days)
    if np.any(np.abs(days) > _MAX_DAYS):
        raise ValueError("a date is out of range")
    # The whole days and the fraction apart: days - floor(days) is exact, so the microseconds
    # are the nearest to the value sent (exact to the microsecond while |days| < 2**15, 1880 to
    # 2059, where float64 days resolve them); days * 86_400_000_000 in one product would round
    # at 2**51 and miss by one.
    whole = np.floor(days)
    micros = whole.astype(np.int64) * _US_PER_DAY + np.rint((days - whole) * _US_PER_DAY).astype(
        np.int64
    )
    return pa.array(micros, type=pa.int64(), mask=missing).cast(TIMESTAMP)


_CONVERT: dict[str, Callable[[list[Any]], pa.Array]] = {
    "float32": _numbers,
    "string": _strings,
    "datetime": _datetimes,
}


def _flat(data: list[Any]) -> list[Any]:
    """``data`` flat: a tensor of shape [n, 1] may be sent nested ([[v], [v], ...])."""
    if data and type(data[0]) is list:
        if any(type(v) is not list for v in data):
            raise ValueError("mixes nested and flat values")
        return list(chain.from_iterable(data))
    return data


def _shape(value: Any) -> list[int] | None:
    if type(value) is not list or not 1 <= len(value) <= 2:
        return None
    if any(type(d) is not int or d < 0 for d in value):
        return None
    return value


class Decoder:
    """Decodes records of one model version into rows, incrementally (bounded memory).

    Example::

        decoder = Decoder(spec)
        for record in records:
            decoder.add(record)
        decoded = decoder.finish()
    """

    def __init__(self, spec: ModelSpec, *, chunk_rows: int = CHUNK_ROWS) -> None:
        self.spec = spec
        self.chunk_rows = chunk_rows
        self._columns = [i.column for i in spec.inputs]
        self._dtypes = [i.dtype for i in spec.inputs]
        # a V2 input is named by its column, or by the TensorFlow-side name (older exports)
        self._index: dict[str, int] = {}
        for j, i in enumerate(spec.inputs):
            self._index[i.column] = j
        for j, i in enumerate(spec.inputs):
            self._index.setdefault(i.name, j)
        self._order: list[tuple[str, int]] | None = None  # see _fast
        self._width: int | None = None  # the output's k (0 for a 1-D output), from the first
        self._float64 = False
        self._skipped: Counter[str] = Counter()
        self._first: dict[str, str] = {}
        self._records = 0
        self._features: list[pa.RecordBatch] = []
        self._outputs: list[np.ndarray] = []
        self._keys: list[pa.RecordBatch] = []
        self._reset()

    def _reset(self) -> None:
        # Values go straight into one flat list per column (and one for the output), so the
        # record's parsed JSON is freed at once: holding a chunk of parsed records made
        # Python's cyclic garbage collector rescan them again and again (5x slower).
        self._values: list[list[Any]] = [[] for _ in self._columns]
        self._out: list[Any] = []
        self._n: list[int] = []
        self._ids: list[str] = []
        self._times: list[dt.datetime] = []
        self._latency: list[float] = []
        self._rows = 0

    def _skip(self, record: Record, reason: str, detail: str) -> None:
        self._skipped[reason] += 1
        self._first.setdefault(reason, f"request {record.id!r}: {detail}")

    def add(self, record: Record) -> bool:
        """Take one record; False (and counted) when it cannot be decoded."""
        parts = self._fast(record)
        if parts is None:
            try:
                parts = self._parts(record)
            except _Skip as s:
                self._skip(record, s.reason, s.detail)
                return False
        n, data, out = parts
        for column, values in zip(self._values, data, strict=True):
            column.extend(values)
        self._out.extend(out)
        self._n.append(n)
        self._ids.append(record.id)
        self._times.append(record.timestamp)
        self._latency.append(record.latency_ms)
        self._rows += n
        if self._rows >= self.chunk_rows:
            self._flush()
        return True

    def _fast(self, record: Record) -> tuple[int, list[list[Any]], list[Any]] | None:
        """The common case, checked with as few operations as possible: the inputs in the order
        the last record had them, each ``[n, 1]`` (or each ``[n]``) with a flat data list, and
        the output first. None sends the record to :meth:`_parts` (which names what is wrong).
        """
        order = self._order
        inputs = record.inputs
        if order is None or len(inputs) != len(order):
            return None
        try:
            shape = inputs[0]["shape"]
            if type(shape) is not list or not 1 <= len(shape) <= 2:
                return None
            n = shape[0]
            if type(n) is not int or n < 0 or (len(shape) == 2 and shape[1] != 1):
                return None
            values: list[Any] = [None] * len(order)
            for tensor, (name, j) in zip(inputs, order, strict=True):
                if tensor["name"] != name or tensor["shape"] != shape:
                    return None
                data = tensor["data"]
                if type(data) is not list or len(data) != n or (n and type(data[0]) is list):
                    return None
                values[j] = data
            output = record.outputs[0]
            if output["name"] != self.spec.output:
                return None
            width = self._width
            if width is None or output["shape"] != ([n, width] if width else [n]):
                return None
            data = output["data"]
            if type(data) is not list or len(data) != n * (width or 1):
                return None
            if n and type(data[0]) is list:
                return None
            if not self._float64 and output.get("datatype") == "FP64":
                self._float64 = True
        except (KeyError, TypeError, IndexError):
            return None
        return n, values, data

    def _parts(self, record: Record) -> tuple[int, list[list[Any]], list[Any]]:
        """A record's rows, its inputs' values (spec order, flat) and its output's values."""
        inputs = record.inputs
        count = len(self._columns)
        found: list[Any] = [None] * count
        index = self._index
        for tensor in inputs:
            if type(tensor) is not dict:
                raise _Skip("bad_input_data", "an input is not a JSON object")
            j = index.get(tensor.get("name"))  # type: ignore[arg-type]
            if j is not None and found[j] is None:
                found[j] = tensor
        n = -1
        values: list[list[Any]] = []
        for j, tensor in enumerate(found):
            column = self._columns[j]
            if tensor is None:
                raise _Skip("missing_input", f"input {column!r} is missing")
            shape = _shape(tensor.get("shape"))
            if shape is None or (len(shape) == 2 and shape[1] != 1):
                raise _Skip(
                    "bad_input_shape",
                    f"input {column!r} has shape {tensor.get('shape')!r}, not [n, 1] or [n]",
                )
            if n < 0:
                n = shape[0]
            elif shape[0] != n:
                raise _Skip("batch_mismatch", f"input {column!r} has {shape[0]} row(s), others {n}")
            data = tensor.get("data")
            if type(data) is not list:
                raise _Skip("bad_input_data", f"input {column!r} has no data list")
            try:
                flat = _flat(data)
            except ValueError as e:
                raise _Skip("bad_input_data", f"input {column!r}: data {e}") from None
            if len(flat) != n:
                raise _Skip(
                    "bad_input_shape",
                    f"input {column!r} has {len(flat)} value(s) for shape {shape}",
                )
            values.append(flat)
        out = self._output(record, max(n, 0))
        if len(inputs) == count:  # the fast path may take the next records in this order
            self._order = [(t["name"], self._index[t["name"]]) for t in inputs]
        return max(n, 0), values, out

    def _output(self, record: Record, n: int) -> list[Any]:
        name = self.spec.output
        outputs = record.outputs
        tensor: Any = None
        for t in outputs:
            if type(t) is dict and t.get("name") == name:
                tensor = t
                break
        if tensor is None:
            raise _Skip("missing_output", f"output {name!r} is missing")
        shape = _shape(tensor.get("shape"))
        data = tensor.get("data")
        if shape is None or shape[0] != n or type(data) is not list:
            raise _Skip(
                "bad_output_shape",
                f"output {name!r} has shape {tensor.get('shape')!r} for {n} row(s)",
            )
        width = shape[1] if len(shape) == 2 else 0
        if self._width is not None and width != self._width:
            raise _Skip(
                "bad_output_shape",
                f"output {name!r} has shape {shape}; earlier records had width {self._width}",
            )
        try:
            flat = _flat(data)
        except ValueError as e:
            raise _Skip("bad_output_shape", f"output {name!r}: data {e}") from None
        if len(flat) != n * max(width, 1):
            raise _Skip(
                "bad_output_shape", f"output {name!r} has {len(flat)} value(s) for shape {shape}"
            )
        self._width = width
        if tensor.get("datatype") == "FP64":
            self._float64 = True
        return flat

    def _convert(
        self, data: list[list[Any]], out: list[Any], rows: int
    ) -> tuple[list[pa.Array], np.ndarray]:
        arrays = [_CONVERT[dtype](values) for dtype, values in zip(self._dtypes, data, strict=True)]
        outputs = _numbers(out).to_numpy(zero_copy_only=False)
        if self._width:
            outputs = outputs.reshape(rows, self._width)
        return arrays, outputs

    def _flush(self) -> None:
        if not self._n:
            return
        n, ids, times, latency = self._n, self._ids, self._times, self._latency
        try:
            arrays, outputs = self._convert(self._values, self._out, self._rows)
        except (ValueError, TypeError, OverflowError, pa.ArrowException):
            arrays, outputs, keep = self._convert_each()
            n, ids = [n[r] for r in keep], [ids[r] for r in keep]
            times, latency = [times[r] for r in keep], [latency[r] for r in keep]
        counts = np.asarray(n, dtype=np.int64)
        self._records += len(counts)
        self._features.append(pa.RecordBatch.from_arrays(arrays, names=self._columns))
        self._outputs.append(outputs)
        self._keys.append(_keys(ids, times, latency, counts))
        self._reset()

    def _convert_each(self) -> tuple[list[pa.Array], np.ndarray, list[int]]:
        """Convert record by record (a chunk had a bad value): the bad records are skipped."""
        kept_arrays: list[list[pa.Array]] = [[] for _ in self._columns]
        kept_outputs: list[np.ndarray] = []
        keep: list[int] = []
        start = 0
        per_row = self._width or 1
        for r, rows in enumerate(self._n):
            data = [column[start : start + rows] for column in self._values]
            out = self._out[start * per_row : (start + rows) * per_row]
            start += rows
            try:
                arrays, outputs = self._convert(data, out, rows)
            except (ValueError, TypeError, OverflowError, pa.ArrowException) as e:
                self._skipped["bad_value"] += 1
                self._first.setdefault(
                    "bad_value", f"request {self._ids[r]!r}: {self._which(data) or e}"
                )
                continue
            keep.append(r)
            for j, a in enumerate(arrays):
                kept_arrays[j].append(a)
            kept_outputs.append(outputs)
        arrays = [
            pa.concat_arrays(a) if a else pa.array([], type=_ARROW[d])
            for a, d in zip(kept_arrays, self._dtypes, strict=True)
        ]
        shape = (0, self._width) if self._width else (0,)
        outputs = np.concatenate(kept_outputs) if kept_outputs else np.empty(shape)
        return arrays, outputs, keep

    def _which(self, data: list[list[Any]]) -> str:
        """Which input of a record holds a bad value, for the message."""
        for column, dtype, values in zip(self._columns, self._dtypes, data, strict=True):
            try:
                _CONVERT[dtype](values)
            except (ValueError, TypeError, OverflowError, pa.ArrowException) as e:
                return f"input {column!r} ({dtype}): {e}"
        return ""

    def finish(self) -> Decoded:
        """The decoded rows of every record taken."""
        self._flush()
        schema = pa.schema(
            [pa.field(c, _ARROW[d]) for c, d in zip(self._columns, self._dtypes, strict=True)]
        )
        features = pa.Table.from_batches(self._features, schema=schema)
        width = self._width
        if width is None:  # no record: the output's width from the spec where it is known
            width = len(self.spec.classes) if self.spec.task in CLASSIFICATION else 0
        if self._outputs:
            outputs = np.concatenate(self._outputs)
        else:
            outputs = np.empty((0, width) if width else (0,))
        outputs = outputs.astype(np.float64 if self._float64 else np.float32, copy=False)
        keys = pa.Table.from_batches(self._keys, schema=_KEYS)
        return Decoded(
            features=features,
            outputs=outputs,
            keys=keys,
            records=self._records,
            skipped=Counter(self._skipped),
            first=dict(self._first),
        )


_ARROW = {"float32": pa.float64(), "string": pa.string(), "datetime": TIMESTAMP}
_KEYS = pa.schema(
    [
        pa.field("request_id", pa.string()),
        pa.field("row", pa.int32()),
        pa.field("timestamp", TIMESTAMP),
        pa.field("latency_ms", pa.float64()),
    ]
)


def _keys(
    ids: list[str], times: list[dt.datetime], latency: list[float], counts: np.ndarray
) -> pa.RecordBatch:
    """Each row's request id, row within its request, timestamp and latency."""
    id_array = pa.array(ids, type=pa.string())
    time_array = pa.array(times, type=TIMESTAMP)
    latency_array = pa.array(latency, type=pa.float64())
    total = int(counts.sum())
    if total == len(ids) and bool(np.all(counts == 1)):
        rows = pa.array(np.zeros(total, dtype=np.int32))
    else:
        which = np.repeat(np.arange(len(ids)), counts)
        starts = np.cumsum(counts) - counts
        rows = pa.array((np.arange(total) - np.repeat(starts, counts)).astype(np.int32))
        take = pa.array(which)
        id_array, time_array, latency_array = (
            id_array.take(take),
            time_array.take(take),
            latency_array.take(take),
        )
    return pa.RecordBatch.from_arrays([id_array, rows, time_array, latency_array], schema=_KEYS)


def decode(spec: ModelSpec, records: Iterable[Record], *, chunk_rows: int = CHUNK_ROWS) -> Decoded:
    """Decode ``records`` (all of one model version) by ``spec``."""
    decoder = Decoder(spec, chunk_rows=chunk_rows)
    for record in records:
        decoder.add(record)
    return decoder.finish()


@dataclass
class WindowDecoded:
    """A window's records decoded, per (version, identity) that answered.

    Attributes:
        window: The window.
        files: Its files.
        stats: What reading found (files, bytes, records, lines skipped by reason).
        groups: The decoded rows of each (version, identity), sorted by version.
        unknown: Records of a (version, identity) with no model spec (``spec_of`` gave None),
            not decoded.
    """

    window: LogWindow
    files: list[LogFile]
    stats: ReadStats
    groups: dict[GroupKey, Decoded]
    unknown: dict[GroupKey, int] = field(default_factory=dict)

    @property
    def no_traffic(self) -> bool:
        """No record in the window."""
        return self.stats.records == 0


def decode_window(
    window: LogWindow,
    spec_of: Callable[[GroupKey], ModelSpec | None],
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> WindowDecoded:
    """Read and decode a window in one pass, each (version, identity) by its own spec.

    Records are decoded as they are read (no window is held as parsed JSON).

    Args:
        window: The window.
        spec_of: The model spec of a (version, identity), called once per group: for
            example ``ModelSpec.read(<repository>/<model>/<version>)``; None when that version
            is not known (its records are counted in ``unknown``).
        chunk_rows: Rows decoded into arrays at a time.

    Raises:
        DataError: the log root is missing or a file cannot be read.
    """
    files = list_files(window)
    stats = ReadStats()
    decoders: dict[GroupKey, Decoder | None] = {}
    unknown: Counter[GroupKey] = Counter()
    for record in iter_records(window, files, stats):
        key = record.key
        decoder = decoders.get(key, False)
        if decoder is False:
            spec = spec_of(key)
            decoder = decoders[key] = Decoder(spec, chunk_rows=chunk_rows) if spec else None
        if decoder is None:
            unknown[key] += 1
        else:
            assert isinstance(decoder, Decoder)
            decoder.add(record)
    groups = {
        key: d.finish()
        for key, d in sorted(decoders.items(), key=lambda kv: group_order(kv[0]))
        if d is not None
    }
    return WindowDecoded(
        window=window,
        files=files,
        stats=stats,
        groups=groups,
        unknown={k: unknown[k] for k in sorted(unknown, key=group_order)},
    )
