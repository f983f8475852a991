"""Skew and drift thresholds that depend on the sample sizes.

A schema feature whose comparator is set without a threshold (what :func:`.schema.infer_schema`
writes) is compared against the distance's critical value under "no change" at the two sizes
compared, at a family-wise false-alarm rate of :data:`ALPHA` split evenly (Bonferroni) over the
features compared in one :func:`.comparisons.compare` call, and never below a practical-effect
floor. A fixed threshold cannot serve both a 64-row eval split, where noise alone moves a
distance by 0.1-0.2, and a 100k-row serving window, where 0.01 is already a real change.

- **Jensen–Shannon** (numeric features, on the aligned histogram buckets): for counts n, m
  behind the two histograms and k aligned buckets holding mass, the G-test statistic of the
  2 x k table is G ≈ 8·n_eff·ln 2·JS with n_eff = n·m/(n + m) (JS in bits; second-order
  expansion of both), and under no change G ~ chi2(k - 1). The threshold is
  ``chi2.ppf(1 - alpha_f, k - 1) / (8·n_eff·ln 2)``; the p-value ``chi2.sf(G, k - 1)``.
  Each side's count is its histogram's *effective* count (:func:`histogram_size`): its total
  while the histogram is exact (at most ``EXACT_VALUES`` values, :mod:`.statistics`); above,
  the buckets are a KLL sketch's estimates, each share off by the sketch's error on top of the
  data's own noise, so the count is ``1 / (1 / total + 1 / SKETCH_ROWS)``, where
  :data:`SKETCH_ROWS` is the size of the uniform sample whose bucket share (at one half) has
  the sketch's documented 99% error: ``0.25 * (z_0.995 / eps)**2`` with eps the sketch's
  double-sided normalized rank error (``get_normalized_rank_error(KLL_K, True)``, 0.0035 at
  k = 1,024: 132,463 rows). That bound is DataSketches' 99th percentile of the *largest*
  error over all buckets; measured, a bucket's error is about 2.5 times smaller (standard
  deviation 0.0005 against the bound's 0.0014: bench/bench_statistics.py), so the count is a
  conservative one (thresholds higher than the truth needs, never lower).
- **L-infinity** (categorical features, on the value frequencies): each value's frequency
  difference is a two-proportion z test, Bonferroni over the k values and the features:
  threshold ``z_{1 - alpha_f / (2k)}·sqrt(p(1 - p)·(1/n + 1/m))``, with p the pooled value
  frequency nearest 0.5 (the largest variance, so the threshold is one for all values); the
  p-value is that test's at the observed distance, ``min(1, 2k·(1 - Φ(z)))``.
- **Jensen–Shannon on a categorical feature** (a curated comparator): the G-test above on the
  value counts (exact, no sampling).

TFDV's Jensen–Shannon aligns the two histograms by cutting each bucket at the other side's
edges and spreading its count uniformly (:func:`.drift.align`). With two samples of one
distribution the edges always differ (each histogram spans its own sample's range), and the
spread is wrong wherever values pile on a few points (rounded measurements) or a long tail
fills one bucket: measured at 100k vs 100k unshifted rows, JS 0.02-0.03 for a normal column
(more than scaling it by 1.2 adds), 0.1 or more for a lognormal one. A floor high enough for
that would miss the changes the test is for, so the test is of the **least** divergence the
two histograms allow, over every spread of the cut buckets (:func:`least_js`): what the
statistics prove whatever the values inside a bucket. The reported threshold is in TFDV's
terms: the critical value (or the floor) plus the ``allowance``, the measured divergence
minus that least one. The price: a change that ten equal-width buckets over each side's own
range hide is not seen (a long-tailed column scaled by 1.5 keeps its histogram's shape); a
curated schema's fixed threshold or a QUANTILES comparator is the tool there.

The floors (:data:`JS_FLOOR` on the least divergence, :data:`L_INFTY_FLOOR`) keep large
windows, where the critical values fall to 1e-4, from flagging changes too small to matter.

A threshold set in the schema is used as given (test "fixed"); a feature with no comparator is
measured and reported, never an anomaly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from datasketches import kll_doubles_sketch
from scipy import stats

from mlrail.validation.accumulators import EXACT_VALUES, KLL_K
from mlrail.validation.drift import Aligned

__all__ = [
    "ALPHA",
    "CHI2",
    "FIXED",
    "JS_FLOOR",
    "L_INFTY_FLOOR",
    "SKETCH_ROWS",
    "Z",
    "Critical",
    "histogram_size",
    "js_critical",
    "l_infinity_critical",
    "least_js",
]

#: the family-wise false-alarm rate of one comparison of two datasets (all features)
ALPHA = 0.05
# The practical-effect floors. On the least JS (bits) of a normal column at 100k vs 100k rows
# (bench/bench_drift_thresholds.py): unshifted < 0.0002, scaled by 1.2 ~0.0005-0.0016, by 1.5
# 0.007-0.022 (rounded to 0.1 or not), its mean moved by 0.8 sd ~0.04. L-infinity: two points
# of a category's frequency.
JS_FLOOR = 0.005
L_INFTY_FLOOR = 0.02

#: the uniform sample size whose error in a bucket's share (at one half, 99%) is the KLL
#: sketch's bound on it: what a sketched histogram's buckets are worth as a count
SKETCH_ROWS = round(
    0.25
    * (float(stats.norm.isf(0.005)) / kll_doubles_sketch.get_normalized_rank_error(KLL_K, True))
    ** 2
)

#: the tests, as reported per comparison
CHI2 = "chi2"  # the G-test of the aligned counts (Jensen–Shannon)
Z = "z"  # the largest two-proportion z over the values, Bonferroni (L-infinity)
FIXED = "fixed"  # the schema's threshold


@dataclass(frozen=True)
class Critical:
    """A size-dependent threshold and what it came from.

    ``threshold`` is the larger of the critical value and the floor, plus ``allowance`` (for
    Jensen–Shannon, what the histograms' alignment may have added: :func:`js_critical`);
    ``p_value`` is the test's at the observed distance (below ``alpha`` when the distance is
    above the critical value plus the allowance); ``sizes`` are the numbers of values behind
    the two sides; ``alpha`` the per-feature level.
    """

    test: str
    threshold: float
    p_value: float
    alpha: float
    sizes: tuple[float, float]
    allowance: float = 0.0


def histogram_size(total: float, num_examples: int) -> float:
    """The effective number of values behind a histogram of ``total`` counts.

    A histogram of a column with at most ``EXACT_VALUES`` values (so any histogram of a
    dataset of at most that many rows) counts every value: ``total``. Above, its buckets are
    a KLL sketch's estimates (:mod:`.statistics`), each share off by the sketch's error as well
    as the data's own noise: ``1 / (1 / total + 1 / SKETCH_ROWS)`` (the module doc).

    Args:
        total: The histogram's total count (its values, ±inf included).
        num_examples: The dataset's rows.
    """
    if min(total, num_examples) <= EXACT_VALUES:
        return total
    return total * SKETCH_ROWS / (total + SKETCH_ROWS)


def _effective(n: float, m: float) -> float:
    return n * m / (n + m)


def _spread(x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """``x`` with each group's total spread over the group in proportion to ``y`` (the spread
    closest to ``y``: JS is smallest when the two are proportional within a group)."""
    total_x = np.bincount(groups, weights=x)[groups]
    total_y = np.bincount(groups, weights=y)[groups]
    share = np.divide(y, total_y, out=np.zeros_like(y), where=total_y > 0)
    return np.where(total_y > 0, total_x * share, x)


def _js(p: np.ndarray, q: np.ndarray) -> float:
    """JS divergence (bits) of two probability vectors, as :func:`.drift.jensen_shannon_aligned`."""
    m = (p + q) / 2
    kl_p = np.where(
        (p > 0) & (m > 0), p * np.log2(np.where(p > 0, p, 1) / np.where(m > 0, m, 1)), 0
    )
    kl_q = np.where(
        (q > 0) & (m > 0), q * np.log2(np.where(q > 0, q, 1) / np.where(m > 0, m, 1)), 0
    )
    return min(float(kl_p.sum() + kl_q.sum()) / 2, 1.0)


def least_js(aligned: Aligned, *, rounds: int = 200, tolerance: float = 1e-7) -> float:
    """The smallest Jensen–Shannon divergence (bits) the two histograms allow.

    Where :func:`.drift.align` cut a bucket in pieces, its count was spread uniformly; any
    other spread fits the histogram as well. This is the divergence at the spreads that bring
    the two sides closest (a convex minimum, found by spreading each side's buckets in
    proportion to the other side's in turn; each turn is that block's exact minimum). It is
    what the histograms show for certain: equal to the divergence when the edges are equal.
    """
    p = np.asarray(aligned.p, dtype=np.float64)
    q = np.asarray(aligned.q, dtype=np.float64)
    p, q = p / p.sum(), q / q.sum()
    p_from, q_from = np.asarray(aligned.p_from), np.asarray(aligned.q_from)
    best = _js(p, q)
    for _ in range(rounds):
        p = _spread(p, q, p_from)
        q = _spread(q, p, q_from)
        now = _js(p, q)
        if best - now < tolerance:
            return min(now, best)
        best = now
    return best


def js_critical(
    value: float, aligned: Aligned, sizes: tuple[float, float], alpha: float
) -> Critical:
    """The G-test threshold for a Jensen–Shannon divergence (bits) of two aligned histograms.

    The test is of the least divergence the histograms allow (:func:`least_js`); the threshold
    is in the reported divergence's terms: the critical value (or the floor) plus the
    ``allowance`` for the alignment's guess, ``value - least_js``. So the divergence is above
    the threshold exactly when its certain part is above the critical value.

    Args:
        value: The divergence measured (TFDV's).
        aligned: The two sides' aligned counts (:func:`.drift.align`).
        sizes: The number of values behind each side (:func:`histogram_size`).
        alpha: The per-feature false-alarm rate.

    Returns:
        The threshold, the p-value (of the least divergence), the allowance and the sizes.
    """
    n, m = sizes
    k = sum(1 for a, b in zip(aligned.p, aligned.q, strict=True) if a > 0 or b > 0)
    df = max(k - 1, 1)
    scale = 8 * _effective(n, m) * math.log(2)
    critical = float(stats.chi2.ppf(1 - alpha, df)) / scale
    certain = min(least_js(aligned), value)
    allowance = value - certain
    p_value = float(stats.chi2.sf(scale * certain, df))
    return Critical(CHI2, max(critical, JS_FLOOR) + allowance, p_value, alpha, (n, m), allowance)


def l_infinity_critical(
    value: float, a: Sequence[float], b: Sequence[float], alpha: float
) -> Critical:
    """The Bonferroni two-proportion z threshold for an L-infinity distance of two count vectors.

    Args:
        value: The distance measured.
        a: One side's value counts.
        b: The other side's, for the same values in the same order.
        alpha: The per-feature false-alarm rate.

    Returns:
        The threshold (never below :data:`L_INFTY_FLOOR`), the p-value and the sizes.
    """
    n, m = float(sum(a)), float(sum(b))
    k = max(sum(1 for x, y in zip(a, b, strict=True) if x > 0 or y > 0), 1)
    pooled = [(x + y) / (n + m) for x, y in zip(a, b, strict=True)]
    share = min(pooled, key=lambda f: abs(f - 0.5), default=0.5)
    sd = math.sqrt(share * (1 - share) * (1 / n + 1 / m))
    per_value = alpha / (2 * k)
    critical = float(stats.norm.isf(per_value)) * sd
    if sd > 0:
        p_value = min(1.0, 2 * k * float(stats.norm.sf(value / sd)))
    else:  # one value on both sides: nothing can differ
        p_value = 1.0
    return Critical(Z, max(critical, L_INFTY_FLOOR), p_value, alpha, (n, m))
