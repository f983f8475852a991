"""The per-column accumulators of one streaming statistics pass, fed batch by batch.

Exact counts and moments of a numeric column (:class:`Numbers`), exact value counts of a text
column (:class:`Strings`), and the bottom-k row sample the histograms and quantiles are drawn
from (:class:`Sample`); :class:`Raw` reads a numeric Arrow array through numpy without copying.
The reasons for each method are in :mod:`.statistics`' docstring.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlrail.datetimes import arrow_days, is_datetime

__all__ = [
    "SAMPLE_ROWS",
    "Numbers",
    "Raw",
    "Sample",
    "Strings",
    "contiguous",
    "count_numbers",
    "column_kind",
]

#: rows up to which the median, quantiles and histograms are exact; the sample size above it
SAMPLE_ROWS = 65_536
_SEED = 0x6D6C7261696C  # "mlrail": the sample must not change between runs
_U64 = np.uint64


def column_kind(t: pa.DataType) -> str:
    """The statistics kind of an Arrow type: "null", "int", "float", "datetime", "string" or
    "unsupported"."""
    if pa.types.is_dictionary(t):
        return column_kind(t.value_type)
    if pa.types.is_null(t):
        return "null"
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        return "int"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "float"
    if is_datetime(t):
        return "datetime"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    return "unsupported"


def contiguous(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        return arr.chunk(0) if arr.num_chunks == 1 else arr.combine_chunks()
    return arr


class Raw:
    """A numeric Arrow array seen through numpy, row by row, without copying.

    ``values`` has one entry per row (whatever lies in the buffer where a row is null) and
    ``valid`` is the unpacked validity bitmap, None when there are no nulls. Unpacking the
    bitmap with numpy and indexing is an order of magnitude faster than ``drop_null``/``take``.
    """

    def __init__(self, arr: pa.Array) -> None:
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        if pa.types.is_boolean(arr.type):
            arr = arr.cast(pa.int8())
        elif pa.types.is_decimal(arr.type):
            arr = arr.cast(pa.float64(), safe=False)
        elif is_datetime(arr.type):  # days since 1970 UTC (nulls as NaN, masked below)
            arr = pa.array(arrow_days(arr), mask=arr.is_null().to_numpy(zero_copy_only=False))
        n, offset = len(arr), arr.offset
        data = arr.buffers()[1]
        dtype = np.dtype(arr.type.to_pandas_dtype())
        self.values = (
            np.frombuffer(data, dtype=dtype)[offset : offset + n]
            if data is not None
            else np.zeros(n, dtype)
        )
        self.valid: np.ndarray | None = None
        if arr.null_count:
            bits = np.frombuffer(arr.buffers()[0], dtype=np.uint8)
            self.valid = np.unpackbits(bits, bitorder="little")[offset : offset + n].view(bool)

    def present(self) -> np.ndarray:
        """The non-null values."""
        return self.values if self.valid is None else self.values[self.valid]

    def rows(self, idx: np.ndarray | None = None) -> np.ndarray:
        """The rows ``idx`` (default: all) as a new float64 array, nulls as NaN."""
        if idx is None:  # a copy: the sample must not pin the batch's buffers
            out = self.values.astype(np.float64)
        else:  # the gather is a copy already
            out = self.values[idx].astype(np.float64, copy=False)
        if self.valid is not None:
            out[~(self.valid if idx is None else self.valid[idx])] = np.nan
        return out


class Numbers:
    """Exact counts and moments of one numeric column, merged batch by batch."""

    def __init__(self, is_int: bool) -> None:
        self.is_int = is_int
        self.zeros = self.nan = self.pos_inf = self.neg_inf = 0
        self.count = 0  # finite values, which the moments are over
        self.mean = self.m2 = 0.0
        self.min = self.max = math.nan  # over values that are not NaN (±inf included)
        self.fmin = self.fmax = math.nan  # over finite values: the STANDARD histogram's range

    def add(self, values: np.ndarray) -> None:
        if not len(values):
            return
        self.zeros += int(np.count_nonzero(values == 0))  # 4x faster than len - count_nonzero
        if values.dtype.kind in "iub":
            lo, hi = float(values.min()), float(values.max())
            values = values.astype(np.float64)
            total = float(values.sum())
        else:
            with np.errstate(invalid="ignore", over="ignore"):  # inf - inf: NaN, handled below
                total = float(values.sum())
            if not math.isfinite(total):  # NaN or ±inf somewhere (or an overflowing sum)
                nan = np.isnan(values)
                self.nan += int(nan.sum())
                values = values[~nan]
                if not len(values):
                    return
                self._extremes(float(values.min()), float(values.max()), finite=False)
                self.pos_inf += int(np.count_nonzero(values == np.inf))
                self.neg_inf += int(np.count_nonzero(values == -np.inf))
                values = values[np.isfinite(values)]
                if not len(values):
                    return
                total = float(values.sum(dtype=np.float64))
            values = values.astype(np.float64, copy=False)
            lo, hi = float(values.min()), float(values.max())
        self._extremes(lo, hi, finite=True)
        mean = total / len(values)
        dev = values - mean  # the batch's own two-pass moments, then merged
        # einsum, not dev @ dev: a BLAS dot spins up its thread pool (measured 200x slower)
        self._merge(len(values), mean, float(np.einsum("i,i->", dev, dev)))

    def _extremes(self, lo: float, hi: float, *, finite: bool) -> None:
        self.min = lo if math.isnan(self.min) else min(self.min, lo)
        self.max = hi if math.isnan(self.max) else max(self.max, hi)
        if finite:
            self.fmin = lo if math.isnan(self.fmin) else min(self.fmin, lo)
            self.fmax = hi if math.isnan(self.fmax) else max(self.fmax, hi)

    def _merge(self, n: int, mean: float, m2: float) -> None:
        # Chan, Golub & LeVeque (1979): the moments of two parts give those of the whole
        total = self.count + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.count * n / total
        self.count = total


class Strings:
    """Exact value counts of one string column: per-batch counts merged in Arrow."""

    def __init__(self) -> None:
        self.merged: pa.Table | None = None
        self.pending: list[pa.Table] = []
        self.pending_rows = 0

    def add(self, arr: pa.Array | pa.ChunkedArray) -> None:
        if len(arr) == arr.null_count:
            return
        if isinstance(arr, pa.ChunkedArray) and pa.types.is_dictionary(arr.type):
            for chunk in arr.chunks:  # each chunk may have its own dictionary
                self.add(chunk)
            return
        if pa.types.is_dictionary(arr.type):
            # Parquet hands string columns over dictionary-encoded (read_dictionary): counting
            # the indices costs a tenth of hashing the strings again
            idx = Raw(arr.indices).present()
            counts = np.bincount(idx, minlength=len(arr.dictionary))
            used = np.flatnonzero(counts)
            values = arr.dictionary.take(pa.array(used))
            part = pa.table({"v": values.cast(pa.large_string()), "c": counts[used]})
        else:
            vc = pc.value_counts(arr)
            if arr.null_count:
                vc = vc.filter(vc.field("values").is_valid())
            part = pa.table(
                {"v": vc.field("values").cast(pa.large_string()), "c": vc.field("counts")}
            )
        self.pending.append(part)
        self.pending_rows += part.num_rows
        # merge once the partial counts outgrow the merged ones: O(distinct) memory, and each
        # value is re-aggregated a logarithmic number of times
        if self.pending_rows > max(SAMPLE_ROWS, 2 * self._merged_rows()):
            self._merge()

    def _merged_rows(self) -> int:
        return 0 if self.merged is None else self.merged.num_rows

    def _merge(self) -> None:
        parts = ([self.merged] if self.merged is not None else []) + self.pending
        self.pending, self.pending_rows = [], 0
        if len(parts) <= 1:
            self.merged = parts[0] if parts else None
            return
        table = pa.concat_tables(parts)
        summed = table.group_by("v", use_threads=False).aggregate([("c", "sum")])
        self.merged = summed.rename_columns(["v", "c"])

    def counts(self) -> pa.Table:
        """Distinct values and their counts, most frequent first, ties by value."""
        self._merge()
        if self.merged is None:
            return pa.table({"v": pa.array([], pa.large_string()), "c": pa.array([], pa.int64())})
        order = pc.sort_indices(self.merged, sort_keys=[("c", "descending"), ("v", "ascending")])
        return self.merged.take(order)


class Sample:
    """A bottom-k sample of rows: the ``SAMPLE_ROWS`` rows with the smallest priorities.

    A row's priority is the splitmix64 hash of its position in the dataset and a fixed seed, so
    the sample depends on the data alone, not on how it was cut into batches. Only numeric
    columns are kept (as float64, null and NaN alike as NaN: neither enters a histogram).
    """

    def __init__(self, total: int | None = None) -> None:
        self.priorities: list[np.ndarray] = []
        self.values: list[dict[str, np.ndarray]] = []
        self.kept = 0
        self.bound: int | None = None  # rows with a priority up to it are taken
        if total is not None and total > SAMPLE_ROWS:
            # With the number of rows known, the final bound is known before any row is read
            # (priorities depend on positions only), so only the sampled rows are ever copied.
            # More rows than announced would still be sampled right (the bound only drops).
            self.bound = self._final_bound(total)

    @classmethod
    def _final_bound(cls, total: int) -> int:
        """The ``SAMPLE_ROWS``-th smallest priority among positions 0 .. total - 1."""
        best = np.empty(0, dtype=_U64)
        chunk = 1 << 20
        for start in range(0, total, chunk):
            prio = cls._priorities(start, min(chunk, total - start))
            if len(best) == SAMPLE_ROWS:
                prio = prio[prio <= best.max()]
            merged = np.concatenate([best, prio])
            if len(merged) > SAMPLE_ROWS:
                merged = np.partition(merged, SAMPLE_ROWS - 1)[:SAMPLE_ROWS]
            best = merged
        return int(best.max())

    @staticmethod
    def _priorities(start: int, n: int) -> np.ndarray:
        x = np.arange(start, start + n, dtype=_U64)
        x += _U64(_SEED)
        x ^= x >> _U64(30)
        x *= _U64(0xBF58476D1CE4E5B9)
        x ^= x >> _U64(27)
        x *= _U64(0x94D049BB133111EB)
        x ^= x >> _U64(31)
        return x

    def select(self, start: int, rows: int) -> tuple[np.ndarray, np.ndarray | None] | None:
        """Which of the rows ``start``.. ``start + rows`` may be in the sample.

        Returns:
            Their priorities and positions in the batch (None: every row), or None for none.
        """
        prio = self._priorities(start, rows)
        if self.bound is None and self.kept + rows > SAMPLE_ROWS:
            # the bound is set as soon as there are enough rows: a large batch is never
            # copied whole, only its rows that can be in the sample
            every = np.concatenate([*self.priorities, prio])
            self.bound = int(np.partition(every, SAMPLE_ROWS - 1)[SAMPLE_ROWS - 1])
        if self.bound is None:
            return prio, None
        idx = np.flatnonzero(prio <= _U64(self.bound))
        return (prio[idx], idx) if len(idx) else None

    def append(self, prio: np.ndarray, values: dict[str, np.ndarray]) -> None:
        """Add the selected rows: their priorities and each numeric column's values."""
        self.priorities.append(prio)
        self.values.append(values)
        self.kept += len(prio)
        if self.kept >= 2 * SAMPLE_ROWS:
            self._shrink()

    def _shrink(self) -> None:
        if len(self.priorities) <= 1 and self.kept <= SAMPLE_ROWS:
            return
        prio = np.concatenate(self.priorities)
        names = dict.fromkeys(c for part in self.values for c in part)
        columns = {
            # NaN where a column was absent from a batch (or not yet typed): missing there
            c: np.concatenate(
                [
                    part[c] if c in part else np.full(len(p), np.nan)
                    for part, p in zip(self.values, self.priorities, strict=True)
                ]
            )
            for c in names
        }
        if len(prio) > SAMPLE_ROWS:
            keep = np.argpartition(prio, SAMPLE_ROWS - 1)[:SAMPLE_ROWS]
            prio = prio[keep]
            columns = {c: v[keep] for c, v in columns.items()}
            self.bound = int(prio.max())
        self.priorities, self.values, self.kept = [prio], [columns], len(prio)

    def finish(self) -> None:
        """Cut the sample down to its final rows; ``column`` reads it from then on."""
        self._shrink()

    def column(self, name: str) -> np.ndarray:
        """The sampled finite values of ``name``, sorted (after ``finish``)."""
        values = self.values[0].get(name, np.empty(0)) if self.values else np.empty(0)
        return np.sort(values[np.isfinite(values)])


def count_numbers(
    numbers: Numbers, arr: pa.Array | pa.ChunkedArray, idx: np.ndarray | None, sample: bool
) -> np.ndarray | None:
    """Add a numeric column's batch to its moments; return its sampled rows (``idx``, or all)."""
    raw = Raw(contiguous(arr))
    numbers.add(raw.present())
    return raw.rows(idx) if sample else None
