"""Statistics of a dataset in one streaming pass over record batches, as TFDV's protos.

Each dataset (a split, or a file given to the CLI) becomes one ``DatasetFeatureStatistics``
in tensorflow-metadata's format. Memory is bounded by the number of columns, the number of
distinct strings and a fixed-size row sample, never by the number of rows:

- counts, missing, min/max, mean, standard deviation and zeros are exact: each batch's moments
  (count, mean, sum of squared deviations) are merged with Chan et al.'s parallel formula, so a
  large mean does not cancel the variance as a running sum of squares would;
- string value counts are exact: per batch ``value_counts`` (a ``bincount`` of the indices for
  dictionary-encoded columns), merged in Arrow with ``group_by().aggregate()``;
- the median, the QUANTILES histogram and the STANDARD (equal-width) histogram are exact when
  the dataset has at most ``SAMPLE_ROWS`` rows. Above that they come from a uniform sample of
  ``SAMPLE_ROWS`` rows: every row gets a pseudo-random priority from a hash of its position
  and a fixed seed, and the rows with the smallest priorities are kept (a bottom-k sample),
  the same rows for every column. The sample is therefore the same for the same data whatever
  the batch boundaries. Histogram counts are scaled to the exact count of values, and the
  STANDARD histogram's range is the exact finite minimum and maximum. (TFDV computes these
  from approximate KLL quantile sketches instead; neither is exact on large data.)

Columns are counted in parallel by two helper threads while the caller's thread reads on, and
``compute_statistics`` decodes the next Parquet batch in a thread of its own (Arrow and numpy
release the GIL). At most one batch is read ahead and two groups of batches are in flight.

NaN is a value, not a missing one: it is counted in the histograms' ``num_nan`` and left out
of the mean, standard deviation and buckets; ±inf is counted in the minimum/maximum and in
zero-width buckets at ±inf. Only nulls are missing. ``avg_length`` is in bytes, as TFDV's.

Types: integers of every width and booleans are ``INT`` (a ``uint64`` above 2**53, like any
integer there, is rounded to float64 in the moments and extremes); floats and decimals
(``decimal128``/``decimal256``, as float64) are ``FLOAT``; text (``string``, ``large_string``,
``string_view``) is ``STRING``; a dictionary-encoded column is its values' type. A date or
timestamp column is a ``FLOAT`` feature over its days since 1970-01-01 UTC
(:func:`mlrail.datetimes.arrow_days`; a zoned timestamp is its UTC instant) with
``custom_stats {name: "mlrail.datetime" str: "<its Arrow type>"}``. Any other type (binary,
lists, structs, maps, time of day, durations, ...) is described, not refused: a ``BYTES``
feature with only its counts (``bytes_stats.common_stats``) and ``custom_stats {name:
"mlrail.unsupported_type" str: "<its Arrow type>"}``, which validation reports as an anomaly
naming the column and the type.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from queue import Full, Queue
from threading import Event, Thread
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tensorflow_metadata.proto.v0 import statistics_pb2

from mlrail.artifacts.examples import open_split, split_names, stream

# a date/timestamp feature's custom statistic (its Arrow type; the values are days)
from mlrail.artifacts.modelspec import DATETIME_STATS as DATETIME
from mlrail.errors import DataError
from mlrail.validation.accumulators import (
    SAMPLE_ROWS,
    Numbers,
    Sample,
    Strings,
    column_kind,
    count_numbers,
)

__all__ = [
    "DATETIME",
    "SAMPLE_ROWS",
    "UNSUPPORTED",
    "common_stats",
    "custom_str",
    "json_number",
    "compute_statistics",
    "statistics_from_batches",
    "summarize",
]

#: ``custom_stats`` naming the Arrow type of a column no step can use
UNSUPPORTED = "mlrail.unsupported_type"
HIST_BUCKETS = 10
TOP_K = 20
RANK_MAX = 1000
_BATCH_ROWS = 131_072  # Parquet batch size: large enough that per-batch Python costs vanish
_GROUP_ROWS = 131_072  # smaller batches are grouped up to this many rows before counting
_THREADS = 2  # columns counted at once: the machines this runs on have two cores or more
_Type = statistics_pb2.FeatureNameStatistics
_Histogram = statistics_pb2.Histogram


def custom_str(f: statistics_pb2.FeatureNameStatistics, name: str) -> str | None:
    """The string of ``f``'s custom statistic ``name`` (e.g. :data:`DATETIME`), or None."""
    return next((c.str for c in f.custom_stats if c.name == name), None)


def common_stats(f: statistics_pb2.FeatureNameStatistics) -> statistics_pb2.CommonStatistics:
    """``f``'s counts (present, missing), whichever kind of statistics it has."""
    if f.HasField("bytes_stats"):
        return f.bytes_stats.common_stats
    return f.num_stats.common_stats if f.HasField("num_stats") else f.string_stats.common_stats


class _Column:
    def __init__(self, name: str) -> None:
        self.name = name
        self.kind = "null"
        self.arrow_type: pa.DataType = pa.null()  # the first non-null type seen
        self.present = 0
        self.numbers: Numbers | None = None
        self.strings: Strings | None = None
        self.task: Future[Any] | None = None  # the batch being counted


class _Dataset:
    """Statistics of one dataset, fed batch by batch."""

    def __init__(
        self, name: str, source: str, pool: ThreadPoolExecutor, total: int | None = None
    ) -> None:
        self.name = name
        self.source = source or f"dataset {name!r}"
        self.pool = pool
        self.rows = 0
        self.columns: dict[str, _Column] = {}
        self.sample = Sample(total)
        self.pending: list[pa.RecordBatch] = []
        self.pending_rows = 0
        self.in_flight: tuple[np.ndarray, dict[str, Future[np.ndarray | None]]] | None = None

    def add(self, data: pa.RecordBatch | pa.Table) -> None:
        batches = data.to_batches() if isinstance(data, pa.Table) else [data]
        if not batches:  # an empty table still brings its columns and their types
            batches = [pa.RecordBatch.from_pylist([], schema=data.schema)]
        for batch in batches:
            if self.pending and batch.schema != self.pending[0].schema:
                self.flush()
            self.pending.append(batch)
            self.pending_rows += batch.num_rows
            if self.pending_rows >= _GROUP_ROWS:
                self.flush()

    def flush(self) -> None:
        """Process the pending batches as one group.

        Small batches (a CSV reader yields a few thousand rows each) are grouped first: the
        per-call cost of each kernel would otherwise dominate.
        """
        if not self.pending:
            return
        if len(self.pending) == 1:
            group: pa.RecordBatch | pa.Table = self.pending[0]
        else:
            group = pa.Table.from_batches(self.pending)
        self.pending, self.pending_rows = [], 0
        selected = self.sample.select(self.rows, group.num_rows) if group.num_rows else None
        idx = selected[1] if selected is not None else None
        sampled: dict[str, Future[np.ndarray | None]] = {}
        for name, arr in zip(group.schema.names, group.columns, strict=True):
            col = self.columns.get(name)
            if col is None:
                col = self.columns[name] = _Column(name)
            kind = self._check_type(col, arr.type)
            if kind == "null":
                continue
            col.present += len(arr) - arr.null_count
            # Columns are counted in parallel (Arrow and numpy release the GIL); each column's
            # batches in order, so a column's previous task is finished before its next starts.
            if col.task is not None:
                col.task.result()
            if col.strings is not None:
                if pa.types.is_string_view(arr.type):  # value_counts does not take views
                    arr = arr.cast(pa.string())
                col.task = self.pool.submit(col.strings.add, arr)
            elif col.numbers is not None:
                task = self.pool.submit(count_numbers, col.numbers, arr, idx, selected is not None)
                col.task = sampled[name] = task
        self._collect()
        if selected is not None:
            self.in_flight = (selected[0], sampled)
        self.rows += group.num_rows

    def _collect(self) -> None:
        """Add the previous group's sampled rows to the sample, once they are taken."""
        if self.in_flight is not None:
            prio, futures = self.in_flight
            self.in_flight = None
            values = {name: f.result() for name, f in futures.items()}
            self.sample.append(prio, {k: v for k, v in values.items() if v is not None})

    def _check_type(self, col: _Column, t: pa.DataType) -> str:
        kind = column_kind(t)
        if kind == "null":
            return "null"
        if col.kind == "null":
            col.kind, col.arrow_type = kind, t
            if kind == "string":
                col.strings = Strings()
            elif kind != "unsupported":
                col.numbers = Numbers(is_int=kind == "int")
        elif col.kind != kind and ({"string", "datetime", "unsupported"} & {kind, col.kind}):
            raise DataError(
                f"{self.source}: column {col.name!r} changes type: {col.arrow_type} up to row "
                f"{self.rows}, {t} from row {self.rows + 1}"
            )
        elif col.kind != kind:
            # integers then floats (or floats then integers): a float column with whole numbers
            col.kind = "float"
            assert col.numbers is not None
            col.numbers.is_int = False
        return kind

    def statistics(self) -> statistics_pb2.DatasetFeatureStatistics:
        self.flush()
        self._collect()
        for col in self.columns.values():
            if col.task is not None:
                col.task.result()
        self.sample.finish()
        ds = statistics_pb2.DatasetFeatureStatistics(name=self.name, num_examples=self.rows)
        # each feature's last merge, sort and buckets in parallel too; map keeps their order
        ds.features.extend(self.pool.map(self._feature, self.columns.values()))
        return ds

    def _feature(self, col: _Column) -> statistics_pb2.FeatureNameStatistics:
        f = statistics_pb2.FeatureNameStatistics()
        f.path.step.append(col.name)
        if col.kind == "unsupported":
            f.type = _Type.BYTES
            self._common(f.bytes_stats.common_stats, col.present)
            f.custom_stats.add(name=UNSUPPORTED, str=str(col.arrow_type))
        elif col.numbers is not None:
            self._numeric(f, col, col.numbers)
            if col.kind == "datetime":
                f.custom_stats.add(name=DATETIME, str=str(col.arrow_type))
        else:
            # an all-null column: no type can be inferred; recorded as string with no values
            self._string(f, col, col.strings)
        return f

    def _common(self, common: statistics_pb2.CommonStatistics, present: int) -> None:
        common.num_non_missing = present
        common.num_missing = self.rows - present
        if present:
            common.min_num_values = common.max_num_values = 1
            common.avg_num_values = 1.0
            common.tot_num_values = present

    def _numeric(self, f: statistics_pb2.FeatureNameStatistics, col: _Column, n: Numbers) -> None:
        f.type = _Type.INT if n.is_int else _Type.FLOAT
        num = f.num_stats
        self._common(num.common_stats, col.present)
        num.num_zeros = n.zeros
        if not math.isnan(n.min):
            num.min, num.max = n.min, n.max
        if not n.count:
            if col.present:  # NaN and ±inf only: the buckets hold the infinities
                _standard(num.histograms.add(), n, np.empty(0))
            return
        num.mean = n.mean
        num.std_dev = math.sqrt(max(n.m2, 0.0) / n.count)
        sample = self.sample.column(col.name)
        _standard(num.histograms.add(), n, sample)
        median = _quantiles(num.histograms.add(), n, sample)
        if median is not None:
            num.median = median

    def _string(
        self, f: statistics_pb2.FeatureNameStatistics, col: _Column, strings: Strings | None
    ) -> None:
        f.type = _Type.STRING
        s = f.string_stats
        self._common(s.common_stats, col.present)
        if strings is None or not col.present:
            return
        counts = strings.counts()
        s.unique = counts.num_rows
        lengths = pc.binary_length(counts.column("v")).to_numpy().astype(np.float64)
        s.avg_length = float(lengths @ counts.column("c").to_numpy()) / col.present
        top = counts.slice(0, RANK_MAX).to_pydict()
        for rank, (value, count) in enumerate(zip(top["v"], top["c"], strict=True)):
            if rank < TOP_K:
                s.top_values.add(value=value, frequency=float(count))
            s.rank_histogram.buckets.add(
                low_rank=rank, high_rank=rank, label=value, sample_count=float(count)
            )


def _standard(h: statistics_pb2.Histogram, n: Numbers, sample: np.ndarray) -> None:
    """Equal-width buckets over the exact finite range, counts scaled to the exact count."""
    h.type = _Histogram.STANDARD
    h.num_nan = n.nan
    if n.neg_inf:
        h.buckets.add(low_value=-math.inf, high_value=-math.inf, sample_count=n.neg_inf)
    if n.count:
        if n.fmin == n.fmax or not len(sample):
            # one value (TFDV's point bucket), or a column too sparse to be in the sample
            h.buckets.add(low_value=n.fmin, high_value=n.fmax, sample_count=n.count)
        else:
            edges = np.linspace(n.fmin, n.fmax, HIST_BUCKETS + 1)
            # buckets [low, high), the last one closed; the sample is sorted
            inner = np.searchsorted(sample, edges[1:-1], side="left")
            counts = np.diff(np.concatenate([[0], inner, [len(sample)]]))
            scale = n.count / len(sample)
            for lo, hi, c in zip(edges[:-1], edges[1:], counts, strict=True):
                h.buckets.add(low_value=lo, high_value=hi, sample_count=float(c) * scale)
    if n.pos_inf:
        h.buckets.add(low_value=math.inf, high_value=math.inf, sample_count=n.pos_inf)


def _quantiles(h: statistics_pb2.Histogram, n: Numbers, sample: np.ndarray) -> float | None:
    """Buckets between the deciles, each holding a tenth of the finite values.

    Returns:
        The median (the fifth decile), or None when no value is in the sample.
    """
    h.type = _Histogram.QUANTILES
    h.num_nan = n.nan
    if not len(sample):
        h.buckets.add(low_value=n.fmin, high_value=n.fmax, sample_count=n.count)
        return None
    # numpy's default ("linear") quantiles, read off the sorted sample
    pos = np.linspace(0, 1, HIST_BUCKETS + 1) * (len(sample) - 1)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, len(sample) - 1)
    qs = sample[lo] + (pos - lo) * (sample[hi] - sample[lo])
    median = float(qs[HIST_BUCKETS // 2])
    qs[0], qs[-1] = n.fmin, n.fmax  # the exact ends, not the sample's
    per = n.count / HIST_BUCKETS
    for lo, hi in zip(qs[:-1], qs[1:], strict=True):
        h.buckets.add(low_value=lo, high_value=hi, sample_count=per)
    return median


# ---------------------------------------------------------------------------------------------
# entry points


def statistics_from_batches(
    name: str, batches: Iterable[pa.RecordBatch | pa.Table] | pa.Table, *, source: str = ""
) -> statistics_pb2.DatasetFeatureStatistics:
    """Statistics of one dataset streamed as record batches or tables, in one pass.

    Args:
        name: The dataset's name in the statistics (a split such as "train", or "data").
        batches: The rows, in order: a table, or an iterable of batches or tables (a list is
            faster than a generator above ``SAMPLE_ROWS`` rows: its size is known up front, so
            only the sampled rows are copied). A column may be absent or all-null (type
            ``null``) in some batches; its rows there count as missing.
        source: What to call the data in errors (a file name); default: the dataset's name.

    Returns:
        The dataset's ``DatasetFeatureStatistics``, features in order of first appearance.

    Raises:
        DataError: naming ``source`` and the column, when a column changes kind between
            batches (numbers, text, dates, another type). A type no step uses is no error: it
            is described (see the module doc).
    """
    total = None
    if isinstance(batches, pa.Table):
        total = batches.num_rows
    elif isinstance(batches, list | tuple):
        total = sum(b.num_rows for b in batches)
    with ThreadPoolExecutor(max_workers=_THREADS, thread_name_prefix="mlrail-statistics") as pool:
        ds = _Dataset(name, source, pool, total)
        for batch in [batches] if isinstance(batches, pa.Table) else batches:
            ds.add(batch)
        return ds.statistics()


def _read_ahead(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``batches``, the next one read in a thread while the caller counts this one.

    Decoding Parquet releases the GIL, so reading and counting overlap on two cores; one batch
    is read ahead, so memory grows by one batch at most.
    """
    queue: Queue[tuple[pa.RecordBatch | None, BaseException | None]] = Queue(maxsize=1)
    stop = Event()

    def put(item: tuple[pa.RecordBatch | None, BaseException | None]) -> bool:
        # never blocks for good: the caller may have stopped reading (an error, an early exit)
        while not stop.is_set():
            try:
                queue.put(item, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def read() -> None:
        try:
            for batch in batches:
                if not put((batch, None)):
                    return
            put((None, None))
        except BaseException as e:  # handed to the caller, raised there
            put((None, e))

    thread = Thread(target=read, name="mlrail-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            batch, error = queue.get()
            if error is not None:
                raise error
            if batch is None:
                return
            yield batch
    finally:
        stop.set()
        thread.join()


def compute_statistics(examples_dir: str | Path) -> statistics_pb2.DatasetFeatureStatisticsList:
    """Statistics of every split under ``examples_dir``, one dataset per split.

    Each split's ``*.parquet`` parts are read batch by batch (string columns
    dictionary-encoded), so memory does not grow with the number of rows.

    Raises:
        DataError: naming the folder or file, when there are no splits, a split has no
            Parquet file, a file cannot be read, or a column changes type between batches.
    """
    root = Path(examples_dir)
    splits = split_names(root)
    out = statistics_pb2.DatasetFeatureStatisticsList()
    with ThreadPoolExecutor(max_workers=_THREADS, thread_name_prefix="mlrail-statistics") as pool:
        for name in splits:
            split = open_split(root / name)
            ds = _Dataset(name, str(split.path), pool, split.rows)
            parts = stream(split, batch_size=_BATCH_ROWS, dictionary=True)
            for batch in _read_ahead(batch for _, batch in parts):
                ds.add(batch)
            out.datasets.append(ds.statistics())
    return out


def json_number(x: float | None) -> float | str | None:
    """A JSON-safe number: non-finite values as the strings "inf", "-inf", "nan"."""
    return x if x is None or math.isfinite(x) else str(x)


def summarize(stats: statistics_pb2.DatasetFeatureStatisticsList) -> dict[str, Any]:
    """Plain-JSON view of the statistics: per split, per feature, the headline figures.

    Non-finite numbers are written as the strings "nan", "inf" and "-inf", so the file stays
    valid JSON.
    """
    out: dict[str, Any] = {}
    for ds in stats.datasets:
        feats: dict[str, Any] = {}
        for f in ds.features:
            name = f.path.step[0]
            unsupported = custom_str(f, UNSUPPORTED)
            if unsupported is not None:
                feats[name] = {
                    "type": "UNSUPPORTED",
                    "arrow_type": unsupported,
                    "missing": f.bytes_stats.common_stats.num_missing,
                }
            elif f.HasField("num_stats"):
                n = f.num_stats
                feats[name] = {
                    "type": _Type.Type.Name(f.type),
                    "missing": n.common_stats.num_missing,
                    "min": json_number(n.min),
                    "max": json_number(n.max),
                    "mean": json_number(n.mean),
                    "median": json_number(n.median),
                    "std_dev": json_number(n.std_dev),
                    "zeros": n.num_zeros,
                }
                when = custom_str(f, DATETIME)
                if when is not None:  # the figures are days since 1970-01-01 UTC
                    feats[name]["datetime"] = when
            else:
                s = f.string_stats
                feats[name] = {
                    "type": "STRING",
                    "missing": s.common_stats.num_missing,
                    "unique": s.unique,
                    "top_values": {v.value: int(v.frequency) for v in s.top_values},
                }
        out[ds.name] = {"num_examples": ds.num_examples, "features": feats}
    return out
