"""Distances between two distributions of one feature, as TFDV computes them for skew and drift.

- ``l_infinity``: the largest difference between the normalised value frequencies of a
  categorical feature (TFDV's ``infinity_norm`` comparator, ``COMPARATOR_L_INFTY_HIGH``).
- ``jensen_shannon``: the Jensen–Shannon divergence, base 2, between two numeric histograms
  (``jensen_shannon_divergence``, ``COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH``); or between two
  value-count maps when the comparator is set on a string feature.

Both read the statistics only, so a baseline artifact from an earlier run is all drift needs.
Missing values (nulls) are in neither: they are counted by the presence checks instead.

Reference: https://github.com/tensorflow/data-validation, file
``tensorflow_data_validation/anomalies/metrics.cc`` (``LInftyDistance``,
``JensenShannonDivergence``, ``AlignHistograms``, ``RebucketHistogram``,
``StripPointAndInfiniteBuckets``; the NaN buckets as in its current version), and
``anomalies/statistics_view.cc`` (``GetStringValuesWithCounts``: the counts come from the rank
histogram; ``GetStandardHistogram``). ``HistogramSelection`` DEFAULT means STANDARD
(tensorflow-metadata's ``schema.proto``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from tensorflow_metadata.proto.v0 import statistics_pb2

__all__ = [
    "Aligned",
    "align",
    "align_counts",
    "jensen_shannon",
    "jensen_shannon_aligned",
    "jensen_shannon_counts",
    "l_infinity",
    "string_counts",
]

_Bucket = tuple[float, float, float]  # low, high, count


def string_counts(f: statistics_pb2.FeatureNameStatistics) -> dict[str, float]:
    """Value → count of a string feature, from its rank histogram (the top 1000), as TFDV."""
    return {b.label: b.sample_count for b in f.string_stats.rank_histogram.buckets}


def l_infinity(a: Mapping[str, float], b: Mapping[str, float]) -> tuple[float, str]:
    """max over values v of |a[v]/sum(a) - b[v]/sum(b)|, and the value where it is reached.

    A value absent from one side counts 0 there. Each side is normalised by its own total
    (TFDV's ``kSeparateTotal``), so two splits of different sizes compare by frequency.

    Raises:
        ValueError: when either side has no values (there is no distribution to compare).
    """
    total_a, total_b = sum(a.values()), sum(b.values())
    if total_a <= 0 or total_b <= 0:
        raise ValueError("cannot compare an empty distribution")
    best, where = 0.0, ""
    for key in sorted(set(a) | set(b)):  # sorted: the same key wins ties every time
        diff = abs(a.get(key, 0.0) / total_a - b.get(key, 0.0) / total_b)
        if diff > best:
            best, where = diff, key
    return best, where


def _kl_terms(p: Sequence[float], m: Sequence[float]) -> float:
    # sum of p log2(p/m) over the buckets where both are positive (TFDV's KullbackLeibler)
    return sum(pi * math.log2(pi / mi) for pi, mi in zip(p, m, strict=True) if pi > 0 and mi > 0)


def jensen_shannon_aligned(p: Sequence[float], q: Sequence[float]) -> float:
    """JS divergence (base 2) of two aligned, unnormalised count vectors; capped at 1 as TFDV.

    Raises:
        ValueError: when either side sums to zero.
    """
    total_p, total_q = sum(p), sum(q)
    if total_p <= 0 or total_q <= 0:
        raise ValueError("cannot compare an empty histogram")
    p = [x / total_p for x in p]
    q = [x / total_q for x in q]
    m = [(x + y) / 2 for x, y in zip(p, q, strict=True)]
    return min((_kl_terms(p, m) + _kl_terms(q, m)) / 2, 1.0)


def align_counts(a: Mapping[str, float], b: Mapping[str, float]) -> tuple[list[float], list[float]]:
    """Two value-count maps as count vectors over the union of their values (sorted)."""
    keys = sorted(set(a) | set(b))
    return [a.get(k, 0.0) for k in keys], [b.get(k, 0.0) for k in keys]


def jensen_shannon_counts(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """JS divergence (base 2) of two value-count maps, over the union of their values."""
    return jensen_shannon_aligned(*align_counts(a, b))


def _strip(h: statistics_pb2.Histogram) -> tuple[list[_Bucket], dict[float, float], float]:
    """Ordinary buckets, point masses (zero-width buckets) and the mass at ±inf."""
    buckets: list[_Bucket] = []
    points: dict[float, float] = {}
    infinite = 0.0
    for b in h.buckets:
        if not (math.isfinite(b.low_value) and math.isfinite(b.high_value)):
            infinite += b.sample_count
        elif b.low_value == b.high_value:
            points[b.low_value] = points.get(b.low_value, 0.0) + b.sample_count
        else:
            buckets.append((b.low_value, b.high_value, b.sample_count))
    return buckets, points, infinite


def _rebucket(bounds: list[float], buckets: list[_Bucket]) -> tuple[list[float], list[int]]:
    """Counts of ``buckets`` on the intervals between ``bounds``, assuming a uniform spread
    inside each bucket, and each interval's source bucket (its index, -1 for none). ``bounds``
    holds every edge of ``buckets`` (TFDV's RebucketHistogram).
    """
    out: list[float] = []
    source: list[int] = []
    i = 0
    for j, (low, high, count) in enumerate(buckets):
        while low > bounds[i]:  # intervals before this bucket are empty
            out.append(0.0)
            source.append(-1)
            i += 1
        covered = [bounds[i]]
        while high > bounds[i]:
            i += 1
            covered.append(bounds[i])
        for lo, hi in zip(covered[:-1], covered[1:], strict=True):
            out.append((hi - lo) / (high - low) * count)
            source.append(j)
    out.extend(0.0 for _ in range(i, len(bounds) - 1))
    source.extend(-1 for _ in range(i, len(bounds) - 1))
    return out, source


class Aligned(NamedTuple):
    """Two histograms' counts on common buckets (``p``, ``q``), and for each common bucket the
    bucket of each side it was cut from (``p_from``, ``q_from``): common buckets cut from one
    bucket share its number, and how that bucket's count spreads over them is a guess."""

    p: list[float]
    q: list[float]
    p_from: list[int]
    q_from: list[int]


def _numbered(source: list[int]) -> list[int]:
    # -1 (no source bucket) becomes a number of its own: nothing to spread there
    fresh = max(source, default=-1) + 1
    out = []
    for s in source:
        if s < 0:
            s, fresh = fresh, fresh + 1
        out.append(s)
    return out


def align(h1: statistics_pb2.Histogram, h2: statistics_pb2.Histogram) -> Aligned:
    """Two histograms' counts on common buckets, exactly as TFDV aligns them for JS.

    1. Buckets with an infinite edge are set aside as "infinite mass", zero-width buckets as
       point masses.
    2. The remaining buckets of both histograms are cut at the union of their edges, each
       bucket's count spread uniformly over its width.
    3. Point masses are appended as one bucket per distinct point (matched between the two);
       each side's infinite mass as a bucket of its own that the other side has empty.
    4. If either side has NaN values, two buckets are appended: ``[0, nan1]`` to the first and
       ``[nan2, 0]`` to the second. TFDV deliberately does not match NaN with NaN, so NaN on
       both sides still adds to the divergence.

    Step 2 biases the divergence upwards when the two histograms' edges differ, even between
    samples of one distribution: the uniform spread is a guess, wrong for values piled on a
    few points or a long tail (:mod:`.thresholds` allows for it).
    """
    b1, points1, inf1 = _strip(h1)
    b2, points2, inf2 = _strip(h2)
    edges1 = {x for low, high, _ in b1 for x in (low, high)}
    edges2 = {x for low, high, _ in b2 for x in (low, high)}
    if edges1 == edges2:
        p, q = [c for *_, c in b1], [c for *_, c in b2]
        s1, s2 = list(range(len(p))), list(range(len(q)))
    else:
        bounds = sorted(edges1 | edges2)
        (p, s1), (q, s2) = _rebucket(bounds, b1), _rebucket(bounds, b2)
    extra = 0
    for x in sorted(set(points1) | set(points2)):
        p.append(points1.get(x, 0.0))
        q.append(points2.get(x, 0.0))
        extra += 1
    if inf1:
        p.append(inf1)
        q.append(0.0)
        extra += 1
    if inf2:
        p.append(0.0)
        q.append(inf2)
        extra += 1
    if h1.num_nan > 0 or h2.num_nan > 0:
        p += [0.0, float(h1.num_nan)]
        q += [float(h2.num_nan), 0.0]
        extra += 2
    s1 += [-1] * extra
    s2 += [-1] * extra
    return Aligned(p, q, _numbered(s1), _numbered(s2))


def jensen_shannon(h1: statistics_pb2.Histogram, h2: statistics_pb2.Histogram) -> float:
    """Jensen–Shannon divergence, base 2, between two histograms, exactly as TFDV computes it.

    The histograms are aligned (:func:`align`), both normalised to sum 1; JS = (KL(P‖M) +
    KL(Q‖M)) / 2 with M = (P + Q) / 2, log base 2 (so 0 ≤ JS ≤ 1), capped at 1 against
    rounding.

    Raises:
        ValueError: when either histogram is empty.
    """
    p, q, *_ = align(h1, h2)
    return jensen_shannon_aligned(p, q)
