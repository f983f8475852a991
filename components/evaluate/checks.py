"""evaluate's checks: each threshold judged against the figures, giving the blessing.

Which checks are enforced: change checks need a baseline (without one, the first run, they are
listed as skipped and the blessing rests on value thresholds alone, as blessing.json says); a
slice with fewer than ``min_slice_rows`` rows is reported but its checks are skipped (too few
rows to judge); a metric undefined on a slice (ROC AUC on a slice lacking a class) is skipped.
An overall metric the task does not have, or one that is undefined, is an error.

How thresholds are written, and the defaults, are in :mod:`.thresholds`; the model is blessed
when no enforced check fails (:attr:`.results.Evaluation.blessed`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mlrail.artifacts.modelspec import CLASSIFICATION, ModelSpec
from mlrail.components.evaluate.fairness import FAIRNESS_METRICS, Fairness
from mlrail.components.evaluate.metrics import MetricSet, is_metric, task_metrics
from mlrail.components.evaluate.results import BaselineResult, Check, SliceResult
from mlrail.components.evaluate.thresholds import (
    DEFAULT_CHANGE_THRESHOLDS,
    DEFAULT_THRESHOLDS,
    Threshold,
    check_column_named,
    check_slice_named,
    fmt_bound,
    parse_thresholds,
)
from mlrail.errors import DataError

__all__ = ["run_checks", "validate_thresholds", "with_defaults"]


def with_defaults(
    spec: ModelSpec, thresholds: Mapping[str, Any] | None, baseline: bool
) -> list[Threshold]:
    """``thresholds`` parsed, with the task's defaults added where the overall ones hold no value
    (or, with a baseline, no change) threshold: see :mod:`.thresholds`."""
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
            f"is not {t.op} {fmt_bound(t.bound)}"
        )
    elif verdict == "fail":
        reason = f"{_fmt4(value)} is not {t.op} {fmt_bound(t.bound)}"
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


def run_checks(
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
    """Every threshold of ``wanted`` and ``fairness_wanted`` checked: overall, per slice, per
    sensitive column, against the model's figures and the baseline's.

    Raises:
        DataError: an overall metric with a threshold is undefined on these rows.
    """
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


def validate_thresholds(
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
        check_slice_named(t, slice_columns)
    applicable = _fairness_metrics(spec)
    for t in fairness_wanted:
        if t.metric not in applicable:
            raise ValueError(
                f"fairness threshold on {t.metric!r}, but a {spec.task} evaluation has: "
                f"{', '.join(applicable)}"
            )
        check_column_named(t, sensitive_columns)


def _fairness_metrics(spec: ModelSpec) -> list[str]:
    if spec.task in CLASSIFICATION:
        return [m for m in FAIRNESS_METRICS if not m.startswith(("mae", "rmse"))]
    return ["mae_difference", "rmse_difference"]
