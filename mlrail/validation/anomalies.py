"""Anomalies: every split's statistics checked against the schema, as TFDV checks them.

Also the anomalies as TFDV's ``Anomalies`` proto (:func:`to_proto`), with every skew/drift
value measured.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from mlrail.validation.findings import Anomaly, Comparison
from mlrail.validation.schema import UNSUPPORTED_TAG, has_tag
from mlrail.validation.statistics import DATETIME, UNSUPPORTED, common_stats, custom_str

__all__ = ["feature_map", "find_anomalies", "to_proto", "to_protos"]

_Type = statistics_pb2.FeatureNameStatistics
_STANDARD = statistics_pb2.Histogram.STANDARD


def feature_map(ds: statistics_pb2.DatasetFeatureStatistics) -> dict[str, Any]:
    return {f.path.step[0]: f for f in ds.features}


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

    common = common_stats(f)
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
        seen = feature_map(ds)
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


def to_protos(
    anomalies: list[Anomaly],
    schema: schema_pb2.Schema,
    comparisons: Iterable[Comparison] = (),
    splits: Iterable[str] = (),
) -> dict[str, anomalies_pb2.Anomalies]:
    """:func:`to_proto` per split, as TFX's ``ExampleAnomalies`` keeps them: each split's own
    anomalies and skew/drift values (those measured on it).

    Args:
        anomalies: What was found, in every split.
        schema: The schema checked against (each proto's ``baseline``).
        comparisons: Every skew/drift value measured.
        splits: The splits checked, in order: each gets a proto, empty when nothing was found
            in it. A split only an anomaly or comparison names follows them.
    """
    comparisons = list(comparisons)
    names = list(dict.fromkeys([*splits, *(a.split for a in anomalies)]))
    names += [s for s in dict.fromkeys(c.split for c in comparisons) if s not in names]
    return {
        split: to_proto(
            [a for a in anomalies if a.split == split],
            schema,
            [c for c in comparisons if c.split == split],
        )
        for split in names
    }


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
