"""What monitor finds in one version's share of a window, with validate's own checks.

For the rows one (version, identity) answered, against that version's :class:`.baseline.Baseline`:

- **serving skew**: each model input's distribution against the training split
  (:func:`mlrail.validation.comparisons.compare`, kind ``skew``: L-infinity for categorical,
  Jensen-Shannon for numeric, the schema's comparators, thresholds from the sample sizes), and
  the schema's checks (:func:`mlrail.validation.anomalies.find_anomalies`: unseen categories,
  values out of the domain, presence); per feature also the missing-value rate, the unseen
  category rate and the out-of-range rate (outside the training split's min and max);
- **prediction drift**: the predictions table (:func:`mlrail.artifacts.predictions.
  predictions_table`) against the same model's eval predictions (evaluate's profile), with the
  same comparators (kind ``drift``);
- **estimated accuracy** (classifiers, no labels): the calibrated confidence of each answer
  averaged (:func:`mlrail.artifacts.calibration.estimate_accuracy`, as NannyML's CBPE), beside
  the eval accuracy; a drop beyond ``max_accuracy_drop`` is an alert. Per hour too (the trend);
- **realized performance** when labels are joined in (:mod:`.truth`);
- **latency** of the logged answers (the server's own figure per request).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from mlrail.artifacts.calibration import AccuracyEstimate, estimate_accuracy
from mlrail.artifacts.modelspec import CLASSIFICATION, ModelSpec
from mlrail.artifacts.predictions import predictions_table, realized_metrics
from mlrail.components.monitor.baseline import Baseline
from mlrail.validation.anomalies import find_anomalies
from mlrail.validation.comparisons import compare
from mlrail.validation.findings import Anomaly, Comparison
from mlrail.validation.schema import infer_schema
from mlrail.validation.statistics import statistics_from_batches

__all__ = ["VersionFindings", "check_version", "inputs_schema"]

#: The dataset names in the statistics and anomalies a window writes.
SERVING = "serving"
PREDICTIONS = "predictions"


@dataclass
class VersionFindings:
    """What one version's share of the window showed.

    Attributes:
        version: The version that answered.
        identity: Its model identity (None when the log did not say).
        rows: Rows answered (a batch request counts its rows).
        baseline: Where its training evidence came from.
        serving: The window's statistics of the model's inputs.
        predictions: The window's statistics of its predictions (None: no profile to compare).
        skew: Each input's distance from training.
        drift: Each prediction column's distance from the eval predictions.
        anomalies: Skew above threshold and schema anomalies (TFDV's types).
        features: Per input: missing, unseen-category and out-of-range rates.
        estimated: The estimated accuracy of the window (classifiers with a profile).
        eval_accuracy: The accuracy on the eval split the estimate is compared with.
        performance_drop: True when the estimate (or the realized accuracy) fell more than
            the allowed drop below ``eval_accuracy``.
        realized: Realized figures on the rows that labels were joined for.
        trend: Per hour: rows and estimated accuracy.
        latency_ms: p50, p95, p99 and mean of the logged latencies.
        notes: What was not checked, and why.
        schema: The schema the inputs were checked against (cut to the model's inputs).
        train: The training split's statistics they were compared with (the report's charts).
        eval_predictions: The eval predictions' statistics (None: no profile).
    """

    version: str
    identity: str | None
    rows: int
    baseline: str
    serving: statistics_pb2.DatasetFeatureStatistics
    predictions: statistics_pb2.DatasetFeatureStatistics | None
    skew: list[Comparison] = field(default_factory=list)
    drift: list[Comparison] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)
    features: dict[str, dict[str, float]] = field(default_factory=dict)
    estimated: AccuracyEstimate | None = None
    eval_accuracy: float | None = None
    performance_drop: bool = False
    realized: dict[str, Any] | None = None
    trend: list[dict[str, Any]] = field(default_factory=list)
    latency_ms: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    schema: schema_pb2.Schema = field(default_factory=schema_pb2.Schema)
    train: statistics_pb2.DatasetFeatureStatistics | None = None
    eval_predictions: statistics_pb2.DatasetFeatureStatistics | None = None

    @property
    def skewed(self) -> list[Comparison]:
        return [c for c in self.skew if c.exceeded]

    @property
    def drifted(self) -> list[Comparison]:
        return [c for c in self.drift if c.exceeded]

    @property
    def healthy(self) -> bool:
        return not (self.anomalies or self.drifted or self.performance_drop)


def inputs_schema(schema: schema_pb2.Schema, spec: ModelSpec) -> schema_pb2.Schema:
    """``schema`` cut to the model's inputs: a served request carries no label and no column
    the model does not take, which is no anomaly."""
    keep = {i.column for i in spec.inputs}
    out = schema_pb2.Schema()
    out.CopyFrom(schema)
    del out.feature[:]
    out.feature.extend(f for f in schema.feature if f.name in keep)
    return out


def _rates(
    table: pa.Table, train: statistics_pb2.DatasetFeatureStatistics, schema: schema_pb2.Schema
) -> dict[str, dict[str, float]]:
    """Per input column: missing rate; unseen-category rate (strings: values not among the
    schema's domain, else the training split's values); out-of-range rate (numbers: outside
    the training split's min and max)."""
    domains = {d.name: set(d.value) for d in schema.string_domain}
    by_name = {f.name: f for f in schema.feature}
    trained = {f.path.step[0]: f for f in train.features if f.path.step}
    out: dict[str, dict[str, float]] = {}
    n = table.num_rows
    for name in table.column_names:
        col = table.column(name)
        present = n - col.null_count
        figures = {"missing_rate": col.null_count / n if n else 0.0}
        feat, seen = by_name.get(name), trained.get(name)
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            known: set[str] = set()
            if feat is not None and feat.HasField("domain") and feat.domain in domains:
                known = domains[feat.domain]
            elif seen is not None and seen.HasField("string_stats"):
                known = {b.label for b in seen.string_stats.rank_histogram.buckets}
            if known and present:
                inside = pc.sum(pc.is_in(col, value_set=pa.array(sorted(known)))).as_py() or 0
                figures["unseen_rate"] = (present - inside) / present
        elif seen is not None and seen.HasField("num_stats") and present:
            values = pc.cast(col, pa.float64())
            low, high = seen.num_stats.min, seen.num_stats.max
            outside = pc.sum(pc.or_(pc.less(values, low), pc.greater(values, high))).as_py()
            figures["out_of_range_rate"] = (outside or 0) / present
        out[name] = figures
    return out


def _as_trained(table: pa.Table, schema: schema_pb2.Schema) -> pa.Table:
    """Numbers of an INT feature as integers when every value is whole: the model takes every
    number as float32, so a logged 219.0 was trained on as the integer 219 (a fraction there
    stays a float: served data unlike the training data, which the schema check reports)."""
    ints = {f.name for f in schema.feature if f.type == schema_pb2.INT}
    for i, name in enumerate(table.column_names):
        col = table.column(i)
        if name not in ints or not pa.types.is_floating(col.type):
            continue
        values = col.to_numpy(zero_copy_only=False)
        present = values[~np.isnan(values)]
        if np.all(np.isfinite(present)) and np.all(present == np.round(present)):
            table = table.set_column(i, name, pc.cast(col, pa.int64(), safe=False))
    return table


def _quantiles(values: np.ndarray) -> dict[str, float]:
    finite = values[np.isfinite(values)]
    if not finite.size:
        return {}
    p50, p95, p99 = np.percentile(finite, [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99), "mean": float(finite.mean())}


def _trend(times: np.ndarray, confidences: np.ndarray, baseline: Baseline) -> list[dict[str, Any]]:
    """Rows and estimated accuracy per hour of the window (the report's trend)."""
    assert baseline.predictions is not None and baseline.predictions.calibration is not None
    hours = times.astype("datetime64[h]")
    out = []
    for hour in np.unique(hours):
        mask = hours == hour
        est = estimate_accuracy(baseline.predictions.calibration, confidences[mask])
        out.append(
            {
                "hour": str(hour) + ":00Z",
                "rows": int(mask.sum()),
                "estimated_accuracy": est.value,
            }
        )
    return out


def check_version(
    version: str,
    identity: str | None,
    table: pa.Table,
    outputs: np.ndarray,
    times: np.ndarray,
    latency_ms: np.ndarray,
    baseline: Baseline,
    *,
    max_accuracy_drop: float,
    labels: pa.ChunkedArray | pa.Array | None = None,
) -> VersionFindings:
    """Check one version's rows of a window against its training evidence.

    Args:
        version: The version that answered.
        identity: Its identity (None: unknown).
        table: The decoded inputs, one row per answered row, columns as in training.
        outputs: The model's output per row (``[rows, k]`` or ``[rows]``).
        times: Each row's answer time (numpy ``datetime64``).
        latency_ms: Each row's request latency.
        baseline: The version's training evidence.
        max_accuracy_drop: The largest drop of accuracy below eval allowed.
        labels: True labels per row (null where unknown), for the realized figures.
    """
    spec, schema = baseline.spec, inputs_schema(baseline.schema, baseline.spec)
    where = f"serving (version {version})"
    table = _as_trained(table, schema)
    serving = statistics_from_batches(SERVING, table, source=where)
    found = VersionFindings(version, identity, table.num_rows, baseline.source, serving, None)
    window = statistics_pb2.DatasetFeatureStatisticsList()
    window.datasets.add().CopyFrom(serving)
    found.anomalies = find_anomalies(window, schema)
    found.skew, over = compare("skew", serving, baseline.train, schema, against="train")
    found.anomalies += over
    found.features = _rates(table, baseline.train, schema)
    found.latency_ms = _quantiles(latency_ms)

    preds = predictions_table(spec, outputs, where)
    profile = baseline.predictions
    if profile is None:
        found.notes.append(
            f"no prediction drift or estimated accuracy: {baseline.predictions_note}"
        )
    else:
        found.predictions = statistics_from_batches(PREDICTIONS, preds, source=where)
        found.eval_predictions = profile.dataset
        reference = statistics_pb2.DatasetFeatureStatisticsList()
        reference.datasets.add().CopyFrom(profile.dataset)
        found.drift, _ = compare(
            "drift",
            found.predictions,
            profile.dataset,
            infer_schema(reference, profile.dataset.name),
            against="eval",
        )
    if spec.task in CLASSIFICATION and profile is not None and profile.calibration is not None:
        confidences = preds.column("confidence").to_numpy(zero_copy_only=False)
        found.estimated = estimate_accuracy(profile.calibration, confidences)
        found.eval_accuracy = profile.metrics.get("accuracy")
        found.trend = _trend(times, confidences, baseline)
        if found.eval_accuracy is not None:
            # the interval's upper end: a small window's noisy estimate alone is no alarm
            drop = found.eval_accuracy - found.estimated.high
            found.performance_drop = math.isfinite(drop) and drop > max_accuracy_drop
    if labels is not None:
        known = pc.invert(pc.is_null(labels)).to_numpy(zero_copy_only=False)
        if known.any():
            found.realized = realized_metrics(
                spec, preds.filter(pa.array(known)), _take(labels, known)
            )
            found.realized["labelled_rows"] = int(known.sum())
            if (
                spec.task in CLASSIFICATION
                and found.eval_accuracy is not None
                and "accuracy" in found.realized
            ):
                drop = found.eval_accuracy - float(found.realized["accuracy"])
                found.performance_drop = found.performance_drop or drop > max_accuracy_drop
        else:
            found.notes.append("labels given, but none joined this version's requests")
    return found


def _take(labels: pa.ChunkedArray | pa.Array, mask: np.ndarray) -> list[Any]:
    return [v for v, keep in zip(labels.to_pylist(), mask, strict=True) if keep]


def window_bounds(start: dt.datetime, end: dt.datetime) -> dict[str, str]:
    """The window as RFC 3339 strings (events and reports)."""
    stamp = lambda t: t.isoformat(timespec="seconds").replace("+00:00", "Z")  # noqa: E731
    return {"start": stamp(start), "end": stamp(end)}
