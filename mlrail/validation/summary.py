"""A dataset's statistics state (:class:`.partial.PartialStatistics`) as TFDV's proto.

The one place the ``DatasetFeatureStatistics`` of mlrail's statistics is built, for one pass
and merged shards alike; what each figure means and how exact it is is in :mod:`.statistics`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pyarrow.compute as pc
from tensorflow_metadata.proto.v0 import statistics_pb2

# a date/timestamp feature's custom statistic (its Arrow type; the values are days)
from mlrail.artifacts.modelspec import DATETIME_STATS as DATETIME
from mlrail.validation.accumulators import Numbers
from mlrail.validation.partial import ColumnState, PartialStatistics

__all__ = [
    "DATETIME",
    "HIST_BUCKETS",
    "RANK_MAX",
    "TOP_K",
    "UNSUPPORTED",
    "common_stats",
    "custom_str",
    "summary",
]

#: ``custom_stats`` naming the Arrow type of a column no step can use
UNSUPPORTED = "mlrail.unsupported_type"
HIST_BUCKETS = 10  # buckets of each histogram
TOP_K = 20  # string values in top_values
RANK_MAX = 1000  # string values in the rank histogram
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


def summary(
    state: PartialStatistics, map_: Callable[..., Iterable[Any]] = map
) -> statistics_pb2.DatasetFeatureStatistics:
    """The ``DatasetFeatureStatistics`` of a dataset's state (one pass's or merged shards').

    Args:
        state: The dataset's state.
        map_: How to map the per-feature work (a thread pool's ``map`` runs the features'
            sorts and sketch queries in parallel); features keep their order.

    Returns:
        The dataset's statistics, named as the state, features in order of first appearance.
    """
    ds = statistics_pb2.DatasetFeatureStatistics(name=state.name, num_examples=state.rows)
    ds.features.extend(map_(lambda col: _feature(col, state.rows), state.columns.values()))
    return ds


def _feature(col: ColumnState, rows: int) -> statistics_pb2.FeatureNameStatistics:
    f = statistics_pb2.FeatureNameStatistics()
    f.path.step.append(col.name)
    if col.kind == "unsupported":
        f.type = _Type.BYTES
        _common(f.bytes_stats.common_stats, col.present, rows)
        f.custom_stats.add(name=UNSUPPORTED, str=col.arrow_type)
    elif col.numbers is not None:
        _numeric(f, col, col.numbers, rows)
        if col.kind == "datetime":
            f.custom_stats.add(name=DATETIME, str=col.arrow_type)
    else:
        # an all-null column: no type can be inferred; recorded as string with no values
        _string(f, col, rows)
    return f


def _common(common: statistics_pb2.CommonStatistics, present: int, rows: int) -> None:
    common.num_non_missing = present
    common.num_missing = rows - present
    if present:
        common.min_num_values = common.max_num_values = 1
        common.avg_num_values = 1.0
        common.tot_num_values = present


def _numeric(
    f: statistics_pb2.FeatureNameStatistics, col: ColumnState, n: Numbers, rows: int
) -> None:
    f.type = _Type.INT if n.is_int else _Type.FLOAT
    num = f.num_stats
    _common(num.common_stats, col.present, rows)
    num.num_zeros = n.zeros
    if not math.isnan(n.min):
        num.min, num.max = n.min, n.max
    if not n.count:
        if col.present:  # NaN and ±inf only: the buckets hold the infinities
            _standard(num.histograms.add(), n)
        return
    num.mean = n.mean
    num.std_dev = math.sqrt(max(n.m2, 0.0) / n.count)
    _standard(num.histograms.add(), n)
    num.median = _quantiles(num.histograms.add(), n)


def _string(f: statistics_pb2.FeatureNameStatistics, col: ColumnState, rows: int) -> None:
    f.type = _Type.STRING
    s = f.string_stats
    _common(s.common_stats, col.present, rows)
    if col.strings is None or not col.present:
        return
    counts = col.strings.counts()
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


def _standard(h: statistics_pb2.Histogram, n: Numbers) -> None:
    """Equal-width buckets over the exact finite range, counts from the values (or the sketch's
    bucket shares times the exact count)."""
    h.type = _Histogram.STANDARD
    h.num_nan = n.nan
    if n.neg_inf:
        h.buckets.add(low_value=-math.inf, high_value=-math.inf, sample_count=n.neg_inf)
    if n.count:
        if n.fmin == n.fmax:  # one value: TFDV's point bucket
            h.buckets.add(low_value=n.fmin, high_value=n.fmax, sample_count=n.count)
        else:
            edges = np.linspace(n.fmin, n.fmax, HIST_BUCKETS + 1)
            # buckets [low, high), the last one closed
            counts = n.quantiles.counts(edges)
            for lo, hi, c in zip(edges[:-1], edges[1:], counts, strict=True):
                h.buckets.add(low_value=lo, high_value=hi, sample_count=float(c))
    if n.pos_inf:
        h.buckets.add(low_value=math.inf, high_value=math.inf, sample_count=n.pos_inf)


def _quantiles(h: statistics_pb2.Histogram, n: Numbers) -> float:
    """Buckets between the deciles, each holding a tenth of the finite values.

    Returns:
        The median (the fifth decile).
    """
    h.type = _Histogram.QUANTILES
    h.num_nan = n.nan
    qs = n.quantiles.quantiles(np.linspace(0, 1, HIST_BUCKETS + 1))
    median = float(qs[HIST_BUCKETS // 2])
    qs[0], qs[-1] = n.fmin, n.fmax  # the exact ends
    per = n.count / HIST_BUCKETS
    for lo, hi in zip(qs[:-1], qs[1:], strict=True):
        h.buckets.add(low_value=lo, high_value=hi, sample_count=per)
    return median
