"""validate: statistics per split, an inferred (or curated) schema, and anomalies against it.

All three use TFX's own formats (tensorflow-metadata protos), so TFDV and TFX tools read them.

Output layouts::

    statistics/
      statistics.pb      DatasetFeatureStatisticsList, one dataset per split (named by split)
      statistics.json    the same figures as plain JSON (see ``summarize``)
    schema/
      schema.pbtxt       Schema, text format
    anomalies/
      anomalies.pbtxt    Anomalies: per feature, every reason found, across all splits
      anomalies.json     {"ok", "num_anomalies", "drift_detected", "drift_baseline",
                          "anomalies": [...]}

Semantics follow TFDV: a string feature with at most ``MAX_STRING_DOMAIN_SIZE`` distinct values
gets a string domain; a feature always present in train gets ``presence.min_fraction = 1``;
numeric ranges and NaN/inf rules are checked when a (curated) schema sets them. Unlike TFDV, an
empty split is an anomaly (``DATASET_LOW_NUM_EXAMPLES``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from mlrail.errors import DataError
from mlrail.io import (
    atomic_dir,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    read_uri_bytes,
)
from mlrail.modelspec import read_split

__all__ = [
    "MAX_STRING_DOMAIN_SIZE",
    "Anomaly",
    "Comparison",
    "ValidationReport",
    "compute_statistics",
    "infer_schema",
    "find_anomalies",
    "load_schema",
    "load_statistics",
    "validate",
]

MAX_STRING_DOMAIN_SIZE = 100
_HIST_BUCKETS = 10
_TOP_K = 20
_RANK_MAX = 1000
_Type = statistics_pb2.FeatureNameStatistics
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Anomaly:
    """One problem found in one split: which feature, which TFDV anomaly type, and what."""

    split: str
    feature: str
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
# statistics


def _splits(examples_dir: str | Path) -> dict[str, Path]:
    root = Path(examples_dir)
    splits = {p.name: p for p in sorted(root.iterdir()) if p.is_dir()} if root.is_dir() else {}
    if not splits:
        raise DataError(f"{root}: no splits (expected sub-folders such as train/ and eval/)")
    return splits


def _is_numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)


def _numeric_stats(name: str, arr: pa.ChunkedArray, n: int) -> statistics_pb2.FeatureNameStatistics:
    f = statistics_pb2.FeatureNameStatistics()
    f.path.step.append(name)
    is_int = pa.types.is_integer(arr.type) or pa.types.is_boolean(arr.type)
    f.type = _Type.INT if is_int else _Type.FLOAT
    values = arr.cast(pa.float64()).to_numpy(zero_copy_only=False)
    # NaN is a value (counted in the histograms' num_nan); only nulls are missing
    valid = arr.is_valid().to_numpy(zero_copy_only=False)
    present = values if arr.null_count == 0 else values[valid]
    num = f.num_stats
    cs = num.common_stats
    cs.num_non_missing = len(present)
    cs.num_missing = n - len(present)
    if len(present):
        cs.min_num_values = cs.max_num_values = 1
        cs.avg_num_values = 1.0
        cs.tot_num_values = len(present)
    nan = np.isnan(present)
    finite = present[np.isfinite(present)]
    num.num_zeros = int(np.count_nonzero(present == 0))
    if len(finite):
        num.mean = float(finite.mean())
        num.std_dev = float(finite.std())
        num.median = float(np.median(finite))
        num.min = float(present[~nan].min())
        num.max = float(present[~nan].max())
        std = num.histograms.add(type=statistics_pb2.Histogram.STANDARD)
        std.num_nan = int(nan.sum())
        counts, edges = np.histogram(finite, bins=_HIST_BUCKETS)
        for lo, hi, c in zip(edges[:-1], edges[1:], counts, strict=True):
            std.buckets.add(low_value=float(lo), high_value=float(hi), sample_count=float(c))
        qh = num.histograms.add(type=statistics_pb2.Histogram.QUANTILES)
        qh.num_nan = int(nan.sum())
        qs = np.quantile(finite, np.linspace(0, 1, _HIST_BUCKETS + 1))
        per = len(finite) / _HIST_BUCKETS
        for lo, hi in zip(qs[:-1], qs[1:], strict=True):
            qh.buckets.add(low_value=float(lo), high_value=float(hi), sample_count=per)
    return f


def _string_stats(name: str, arr: pa.ChunkedArray, n: int) -> statistics_pb2.FeatureNameStatistics:
    f = statistics_pb2.FeatureNameStatistics()
    f.path.step.append(name)
    f.type = _Type.STRING
    arr = arr.cast(pa.string())
    s = f.string_stats
    cs = s.common_stats
    cs.num_non_missing = n - arr.null_count
    cs.num_missing = arr.null_count
    if cs.num_non_missing:
        cs.min_num_values = cs.max_num_values = 1
        cs.avg_num_values = 1.0
        cs.tot_num_values = cs.num_non_missing
        counts = pc.value_counts(arr.drop_null()).to_pylist()
        counts.sort(key=lambda d: (-d["counts"], d["values"]))
        s.unique = len(counts)
        s.avg_length = float(pc.mean(pc.utf8_length(arr.drop_null())).as_py())
        for rank, d in enumerate(counts[:_RANK_MAX]):
            if rank < _TOP_K:
                s.top_values.add(value=d["values"], frequency=float(d["counts"]))
            s.rank_histogram.buckets.add(
                low_rank=rank, high_rank=rank, label=d["values"], sample_count=float(d["counts"])
            )
    return f


def compute_statistics(examples_dir: str | Path) -> statistics_pb2.DatasetFeatureStatisticsList:
    """Statistics of every split under ``examples_dir`` (one dataset per split)."""
    out = statistics_pb2.DatasetFeatureStatisticsList()
    for split, path in _splits(examples_dir).items():
        table = read_split(path)
        ds = out.datasets.add(name=split, num_examples=table.num_rows)
        for name in table.column_names:
            col = table.column(name)
            if _is_numeric(col.type):
                ds.features.append(_numeric_stats(name, col, table.num_rows))
            elif pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
                ds.features.append(_string_stats(name, col, table.num_rows))
            elif pa.types.is_null(col.type):
                # an all-null column: no type can be inferred; recorded as string with no values
                ds.features.append(_string_stats(name, col, table.num_rows))
            else:
                raise DataError(
                    f"{path}: column {name!r} has type {col.type}; "
                    "supported: numbers, booleans and strings"
                )
    return out


def _num(x: float) -> float | str:
    """A JSON-safe number: non-finite values as the strings "inf", "-inf", "nan"."""
    return x if np.isfinite(x) else str(x)


def summarize(stats: statistics_pb2.DatasetFeatureStatisticsList) -> dict[str, Any]:
    """Plain-JSON view of the statistics: per split, per feature, the headline figures."""
    out: dict[str, Any] = {}
    for ds in stats.datasets:
        feats: dict[str, Any] = {}
        for f in ds.features:
            name = f.path.step[0]
            if f.HasField("num_stats"):
                n = f.num_stats
                feats[name] = {
                    "type": _Type.Type.Name(f.type),
                    "missing": n.common_stats.num_missing,
                    "min": _num(n.min),
                    "max": _num(n.max),
                    "mean": _num(n.mean),
                    "std_dev": _num(n.std_dev),
                    "zeros": n.num_zeros,
                }
            else:
                s = f.string_stats
                feats[name] = {
                    "type": "STRING",
                    "missing": s.common_stats.num_missing,
                    "unique": s.unique,
                    "top_values": {v.value: int(v.frequency) for v in s.top_values},
                }
        out[ds.name] = {"num_examples": ds.num_examples, "features": feats}
    return out


# ---------------------------------------------------------------------------------------------
# schema


def _features(ds: statistics_pb2.DatasetFeatureStatistics) -> dict[str, Any]:
    return {f.path.step[0]: f for f in ds.features}


def _common(f: statistics_pb2.FeatureNameStatistics) -> statistics_pb2.CommonStatistics:
    return f.num_stats.common_stats if f.HasField("num_stats") else f.string_stats.common_stats


def infer_schema(
    stats: statistics_pb2.DatasetFeatureStatisticsList, split: str = "train"
) -> schema_pb2.Schema:
    """Infer a Schema from the statistics of ``split``, as TFDV's ``infer_schema`` would."""
    by_name = {d.name: d for d in stats.datasets}
    if split not in by_name:
        raise DataError(f"no {split!r} split to infer a schema from (have: {', '.join(by_name)})")
    schema = schema_pb2.Schema()
    for f in by_name[split].features:
        name = f.path.step[0]
        feat = schema.feature.add(name=name)
        common = _common(f)
        if f.type == _Type.INT:
            feat.type = schema_pb2.INT
        elif f.type == _Type.FLOAT:
            feat.type = schema_pb2.FLOAT
            # Unlike TFDV, infinities are refused unless a curated schema allows them: no
            # instrument measures ±inf, and one would make every prediction it touches NaN.
            feat.float_domain.disallow_inf = True
        else:
            feat.type = schema_pb2.BYTES
            s = f.string_stats
            if 0 < s.unique <= MAX_STRING_DOMAIN_SIZE and len(s.rank_histogram.buckets) == s.unique:
                dom = schema.string_domain.add(name=name)
                dom.value.extend(sorted(b.label for b in s.rank_histogram.buckets))
                feat.domain = name
        feat.presence.min_count = 1
        if common.num_missing == 0 and common.num_non_missing > 0:
            feat.presence.min_fraction = 1.0
    return schema


def load_schema(path: str | Path) -> schema_pb2.Schema:
    """Read a Schema (text format) from a ``schema.pbtxt`` file, a folder holding one, or a URI."""
    source = str(path)
    if Path(source).is_dir():
        source = str(Path(source) / "schema.pbtxt")
    try:
        text = read_uri_bytes(source).decode("utf-8")
        return text_format.Parse(text, schema_pb2.Schema())
    except UnicodeDecodeError as e:
        raise DataError(f"{source}: not UTF-8 text: {e}") from e
    except text_format.ParseError as e:
        raise DataError(f"{source}: not a valid Schema in text format: {e}") from e


def load_statistics(path: str | Path) -> statistics_pb2.DatasetFeatureStatisticsList:
    """Read statistics from a ``statistics.pb`` file or a folder holding one."""
    p = Path(path)
    if p.is_dir():
        p = p / "statistics.pb"
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    try:
        stats.ParseFromString(p.read_bytes())
    except FileNotFoundError as e:
        raise DataError(f"{p}: no statistics file") from e
    except Exception as e:  # protobuf raises DecodeError, a bare Exception subclass
        raise DataError(f"{p}: not a DatasetFeatureStatisticsList: {e}") from e
    return stats


# ---------------------------------------------------------------------------------------------
# anomalies


def _unexpected_values(f: statistics_pb2.FeatureNameStatistics, allowed: set[str]) -> list[str]:
    return [b.label for b in f.string_stats.rank_histogram.buckets if b.label not in allowed]


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
    if feat.type == schema_pb2.INT and f.type == _Type.FLOAT:
        add("UNEXPECTED_DATA_TYPE", f"column {name!r}: expected INT, found FLOAT values")
    if feat.type == schema_pb2.BYTES and f.type != _Type.STRING:
        add(
            "UNEXPECTED_DATA_TYPE",
            f"column {name!r}: expected strings, found {_Type.Type.Name(f.type)} values",
        )
        return out

    if num_examples and feat.presence.min_fraction > 0:
        fraction = common.num_non_missing / num_examples
        if fraction < feat.presence.min_fraction:
            add(
                "FEATURE_TYPE_LOW_FRACTION_PRESENT",
                f"column {name!r}: present in {fraction:.1%} of rows "
                f"({common.num_missing} missing); the schema requires at least "
                f"{feat.presence.min_fraction:.1%}",
            )

    domain = domains.get(feat.domain) if feat.domain else None
    if feat.HasField("string_domain"):
        domain = feat.string_domain
    if domain is not None and f.type == _Type.STRING:
        bad = _unexpected_values(f, set(domain.value))
        if bad:
            shown = ", ".join(repr(v) for v in bad[:10]) + (" ..." if len(bad) > 10 else "")
            add(
                "ENUM_TYPE_UNEXPECTED_STRING_VALUES",
                f"column {name!r}: {len(bad)} value(s) not in the schema's domain: {shown}",
            )

    if f.HasField("num_stats") and common.num_non_missing:
        n = f.num_stats
        dom = feat.float_domain if feat.HasField("float_domain") else None
        idom = feat.int_domain if feat.HasField("int_domain") else None
        lo = (
            dom.min
            if dom is not None and dom.HasField("min")
            else (idom.min if idom is not None and idom.HasField("min") else None)
        )
        hi = (
            dom.max
            if dom is not None and dom.HasField("max")
            else (idom.max if idom is not None and idom.HasField("max") else None)
        )
        kind = "INT_TYPE" if feat.type == schema_pb2.INT else "FLOAT_TYPE"
        small = "SMALL_INT" if kind == "INT_TYPE" else "SMALL_FLOAT"
        big = "BIG_INT" if kind == "INT_TYPE" else "BIG_FLOAT"
        if lo is not None and n.min < lo:
            add(
                f"{kind}_{small}",
                f"column {name!r}: minimum {n.min:g} is below the schema's {lo:g}",
            )
        if hi is not None and n.max > hi:
            add(f"{kind}_{big}", f"column {name!r}: maximum {n.max:g} is above the schema's {hi:g}")
        nan = sum(h.num_nan for h in n.histograms if h.type == statistics_pb2.Histogram.STANDARD)
        if dom is not None and dom.disallow_nan and nan:
            add(
                "FLOAT_TYPE_HAS_NAN",
                f"column {name!r}: {nan} NaN value(s) where the schema disallows NaN",
            )
        if dom is not None and dom.disallow_inf and (np.isinf(n.min) or np.isinf(n.max)):
            add(
                "FLOAT_TYPE_HAS_INF",
                f"column {name!r}: infinite values where the schema disallows them",
            )
    return out


def find_anomalies(
    stats: statistics_pb2.DatasetFeatureStatisticsList,
    schema: schema_pb2.Schema,
    *,
    min_examples: int = 1,
) -> list[Anomaly]:
    """Check every split's statistics against ``schema``."""
    domains = {d.name: d for d in schema.string_domain}
    out: list[Anomaly] = []
    for ds in stats.datasets:
        if ds.num_examples < min_examples:
            out.append(
                Anomaly(
                    ds.name,
                    "",
                    "DATASET_LOW_NUM_EXAMPLES",
                    f"split {ds.name!r} has {ds.num_examples} example(s); "
                    f"at least {min_examples} needed",
                )
            )
            continue
        seen = _features(ds)
        for feat in schema.feature:
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
        known = {f.name for f in schema.feature}
        for name in seen:
            if name not in known:
                out.append(
                    Anomaly(
                        ds.name,
                        name,
                        "SCHEMA_NEW_COLUMN",
                        f"column {name!r} is in the data but not in the schema",
                    )
                )
    return out


def to_proto(anomalies: list[Anomaly], schema: schema_pb2.Schema) -> anomalies_pb2.Anomalies:
    """The anomalies as TFDV's ``Anomalies`` proto (per feature, one reason per problem)."""
    proto = anomalies_pb2.Anomalies()
    proto.baseline.CopyFrom(schema)
    proto.anomaly_name_format = anomalies_pb2.Anomalies.SERIALIZED_PATH
    for a in anomalies:
        info = proto.dataset_anomaly_info if not a.feature else proto.anomaly_info[a.feature]
        if a.feature and not info.path.step:
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
    return proto


def validate(
    examples_dir: str | Path,
    statistics_dir: str | Path,
    schema_dir: str | Path,
    anomalies_dir: str | Path,
    *,
    curated_schema: str | Path = "",
    min_examples: int = 1,
) -> ValidationReport:
    """Compute statistics, infer (or load) the schema, find anomalies, and write all three."""
    stats = compute_statistics(examples_dir)
    schema = load_schema(curated_schema) if curated_schema else infer_schema(stats)
    anomalies = find_anomalies(stats, schema, min_examples=min_examples)
    report = ValidationReport(stats, schema, anomalies)
    with atomic_dir(statistics_dir) as tmp:
        atomic_write_bytes(tmp / "statistics.pb", stats.SerializeToString(deterministic=True))
        atomic_write_json(tmp / "statistics.json", summarize(stats))
    with atomic_dir(schema_dir) as tmp:
        atomic_write_text(tmp / "schema.pbtxt", text_format.MessageToString(schema))
    with atomic_dir(anomalies_dir) as tmp:
        atomic_write_text(
            tmp / "anomalies.pbtxt", text_format.MessageToString(to_proto(anomalies, schema))
        )
        atomic_write_json(
            tmp / "anomalies.json",
            {
                "ok": report.ok,
                "num_anomalies": report.num_anomalies,
                # drift needs a baseline statistics artifact; this run compared against none
                "drift_detected": report.drift_detected,
                "drift_baseline": None,
                "anomalies": [a.__dict__ for a in anomalies],
            },
        )
    for a in anomalies:
        log.warning("[%s] %s: %s", a.split, a.type, a.description)
    return report
