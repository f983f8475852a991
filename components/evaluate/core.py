"""evaluate: how good the model is, overall, per slice and per group, and whether to bless it.

The model is run on the eval split (or any table with the label column), its figures computed
with scikit-learn (:mod:`.metrics`), fairlearn (:mod:`.fairness`) and scikit-learn's permutation
importance (:mod:`.importance`), compared with a baseline model when there is one (:mod:`.models`:
the latest deployed version, say), and checked against thresholds. The model is blessed when no
enforced check fails. Entry points: :func:`evaluate` (an examples folder, the component),
:func:`evaluate_file` (CSV, Parquet or JSON Lines data) and :func:`evaluate_table` (a pyarrow
table).

Thresholds (``thresholds``), either a flat mapping for the whole eval set::

    {"accuracy": ">= 0.9", "log_loss": 0.5}

or, to add per-slice thresholds::

    {"overall": {"accuracy": ">= 0.9", "roc_auc": {"max_drop": 0.01}},
     "slices": {"island": {"accuracy": ">= 0.8"},            # every slice of island
                "island=Biscoe": {"recall[Gentoo]": 0.9}}}   # one slice

Per metric: a number (at least for metrics where higher is better, see
:data:`~.metrics.HIGHER_IS_BETTER`, at most for the others); ``"<op> <number>"`` with op one of
``>= <= > <`` (a value threshold); ``"change <op> <number>"`` on the change against the
baseline (``value - baseline value``; ``"change >= -0.01"``: may fall by at most 0.01);
``{"max_drop": d}`` (``change >= -d``), ``{"max_increase": d}`` (``change <= d``),
``{"value": ..., "change": "<op> <number>"}``, or a list of any of these. Metric names are
those of :mod:`.metrics`; per-class figures are written ``recall[Adelie]``.

Defaults: when the overall thresholds hold no value threshold, the task's
:data:`DEFAULT_THRESHOLDS` (clearly better than chance) is added; when there is a baseline and
the overall thresholds hold no change threshold, :data:`DEFAULT_CHANGE_THRESHOLDS` (the task's
headline metric may not fall by more than 0.01) is added, so a model worse than the one
deployed is not blessed by default.

Which checks are enforced: change checks need a baseline (without one, the first run, they are
listed as skipped and the blessing rests on value thresholds alone, as blessing.json says); a
slice with fewer than ``min_slice_rows`` rows is reported but its checks are skipped (too few
rows to judge); a metric undefined on a slice (ROC AUC on a slice lacking a class) is skipped.
An overall metric the task does not have, or one that is undefined, is an error.

Rows without a label (null, or NaN for a number) are left out of every figure: ``rows`` counts
the labelled rows evaluated, ``dropped_unlabelled`` those left out, and a note says so in
blessing.json and the report.

Thresholds can be checked before anything runs, with no model (:func:`check_threshold_names`):
the CLI does so before its first step.

Fairness (``sensitive_columns``, ``fairness_thresholds``): fairlearn's figures per sensitive
column (see :mod:`.fairness`); thresholds on them, flat (every sensitive column) or per column::

    {"demographic_parity_difference": "<= 0.1"}
    {"sex": {"equalized_odds_difference": 0.2}}

with the same per-metric syntax (a bare number means at most, except for ratios).

Outputs::

    metrics_path       metrics.json: {"task", "rows", "dropped_unlabelled", "model", "data",
                       "metrics": {name: value},
                       "classes", "confusion_matrix", "per_class": {class: {"precision",
                       "recall", "f1", "support"}}, "curves": {"roc", "pr", "calibration",
                       "predicted_vs_true"}, "slices": [{"column", "slice", "rows", "small",
                       "metrics", "per_class", "baseline_metrics"}], "fairness": [{"column",
                       "metrics", "by_class", "groups": [{"group", "rows", "small", "figures"}],
                       "note", "baseline_metrics"}], "feature_importance": {"scoring",
                       "n_repeats", "rows", "features": [{"feature", "mean", "std"}]},
                       "baseline": null or {"model", "format", "metrics"}}
    blessing_dir/
      blessing.json    {"blessed", "decided_on", "rows", "dropped_unlabelled", "baseline": null
                       or {"requested", "model", "format", "reason"}, "min_slice_rows",
                       "failed", "skipped", "notes",
                       "checks": [{"metric", "scope" (overall|slice|fairness), "slice" (null,
                       "island=Biscoe" or a sensitive column), "kind" (value|change), "op",
                       "bound", "value", "baseline_value", "change", "rows", "verdict"
                       (pass|fail|skipped), "reason", "passed"}]}
                       ("passed" is false only for a failed check: a skipped one does not
                       withhold the blessing)
    report_path        one self-contained HTML page (see :mod:`.report`)
"""

from __future__ import annotations

import math
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict, Unpack

import numpy as np
import pyarrow as pa

from mlrail.artifacts.jsonsafe import finite
from mlrail.artifacts.modelspec import CLASSIFICATION, TASKS, ModelSpec, read_split
from mlrail.components.evaluate.fairness import FAIRNESS_METRICS, Fairness, compute_fairness
from mlrail.components.evaluate.importance import Importance, permutation_feature_importance
from mlrail.components.evaluate.metrics import (
    HIGHER_IS_BETTER,
    PER_CLASS_METRICS,
    Curves,
    MetricSet,
    compute_curves,
    compute_metrics,
    is_metric,
    parse_slices,
    slice_rows,
    task_metrics,
)
from mlrail.components.evaluate.models import (
    Predictor,
    latest_deployed,
    load_model,
    resolve_baseline,
)
from mlrail.errors import DataError, ModelError
from mlrail.io import atomic_dir, atomic_write_json, atomic_write_text

__all__ = [
    "DEFAULT_CHANGE_THRESHOLDS",
    "DEFAULT_MIN_SLICE_ROWS",
    "DEFAULT_THRESHOLDS",
    "Check",
    "Evaluation",
    "Options",
    "SliceResult",
    "Threshold",
    "check_threshold_names",
    "evaluate",
    "evaluate_file",
    "evaluate_table",
    "latest_deployed",
    "parse_fairness_thresholds",
    "parse_thresholds",
]

#: Used when the overall thresholds hold no value threshold: clearly better than chance.
DEFAULT_THRESHOLDS: dict[str, dict[str, str]] = {
    "binary": {"roc_auc": ">= 0.6"},
    "multiclass": {"accuracy": ">= 0.6"},
    "regression": {"r2": ">= 0.1"},
}
#: Used with a baseline when the overall thresholds hold no change threshold.
DEFAULT_CHANGE_THRESHOLDS: dict[str, dict[str, Any]] = {
    "binary": {"roc_auc": {"max_drop": 0.01}},
    "multiclass": {"accuracy": {"max_drop": 0.01}},
    "regression": {"r2": {"max_drop": 0.01}},
}
DEFAULT_MIN_SLICE_ROWS = 10
_OPS = {
    ">=": lambda v, b: v >= b,
    "<=": lambda v, b: v <= b,
    ">": lambda v, b: v > b,
    "<": lambda v, b: v < b,
}
_NUMBER = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
_VALUE = re.compile(rf"^\s*(>=|<=|>|<)?\s*{_NUMBER}\s*$")
_CHANGE = re.compile(rf"^\s*change\s*(>=|<=|>|<)\s*{_NUMBER}\s*$")
_SYNTAX = "a number, '>= 0.9', 'change >= -0.01', {'max_drop': 0.01} or a list of these"


# ---------------------------------------------------------------------------------------------
# thresholds


@dataclass(frozen=True)
class Threshold:
    """One bound: ``metric op bound`` (kind ``value``) or ``metric - baseline op bound``
    (kind ``change``), overall (``slice`` None), for a slice column, ``column=label`` or a
    sensitive column."""

    metric: str
    op: str
    bound: float
    kind: str = "value"
    slice: str | None = None

    def holds(self, x: float) -> bool:
        return bool(_OPS[self.op](x, self.bound))

    def describe(self) -> str:
        what = "change" if self.kind == "change" else ""
        return " ".join(p for p in (self.metric, what, self.op, _fmt(self.bound)) if p)


def _fmt(x: float) -> str:
    return f"{x:g}"


def _number(raw: Any) -> float | None:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
        return None
    return float(raw)


def _parse_one(metric: str, raw: Any, where: str, scope: str | None) -> list[Threshold]:
    what = f"threshold for {metric!r}{where}"
    if isinstance(raw, list):
        if not raw:
            raise ValueError(f"{what}: an empty list; write {_SYNTAX}")
        return [t for item in raw for t in _parse_one(metric, item, where, scope)]
    if isinstance(raw, dict):
        known = {"value", "change", "max_drop", "max_increase"}
        if not raw or set(raw) - known:
            raise ValueError(
                f"{what}: cannot read {raw!r}; the keys are {', '.join(sorted(known))}"
            )
        out: list[Threshold] = []
        if "value" in raw:
            if isinstance(raw["value"], (dict, list)):
                raise ValueError(f"{what}: 'value' takes a number or '>= 0.9', got {raw!r}")
            out += _parse_one(metric, raw["value"], where, scope)
        if "change" in raw:
            text = raw["change"]
            if not isinstance(text, str):
                raise ValueError(f"{what}: 'change' takes e.g. '>= -0.01', got {text!r}")
            out += _parse_one(metric, f"change {text}", where, scope)
        for key, op, sign in (("max_drop", ">=", -1.0), ("max_increase", "<=", 1.0)):
            if key in raw:
                d = _number(raw[key])
                if d is None or d < 0:
                    raise ValueError(f"{what}: {key} takes a number >= 0, got {raw[key]!r}")
                out.append(Threshold(metric, op, sign * d if d else 0.0, "change", scope))
        return out
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise ValueError(f"{what}: expected {_SYNTAX}; got {raw!r}")
    text = str(raw)
    m = _CHANGE.match(text)
    if m:
        return [Threshold(metric, m.group(1), float(m.group(2)), "change", scope)]
    m = _VALUE.match(text)
    if not m or not math.isfinite(float(m.group(2))):
        raise ValueError(f"{what}: cannot read {raw!r}; write e.g. '>= 0.9' ({_SYNTAX})")
    op = m.group(1) or (">=" if _base(metric) in HIGHER_IS_BETTER else "<=")
    return [Threshold(metric, op, float(m.group(2)), "value", scope)]


def _base(metric: str) -> str:
    """``recall[Adelie]`` → ``recall``."""
    return metric.split("[", 1)[0]


def _flat(raw: Any, where: str, scope: str | None) -> list[Threshold]:
    if not isinstance(raw, Mapping):
        raise ValueError(f"thresholds{where}: expected a mapping of metric to bound, got {raw!r}")
    out = []
    for metric, value in raw.items():
        if not isinstance(metric, str) or not metric:
            raise ValueError(f"thresholds{where}: a metric name must be a string, got {metric!r}")
        out += _parse_one(metric, value, where, scope)
    return out


def _nested(thresholds: Mapping[str, Any]) -> bool:
    return bool(thresholds) and set(thresholds) <= {"overall", "slices"}


def parse_thresholds(thresholds: Mapping[str, Any] | None) -> list[Threshold]:
    """The thresholds of ``thresholds`` (flat, or ``{"overall": ..., "slices": ...}``).

    ``{"accuracy": ">= 0.9", "rmse": 3}`` → ``[Threshold("accuracy", ">=", 0.9),
    Threshold("rmse", "<=", 3.0)]``. Defaults are not added here (they depend on the task and
    the baseline).

    Raises:
        ValueError: naming the metric (and slice) whose bound cannot be read.
    """
    if not thresholds:
        return []
    if not _nested(thresholds):
        return _flat(thresholds, "", None)
    out = _flat(thresholds.get("overall") or {}, "", None)
    slices = thresholds.get("slices") or {}
    if not isinstance(slices, Mapping):
        raise ValueError(
            f"thresholds 'slices': expected a mapping of slice to thresholds, got {slices!r}"
        )
    for key, raw in slices.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"thresholds 'slices': a slice must be a string, got {key!r}")
        out += _flat(raw, f" (slice {key})", key)
    return out


def parse_fairness_thresholds(thresholds: Mapping[str, Any] | None) -> list[Threshold]:
    """Fairness thresholds: ``{metric: bound}`` for every sensitive column (``slice`` None), or
    ``{column: {metric: bound}}`` for one.

    Raises:
        ValueError: a bound that cannot be read, or a key that is neither a fairness metric
            nor a mapping for a column.
    """
    out: list[Threshold] = []
    for key, raw in (thresholds or {}).items():
        if key in FAIRNESS_METRICS:
            out += _parse_one(key, raw, " (fairness)", None)
        elif isinstance(raw, Mapping):
            for metric in raw:
                if metric not in FAIRNESS_METRICS:
                    raise ValueError(
                        f"fairness threshold for {metric!r} (column {key}): not a fairness "
                        f"metric; these are {', '.join(FAIRNESS_METRICS)}"
                    )
            out += _flat(raw, f" (fairness, column {key})", key)
        else:
            raise ValueError(
                f"fairness threshold {key!r}: not a fairness metric ({', '.join(FAIRNESS_METRICS)})"
                " nor a column with a mapping of its own thresholds"
            )
    return out


def _known_metric(metric: str) -> bool:
    """Whether some task computes ``metric`` (``recall[<any class>]`` included)."""
    if any(metric in task_metrics(task) for task in ("binary", "multiclass", "regression")):
        return True
    name, _, cls = metric.partition("[")
    return name in PER_CLASS_METRICS and cls.endswith("]") and len(cls) > 1


def check_threshold_names(
    thresholds: Mapping[str, Any] | None,
    fairness_thresholds: Mapping[str, Any] | None = None,
    *,
    slices: Sequence[Any] | None = None,
    sensitive_columns: Sequence[str] | None = None,
) -> None:
    """Check thresholds with no model and no data: what can be known before any step runs.

    Every bound must be readable (:func:`parse_thresholds`), every metric one that some task
    computes (the task itself is known only after training: :func:`evaluate_table` then checks
    the metric against it and a per-class metric against the classes), every fairness metric
    one of :data:`~.fairness.FAIRNESS_METRICS`. With ``slices`` (and ``sensitive_columns``)
    given, a threshold for a slice (or a fairness column) must name one of them.

    Raises:
        ValueError: naming the first unreadable bound or unknown metric, and the known ones.
    """
    parsed = parse_thresholds(thresholds)
    fairness = parse_fairness_thresholds(fairness_thresholds)
    for t in parsed:
        if not _known_metric(t.metric):
            where = f" (slice {t.slice})" if t.slice else ""
            known = sorted({m for task in TASKS for m in task_metrics(task)})
            raise ValueError(
                f"threshold on {t.metric!r}{where}: not a metric; these are "
                f"{', '.join(known)}, and per class "
                f"{'/'.join(PER_CLASS_METRICS)} as 'recall[<class>]'"
            )
    if slices is not None:
        columns = [s.column for s in parse_slices(slices)]
        for t in parsed:
            if t.slice is not None and t.slice.split("=", 1)[0] not in columns:
                raise ValueError(
                    f"thresholds for slice {t.slice!r}, but the slices are: "
                    f"{', '.join(columns) or 'none (set slices)'}"
                )
    for t in fairness:
        if t.metric not in FAIRNESS_METRICS:  # a flat key is checked by the parser already
            raise ValueError(
                f"fairness threshold on {t.metric!r}: not a fairness metric; these are "
                f"{', '.join(FAIRNESS_METRICS)}"
            )
        if (
            sensitive_columns is not None
            and t.slice is not None
            and t.slice not in sensitive_columns
        ):
            raise ValueError(
                f"fairness thresholds for column {t.slice!r}, but the sensitive columns are: "
                f"{', '.join(sensitive_columns) or 'none (set sensitive_columns)'}"
            )


# ---------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class Check:
    """One threshold checked: what, where, the figures and the verdict."""

    metric: str
    op: str
    bound: float
    value: float | None
    passed: bool  # False only for a failed check: a skipped one does not withhold the blessing
    kind: str = "value"
    scope: str = "overall"
    slice: str | None = None
    baseline_value: float | None = None
    change: float | None = None
    rows: int = 0
    verdict: str = "pass"
    reason: str = ""

    def describe(self) -> str:
        """``accuracy >= 0.9`` or ``accuracy change >= -0.01``."""
        what = "change" if self.kind == "change" else ""
        return " ".join(p for p in (self.metric, what, self.op, _fmt(self.bound)) if p)


@dataclass
class SliceResult:
    """The figures of one slice (and of the baseline on the same rows)."""

    column: str
    label: str
    rows: int
    metrics: MetricSet
    small: bool
    baseline: MetricSet | None = None

    @property
    def name(self) -> str:
        return f"{self.column}={self.label}"


@dataclass
class BaselineResult:
    """The baseline model's figures on the same rows."""

    source: str
    format: str
    metrics: MetricSet
    curves: Curves


@dataclass
class Evaluation:
    """What evaluate found; the ``metrics``, ``classes``, ``confusion_matrix`` and ``checks``
    fields keep their earlier meaning."""

    task: str
    rows: int
    metrics: dict[str, float]
    classes: list[str] = field(default_factory=list)
    confusion_matrix: list[list[int]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)
    curves: Curves = field(default_factory=Curves)
    slices: list[SliceResult] = field(default_factory=list)
    fairness: list[Fairness] = field(default_factory=list)
    baseline_fairness: dict[str, Fairness] = field(default_factory=dict)
    importance: Importance | None = None
    baseline: BaselineResult | None = None
    baseline_requested: str = ""
    baseline_reason: str = ""
    min_slice_rows: int = DEFAULT_MIN_SLICE_ROWS
    model: str = ""
    data: str = ""
    notes: list[str] = field(default_factory=list)
    dropped_unlabelled: int = 0

    @property
    def blessed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def decided_on(self) -> str:
        """In words, what the blessing rests on."""
        kinds = {c.kind for c in self.checks if c.verdict != "skipped"}
        if self.baseline is None:
            why = self.baseline_reason or "no baseline model was given"
            return f"value thresholds only: no baseline ({why})"
        if "change" in kinds:
            return f"value thresholds and changes against the baseline {self.baseline.source}"
        return (
            f"value thresholds; no change was checked against the baseline {self.baseline.source}"
        )

    def kfp_metrics(self) -> dict[str, float]:
        """Scalars for the KFP ``Metrics`` artifact: the overall metrics and, per sensitive
        column, its fairness figures (``demographic_parity_difference[sex]``), and
        ``dropped_unlabelled`` (rows left out for having no label)."""
        out = dict(self.metrics)
        out["dropped_unlabelled"] = float(self.dropped_unlabelled)
        for f in self.fairness:
            out.update({f"{k}[{f.column}]": v for k, v in f.metrics.items()})
        return {k: v for k, v in out.items() if math.isfinite(v)}

    def kfp_roc_curve(self) -> tuple[list[float], list[float], list[float]]:
        """The binary ROC curve (fpr, tpr, finite thresholds) for ``ClassificationMetrics``;
        empty lists for other tasks (KFP then records no curve)."""
        if self.task != "binary" or not self.curves.roc:
            return [], [], []
        (roc,) = self.curves.roc.values()
        return roc["fpr"], roc["tpr"], roc["thresholds"]


# ---------------------------------------------------------------------------------------------
# checks


def _resolve(
    spec: ModelSpec, thresholds: Mapping[str, Any] | None, baseline: bool
) -> list[Threshold]:
    parsed = parse_thresholds(thresholds)
    overall = [t for t in parsed if t.slice is None]
    extra: list[Threshold] = []
    if not any(t.kind == "value" for t in overall):
        extra += parse_thresholds(DEFAULT_THRESHOLDS[spec.task])
    if baseline and not any(t.kind == "change" for t in overall):
        extra += parse_thresholds(DEFAULT_CHANGE_THRESHOLDS[spec.task])
    return [*overall, *extra, *(t for t in parsed if t.slice is not None)]


def _unknown_metric(spec: ModelSpec, metric: str) -> ValueError:
    have = ", ".join(task_metrics(spec.task))
    if spec.task in CLASSIFICATION:
        have += ", and per class precision/recall/f1/support as 'recall[<class>]'"
    return ValueError(f"threshold on {metric!r}, but a {spec.task} evaluation has: {have}")


def _undefined_metric(spec: ModelSpec, metric: str, overall: MetricSet, where: str) -> DataError:
    if metric == "roc_auc" and spec.task in CLASSIFICATION:
        present = {c for c, f in overall.per_class.items() if f["support"] > 0}
        absent = [c for c in spec.classes if c not in present]
        return DataError(
            f"{where}: ROC AUC is undefined because no eval row has class(es) "
            f"{', '.join(map(repr, absent))}; use a larger eval_ratio or more data, "
            "or set a threshold on another metric"
        )
    return DataError(f"{where}: {metric} is undefined on these {overall.rows} rows")


def _judge(
    t: Threshold,
    value: float | None,
    baseline: float | None,
    has_baseline: bool,
    *,
    scope: str,
    slice_name: str | None,
    rows: int,
    skip: str = "",
) -> Check:
    """The check of ``t`` on ``value`` (and ``baseline``); ``skip`` says why it is not enforced."""
    change = value - baseline if value is not None and baseline is not None else None
    if not skip:
        if t.kind == "change" and not has_baseline:
            skip = "no baseline: change not checked"
        elif value is None:
            skip = "undefined on these rows"
        elif t.kind == "change" and baseline is None:
            skip = "undefined for the baseline on these rows"
    x = change if t.kind == "change" else value
    if skip or x is None:
        verdict, passed = "skipped", True
    else:
        passed = t.holds(x)
        verdict = "pass" if passed else "fail"
    reason = skip
    if verdict == "fail" and t.kind == "change":
        reason = (
            f"change {_fmt4(change)} (baseline {_fmt4(baseline)}, model {_fmt4(value)}) "
            f"is not {t.op} {_fmt(t.bound)}"
        )
    elif verdict == "fail":
        reason = f"{_fmt4(value)} is not {t.op} {_fmt(t.bound)}"
    return Check(
        t.metric,
        t.op,
        t.bound,
        value,
        passed,
        t.kind,
        scope,
        slice_name,
        baseline,
        change,
        rows,
        verdict,
        reason,
    )


def _fmt4(x: float | None) -> str:
    return "undefined" if x is None else f"{x:.4g}"


def _checks(
    spec: ModelSpec,
    wanted: list[Threshold],
    fairness_wanted: list[Threshold],
    overall: MetricSet,
    baseline: BaselineResult | None,
    slices: list[SliceResult],
    fairness: list[Fairness],
    baseline_fairness: dict[str, Fairness],
    min_rows: int,
    where: str,
) -> list[Check]:
    out = []
    for t in (t for t in wanted if t.slice is None):
        value = overall.get(t.metric)
        if value is None:
            raise _undefined_metric(spec, t.metric, overall, where)
        b = baseline.metrics.get(t.metric) if baseline else None
        out.append(
            _judge(
                t,
                value,
                b,
                baseline is not None,
                scope="overall",
                slice_name=None,
                rows=overall.rows,
            )
        )
    for t in (t for t in wanted if t.slice is not None):
        matching = [s for s in slices if t.slice in (s.column, s.name)]
        if not matching:  # "column=value" with no row of that value in this data
            out.append(
                _judge(
                    t,
                    None,
                    None,
                    baseline is not None,
                    scope="slice",
                    slice_name=t.slice,
                    rows=0,
                    skip="no row of this slice in the data",
                )
            )
        for s in slices:
            if t.slice not in (s.column, s.name):
                continue
            skip = (
                f"{s.rows} rows (fewer than {min_rows}): reported, not enforced" if s.small else ""
            )
            b = s.baseline.get(t.metric) if s.baseline else None
            out.append(
                _judge(
                    t,
                    s.metrics.get(t.metric),
                    b,
                    baseline is not None,
                    scope="slice",
                    slice_name=s.name,
                    rows=s.rows,
                    skip=skip,
                )
            )
    for t in fairness_wanted:
        for f in fairness:
            if t.slice not in (None, f.column):
                continue
            bf = baseline_fairness.get(f.column)
            rows = sum(g.rows for g in f.groups if not g.small)
            out.append(
                _judge(
                    t,
                    f.metrics.get(t.metric),
                    bf.metrics.get(t.metric) if bf else None,
                    baseline is not None,
                    scope="fairness",
                    slice_name=f.column,
                    rows=rows,
                    skip=f.note if not f.metrics else "",
                )
            )
    return out


def _validate(
    spec: ModelSpec,
    wanted: list[Threshold],
    fairness_wanted: list[Threshold],
    slice_columns: list[str],
    sensitive_columns: Sequence[str],
) -> None:
    """Refuse thresholds naming what this evaluation will not have, before any work is done."""
    for t in wanted:
        if not is_metric(spec, t.metric):
            raise _unknown_metric(spec, t.metric)
        if t.slice is not None and t.slice.split("=", 1)[0] not in slice_columns:
            raise ValueError(
                f"thresholds for slice {t.slice!r}, but the slices are: "
                f"{', '.join(slice_columns) or 'none (set slices)'}"
            )
    applicable = _fairness_metrics(spec)
    for t in fairness_wanted:
        if t.metric not in applicable:
            raise ValueError(
                f"fairness threshold on {t.metric!r}, but a {spec.task} evaluation has: "
                f"{', '.join(applicable)}"
            )
        if t.slice is not None and t.slice not in sensitive_columns:
            raise ValueError(
                f"fairness thresholds for column {t.slice!r}, but the sensitive columns are: "
                f"{', '.join(sensitive_columns) or 'none (set sensitive_columns)'}"
            )


def _fairness_metrics(spec: ModelSpec) -> list[str]:
    if spec.task in CLASSIFICATION:
        return [m for m in FAIRNESS_METRICS if not m.startswith(("mae", "rmse"))]
    return ["mae_difference", "rmse_difference"]


# ---------------------------------------------------------------------------------------------
# running


def _baseline_outputs(base: Predictor, spec: ModelSpec, table: pa.Table, where: str) -> np.ndarray:
    """The baseline's outputs on ``table``, columns in ``spec``'s class order."""
    b = base.spec
    if (b.task, b.label) != (spec.task, spec.label) or set(b.classes) != set(spec.classes):
        raise ModelError(
            f"{base.source}: the baseline predicts {b.label!r} ({b.task}, classes "
            f"{b.classes}), the model {spec.label!r} ({spec.task}, classes {spec.classes}): "
            "they cannot be compared"
        )
    out = base.predict(b.features(table, where))
    if b.classes != spec.classes:
        out = out[:, [b.classes.index(c) for c in spec.classes]]
    return out


class Options(TypedDict, total=False):
    """:func:`evaluate_table`'s keyword options, taken by :func:`evaluate` and
    :func:`evaluate_file` too."""

    report_path: str | Path | None
    thresholds: Mapping[str, Any] | None
    slices: Sequence[Any]
    min_slice_rows: int
    sensitive_columns: Sequence[str]
    fairness_thresholds: Mapping[str, Any] | None
    baseline_model: str
    importance_repeats: int


def evaluate_table(
    model_dir: str | Path,
    table: pa.Table,
    where: str,
    metrics_path: str | Path | None = None,
    blessing_dir: str | Path | None = None,
    *,
    report_path: str | Path | None = None,
    thresholds: Mapping[str, Any] | None = None,
    slices: Sequence[Any] = (),
    min_slice_rows: int = DEFAULT_MIN_SLICE_ROWS,
    sensitive_columns: Sequence[str] = (),
    fairness_thresholds: Mapping[str, Any] | None = None,
    baseline_model: str = "",
    importance_repeats: int = 5,
) -> Evaluation:
    """Evaluate the model in ``model_dir`` on ``table`` and write what is asked for.

    Args:
        model_dir: A train output or an ONNX model folder (see :mod:`.models`).
        table: The rows, with the label column and the model's input columns.
        where: Names the data in messages and outputs (a path).
        metrics_path: Where to write metrics.json; not written when None.
        blessing_dir: Where to write blessing/blessing.json; not written when None.
        report_path: Where to write the HTML report; not written when None.
        thresholds: See the module docstring; None or empty for the defaults.
        slices: Columns to slice by (names, or ``{"column", "buckets"}``).
        min_slice_rows: Slices and fairness groups with fewer rows are reported, not enforced.
        sensitive_columns: Columns to compute fairness figures for.
        fairness_thresholds: See the module docstring.
        baseline_model: A path or URI to the model to compare with; "" for none.
        importance_repeats: Shuffles per feature for permutation importance; 0 to skip it.

    Returns:
        The evaluation; ``blessed`` is the verdict.

    Raises:
        DataError: the data lacks a column, has no labelled row, or an overall metric with a
            threshold is undefined on it.
        ModelError: the model (or the baseline) cannot be loaded or compared.
        ValueError: thresholds or slices that cannot be read, or name what does not exist.
    """
    # refuse bad settings before the model runs
    parsed = parse_thresholds(thresholds)
    fairness_wanted = parse_fairness_thresholds(fairness_thresholds)
    slice_specs = parse_slices(slices)
    if min_slice_rows < 1:
        raise ValueError(f"min_slice_rows must be at least 1, got {min_slice_rows}")
    model = load_model(model_dir)
    spec = model.spec
    columns = [s.column for s in slice_specs]
    _validate(spec, parsed, fairness_wanted, columns, sensitive_columns)
    y, mask = spec.labels(table, where)
    if not mask.any():
        raise DataError(
            f"{where}: no labelled rows to evaluate on (all {len(mask)} row(s) lack "
            f"the label {spec.label!r})"
        )
    dropped = int((~mask).sum())
    table = table.filter(pa.array(mask))
    y = y[mask]
    features = spec.features(table, where)
    pred = model.predict(features)

    with tempfile.TemporaryDirectory(prefix="mlrail-evaluate-") as scratch:
        base, reason = resolve_baseline(baseline_model, Path(scratch))
        base_pred = _baseline_outputs(base, spec, table, where) if base else None

    overall = compute_metrics(spec, y, pred)
    ev = Evaluation(
        task=spec.task,
        rows=int(len(y)),
        metrics=overall.scalars,
        classes=list(spec.classes),
        confusion_matrix=overall.confusion_matrix,
        per_class=overall.per_class,
        curves=compute_curves(spec, y, pred),
        baseline_requested=baseline_model,
        baseline_reason=reason,
        min_slice_rows=min_slice_rows,
        model=str(model_dir),
        data=where,
        dropped_unlabelled=dropped,
    )
    if dropped:
        ev.notes.append(
            f"{dropped} row(s) without a label {spec.label!r} were left out of the evaluation"
        )
    if base is not None and base_pred is not None:
        ev.baseline = BaselineResult(
            base.source,
            base.format,
            compute_metrics(spec, y, base_pred),
            compute_curves(spec, y, base_pred),
        )
    for s in slice_specs:
        for sl in slice_rows(table, s, where):
            rows = int(sl.mask.sum())
            ev.slices.append(
                SliceResult(
                    sl.column,
                    sl.label,
                    rows,
                    compute_metrics(spec, y[sl.mask], pred[sl.mask]),
                    rows < min_slice_rows,
                    compute_metrics(spec, y[sl.mask], base_pred[sl.mask])
                    if base_pred is not None
                    else None,
                )
            )
    small = [s.name for s in ev.slices if s.small]
    if small:
        ev.notes.append(
            f"{len(small)} slice(s) with fewer than {min_slice_rows} rows are reported but "
            f"their thresholds are not enforced: {', '.join(small)}"
        )
    for column in sensitive_columns:
        f = compute_fairness(spec, table, y, pred, column, min_rows=min_slice_rows, where=where)
        ev.fairness.append(f)
        tiny = [g.label for g in f.groups if g.small]
        if tiny:
            ev.notes.append(
                f"fairness by {column}: group(s) {', '.join(tiny)} have fewer than "
                f"{min_slice_rows} rows and are left out of the differences"
            )
        if base_pred is not None:
            ev.baseline_fairness[column] = compute_fairness(
                spec, table, y, base_pred, column, min_rows=min_slice_rows, where=where
            )
    if importance_repeats > 0:
        ev.importance = permutation_feature_importance(
            spec, model.predict, features, y, n_repeats=importance_repeats
        )
    wanted = _resolve(spec, thresholds, base is not None)
    ev.checks = _checks(
        spec,
        wanted,
        fairness_wanted,
        overall,
        ev.baseline,
        ev.slices,
        ev.fairness,
        ev.baseline_fairness,
        min_slice_rows,
        where,
    )
    if metrics_path is not None:
        atomic_write_json(metrics_path, finite(metrics_json(ev)))
    if blessing_dir is not None:
        with atomic_dir(blessing_dir) as tmp:
            atomic_write_json(tmp / "blessing.json", finite(blessing_json(ev)))
    if report_path is not None:
        from mlrail.components.evaluate.report import render_html

        atomic_write_text(report_path, render_html(ev))
    return ev


def evaluate(
    model_dir: str | Path,
    examples_dir: str | Path,
    metrics_path: str | Path | None = None,
    blessing_dir: str | Path | None = None,
    *,
    split: str = "eval",
    **options: Unpack[Options],
) -> Evaluation:
    """Evaluate the model on ``split`` of an examples folder (ingest's ``<split>/part-*.parquet``)
    and write the outputs; ``options`` are :func:`evaluate_table`'s."""
    where = str(Path(examples_dir) / split)
    return evaluate_table(
        model_dir, read_split(where), where, metrics_path, blessing_dir, **options
    )


def evaluate_file(
    model_dir: str | Path,
    data: str,
    metrics_path: str | Path | None = None,
    blessing_dir: str | Path | None = None,
    **options: Unpack[Options],
) -> Evaluation:
    """Evaluate the model on every row of CSV, Parquet or JSON Lines data (a file, folder, glob
    or URI, read as ingest reads it: :func:`mlrail.sources.read_table`) that has the model's
    label and input columns; ``options`` are :func:`evaluate_table`'s."""
    from mlrail.sources import read_table

    table, _ = read_table(data)
    return evaluate_table(model_dir, table, data, metrics_path, blessing_dir, **options)


# ---------------------------------------------------------------------------------------------
# outputs
def _curves_json(c: Curves) -> dict[str, Any]:
    return {
        "roc": c.roc,
        "pr": c.pr,
        "calibration": c.calibration,
        "predicted_vs_true": c.predicted_vs_true,
    }


def metrics_json(ev: Evaluation) -> dict[str, Any]:
    """metrics.json's content (see the module docstring)."""
    return {
        "task": ev.task,
        "rows": ev.rows,
        "dropped_unlabelled": ev.dropped_unlabelled,
        "model": ev.model,
        "data": ev.data,
        "metrics": ev.metrics,
        "classes": ev.classes,
        "confusion_matrix": ev.confusion_matrix,
        "per_class": ev.per_class,
        "curves": _curves_json(ev.curves),
        "slices": [
            {
                "column": s.column,
                "slice": s.label,
                "rows": s.rows,
                "small": s.small,
                "metrics": s.metrics.scalars,
                "per_class": s.metrics.per_class,
                "baseline_metrics": s.baseline.scalars if s.baseline else None,
            }
            for s in ev.slices
        ],
        "fairness": [
            {
                "column": f.column,
                "metrics": f.metrics,
                "by_class": f.by_class,
                "groups": [
                    {"group": g.label, "rows": g.rows, "small": g.small, "figures": g.figures}
                    for g in f.groups
                ],
                "note": f.note,
                "baseline_metrics": (
                    ev.baseline_fairness[f.column].metrics
                    if f.column in ev.baseline_fairness
                    else None
                ),
            }
            for f in ev.fairness
        ],
        "feature_importance": (
            {
                "scoring": ev.importance.scoring,
                "n_repeats": ev.importance.n_repeats,
                "rows": ev.importance.rows,
                "features": [
                    {"feature": n, "mean": m, "std": s} for n, m, s in ev.importance.features
                ],
            }
            if ev.importance
            else None
        ),
        "baseline": (
            {
                "model": ev.baseline.source,
                "format": ev.baseline.format,
                "metrics": ev.baseline.metrics.scalars,
            }
            if ev.baseline
            else None
        ),
    }


def blessing_json(ev: Evaluation) -> dict[str, Any]:
    """blessing.json's content (see the module docstring)."""
    baseline: dict[str, Any] | None = None
    if ev.baseline is not None:
        baseline = {
            "requested": ev.baseline_requested,
            "model": ev.baseline.source,
            "format": ev.baseline.format,
            "reason": "",
        }
    elif ev.baseline_requested:
        baseline = {
            "requested": ev.baseline_requested,
            "model": None,
            "format": None,
            "reason": ev.baseline_reason,
        }
    return {
        "blessed": ev.blessed,
        "decided_on": ev.decided_on,
        "rows": ev.rows,
        "dropped_unlabelled": ev.dropped_unlabelled,
        "baseline": baseline,
        "min_slice_rows": ev.min_slice_rows,
        "failed": sum(c.verdict == "fail" for c in ev.checks),
        "skipped": sum(c.verdict == "skipped" for c in ev.checks),
        "notes": ev.notes,
        "checks": [c.__dict__ for c in ev.checks],
    }
