"""Skew and drift: each schema feature's distribution compared between two datasets' statistics.

Skew is each split against train in this run; drift each split against the same split of a
baseline (an earlier run's statistics). Which distance and threshold come from the feature's
``skew_comparator``/``drift_comparator``; the distances themselves are :mod:`.drift`.
"""

from __future__ import annotations

import logging

from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from mlrail.validation import drift
from mlrail.validation.anomalies import feature_map
from mlrail.validation.findings import JENSEN_SHANNON, L_INFTY, Anomaly, Comparison
from mlrail.validation.schema import IDENTIFIER, UNSUPPORTED_TAG, has_tag

__all__ = ["compare", "compare_all"]

_STANDARD = statistics_pb2.Histogram.STANDARD
log = logging.getLogger(__name__)


def _measures(
    feat: schema_pb2.Feature, comparator: schema_pb2.FeatureComparator
) -> list[tuple[str, float | None, int]]:
    """(measure, threshold, histogram source) for each distance the comparator asks for.

    A feature with no comparator is still measured, by its type's usual distance, with no
    threshold: the value is reported, never an anomaly.
    """
    out: list[tuple[str, float | None, int]] = []
    if comparator.HasField("infinity_norm"):
        norm = comparator.infinity_norm
        out.append((L_INFTY, norm.threshold if norm.HasField("threshold") else None, 0))
    if comparator.HasField("jensen_shannon_divergence"):
        js = comparator.jensen_shannon_divergence
        threshold = js.threshold if js.HasField("threshold") else None
        out.append((JENSEN_SHANNON, threshold, js.source.type))
    if not out:
        out.append((L_INFTY if feat.type == schema_pb2.BYTES else JENSEN_SHANNON, None, 0))
    return out


def _distance(
    measure: str,
    source: int,
    a: statistics_pb2.FeatureNameStatistics,
    b: statistics_pb2.FeatureNameStatistics,
) -> tuple[float, str] | None:
    """The distance between two features' distributions, and the value where an L∞ is reached;
    None when it cannot be measured (no values on a side, or the two differ in type)."""
    strings = a.HasField("string_stats") and b.HasField("string_stats")
    numbers = a.HasField("num_stats") and b.HasField("num_stats")
    try:
        if strings and measure == L_INFTY:
            return drift.l_infinity(drift.string_counts(a), drift.string_counts(b))
        if strings:
            return drift.jensen_shannon_counts(drift.string_counts(a), drift.string_counts(b)), ""
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
                return drift.jensen_shannon(ha, hb), ""
    except ValueError:  # an empty distribution on one side
        return None
    return None


def compare(
    kind: str,
    data: statistics_pb2.DatasetFeatureStatistics,
    reference: statistics_pb2.DatasetFeatureStatistics,
    schema: schema_pb2.Schema,
    *,
    against: str = "",
) -> tuple[list[Comparison], list[Anomaly]]:
    """Skew or drift of every schema feature between two datasets' statistics.

    Args:
        kind: "skew" (uses each feature's ``skew_comparator``) or "drift" (``drift_comparator``).
        data: The dataset under test.
        reference: What it is compared with (train for skew, the baseline's split for drift).
        schema: Where the comparators and their thresholds are.
        against: The reference's name in the report (default: its dataset name).

    Returns:
        Every distance measured (a feature missing or empty on either side is skipped), and
        one ``COMPARATOR_L_INFTY_HIGH``/``COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH`` anomaly
        per distance above its threshold.
    """
    against = against or reference.name
    mine, theirs = feature_map(data), feature_map(reference)
    comparisons: list[Comparison] = []
    anomalies: list[Anomaly] = []
    for feat in schema.feature:
        if feat.name not in mine or feat.name not in theirs:
            continue
        if has_tag(feat, IDENTIFIER) or has_tag(feat, UNSUPPORTED_TAG):
            continue  # an id's values never repeat across splits: no distance means anything
        comparator = feat.skew_comparator if kind == "skew" else feat.drift_comparator
        for measure, threshold, source in _measures(feat, comparator):
            got = _distance(measure, source, mine[feat.name], theirs[feat.name])
            if got is None:
                continue
            value, where = got
            c = Comparison(feat.name, kind, measure, data.name, against, value, threshold)
            comparisons.append(c)
            if c.exceeded:
                what = "L-infinity distance" if measure == L_INFTY else "Jensen-Shannon divergence"
                ref = f"{against!r}" if kind == "skew" else f"the baseline's {against!r}"
                largest = f" (largest change: value {where!r})" if where else ""
                anomalies.append(
                    Anomaly(
                        data.name,
                        feat.name,
                        f"COMPARATOR_{'L_INFTY' if measure == L_INFTY else measure}_HIGH",
                        f"column {feat.name!r}: {kind}: {what} between {data.name!r} and "
                        f"{ref} is {value:.4f}, above the threshold {threshold:g}{largest}",
                    )
                )
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
