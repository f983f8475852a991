"""validate: statistics per split, an inferred (or curated) schema, anomalies, skew and drift.

All use TFX's own formats (tensorflow-metadata protos), so TFDV and TFX tools read them. The
work is split over :mod:`.statistics` (one streaming pass per split), :mod:`.schema`
(inference, curated schemas) and :mod:`.drift` (the distances); this module checks statistics
against a schema, compares splits, and writes the artifacts.

Output layouts::

    statistics/
      statistics.pb      DatasetFeatureStatisticsList, one dataset per split (named by split)
      statistics.json    the headline figures as plain JSON (see ``summarize``); non-finite
                         numbers as the strings "nan", "inf", "-inf"
    schema/
      schema.pbtxt       Schema, text format
    anomalies/
      anomalies.pbtxt    Anomalies: per feature, every reason found across all splits, and
                         drift_skew_info with every skew/drift value measured (with its
                         threshold), in split order
      anomalies.json     {"ok", "num_anomalies", "anomalies": [{split, feature (null for the
                          whole split), type, description}], "comparisons": [{feature, kind,
                          measure, split, against, value, threshold, exceeded}],
                          "drift_detected",
                          "drift_baseline" (where the baseline came from, or null)}

Semantics follow TFDV: types, presence, string domains, numeric ranges and NaN/inf rules from
the schema; skew (each split against train) and drift (each split against the same split of a
baseline statistics artifact) by L-infinity distance for string features and Jensen–Shannon
divergence for numeric ones, against each feature's ``skew_comparator``/``drift_comparator``
threshold. Unlike TFDV, an empty split (no rows, e.g. a header-only file) is an anomaly
(``DATASET_LOW_NUM_EXAMPLES``), and an inferred schema refuses ±inf.

mlrail's markers (see :mod:`.statistics` and :func:`.schema.infer_schema`): a date or
timestamp column is checked and compared like a number (its days since 1970 UTC), and a
curated schema's ``time_domain`` must meet dates (and dates a ``time_domain``); a column of a
type no step uses is an ``UNEXPECTED_DATA_TYPE`` anomaly naming the column and its Arrow type,
whatever the schema says (the artifacts are still written; the gate closes); an
identifier-like column (annotation ``mlrail.identifier``) is not compared for skew or drift
and is no anomaly: the reports list it as left out of the default model, and why.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from mlrail.components.validate import drift
from mlrail.components.validate.schema import (
    DRIFT_JS_THRESHOLD,
    DRIFT_L_INFTY_THRESHOLD,
    IDENTIFIER,
    MAX_STRING_DOMAIN_SIZE,
    SKEW_JS_THRESHOLD,
    SKEW_L_INFTY_THRESHOLD,
    UNSUPPORTED_TAG,
    has_tag,
    infer_schema,
    load_schema,
)
from mlrail.components.validate.statistics import (
    DATETIME,
    SAMPLE_ROWS,
    UNSUPPORTED,
    compute_statistics,
    custom_str,
    load_statistics,
    statistics_from_batches,
    summarize,
)
from mlrail.errors import DataError
from mlrail.io import atomic_dir, atomic_write_bytes, atomic_write_json, atomic_write_text
from mlrail.redact import redact

__all__ = [
    "DRIFT_JS_THRESHOLD",
    "DRIFT_L_INFTY_THRESHOLD",
    "MAX_STRING_DOMAIN_SIZE",
    "SAMPLE_ROWS",
    "SKEW_JS_THRESHOLD",
    "SKEW_L_INFTY_THRESHOLD",
    "Anomaly",
    "Comparison",
    "ValidationReport",
    "compare",
    "compute_statistics",
    "find_anomalies",
    "infer_schema",
    "load_schema",
    "load_statistics",
    "statistics_from_batches",
    "summarize",
    "to_proto",
    "validate",
    "validate_tables",
    "write_report",
]

L_INFTY = "L_INFTY"
JENSEN_SHANNON = "JENSEN_SHANNON_DIVERGENCE"
_Type = statistics_pb2.FeatureNameStatistics
_STANDARD = statistics_pb2.Histogram.STANDARD
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Anomaly:
    """One problem found in one split: which feature, which TFDV anomaly type, and what.

    ``feature`` is None for a problem of the whole split (``DATASET_LOW_NUM_EXAMPLES``): ""
    is a column's name like any other (a pandas index written to CSV has it).
    """

    split: str
    feature: str | None
    type: str
    description: str


@dataclass(frozen=True)
class Comparison:
    """One distance between two distributions of one feature, reported even below threshold.

    ``kind`` is "skew" (``split`` against train, in this run) or "drift" (``split`` against the
    same split of the baseline statistics); ``measure`` is "L_INFTY" (categorical features) or
    "JENSEN_SHANNON_DIVERGENCE" (numeric features), as in TFDV's ``DriftSkewInfo``.
    ``threshold`` is ``None`` when the schema sets no comparator for the feature.
    """

    feature: str
    kind: str
    measure: str
    split: str
    against: str
    value: float
    threshold: float | None

    @property
    def exceeded(self) -> bool:
        return self.threshold is not None and self.value > self.threshold


@dataclass
class ValidationReport:
    statistics: statistics_pb2.DatasetFeatureStatisticsList
    schema: schema_pb2.Schema
    anomalies: list[Anomaly] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    #: where the baseline statistics for drift came from ("" when there was none)
    baseline: str = ""

    @property
    def drift_detected(self) -> bool:
        return any(c.kind == "drift" and c.exceeded for c in self.comparisons)

    @property
    def ok(self) -> bool:
        return not self.anomalies

    @property
    def num_anomalies(self) -> int:
        return len(self.anomalies)

    def num_examples(self) -> dict[str, int]:
        return {d.name: d.num_examples for d in self.statistics.datasets}


# ---------------------------------------------------------------------------------------------
# anomalies against the schema


def _features(ds: statistics_pb2.DatasetFeatureStatistics) -> dict[str, Any]:
    return {f.path.step[0]: f for f in ds.features}


def _common(f: statistics_pb2.FeatureNameStatistics) -> statistics_pb2.CommonStatistics:
    if f.HasField("bytes_stats"):
        return f.bytes_stats.common_stats
    return f.num_stats.common_stats if f.HasField("num_stats") else f.string_stats.common_stats


def _unsupported(split: str, name: str, arrow_type: str) -> Anomaly:
    return Anomaly(
        split,
        name,
        "UNEXPECTED_DATA_TYPE",
        f"column {name!r} has type {arrow_type}, which mlrail cannot check or model "
        "(supported: numbers, booleans, text, dates and timestamps); convert it, or drop it",
    )


def _standard(f: statistics_pb2.FeatureNameStatistics) -> statistics_pb2.Histogram | None:
    return next((h for h in f.num_stats.histograms if h.type == _STANDARD), None)


def _shown(values: list[str], limit: int = 10) -> str:
    return ", ".join(repr(v) for v in values[:limit]) + (" ..." if len(values) > limit else "")


def _check_feature(
    split: str,
    feat: schema_pb2.Feature,
    f: statistics_pb2.FeatureNameStatistics,
    domains: dict[str, schema_pb2.StringDomain],
    num_examples: int,
) -> list[Anomaly]:
    name = feat.name
    out: list[Anomaly] = []

    def add(kind: str, description: str) -> None:
        out.append(Anomaly(split, name, kind, description))

    common = _common(f)
    numeric_schema = feat.type in (schema_pb2.INT, schema_pb2.FLOAT)
    if numeric_schema and f.type == _Type.STRING and common.num_non_missing > 0:
        add(
            "UNEXPECTED_DATA_TYPE",
            f"column {name!r}: expected {schema_pb2.FeatureType.Name(feat.type)}, found strings",
        )
        return out
    when = custom_str(f, DATETIME)
    if feat.HasField("time_domain") and when is None and f.HasField("num_stats"):
        if common.num_non_missing:
            add(
                "UNEXPECTED_DATA_TYPE",
                f"column {name!r}: expected dates or timestamps, found numbers",
            )
        return out
    if when is not None and not feat.HasField("time_domain") and numeric_schema:
        add(
            "UNEXPECTED_DATA_TYPE",
            f"column {name!r}: expected {schema_pb2.FeatureType.Name(feat.type)} numbers, found "
            f"dates or timestamps ({when})",
        )
        return out
    if feat.type == schema_pb2.INT and f.type == _Type.FLOAT:
        add("UNEXPECTED_DATA_TYPE", f"column {name!r}: expected INT, found FLOAT values")
    if feat.type == schema_pb2.BYTES and f.type != _Type.STRING:
        add(
            "UNEXPECTED_DATA_TYPE",
            f"column {name!r}: expected strings, found {_Type.Type.Name(f.type)} values",
        )
        return out

    presence = feat.presence
    if presence.HasField("min_count") and common.num_non_missing < presence.min_count:
        add(
            "FEATURE_TYPE_LOW_NUMBER_PRESENT",
            f"column {name!r}: present in {common.num_non_missing} row(s) of {num_examples}; "
            f"the schema requires at least {presence.min_count}",
        )
    if num_examples and presence.min_fraction > 0:
        fraction = common.num_non_missing / num_examples
        if fraction < presence.min_fraction:
            add(
                "FEATURE_TYPE_LOW_FRACTION_PRESENT",
                f"column {name!r}: present in {fraction:.1%} of rows "
                f"({common.num_missing} missing); the schema requires at least "
                f"{presence.min_fraction:.1%}",
            )

    domain = domains.get(feat.domain) if feat.domain else None
    if feat.HasField("string_domain"):
        domain = feat.string_domain
    if domain is not None and f.type == _Type.STRING:
        allowed = set(domain.value)
        bad = [b.label for b in f.string_stats.rank_histogram.buckets if b.label not in allowed]
        if bad:
            add(
                "ENUM_TYPE_UNEXPECTED_STRING_VALUES",
                f"column {name!r}: {len(bad)} value(s) not in the schema's domain: {_shown(bad)}",
            )

    if f.HasField("num_stats") and common.num_non_missing:
        out.extend(_check_numbers(split, feat, f))
    return out


def _check_numbers(
    split: str, feat: schema_pb2.Feature, f: statistics_pb2.FeatureNameStatistics
) -> list[Anomaly]:
    name, n = feat.name, f.num_stats
    hist = _standard(f)
    nan = hist.num_nan if hist is not None else 0
    infinite = (
        sum(b.sample_count for b in hist.buckets if math.isinf(b.low_value))
        if hist is not None
        else 0
    )
    out: list[Anomaly] = []
    has_values = n.common_stats.num_non_missing > nan  # min and max are set
    if feat.HasField("float_domain"):
        dom: schema_pb2.FloatDomain | schema_pb2.IntDomain = feat.float_domain
        kind, small, big = "FLOAT_TYPE", "SMALL_FLOAT", "BIG_FLOAT"
    else:
        dom = feat.int_domain
        kind, small, big = "INT_TYPE", "SMALL_INT", "BIG_INT"
    if has_values and dom.HasField("min") and n.min < dom.min:
        out.append(
            Anomaly(
                split,
                name,
                f"{kind}_{small}",
                f"column {name!r}: minimum {n.min:g} is below the schema's {dom.min:g}",
            )
        )
    if has_values and dom.HasField("max") and n.max > dom.max:
        out.append(
            Anomaly(
                split,
                name,
                f"{kind}_{big}",
                f"column {name!r}: maximum {n.max:g} is above the schema's {dom.max:g}",
            )
        )
    if isinstance(dom, schema_pb2.FloatDomain) and feat.HasField("float_domain"):
        if dom.disallow_nan and nan:
            out.append(
                Anomaly(
                    split,
                    name,
                    "FLOAT_TYPE_HAS_NAN",
                    f"column {name!r}: {nan} NaN value(s) where the schema disallows NaN",
                )
            )
        # statistics from other tools may lack the ±inf buckets: the extremes tell then
        has_inf = infinite > 0 or (has_values and (math.isinf(n.min) or math.isinf(n.max)))
        if dom.disallow_inf and has_inf:
            count = f"{int(infinite)} infinite value(s)" if infinite else "infinite values"
            out.append(
                Anomaly(
                    split,
                    name,
                    "FLOAT_TYPE_HAS_INF",
                    f"column {name!r}: {count} where the schema disallows them",
                )
            )
    return out


def find_anomalies(
    stats: statistics_pb2.DatasetFeatureStatisticsList,
    schema: schema_pb2.Schema,
    *,
    min_examples: int = 1,
) -> list[Anomaly]:
    """Check every split's statistics against ``schema``.

    Returns:
        One ``Anomaly`` per problem and split: an empty split or fewer than ``min_examples``
        rows (``DATASET_LOW_NUM_EXAMPLES``; the split's features are then not checked), and per
        feature a column of a type mlrail does not support (``UNEXPECTED_DATA_TYPE``, naming
        the type), a missing or new column, a type change (dates included), presence below the
        schema's minimum count or fraction, string values outside the domain, values outside
        a numeric domain, and NaN/±inf where the float domain disallows them.
    """
    domains = {d.name: d for d in schema.string_domain}
    known = {f.name for f in schema.feature}
    out: list[Anomaly] = []
    for ds in stats.datasets:
        if ds.num_examples == 0 or ds.num_examples < min_examples:
            # TFDV reports nothing for an empty dataset; here it is the first thing to know
            why = (
                f"split {ds.name!r} is empty: no rows (a header-only file, or no data)"
                if ds.num_examples == 0
                else f"split {ds.name!r} has {ds.num_examples} example(s); "
                f"at least {min_examples} needed"
            )
            out.append(Anomaly(ds.name, None, "DATASET_LOW_NUM_EXAMPLES", why))
            continue
        seen = _features(ds)
        unsupported = {n: t for n, f in seen.items() if (t := custom_str(f, UNSUPPORTED))}
        out.extend(_unsupported(ds.name, n, t) for n, t in unsupported.items())
        for feat in schema.feature:
            if feat.name in unsupported or has_tag(feat, UNSUPPORTED_TAG):
                continue  # reported above, or (no such column here) below as missing
            if feat.name not in seen:
                out.append(
                    Anomaly(
                        ds.name,
                        feat.name,
                        "SCHEMA_MISSING_COLUMN",
                        f"column {feat.name!r} is in the schema but not in the data",
                    )
                )
                continue
            out.extend(_check_feature(ds.name, feat, seen[feat.name], domains, ds.num_examples))
        for name in seen:
            if name not in known and name not in unsupported:
                out.append(
                    Anomaly(
                        ds.name,
                        name,
                        "SCHEMA_NEW_COLUMN",
                        f"column {name!r} is in the data but not in the schema",
                    )
                )
    return out


# ---------------------------------------------------------------------------------------------
# skew and drift


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
    mine, theirs = _features(data), _features(reference)
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


def _compare_all(
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


# ---------------------------------------------------------------------------------------------
# the whole check, and its artifacts


def to_proto(
    anomalies: list[Anomaly],
    schema: schema_pb2.Schema,
    comparisons: Iterable[Comparison] = (),
) -> anomalies_pb2.Anomalies:
    """The anomalies as TFDV's ``Anomalies`` proto: per feature one reason per problem, and
    every skew/drift value (``drift_skew_info``, with its threshold when there is one)."""
    proto = anomalies_pb2.Anomalies()
    proto.baseline.CopyFrom(schema)
    proto.anomaly_name_format = anomalies_pb2.Anomalies.SERIALIZED_PATH
    for a in anomalies:
        info = proto.dataset_anomaly_info if a.feature is None else proto.anomaly_info[a.feature]
        if a.feature is not None and not info.path.step:
            info.path.step.append(a.feature)
        info.severity = anomalies_pb2.AnomalyInfo.ERROR
        info.reason.add(
            type=anomalies_pb2.AnomalyInfo.Type.Value(a.type),
            short_description=a.type.replace("_", " ").lower(),
            description=f"[{a.split}] {a.description}",
        )
        info.description = "; ".join(r.description for r in info.reason)
        info.short_description = (
            info.reason[0].short_description if len(info.reason) == 1 else ("Multiple errors")
        )
    infos: dict[str, anomalies_pb2.DriftSkewInfo] = {}
    for c in comparisons:
        info = infos.get(c.feature)
        if info is None:
            info = infos[c.feature] = proto.drift_skew_info.add()
            info.path.step.append(c.feature)
        measurements = info.skew_measurements if c.kind == "skew" else info.drift_measurements
        m = measurements.add(
            type=anomalies_pb2.DriftSkewInfo.Measurement.Type.Value(c.measure), value=c.value
        )
        if c.threshold is not None:
            m.threshold = c.threshold
    return proto


def _json_number(x: float | None) -> float | str | None:
    return x if x is None or math.isfinite(x) else str(x)


def write_report(
    report: ValidationReport,
    *,
    statistics_dir: str | Path | None = None,
    schema_dir: str | Path | None = None,
    anomalies_dir: str | Path | None = None,
) -> None:
    """Write the report's artifacts (each folder atomically; None: not written).

    The layouts are in this module's docstring.
    """
    if statistics_dir is not None:
        with atomic_dir(statistics_dir) as tmp:
            data = report.statistics.SerializeToString(deterministic=True)
            atomic_write_bytes(tmp / "statistics.pb", data)
            atomic_write_json(tmp / "statistics.json", summarize(report.statistics))
    if schema_dir is not None:
        with atomic_dir(schema_dir) as tmp:
            atomic_write_text(tmp / "schema.pbtxt", text_format.MessageToString(report.schema))
    if anomalies_dir is not None:
        proto = to_proto(report.anomalies, report.schema, report.comparisons)
        with atomic_dir(anomalies_dir) as tmp:
            atomic_write_text(tmp / "anomalies.pbtxt", text_format.MessageToString(proto))
            atomic_write_json(
                tmp / "anomalies.json",
                {
                    "ok": report.ok,
                    "num_anomalies": report.num_anomalies,
                    "anomalies": [a.__dict__ for a in report.anomalies],
                    "comparisons": [
                        {
                            "feature": c.feature,
                            "kind": c.kind,
                            "measure": c.measure,
                            "split": c.split,
                            "against": c.against,
                            "value": _json_number(c.value),
                            "threshold": _json_number(c.threshold),
                            "exceeded": c.exceeded,
                        }
                        for c in report.comparisons
                    ],
                    "drift_detected": report.drift_detected,
                    "drift_baseline": report.baseline or None,
                },
            )


def _check(
    stats: statistics_pb2.DatasetFeatureStatisticsList,
    schema: schema_pb2.Schema,
    *,
    baseline_statistics: str | Path,
    baseline_split: str,
    skew_against: str,
    min_examples: int,
) -> ValidationReport:
    baseline = load_statistics(baseline_statistics) if baseline_statistics else None
    anomalies = find_anomalies(stats, schema, min_examples=min_examples)
    comparisons, over = _compare_all(stats, schema, baseline, baseline_split, skew_against)
    report = ValidationReport(stats, schema, anomalies + over, comparisons)
    report.baseline = redact(str(baseline_statistics))  # shown in reports and metadata
    for a in report.anomalies:
        log.warning("[%s] %s: %s", a.split, a.type, a.description)
    return report


def validate(
    examples_dir: str | Path,
    statistics_dir: str | Path,
    schema_dir: str | Path,
    anomalies_dir: str | Path,
    *,
    curated_schema: str | Path = "",
    baseline_statistics: str | Path = "",
    min_examples: int = 1,
) -> ValidationReport:
    """Compute statistics, infer (or load) the schema, find anomalies, skew and drift; write all.

    Args:
        examples_dir: The examples artifact: ``<split>/*.parquet``.
        statistics_dir: Where the statistics artifact goes.
        schema_dir: Where the schema artifact goes: the curated schema unchanged, or the one
            inferred from the train split.
        anomalies_dir: Where the anomalies artifact goes.
        curated_schema: Path or URI of a ``schema.pbtxt`` (or a folder holding one) to check
            against instead of inferring one; used as given.
        baseline_statistics: Path or URI of a ``statistics.pb`` (or a statistics artifact's
            folder) from an earlier run: each split is compared with the same split there
            (drift). Empty: no drift check.
        min_examples: Fewest rows a split may have (an empty split is always an anomaly).

    Returns:
        The report; ``report.ok`` is the gate.

    Raises:
        DataError: naming the file, when the examples, the curated schema or the baseline
            cannot be read. Nothing is written then.
    """
    try:
        stats = compute_statistics(examples_dir)
        schema = load_schema(curated_schema) if curated_schema else infer_schema(stats)
        report = _check(
            stats,
            schema,
            baseline_statistics=baseline_statistics,
            baseline_split="",
            skew_against="train",
            min_examples=min_examples,
        )
    except DataError as e:
        raise _redacted(e) from e.__cause__
    write_report(
        report, statistics_dir=statistics_dir, schema_dir=schema_dir, anomalies_dir=anomalies_dir
    )
    return report


def validate_tables(
    datasets: Mapping[str, Iterable[pa.RecordBatch | pa.Table]],
    *,
    curated_schema: str | Path | schema_pb2.Schema = "",
    infer_from: str = "",
    baseline_statistics: str | Path = "",
    baseline_split: str = "",
    min_examples: int = 1,
) -> ValidationReport:
    """Validate data that is not an examples artifact: raw files streamed as Arrow batches.

    For the ``mlrail`` CLI and notebooks. Each dataset is read once, batch by batch
    (``statistics_from_batches``), so a file larger than memory can be checked. Nothing is
    written: pass the report to ``write_report`` for the artifacts.

    Example::

        report = validate_tables(
            {"data": batches_of("new.csv")},           # any iterable of batches or tables
            baseline_statistics="gs://runs/42/validate/statistics",
            baseline_split="train",                     # compare "data" with last run's train
            curated_schema="gs://runs/42/validate/schema",
        )

    Args:
        datasets: Name → batches, in order (e.g. ``{"data": ...}``, or ``{"train": ...,
            "eval": ...}``). With a "train" dataset, every other one is compared with it (skew).
        curated_schema: A Schema, or the path/URI of a ``schema.pbtxt`` (or a folder holding
            one), used as given. Empty: infer one from ``infer_from``.
        infer_from: The dataset to infer the schema from; default "train" if there is one, else
            the first dataset.
        baseline_statistics: Path or URI of an earlier ``statistics.pb`` (or a statistics
            artifact's folder) to measure drift against. Empty: no drift check.
        baseline_split: The baseline dataset every dataset is compared with; default: the one
            of the same name (a dataset with no counterpart is not compared).
        min_examples: Fewest rows a dataset may have (an empty one is always an anomaly).

    Returns:
        The report: statistics (one dataset per name), the schema, anomalies, comparisons.

    Raises:
        DataError: when a dataset's column changes type between batches, or the schema or the
            baseline cannot be read. (A column of a type mlrail does not support is an
            anomaly, not an error.)
    """
    try:
        return _validate_tables(
            datasets, curated_schema, infer_from, baseline_statistics, baseline_split, min_examples
        )
    except DataError as e:
        raise _redacted(e) from e.__cause__


def _redacted(error: DataError) -> DataError:
    """``error`` with the credentials of any URI in its message masked."""
    text = str(error)
    return error if redact(text) == text else DataError(redact(text))


def _validate_tables(
    datasets: Mapping[str, Iterable[pa.RecordBatch | pa.Table]],
    curated_schema: str | Path | schema_pb2.Schema,
    infer_from: str,
    baseline_statistics: str | Path,
    baseline_split: str,
    min_examples: int,
) -> ValidationReport:
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    for name, batches in datasets.items():
        stats.datasets.append(statistics_from_batches(name, batches))
    if isinstance(curated_schema, schema_pb2.Schema):
        schema = curated_schema
    elif curated_schema:
        schema = load_schema(curated_schema)
    else:
        names = list(datasets)
        if not names:
            raise DataError("no data to validate")
        schema = infer_schema(stats, infer_from or ("train" if "train" in names else names[0]))
    return _check(
        stats,
        schema,
        baseline_statistics=baseline_statistics,
        baseline_split=baseline_split,
        skew_against="train",
        min_examples=min_examples,
    )
