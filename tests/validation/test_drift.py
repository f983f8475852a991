"""The distances, each checked against a value worked out by hand."""

from __future__ import annotations

import math

import pytest
from tensorflow_metadata.proto.v0 import statistics_pb2

from mlrail.validation.drift import jensen_shannon, jensen_shannon_counts, l_infinity

log2 = math.log2


def _hist(*buckets: tuple[float, float, float], nan: int = 0) -> statistics_pb2.Histogram:
    h = statistics_pb2.Histogram(type=statistics_pb2.Histogram.STANDARD, num_nan=nan)
    for lo, hi, count in buckets:
        h.buckets.add(low_value=lo, high_value=hi, sample_count=count)
    return h


def test_l_infinity_is_the_largest_frequency_difference() -> None:
    # train 60% red, 20% blue, 20% green; eval 25% red, 75% blue: |0.75 - 0.2| on blue
    value, where = l_infinity({"red": 6, "blue": 2, "green": 2}, {"red": 1, "blue": 3})
    assert value == pytest.approx(0.55) and where == "blue"
    assert l_infinity({"a": 1, "b": 1}, {"a": 5, "b": 5}) == (0.0, "")
    with pytest.raises(ValueError):
        l_infinity({}, {"a": 1})


def test_jensen_shannon_of_aligned_histograms() -> None:
    # P = (1/2, 1/2), Q = (1/4, 3/4), M = (3/8, 5/8), log base 2
    p, q = (0.5, 0.5), (0.25, 0.75)
    m = (0.375, 0.625)
    kl_pm = sum(a * log2(a / b) for a, b in zip(p, m, strict=True))
    kl_qm = sum(a * log2(a / b) for a, b in zip(q, m, strict=True))
    got = jensen_shannon(_hist((0, 1, 2), (1, 2, 2)), _hist((0, 1, 1), (1, 2, 3)))
    assert got == pytest.approx((kl_pm + kl_qm) / 2, abs=1e-15)
    assert got == pytest.approx(0.048795, abs=1e-6)


def test_jensen_shannon_rebins_onto_the_union_of_edges() -> None:
    # [0, 2) holding 4 is cut at 1 into 2 + 2 (uniform within a bucket): the same as above
    got = jensen_shannon(_hist((0, 2, 4)), _hist((0, 1, 1), (1, 2, 3)))
    assert got == pytest.approx(0.048795, abs=1e-6)
    # disjoint ranges share no mass: the maximum, 1
    assert jensen_shannon(_hist((0, 1, 5)), _hist((2, 3, 5))) == 1.0
    assert jensen_shannon(_hist((0, 1, 3), (1, 2, 1)), _hist((0, 1, 3), (1, 2, 1))) == 0.0


def test_jensen_shannon_keeps_point_masses_and_infinities_apart() -> None:
    assert jensen_shannon(_hist((5, 5, 2)), _hist((5, 5, 7))) == 0.0
    # the infinite mass is a bucket of its own: P = (1/2, 1/2), Q = (1, 0), M = (3/4, 1/4)
    got = jensen_shannon(_hist((0, 1, 1), (math.inf, math.inf, 1)), _hist((0, 1, 2)))
    expected = (0.5 * log2(0.5 / 0.75) + 0.5 * log2(0.5 / 0.25) + log2(1 / 0.75)) / 2
    assert got == pytest.approx(expected, abs=1e-15)


def test_jensen_shannon_never_matches_nan_with_nan_as_tfdv() -> None:
    # TFDV appends [0, nan1] to the first and [nan2, 0] to the second histogram:
    # P = (1/2, 0, 1/2), Q = (1/2, 1/2, 0), M = (1/2, 1/4, 1/4) -> KL(P||M) = KL(Q||M) = 1/2
    assert jensen_shannon(_hist((0, 1, 1), nan=1), _hist((0, 1, 1), nan=1)) == 0.5


def test_jensen_shannon_of_value_counts() -> None:
    # P = (1/2, 1/2, 0), Q = (0, 1/2, 1/2), M = (1/4, 1/2, 1/4): each KL is 1/2
    assert jensen_shannon_counts({"a": 1, "b": 1}, {"b": 4, "c": 4}) == 0.5
