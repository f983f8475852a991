"""The distributions drawn for one version: the inputs in training and serving, and the
prediction drift (the comparisons, then the outputs in the eval split and serving), one chart
per side through :func:`mlrail.charts.feature_figures`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

from tensorflow_metadata.proto.v0 import statistics_pb2

from mlrail.charts import escape, feature_figures, num, plural, swatch, table
from mlrail.components.monitor.checks import VersionFindings
from mlrail.components.monitor.report.words import (
    SERVING_COLOUR,
    TRAIN_COLOUR,
    by_interest,
    comparison_cells,
    feature_name,
    figure,
    measure_name,
    shown,
)

__all__ = ["drift", "inputs_charts"]

_DS: TypeAlias = statistics_pb2.DatasetFeatureStatistics


def _by_name(ds: _DS | None) -> dict[str, statistics_pb2.FeatureNameStatistics]:
    """A dataset's features by name (the first of a name); none for no dataset."""
    out: dict[str, statistics_pb2.FeatureNameStatistics] = {}
    if ds is not None:
        for f in ds.features:
            out.setdefault(feature_name(f), f)
    return out


def _reasons(v: VersionFindings) -> dict[str, list[str]]:
    """Why each flagged input is flagged: its skew over the threshold, its schema anomalies."""
    out: dict[str, list[str]] = {}
    for c in by_interest(v.skewed):
        out.setdefault(c.feature, []).append(
            f"{measure_name(c.measure)} {num(c.value)} > {figure(c.threshold)}"
        )
    for a in v.anomalies:
        if a.feature is not None and not a.type.startswith("COMPARATOR_"):
            out.setdefault(a.feature, []).append(a.type)
    return out


def _feature_charts(
    names: Sequence[str],
    reasons: dict[str, list[str]],
    sides: Sequence[tuple[str, str, _DS | None]],
    table_id: str,
) -> str:
    """A table of the features, flagged ones first with why, each with one chart per side
    ``(label, colour, dataset)``; a side whose dataset is None says its statistics are not
    kept."""
    by_side = [(label, colour, _by_name(ds)) for label, colour, ds in sides]
    missing = {label: "not kept" if ds is None else "no values" for label, _, ds in sides}
    ordered = [n for n in names if n in reasons] + [n for n in names if n not in reasons]
    rows = []
    for n in ordered:
        why = "".join(f"<li>{escape(r)}</li>" for r in reasons.get(n, []))
        flag = '<span class="flag">⚠ </span>' if n in reasons else ""
        head = f'{flag}<span class="name">{escape(shown(n))}</span>' + (
            f'<ul class="reasons">{why}</ul>' if why else ""
        )
        figures = feature_figures(
            n, [(label, c, found.get(n)) for label, c, found in by_side], missing=missing
        )
        rows.append([head, figures])
    legend = " ".join(f"{swatch(c)}{escape(label)}" for label, c, _ in sides)
    return (
        f'<p class="muted">{legend}: each value\'s share of the present values, so sides of '
        "different sizes compare. Hover a bar for its count.</p>"
        + table(
            ["Feature", "Distribution"],
            rows,
            id=table_id,
            alert=range(sum(1 for n in ordered if n in reasons)),
        )
    )


def inputs_charts(v: VersionFindings, i: int) -> list[str]:
    """Every input's distribution in training and in serving, side by side."""
    train = v.train
    out = ["<h3>Inputs: training and serving</h3>"]
    if train is None:
        out.append(
            '<p class="muted">The training statistics are not kept with these findings: the '
            "serving side is drawn alone.</p>"
        )
    names = list(dict.fromkeys([*v.features, *(feature_name(f) for f in v.serving.features)]))
    rows = v.serving.num_examples
    sides = [
        (
            f"training ({plural(train.num_examples, 'row', 'rows')})" if train else "training",
            TRAIN_COLOUR,
            train,
        ),
        (f"serving ({plural(rows, 'row', 'rows')})", SERVING_COLOUR, v.serving),
    ]
    return [*out, _feature_charts(names, _reasons(v), sides, f"charts-v{i}")]


def drift(v: VersionFindings, i: int) -> list[str]:
    """The answers against the eval split's: the comparisons, then every output's
    distribution on both sides."""
    out = [
        f"<h3>Prediction drift: answers against the eval split's ({len(v.drifted):,} exceeded)</h3>"
    ]
    if v.predictions is None:
        return [*out, "<p>Not checked (see the notes).</p>"]
    rows = [[escape(shown(c.feature)), *comparison_cells(c)] for c in by_interest(v.drift)]
    out.append(
        table(
            ["Output", "Measure", "Value", "Threshold", "Test", "p-value", "Result"],
            rows,
            id=f"drift-v{i}",
            numeric=[2, 3, 5],
            alert=[k for k, c in enumerate(by_interest(v.drift)) if c.exceeded],
        )
    )
    ref = v.eval_predictions
    if ref is None:
        out.append(
            '<p class="muted">The eval predictions\' statistics are not kept with these '
            "findings: the window's predictions are drawn alone.</p>"
        )
    reasons = {
        c.feature: [f"{measure_name(c.measure)} {num(c.value)} > {figure(c.threshold)}"]
        for c in v.drifted
    }
    names = [feature_name(f) for f in v.predictions.features]
    sides = [
        (
            f"eval ({plural(ref.num_examples, 'row', 'rows')})" if ref else "eval",
            TRAIN_COLOUR,
            ref,
        ),
        (
            f"serving ({plural(v.predictions.num_examples, 'row', 'rows')})",
            SERVING_COLOUR,
            v.predictions,
        ),
    ]
    return [*out, _feature_charts(names, reasons, sides, f"drift-charts-v{i}")]
