"""evaluate: how good the model is, overall, per slice and per group, and whether to bless it.

The model (in the pipeline: export_onnx's ONNX model, the one deploy serves, run in ONNX Runtime)
is run on the eval split (or any table with the label column), its figures computed
with scikit-learn (:mod:`.metrics`), fairlearn (:mod:`.fairness`) and scikit-learn's permutation
importance (:mod:`.importance`), compared with a baseline model when there is one
(:mod:`.baselines`: the model registry's ``champion`` by default, or a path as in
:mod:`.models`), and checked against thresholds. The model is blessed when no
enforced check fails. Entry points: :func:`evaluate` (an examples folder, the component),
:func:`evaluate_file` (CSV, Parquet or JSON Lines data) and :func:`evaluate_table` (a pyarrow
table).

Thresholds (``thresholds``: overall and per slice; ``fairness_thresholds``: on fairlearn's figures
per sensitive column), their syntax and the defaults added: :mod:`.thresholds`. Which checks are
enforced and which are skipped: :mod:`.checks`. What evaluate found: :mod:`.results`.

Rows without a label (null, or NaN for a number) are left out of every figure: ``rows`` counts
the labelled rows evaluated, ``dropped_unlabelled`` those left out, and a note says so in
blessing.json and the report.

Thresholds can be checked before anything runs, with no model (:func:`check_threshold_names`):
the CLI does so before its first step.

A model that is not blessed sends the lifecycle event ``io.mlrail.model.not_blessed`` once the
outputs are written (:mod:`.lifecycle`); a blessed one sends nothing.

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
                       (a registry baseline's "model" is ``models:/penguins@champion
                       (version 3)``)
    blessing_dir/
      blessing.json    {"blessed", "decided_on", "rows", "dropped_unlabelled", "baseline": null
                       or {"requested", "model", "format", "version", "reason"}:
                       "requested" is baseline_model or the champion reference it defaulted
                       to, "version" the registry version compared with (null otherwise),
                       "reason" why there is none ("no champion in the registry yet: first
                       release"), "min_slice_rows",
                       "failed", "skipped", "notes",
                       "checks": [{"metric", "scope" (overall|slice|fairness), "slice" (null,
                       "island=Biscoe" or a sensitive column), "kind" (value|change), "op",
                       "bound", "value", "baseline_value", "change", "rows", "verdict"
                       (pass|fail|skipped), "reason", "passed"}]}
                       ("passed" is false only for a failed check: a skipped one does not
                       withhold the blessing)
      predictions/     the eval predictions profile monitor compares served predictions with:
                       Split-eval/FeatureStats.pb (statistics of the predictions table of the
                       labelled eval rows) and profile.json (calibration for the expected accuracy,
                       realized figures); layout in :mod:`mlrail.validation.predictions`.
                       Built from the outputs computed above, no second inference pass.
    report_path        one self-contained HTML page (see :mod:`.report`)
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict, Unpack

import numpy as np
import pyarrow as pa

from mlrail.artifacts.examples import read_split
from mlrail.artifacts.modelspec import CLASSIFICATION, TASKS, ModelSpec
from mlrail.components.evaluate.baselines import find_baseline
from mlrail.components.evaluate.checks import run_checks, validate_thresholds, with_defaults
from mlrail.components.evaluate.fairness import FAIRNESS_METRICS, compute_fairness
from mlrail.components.evaluate.importance import permutation_feature_importance
from mlrail.components.evaluate.lifecycle import send_events
from mlrail.components.evaluate.metrics import (
    PER_CLASS_METRICS,
    compute_curves,
    compute_metrics,
    parse_slices,
    slice_rows,
    task_metrics,
)
from mlrail.components.evaluate.models import Predictor, load_model
from mlrail.components.evaluate.outputs import write_outputs
from mlrail.components.evaluate.results import BaselineResult, Evaluation, SliceResult
from mlrail.components.evaluate.thresholds import (
    DEFAULT_MIN_SLICE_ROWS,
    check_column_named,
    check_slice_named,
    parse_fairness_thresholds,
    parse_thresholds,
)
from mlrail.errors import DataError, ModelError
from mlrail.validation.predictions import PredictionsProfile, build_profile

__all__ = [
    "Options",
    "check_threshold_names",
    "evaluate",
    "evaluate_file",
    "evaluate_table",
]


# ---------------------------------------------------------------------------------------------
# before anything runs


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

    Every bound must be readable (:func:`.thresholds.parse_thresholds`), every metric one that
    some task computes (the task itself is known only after training: :func:`evaluate_table`
    then checks the metric against it and a per-class metric against the classes), every
    fairness metric one of :data:`~.fairness.FAIRNESS_METRICS`. With ``slices`` (and
    ``sensitive_columns``) given, a threshold for a slice (or a fairness column) must name one
    of them.

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
            check_slice_named(t, columns)
    for t in fairness:
        if t.metric not in FAIRNESS_METRICS:  # a flat key is checked by the parser already
            raise ValueError(
                f"fairness threshold on {t.metric!r}: not a fairness metric; these are "
                f"{', '.join(FAIRNESS_METRICS)}"
            )
        if sensitive_columns is not None:
            check_column_named(t, sensitive_columns)


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


def _profile(spec: ModelSpec, pred: np.ndarray, y: np.ndarray, where: str) -> PredictionsProfile:
    """The eval predictions profile of the model's outputs ``pred`` on labelled rows ``y``."""
    labels = np.asarray(spec.classes, dtype=object)[y] if spec.task in CLASSIFICATION else y
    return build_profile(spec, pred, labels, where)


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
    registry_uri: str
    model_name: str
    importance_repeats: int
    events_sink: str
    pipeline: str
    run_id: str
    run_name: str
    event_links: Mapping[str, str] | None


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
    registry_uri: str = "",
    model_name: str = "",
    importance_repeats: int = 5,
    events_sink: str = "",
    pipeline: str = "",
    run_id: str = "",
    run_name: str = "",
    event_links: Mapping[str, str] | None = None,
) -> Evaluation:
    """Evaluate the model in ``model_dir`` on ``table`` and write what is asked for.

    Args:
        model_dir: An ONNX model folder (export_onnx's, in the pipeline) or a train output
            (see :mod:`.models`).
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
        baseline_model: The model to compare with: ``models:/NAME@ALIAS`` or
            ``models:/NAME/VERSION`` (from the registry), or a path or URI; "" for the
            registry's champion of ``model_name`` when a registry is configured, else none;
            ``none`` for no baseline at all (:mod:`.baselines`).
        registry_uri: The model registry (an MLflow tracking URI); "" for
            ``$MLFLOW_TRACKING_URI``, and none when that is unset too.
        model_name: The registered model whose ``champion`` is the default baseline.
        importance_repeats: Shuffles per feature for permutation importance; 0 to skip it.
        events_sink: Where ``io.mlrail.model.not_blessed`` goes when the model is not blessed
            (:mod:`.lifecycle`); empty: ``K_SINK``, then none.
        pipeline: The pipeline's name, for the event's source and data.
        run_id: The run's id, for the event's source and data.
        run_name: The run's name, for the event's data.
        event_links: Names to URIs of the evidence for the event's ``links``; None: the
            metrics, blessing and report as given here.

    Returns:
        The evaluation; ``blessed`` is the verdict, ``deliveries`` what became of its event
        (a sink that is down is recorded there, never raised).

    Raises:
        DataError: the data lacks a column, has no labelled row, or an overall metric with a
            threshold is undefined on it.
        ModelError: the model (or the baseline) cannot be loaded or compared.
        RegistryError: the baseline is a registry reference with no registry configured or
            no such version, or the registry cannot be reached (evaluate fails rather than
            bless with nothing to compare with).
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
    validate_thresholds(spec, parsed, fairness_wanted, columns, sensitive_columns)
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
        found = find_baseline(baseline_model, registry_uri, model_name, Path(scratch))
        base = found.model
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
        baseline_requested=found.requested,
        baseline_reason=found.reason,
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
            found.version,
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
    wanted = with_defaults(spec, thresholds, base is not None)
    ev.checks = run_checks(
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
    profile = _profile(spec, pred, y, where) if blessing_dir is not None else None
    write_outputs(ev, metrics_path, blessing_dir, report_path, predictions=profile)
    # after the outputs are written: the event's links point at files that exist
    ev.deliveries = send_events(
        ev,
        events_sink=events_sink,
        model_name=model_name,
        pipeline=pipeline,
        run_id=run_id,
        run_name=run_name,
        links=(
            event_links
            if event_links is not None
            else {
                "metrics": str(metrics_path or ""),
                "blessing": str(blessing_dir or ""),
                "report": str(report_path or ""),
            }
        ),
    )
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
