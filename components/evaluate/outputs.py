"""The files evaluate writes: metrics.json, blessing/blessing.json (with the eval predictions
profile beside it, blessing/predictions/) and the HTML report.

Their layouts are written once, in :mod:`.core`'s docstring; the KFP ``Metrics`` and
``ClassificationMetrics`` figures come from :class:`.results.Evaluation` (the component logs them).
Every write is atomic: a failed step leaves no half-written output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlrail.artifacts.jsonsafe import finite
from mlrail.components.evaluate.metrics import Curves
from mlrail.components.evaluate.report import render_html
from mlrail.components.evaluate.results import Evaluation
from mlrail.io import atomic_dir, atomic_write_json, atomic_write_text
from mlrail.validation.predictions import PredictionsProfile, save_profile

__all__ = ["blessing_json", "metrics_json", "write_outputs"]


def write_outputs(
    ev: Evaluation,
    metrics_path: str | Path | None,
    blessing_dir: str | Path | None,
    report_path: str | Path | None,
    *,
    predictions: PredictionsProfile | None = None,
) -> None:
    """Write metrics.json, blessing_dir/blessing.json and the HTML report; each not when None.

    ``predictions``, the eval predictions profile, goes into ``blessing_dir/predictions/``
    (:mod:`mlrail.validation.predictions`), in the same atomic step as blessing.json.
    """
    if metrics_path is not None:
        atomic_write_json(metrics_path, finite(metrics_json(ev)))
    if blessing_dir is not None:
        with atomic_dir(blessing_dir) as tmp:
            atomic_write_json(tmp / "blessing.json", finite(blessing_json(ev)))
            if predictions is not None:
                save_profile(tmp, predictions)
    if report_path is not None:
        atomic_write_text(report_path, render_html(ev))


def _curves_json(c: Curves) -> dict[str, Any]:
    return {
        "roc": c.roc,
        "pr": c.pr,
        "calibration": c.calibration,
        "predicted_vs_true": c.predicted_vs_true,
    }


def metrics_json(ev: Evaluation) -> dict[str, Any]:
    """metrics.json's content (its layout is in :mod:`.core`'s docstring)."""
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
    """blessing.json's content (its layout is in :mod:`.core`'s docstring)."""
    baseline: dict[str, Any] | None = None
    if ev.baseline is not None:
        baseline = {
            "requested": ev.baseline_requested,
            "model": ev.baseline.source,
            "format": ev.baseline.format,
            "version": ev.baseline.version or None,
            "reason": "",
        }
    elif ev.baseline_requested:
        baseline = {
            "requested": ev.baseline_requested,
            "model": None,
            "format": None,
            "version": None,
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
