"""The quantiles' and histograms' bound: exact up to EXACT_VALUES values, within the KLL sketch's
stated normalized rank error above, over classes of data (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from datasketches import kll_doubles_sketch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from tensorflow_metadata.proto.v0 import statistics_pb2

from mlrail.validation.accumulators import EXACT_VALUES, KLL_K, Quantiles
from mlrail.validation.statistics import statistics_from_batches

RANK_ERROR = kll_doubles_sketch.get_normalized_rank_error(KLL_K, False)
SHARE_ERROR = kll_doubles_sketch.get_normalized_rank_error(KLL_K, True)
DECILES = np.linspace(0, 1, 11)


def test_k_is_at_least_as_tight_as_the_sample_it_replaced() -> None:
    # the 65,536-row sample: 99% error at the median (its worst rank), and over all ranks (KS)
    sample_median = float(stats.norm.isf(0.005)) * 0.5 / math.sqrt(65_536)
    sample_all = float(stats.kstwobign.isf(0.01)) / math.sqrt(65_536)
    assert RANK_ERROR < SHARE_ERROR <= sample_median < sample_all
    assert (round(RANK_ERROR, 4), round(SHARE_ERROR, 4)) == (0.0027, 0.0035)  # the docs'


def _data(kind: str, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "normal":
        return rng.normal(0.0, 1.0, n)
    if kind == "lognormal":
        return rng.lognormal(0.0, 2.0, n)
    if kind == "few values":  # heavy ties: a rank is an interval
        return rng.integers(0, 7, n).astype(np.float64)
    if kind == "rounded":
        return np.round(rng.normal(17.2, 2.0, n), 1)
    if kind == "bimodal":
        return np.where(rng.random(n) < 0.3, rng.normal(-50, 1, n), rng.normal(80, 5, n))
    if kind == "sorted":  # the order a sketch likes least
        return np.sort(rng.exponential(3.0, n))
    if kind == "descending":
        return np.sort(rng.uniform(-1e9, 1e9, n))[::-1].copy()
    raise AssertionError(kind)


KINDS = ["normal", "lognormal", "few values", "rounded", "bimodal", "sorted", "descending"]


def _numbers(x: np.ndarray, batch: int) -> statistics_pb2.NumericStatistics:
    table = pa.table({"x": x})
    ds = statistics_from_batches("d", table.to_batches(max_chunksize=batch))
    return ds.features[0].num_stats


def _hist(n: statistics_pb2.NumericStatistics, kind: int) -> statistics_pb2.Histogram:
    return next(h for h in n.histograms if h.type == kind)


def _within_rank(sorted_x: np.ndarray, value: float, rank: float, error: float) -> bool:
    """Whether ``value`` stands for a normalized rank within ``error`` of ``rank`` (a value
    repeated many times stands for every rank from below it to up to it)."""
    lo = np.searchsorted(sorted_x, value, side="left") / len(sorted_x)
    hi = np.searchsorted(sorted_x, value, side="right") / len(sorted_x)
    return bool(lo - error <= rank <= hi + error)


@settings(max_examples=14)
@given(
    kind=st.sampled_from(KINDS),
    n=st.integers(EXACT_VALUES + 1, 250_000),
    batch=st.integers(1_000, 140_000),
    seed=st.integers(0, 2**32 - 1),
)
def test_median_deciles_and_buckets_are_within_the_bound(
    kind: str, n: int, batch: int, seed: int
) -> None:
    x = _data(kind, n, seed)
    num = _numbers(x, batch)
    xs = np.sort(x)
    assert _within_rank(xs, num.median, 0.5, RANK_ERROR)
    q = _hist(num, statistics_pb2.Histogram.QUANTILES)
    edges = [b.low_value for b in q.buckets] + [q.buckets[-1].high_value]
    assert (edges[0], edges[-1]) == (xs[0], xs[-1])  # the exact ends
    for rank, edge in zip(DECILES[1:-1], edges[1:-1], strict=True):
        assert _within_rank(xs, edge, rank, RANK_ERROR), (rank, edge)
    standard = _hist(num, statistics_pb2.Histogram.STANDARD)
    if xs[0] == xs[-1]:
        return
    cuts = [b.low_value for b in standard.buckets] + [standard.buckets[-1].high_value]
    exact = np.histogram(x, cuts)[0]
    got = np.array([b.sample_count for b in standard.buckets])
    assert np.abs(got - exact).max() <= SHARE_ERROR * n
    assert got.sum() == pytest.approx(n)


@pytest.mark.parametrize("kind", KINDS)
def test_up_to_exact_values_every_figure_is_exact(kind: str) -> None:
    x = _data(kind, EXACT_VALUES, 5)
    num = _numbers(x, 10_000)
    assert num.median == np.median(x)
    q = _hist(num, statistics_pb2.Histogram.QUANTILES)
    expected = np.quantile(x, DECILES)
    assert [b.low_value for b in q.buckets] == list(expected[:-1])
    standard = _hist(num, statistics_pb2.Histogram.STANDARD)
    if x.min() < x.max():
        edges = np.linspace(x.min(), x.max(), 11)
        assert [b.sample_count for b in standard.buckets] == list(np.histogram(x, edges)[0])


def test_the_values_turn_into_a_sketch_past_exact_values_and_merge_so() -> None:
    rng = np.random.default_rng(9)
    a, b = Quantiles(), Quantiles()
    a.add(rng.normal(size=EXACT_VALUES // 2))
    b.add(rng.normal(size=EXACT_VALUES // 2))
    a.merge(b)
    assert a.exact and a.n == EXACT_VALUES  # two exact parts that fit stay exact
    c = Quantiles()
    c.add(rng.normal(size=10))
    a.merge(c)
    assert not a.exact and a.n == EXACT_VALUES + 10
    assert a.sketch is not None and a.sketch.n == a.n and a.sketch.k == KLL_K
    with pytest.raises(ValueError, match="sketch"):
        a.values()
    # a sketch merged into exact values turns them into a sketch too
    d = Quantiles()
    d.add(np.arange(5.0))
    d.merge(a)
    assert not d.exact and d.n == a.n + 5
