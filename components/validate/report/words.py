"""What both pages say, and the report seen feature by feature (:class:`View`).

The verdict and drift in words, comparisons in order of interest, splits in reading order; and
per feature its statistics in every split, its schema entry and why it is flagged.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from mlrail.charts import PALETTE, num, plural
from mlrail.components.validate.findings import ValidationReport
from mlrail.validation.findings import Comparison
from mlrail.validation.schema import IDENTIFIER, has_tag
from mlrail.validation.thresholds import CHI2, FIXED, Z

__all__ = [
    "Feature",
    "View",
    "against_text",
    "by_interest",
    "common",
    "drift_checked",
    "drift_words",
    "feature_name",
    "identifiers",
    "measure_name",
    "shown",
    "split_order",
    "stats_kind",
    "test_text",
    "threshold_text",
    "verdict",
]

_MEASURES = {"L_INFTY": "L∞ distance", "JENSEN_SHANNON_DIVERGENCE": "JS divergence"}


def shown(name: str) -> str:
    """A column's name for a reader: the empty name visibly."""
    return name if name else '""'


def identifiers(report: ValidationReport) -> list[tuple[str, str]]:
    """The identifier-like columns left out of the default model, with why."""
    return [
        (f.name, "; ".join(f.annotation.comment) or "identifier-like")
        for f in report.schema.feature
        if has_tag(f, IDENTIFIER)
    ]


def verdict(report: ValidationReport) -> str:
    return "OK" if report.ok else plural(report.num_anomalies, "anomaly", "anomalies")


def drift_checked(report: ValidationReport) -> bool:
    return bool(report.baseline) or any(c.kind == "drift" for c in report.comparisons)


def drift_words(report: ValidationReport) -> str:
    """Drift in words, without the baseline (the callers format it their way)."""
    if not drift_checked(report):
        return "drift not checked (no baseline)"
    return "drift detected" if report.drift_detected else "no drift"


def measure_name(m: str) -> str:
    return _MEASURES.get(m, m)


def threshold_text(c: Comparison) -> str:
    return "–" if c.threshold is None else num(c.threshold)


_TESTS = {CHI2: "G-test (χ²)", Z: "z-test per value", FIXED: "fixed in the schema"}


def test_text(c: Comparison) -> str:
    """Where the threshold came from: the test, its p-value and level, the sizes compared and,
    for a JS divergence, the allowance for the histograms' alignment (:mod:`mlrail.validation.
    thresholds`); "–" with no threshold."""
    if not c.test:
        return "–"
    parts = [_TESTS.get(c.test, c.test)]
    if c.p_value is not None and c.alpha is not None:
        parts.append(f"p {c.p_value:.2g} (level {c.alpha:.2g})")
    if c.sizes is not None:
        parts.append(f"{c.sizes[0]:,.0f} vs {c.sizes[1]:,.0f} values")
    if c.allowance:
        parts.append(f"threshold + {num(c.allowance)} for the binning")
    return "; ".join(parts)


def by_interest(comparisons: Iterable[Comparison]) -> list[Comparison]:
    """Exceeded first, then largest value first (NaN last); ties in a fixed order."""

    def key(c: Comparison) -> tuple[bool, float, str, str, str, str, str]:
        v = -math.inf if math.isnan(c.value) else c.value
        return (not c.exceeded, -v, c.feature, c.kind, c.split, c.against, c.measure)

    return sorted(comparisons, key=key)


# ---------------------------------------------------------------------------------------------
# the statistics, per feature


def split_order(splits: Iterable[str]) -> list[str]:
    """Train, eval and test first (the order a reader compares them in), then the rest as given."""
    known = {"train": 0, "eval": 1, "test": 2}
    return sorted(splits, key=lambda s: known.get(s, len(known)))


def against_text(c: Comparison) -> str:
    return f"baseline {c.against}" if c.kind == "drift" else c.against


def feature_name(f: statistics_pb2.FeatureNameStatistics) -> str:
    return ".".join(f.path.step) if f.HasField("path") else f.name


def stats_kind(f: statistics_pb2.FeatureNameStatistics) -> str:
    return f.WhichOneof("stats") or ""


def common(f: statistics_pb2.FeatureNameStatistics) -> statistics_pb2.CommonStatistics | None:
    kind = stats_kind(f)
    return getattr(f, kind).common_stats if kind else None


@dataclass
class Feature:
    name: str
    stats: dict[str, statistics_pb2.FeatureNameStatistics]  # by split, where present
    schema: schema_pb2.Feature | None
    reasons: list[str] = field(default_factory=list)  # why it is flagged

    @property
    def numeric(self) -> bool:
        """As the first split holding it has it, else as the schema says."""
        first = next(iter(self.stats.values()), None)
        if first is not None:
            return stats_kind(first) == "num_stats"
        return self.schema is not None and self.schema.type in (schema_pb2.INT, schema_pb2.FLOAT)


@dataclass
class View:
    splits: list[str]
    rows: dict[str, int]
    colours: dict[str, str]
    features: list[Feature]  # flagged first

    @classmethod
    def of(cls, report: ValidationReport) -> View:
        datasets: dict[str, statistics_pb2.DatasetFeatureStatistics] = {}
        for ds in report.statistics.datasets:
            datasets.setdefault(ds.name, ds)
        splits = split_order(datasets)
        rows = {s: datasets[s].num_examples for s in splits}
        by_name: dict[str, dict[str, statistics_pb2.FeatureNameStatistics]] = {}
        for split in splits:
            for f in datasets[split].features:
                by_name.setdefault(feature_name(f), {}).setdefault(split, f)
        colours = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(splits)}
        schema = {f.name: f for f in report.schema.feature}
        names = dict.fromkeys(
            [*by_name, *schema, *(a.feature for a in report.anomalies if a.feature is not None)]
            + [c.feature for c in report.comparisons if c.exceeded]
        )
        features = {n: Feature(n, by_name.get(n, {}), schema.get(n)) for n in names}
        for a in report.anomalies:
            if a.feature is not None:
                features[a.feature].reasons.append(f"{a.split}: {a.type}")
        for c in by_interest(report.comparisons):
            if c.exceeded:
                features[c.feature].reasons.append(
                    f"{c.kind} {c.split} vs {against_text(c)}: {measure_name(c.measure)} "
                    f"{num(c.value)} > {threshold_text(c)}"
                )
        ordered = sorted(features.values(), key=lambda f: not f.reasons)
        return cls(splits, rows, colours, ordered)
