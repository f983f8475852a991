"""Statistics of a dataset in one streaming pass over record batches, as TFDV's protos.

Each dataset (a split, or a file given to the CLI) becomes one ``DatasetFeatureStatistics``
in tensorflow-metadata's format. Memory is bounded by the number of columns, the number of
distinct strings and a fixed-size sketch per numeric column, never by the number of rows:

- counts, missing, min/max, mean, standard deviation and zeros are exact: each batch's moments
  (count, mean, sum of squared deviations) are merged with Chan et al.'s parallel formula, so a
  large mean does not cancel the variance as a running sum of squares would;
- string value counts are exact: per batch ``value_counts`` (a ``bincount`` of the indices for
  dictionary-encoded columns), merged in Arrow with ``group_by().aggregate()``;
- the median, the QUANTILES histogram (the deciles) and the STANDARD (equal-width) histogram are
  exact while a column has at most ``EXACT_VALUES`` (65,536) finite values: every value is kept.
  Above that, every value goes through a KLL quantile sketch (Apache DataSketches'
  ``kll_doubles_sketch``, the family TFDV uses) with k = ``KLL_K`` (1,024). Its normalized rank
  error is 0.0027 for a quantile (the median, the deciles: the value reported has a true rank
  within ±0.0027 of the one asked) and 0.0035 for a histogram bucket's share of the values
  (``get_normalized_rank_error(1024, False/True)``), each the 99th percentile of the largest
  error over all queries of a sketch (DataSketches' empirical fit). The 65,536-row sample it
  replaced was off by up to 0.0050 at the median (its worst rank) and 0.0064 over all ranks at
  once (99%): the sketch is tighter there (near the ends the sample was: 0.0010 at rank 0.01),
  and it merges: the sketches of shards give the sketch of the whole within the same bound,
  which a sample cannot. The sketch's compactions flip coins, so two runs over
  more than ``EXACT_VALUES`` values may differ within the bound. Histogram counts are the exact
  count of finite values times the sketch's bucket shares; the STANDARD histogram's range and
  the QUANTILES histogram's ends are the exact finite minimum and maximum.

Every figure comes from a mergeable state (:class:`.partial.PartialStatistics`) that
:func:`.summary.summary` turns into the proto: a one-pass computation and the merge of shards'
states (:mod:`.merge`) give the same statistics, exactly for counts, missing, zeros, min/max
and value counts, to float rounding for the mean and standard deviation (1e-12 relative), and
within the sketch's bound for the median, quantiles and histograms.

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

import pyarrow as pa
from tensorflow_metadata.proto.v0 import statistics_pb2

from mlrail.artifacts.examples import open_split, split_names, stream
from mlrail.errors import DataError
from mlrail.validation.accumulators import (
    EXACT_VALUES,
    KLL_K,
    column_kind,
    count_numbers,
)
from mlrail.validation.partial import ColumnState, PartialStatistics
from mlrail.validation.summary import (
    DATETIME,
    UNSUPPORTED,
    common_stats,
    custom_str,
    summary,
)

__all__ = [
    "DATETIME",
    "EXACT_VALUES",
    "KLL_K",
    "UNSUPPORTED",
    "common_stats",
    "custom_str",
    "json_number",
    "compute_partials",
    "compute_statistics",
    "partial_from_batches",
    "statistics_from_batches",
    "summaries",
    "summarize",
    "summary",
]

_BATCH_ROWS = 131_072  # Parquet batch size: large enough that per-batch Python costs vanish
_GROUP_ROWS = 131_072  # smaller batches are grouped up to this many rows before counting
_THREADS = 2  # columns counted at once: the machines this runs on have two cores or more
_Type = statistics_pb2.FeatureNameStatistics


class _Pass:
    """One dataset's streaming pass, fed batch by batch, into a :class:`PartialStatistics`."""

    def __init__(self, name: str, source: str, pool: ThreadPoolExecutor) -> None:
        self.state = PartialStatistics(name, source)
        self.pool = pool
        self.tasks: dict[str, Future[Any]] = {}  # each column's batch being counted
        self.pending: list[pa.RecordBatch] = []
        self.pending_rows = 0

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
        for name, arr in zip(group.schema.names, group.columns, strict=True):
            col = self.state.column(name)
            kind = self._check_type(col, arr.type)
            if kind == "null":
                continue
            col.present += len(arr) - arr.null_count
            # Columns are counted in parallel (Arrow and numpy release the GIL); each column's
            # batches in order, so a column's previous task is finished before its next starts.
            task = self.tasks.get(name)
            if task is not None:
                task.result()
            if col.strings is not None:
                if pa.types.is_string_view(arr.type):  # value_counts does not take views
                    arr = arr.cast(pa.string())
                self.tasks[name] = self.pool.submit(col.strings.add, arr)
            elif col.numbers is not None:
                self.tasks[name] = self.pool.submit(count_numbers, col.numbers, arr)
        self.state.rows += group.num_rows

    def _check_type(self, col: ColumnState, t: pa.DataType) -> str:
        kind = column_kind(t)
        before = col.arrow_type
        if not col.meet(kind, str(t)):
            rows = self.state.rows
            raise DataError(
                f"{self.state.source}: column {col.name!r} changes type: {before} up to row "
                f"{rows}, {t} from row {rows + 1}"
            )
        return kind

    def finish(self) -> PartialStatistics:
        self.flush()
        for task in self.tasks.values():
            task.result()
        return self.state


# ---------------------------------------------------------------------------------------------
# entry points


def partial_from_batches(
    name: str, batches: Iterable[pa.RecordBatch | pa.Table] | pa.Table, *, source: str = ""
) -> PartialStatistics:
    """The mergeable statistics state of one dataset streamed as record batches or tables.

    Args:
        name: The dataset's name in the statistics (a split such as "train", or "data").
        batches: The rows, in order: a table, or an iterable of batches or tables. A column
            may be absent or all-null (type ``null``) in some batches; its rows there count as
            missing.
        source: What to call the data in errors (a file name); default: the dataset's name.

    Returns:
        The state (:class:`.partial.PartialStatistics`); :func:`summary` makes the proto.

    Raises:
        DataError: naming ``source`` and the column, when a column changes kind between
            batches (numbers, text, dates, another type). A type no step uses is no error: it
            is described (see the module doc).
    """
    with ThreadPoolExecutor(max_workers=_THREADS, thread_name_prefix="mlrail-statistics") as pool:
        one = _Pass(name, source, pool)
        for batch in [batches] if isinstance(batches, pa.Table) else batches:
            one.add(batch)
        return one.finish()


def statistics_from_batches(
    name: str, batches: Iterable[pa.RecordBatch | pa.Table] | pa.Table, *, source: str = ""
) -> statistics_pb2.DatasetFeatureStatistics:
    """Statistics of one dataset streamed as record batches or tables, in one pass: the
    :func:`summary` of :func:`partial_from_batches` (same arguments and errors).

    Returns:
        The dataset's ``DatasetFeatureStatistics``, features in order of first appearance.
    """
    state = partial_from_batches(name, batches, source=source)
    with ThreadPoolExecutor(max_workers=_THREADS, thread_name_prefix="mlrail-statistics") as pool:
        return summary(state, pool.map)


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


def compute_partials(examples_dir: str | Path) -> dict[str, PartialStatistics]:
    """The mergeable statistics state of every split under ``examples_dir``, split by split.

    Each split's ``*.parquet`` parts are read batch by batch (string columns
    dictionary-encoded), so memory does not grow with the number of rows.

    Raises:
        DataError: naming the folder or file, when there are no splits, a split has no
            Parquet file, a file cannot be read, or a column changes type between batches.
    """
    root = Path(examples_dir)
    out: dict[str, PartialStatistics] = {}
    with ThreadPoolExecutor(max_workers=_THREADS, thread_name_prefix="mlrail-statistics") as pool:
        for name in split_names(root):
            split = open_split(root / name)
            one = _Pass(name, str(split.path), pool)
            parts = stream(split, batch_size=_BATCH_ROWS, dictionary=True)
            for batch in _read_ahead(batch for _, batch in parts):
                one.add(batch)
            out[name] = one.finish()
    return out


def summaries(
    states: Iterable[PartialStatistics],
) -> statistics_pb2.DatasetFeatureStatisticsList:
    """The :func:`summary` of each state, one dataset each, in order."""
    out = statistics_pb2.DatasetFeatureStatisticsList()
    with ThreadPoolExecutor(max_workers=_THREADS, thread_name_prefix="mlrail-statistics") as pool:
        for state in states:
            out.datasets.append(summary(state, pool.map))
    return out


def compute_statistics(examples_dir: str | Path) -> statistics_pb2.DatasetFeatureStatisticsList:
    """Statistics of every split under ``examples_dir``, one dataset per split: the
    :func:`summaries` of :func:`compute_partials` (same errors)."""
    return summaries(compute_partials(examples_dir).values())


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
