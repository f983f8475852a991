"""The per-column accumulators of one streaming statistics pass, fed batch by batch and merged.

Exact counts and moments of a numeric column (:class:`Numbers`), exact value counts of a text
column (:class:`Strings`), and the finite values' distribution behind the median, quantiles and
histograms (:class:`Quantiles`: every value up to :data:`EXACT_VALUES`, a KLL sketch above);
:class:`Raw` reads a numeric Arrow array through numpy without copying. Each accumulator merges
with another of its kind (``merge``), so statistics of shards combine into those of the whole
(:mod:`.partial`). The reasons for each method are in :mod:`.statistics`' docstring.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasketches import kll_doubles_sketch

from mlrail.datetimes import arrow_days, is_datetime

__all__ = [
    "EXACT_VALUES",
    "KLL_K",
    "Numbers",
    "Quantiles",
    "Raw",
    "Strings",
    "contiguous",
    "count_numbers",
    "column_kind",
]

#: finite values of a column up to which its median, quantiles and histograms are exact
EXACT_VALUES = 65_536
#: the KLL sketches' k: its bounds (:mod:`.statistics`) are at least as tight as the
#: 65,536-row sample's it replaced, histograms included (the smallest such k is 706)
KLL_K = 1024
_MERGE_ROWS = 65_536  # string counts pending before they are merged (see Strings.add)


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


class Numbers:
    """Exact counts and moments of one numeric column, merged batch by batch."""

    def __init__(self, is_int: bool) -> None:
        self.is_int = is_int
        self.zeros = self.nan = self.pos_inf = self.neg_inf = 0
        self.count = 0  # finite values, which the moments are over
        self.mean = self.m2 = 0.0
        self.min = self.max = math.nan  # over values that are not NaN (±inf included)
        self.fmin = self.fmax = math.nan  # over finite values: the STANDARD histogram's range
        self.quantiles = Quantiles()  # the finite values' distribution

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
        self.quantiles.add(values)

    def merge(self, other: Numbers) -> None:
        """Add ``other``'s values (another part of the same column): exact but for rounding,
        and the sketch's bound for the quantiles."""
        self.is_int = self.is_int and other.is_int
        self.zeros += other.zeros
        self.nan += other.nan
        self.pos_inf += other.pos_inf
        self.neg_inf += other.neg_inf
        if not math.isnan(other.min):
            self._extremes(other.min, other.max, finite=False)
        if not math.isnan(other.fmin):
            self._extremes(other.fmin, other.fmax, finite=True)
        if other.count:
            self._merge(other.count, other.mean, other.m2)
        self.quantiles.merge(other.quantiles)

    def _extremes(self, lo: float, hi: float, *, finite: bool) -> None:
        self.min = lo if math.isnan(self.min) else min(self.min, lo)
        self.max = hi if math.isnan(self.max) else max(self.max, hi)
        if finite:
            self.fmin = lo if math.isnan(self.fmin) else min(self.fmin, lo)
            self.fmax = hi if math.isnan(self.fmax) else max(self.fmax, hi)

    def _merge(self, n: int, mean: float, m2: float) -> None:
        # Chan, Golub & LeVeque (1979): the moments of two parts give those of the whole
        if not self.count:  # exactly the other part's: no rounding through delta * n / total
            self.count, self.mean, self.m2 = n, mean, m2
            return
        total = self.count + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.count * n / total
        self.count = total


class Quantiles:
    """The distribution of a column's finite values: the values themselves while there are at
    most :data:`EXACT_VALUES` of them, then a KLL sketch (Apache DataSketches, k =
    :data:`KLL_K`) that every value goes through. Mergeable: two parts give the whole, exact
    while the two together are few enough, else within the sketch's bound."""

    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []  # exact mode: the values, in pieces
        self.n = 0
        self.sketch: kll_doubles_sketch | None = None
        self._sorted: np.ndarray | None = None

    @property
    def exact(self) -> bool:
        return self.sketch is None

    def add(self, values: np.ndarray) -> None:
        """Add finite float64 values (copied: the batch's buffers are not kept)."""
        if not len(values):
            return
        self.n += len(values)
        if self.sketch is not None:
            self.sketch.update(np.ascontiguousarray(values, dtype=np.float64))
            return
        self.parts.append(np.array(values, dtype=np.float64, copy=True))
        self._sorted = None
        if self.n > EXACT_VALUES:
            self._to_sketch()

    def _to_sketch(self) -> None:
        sketch = kll_doubles_sketch(KLL_K)
        for part in self.parts:
            sketch.update(part)
        self.sketch, self.parts, self._sorted = sketch, [], None

    def merge(self, other: Quantiles) -> None:
        """Add ``other``'s values."""
        if other.sketch is None:
            for part in other.parts:
                self.add(part)
            return
        if self.sketch is None:
            self._to_sketch()
        assert self.sketch is not None
        self.sketch.merge(other.sketch)
        self.n += other.n

    def values(self) -> np.ndarray:
        """The values, sorted (exact mode only)."""
        if self.sketch is not None:
            raise ValueError("the values are in a sketch, not kept")
        if self._sorted is None:
            joined = np.concatenate(self.parts) if self.parts else np.empty(0)
            self._sorted = np.sort(joined)
            self.parts = [self._sorted]
        return self._sorted

    def quantiles(self, ranks: np.ndarray) -> np.ndarray:
        """The values at normalized ``ranks`` (0 to 1): numpy's "linear" quantiles of the values
        when exact, else the sketch's (the smallest retained value whose rank reaches it)."""
        if self.sketch is None:
            values = self.values()
            pos = np.asarray(ranks, dtype=np.float64) * (len(values) - 1)
            lo = np.floor(pos).astype(np.intp)
            hi = np.minimum(lo + 1, len(values) - 1)
            return values[lo] + (pos - lo) * (values[hi] - values[lo])
        return np.array(self.sketch.get_quantiles(list(ranks), inclusive=True))

    def counts(self, edges: np.ndarray) -> np.ndarray:
        """How many values fall in each bucket ``[edges[i], edges[i + 1])`` (the last one
        closed; ``edges`` spans every value): exact, or the sketch's PMF times the count."""
        if self.sketch is None:
            inner = np.searchsorted(self.values(), edges[1:-1], side="left")
            return np.diff(np.concatenate([[0], inner, [self.n]])).astype(np.float64)
        # exclusive split points: bucket i holds the values v with edges[i] <= v < edges[i + 1]
        pmf = np.array(self.sketch.get_pmf(list(edges[1:-1]), inclusive=False))
        return pmf * self.n


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
        if self.pending_rows > max(_MERGE_ROWS, 2 * self._merged_rows()):
            self._merge()

    def merge(self, other: Strings) -> None:
        """Add ``other``'s counts (another part of the same column)."""
        parts = ([other.merged] if other.merged is not None else []) + other.pending
        for part in parts:
            self.pending.append(part)
            self.pending_rows += part.num_rows
        if self.pending_rows > max(_MERGE_ROWS, 2 * self._merged_rows()):
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


def count_numbers(numbers: Numbers, arr: pa.Array | pa.ChunkedArray) -> None:
    """Add a numeric column's batch to its counts, moments and quantiles."""
    numbers.add(Raw(contiguous(arr)).present())
