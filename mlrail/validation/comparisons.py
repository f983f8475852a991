"""Skew and drift: each schema feature's distribution compared between two datasets' statistics.

Skew is each split against train in this run; drift each split against the same split of a
baseline (an earlier run's statistics). Which distance comes from the feature's
``skew_comparator``/``drift_comparator``; the distances themselves are :mod:`.drift`. The
threshold:

- a comparator with a threshold (a curated schema, or one inferred before size-dependent
  thresholds): that threshold, fixed (test "fixed");
- a comparator with no threshold (what :func:`.schema.infer_schema` writes): the distance's
  critical value at the two datasets' sizes, at a family-wise false-alarm rate of 5% over the
  features compared in one call, never below a practical-effect floor (:mod:`.thresholds`);
- no comparator: the feature's usual distance is measured and reported, never an anomaly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Literal

from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from mlrail.validation import drift, thresholds
from mlrail.validation.anomalies import feature_map
from mlrail.validation.findings import JENSEN_SHANNON, L_INFTY, Anomaly, Comparison
from mlrail.validation.schema import IDENTIFIER, UNSUPPORTED_TAG, has_tag

__all__ = ["compare", "compare_all"]

_STANDARD = statistics_pb2.Histogram.STANDARD
log = logging.getLogger(__name__)

# how a measure's threshold is decided: the schema's, the sizes', or none (reported only)
_Mode = Literal["fixed", "sized", "none"]


@dataclass(frozen=True)
class _Measured:
    """A distance and what its size-dependent threshold needs."""

    value: float
    where: str  # the value where an L-infinity is reached ("" otherwise)
    aligned: drift.Aligned  # the two sides' counts on common buckets
    sizes: tuple[float, float]  # the numbers of values behind each side


def _measures(
    feat: schema_pb2.Feature, comparator: schema_pb2.FeatureComparator
) -> list[tuple[str, _Mode, float | None, int]]:
    """(measure, how its threshold is decided, the fixed threshold, histogram source) for each
    distance the comparator asks for.

    A feature with no comparator is still measured, by its type's usual distance, with no
    threshold: the value is reported, never an anomaly.
    """
    out: list[tuple[str, _Mode, float | None, int]] = []
    if comparator.HasField("infinity_norm"):
        norm = comparator.infinity_norm
        if norm.HasField("threshold"):
            out.append((L_INFTY, "fixed", norm.threshold, 0))
        else:
            out.append((L_INFTY, "sized", None, 0))
    if comparator.HasField("jensen_shannon_divergence"):
        js = comparator.jensen_shannon_divergence
        if js.HasField("threshold"):
            out.append((JENSEN_SHANNON, "fixed", js.threshold, js.source.type))
        else:
            out.append((JENSEN_SHANNON, "sized", None, js.source.type))
    if not out:
        measure = L_INFTY if feat.type == schema_pb2.BYTES else JENSEN_SHANNON
        out.append((measure, "none", None, 0))
    return out


def _distance(
    measure: str,
    source: int,
    a: statistics_pb2.FeatureNameStatistics,
    b: statistics_pb2.FeatureNameStatistics,
    rows: tuple[int, int],
) -> _Measured | None:
    """The distance between two features' distributions; None when it cannot be measured (no
    values on a side, or the two differ in type). ``rows`` are the datasets' row counts."""
    strings = a.HasField("string_stats") and b.HasField("string_stats")
    numbers = a.HasField("num_stats") and b.HasField("num_stats")
    try:
        if strings:
            ca, cb = drift.string_counts(a), drift.string_counts(b)
            p, q = drift.align_counts(ca, cb)
            if measure == L_INFTY:
                value, where = drift.l_infinity(ca, cb)
            else:
                value, where = drift.jensen_shannon_aligned(p, q), ""
            same = list(range(len(p)))  # a value is a bucket of its own on both sides
            return _Measured(value, where, drift.Aligned(p, q, same, same), (sum(p), sum(q)))
        if numbers and measure == JENSEN_SHANNON:
            # HistogramSelection DEFAULT is STANDARD in TFDV
            want = (
                statistics_pb2.Histogram.QUANTILES
                if source == schema_pb2.HistogramSelection.QUANTILES
                else _STANDARD
            )
            ha = next((h for h in a.num_stats.histograms if h.type == want), None)
            hb = next((h for h in b.num_stats.histograms if h.type == want), None)
            if ha is not None and hb is not None:
                aligned = drift.align(ha, hb)
                sizes = (
                    thresholds.histogram_size(sum(aligned.p), rows[0]),
                    thresholds.histogram_size(sum(aligned.q), rows[1]),
                )
                value = drift.jensen_shannon_aligned(aligned.p, aligned.q)
                return _Measured(value, "", aligned, sizes)
    except ValueError:  # an empty distribution on one side
        return None
    return None


def _sized(c: Comparison, m: _Measured, alpha: float) -> Comparison:
    """``c`` with its size-dependent threshold (:mod:`.thresholds`) at per-feature ``alpha``."""
    if c.measure == L_INFTY:
        crit = thresholds.l_infinity_critical(m.value, m.aligned.p, m.aligned.q, alpha)
    else:
        crit = thresholds.js_critical(m.value, m.aligned, m.sizes, alpha)
    return replace(
        c,
        threshold=crit.threshold,
        test=crit.test,
        p_value=crit.p_value,
        alpha=crit.alpha,
        sizes=crit.sizes,
        allowance=crit.allowance if crit.test == thresholds.CHI2 else None,
    )


def _anomaly(c: Comparison, where: str) -> Anomaly:
    what = "L-infinity distance" if c.measure == L_INFTY else "Jensen-Shannon divergence"
    ref = f"{c.against!r}" if c.kind == "skew" else f"the baseline's {c.against!r}"
    largest = f" (largest change: value {where!r})" if where else ""
    how = ""
    if c.test in (thresholds.CHI2, thresholds.Z) and c.sizes is not None:
        n, m = c.sizes
        how = f" ({c.test} test at {n:,.0f} vs {m:,.0f} values, p={c.p_value:.2g})"
    return Anomaly(
        c.split,
        c.feature,
        f"COMPARATOR_{'L_INFTY' if c.measure == L_INFTY else c.measure}_HIGH",
        f"column {c.feature!r}: {c.kind}: {what} between {c.split!r} and "
        f"{ref} is {c.value:.4f}, above the threshold {c.threshold:.4g}{how}{largest}",
    )


def compare(
    kind: str,
    data: statistics_pb2.DatasetFeatureStatistics,
    reference: statistics_pb2.DatasetFeatureStatistics,
    schema: schema_pb2.Schema,
    *,
    against: str = "",
    alpha: float = thresholds.ALPHA,
) -> tuple[list[Comparison], list[Anomaly]]:
    """Skew or drift of every schema feature between two datasets' statistics.

    Args:
        kind: "skew" (uses each feature's ``skew_comparator``) or "drift" (``drift_comparator``).
        data: The dataset under test.
        reference: What it is compared with (train for skew, the baseline's split for drift).
        schema: Where the comparators and their thresholds are.
        against: The reference's name in the report (default: its dataset name).
        alpha: The family-wise false-alarm rate of the size-dependent thresholds, split evenly
            over the distances that use one (:mod:`.thresholds`).

    Returns:
        Every distance measured (a feature missing or empty on either side is skipped), and
        one ``COMPARATOR_L_INFTY_HIGH``/``COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH`` anomaly
        per distance above its threshold.
    """
    against = against or reference.name
    mine, theirs = feature_map(data), feature_map(reference)
    rows = (data.num_examples, reference.num_examples)
    measured: list[tuple[Comparison, _Mode, _Measured]] = []
    for feat in schema.feature:
        if feat.name not in mine or feat.name not in theirs:
            continue
        if has_tag(feat, IDENTIFIER) or has_tag(feat, UNSUPPORTED_TAG):
            continue  # an id's values never repeat across splits: no distance means anything
        comparator = feat.skew_comparator if kind == "skew" else feat.drift_comparator
        for measure, mode, threshold, source in _measures(feat, comparator):
            got = _distance(measure, source, mine[feat.name], theirs[feat.name], rows)
            if got is None:
                continue
            c = Comparison(
                feat.name,
                kind,
                measure,
                data.name,
                against,
                got.value,
                threshold,
                test=thresholds.FIXED if mode == "fixed" else "",
            )
            measured.append((c, mode, got))
    # Bonferroni: the family is every distance this call tests against a sized threshold
    per_feature = alpha / max(sum(1 for _, mode, _ in measured if mode == "sized"), 1)
    comparisons: list[Comparison] = []
    anomalies: list[Anomaly] = []
    for c, mode, got in measured:
        if mode == "sized":
            c = _sized(c, got, per_feature)
        comparisons.append(c)
        if c.exceeded:
            anomalies.append(_anomaly(c, got.where))
    return comparisons, anomalies


def compare_all(
    stats: statistics_pb2.DatasetFeatureStatisticsList,
    schema: schema_pb2.Schema,
    baseline: statistics_pb2.DatasetFeatureStatisticsList | None,
    baseline_split: str,
    skew_against: str,
) -> tuple[list[Comparison], list[Anomaly]]:
    comparisons: list[Comparison] = []
    anomalies: list[Anomaly] = []
    by_name = {d.name: d for d in stats.datasets}
    if skew_against in by_name and by_name[skew_against].num_examples:
        for ds in stats.datasets:
            if ds.name != skew_against and ds.num_examples:
                c, a = compare("skew", ds, by_name[skew_against], schema)
                comparisons += c
                anomalies += a
    if baseline is not None:
        old = {d.name: d for d in baseline.datasets}
        for ds in stats.datasets:
            ref = old.get(baseline_split or ds.name)
            if ref is None:
                log.warning("no %r split in the baseline: no drift for %r", ds.name, ds.name)
            elif ds.num_examples and ref.num_examples:
                c, a = compare("drift", ds, ref, schema)
                comparisons += c
                anomalies += a
    return comparisons, anomalies
