"""The evaluation as one self-contained HTML page, for the KFP ``HTML`` artifact.

The Kubeflow UI shows it in a sandboxed iframe: no scripts, nothing fetched; CSS inline, charts
inline SVG drawn by :mod:`mlrail.charts`. Every string from the data or the configuration is
escaped, and the same evaluation renders to the same bytes.

Sections, top to bottom (each a ``<section>`` with the id given):

- header: the verdict, what it rests on, the baseline, the model, the data and its rows;
- ``checks``: every threshold checked, failed ones first and highlighted, with the value, the
  baseline's value, the change and why a check failed or was skipped; notes;
- ``metrics``: the overall metrics beside the baseline's, and per class precision, recall, F1;
- ``confusion``: the confusion matrix (rows: true class, shade: share of the row);
- ``curves``: ROC and precision-recall (one-vs-rest per class for multiclass), the calibration
  curve with its ECE (the baseline dashed); for regression, mean true value against mean
  prediction per decile of the prediction;
- ``slices``: per slice column a bar per slice of the headline metric (the overall value as a
  dashed line; slices too small to enforce in grey) and a table;
- ``fairness``: per sensitive column the differences between groups and each group's figures;
- ``importance``: permutation importance, most important first.

The ``confusion`` and ``curves`` sections are drawn in :mod:`.report_curves`.
"""

from __future__ import annotations

from collections.abc import Sequence

from mlrail.artifacts.modelspec import CLASSIFICATION
from mlrail.charts import Bar, badge, escape, hbars, num, page, plural, table
from mlrail.components.evaluate.metrics import task_metrics
from mlrail.components.evaluate.report_curves import confusion_section, curves_section
from mlrail.components.evaluate.results import Check, Evaluation

__all__ = ["render_html"]

_SMALL = "#B8B8B8"  # slices and groups too small to enforce
_CSS = """
.notes { font-size: 12px; color: #444; }
section .scroll { margin-bottom: 10px; }
h4 { font-size: 12px; font-weight: 600; margin: 10px 0 4px; color: #444; }
"""


def _n(x: float | None) -> str:
    return "–" if x is None else escape(num(x))


def _delta(x: float | None) -> str:
    if x is None:
        return "–"
    return escape(("+" if x > 0 else "") + num(x))


def _headline(task: str) -> str:
    """The metric drawn per slice: one every slice has, read the same way everywhere."""
    return "accuracy" if task in CLASSIFICATION else "mae"


def _header(ev: Evaluation, title: str) -> list[str]:
    ok = ev.blessed
    verdict = badge(("✓ Blessed" if ok else "✗ Not blessed"), "good" if ok else "bad", id="verdict")
    if ev.baseline is not None:
        base = badge("compared with a baseline", "neutral", id="baseline")
        where = f"<code>{escape(ev.baseline.source)}</code> ({escape(ev.baseline.format)})"
    else:
        base = badge("no baseline", "neutral", id="baseline")
        where = escape(ev.baseline_reason or "none given")
    return [
        f"<header><h1>{escape(title)}</h1>",
        f"<p>{verdict}{base}</p>",
        f'<p id="decided-on">Decided on {escape(ev.decided_on)}.</p>',
        f"<p>Baseline: {where}</p>",
        f"<p>Model: <code>{escape(ev.model)}</code>; data: <code>{escape(ev.data)}</code>, "
        f"{escape(plural(ev.rows, 'labelled row', 'labelled rows'))}"
        + (
            f" ({escape(plural(ev.dropped_unlabelled, 'row', 'rows'))} without a label left out)"
            if ev.dropped_unlabelled
            else ""
        )
        + f"; task: {escape(ev.task)}"
        + (f" ({escape(', '.join(ev.classes))})" if ev.classes else "")
        + ".</p></header>",
    ]


def _check_rows(checks: Sequence[Check]) -> tuple[list[list[str]], list[int]]:
    order = {"fail": 0, "pass": 1, "skipped": 2}
    ranked = sorted(checks, key=lambda c: order[c.verdict])  # stable: config order within
    rows: list[list[str]] = []
    alert: list[int] = []
    for i, c in enumerate(ranked):
        verdict = {
            "fail": '<span class="flag">✗ fail</span>',
            "pass": "✓ pass",
            "skipped": '<span class="muted">skipped</span>',
        }[c.verdict]
        if c.verdict == "fail":
            alert.append(i)
        rows.append(
            [
                escape(c.scope),
                escape(c.slice or "–"),
                escape(c.metric),
                escape(c.kind),
                escape(f"{'change ' if c.kind == 'change' else ''}{c.op} {num(c.bound)}"),
                _n(c.value),
                _n(c.baseline_value),
                _delta(c.change),
                verdict,
                escape(c.reason),
            ]
        )
    return rows, alert


def _checks(ev: Evaluation) -> list[str]:
    failed = sum(c.verdict == "fail" for c in ev.checks)
    skipped = sum(c.verdict == "skipped" for c in ev.checks)
    out = [
        f'<section id="checks"><h2>Blessing checks ({len(ev.checks)}: {failed} failed, '
        f"{skipped} skipped)</h2>",
        '<p class="muted">A value check bounds the metric; a change check bounds the metric '
        "minus the baseline's on the same rows. Skipped checks do not withhold the blessing: "
        "they need a baseline, or their slice has too few rows "
        f"(fewer than {ev.min_slice_rows}), or the metric is undefined there.</p>",
    ]
    head = ["Scope", "Slice", "Metric", "Kind", "Bound", "Value", "Baseline", "Change"]
    rows, alert = _check_rows(ev.checks)
    out.append(
        table([*head, "Verdict", "Why"], rows, id="checks-table", numeric=[5, 6, 7], alert=alert)
    )
    if ev.notes:
        out.append('<ul class="notes" id="notes">')
        out += [f"<li>{escape(n)}</li>" for n in ev.notes]
        out.append("</ul>")
    return [*out, "</section>"]


def _metrics(ev: Evaluation) -> list[str]:
    base = ev.baseline.metrics if ev.baseline else None
    rows = []
    order = task_metrics(ev.task)
    for m in [m for m in order if m in ev.metrics] + [m for m in ev.metrics if m not in order]:
        v = ev.metrics.get(m)
        b = base.scalars.get(m) if base else None
        change = v - b if v is not None and b is not None else None
        rows.append([escape(m), _n(v), _n(b), _delta(change)])
    out = [
        '<section id="metrics"><h2>Metrics</h2>',
        table(
            ["Metric", "Value", "Baseline", "Change"], rows, id="metrics-table", numeric=[1, 2, 3]
        ),
    ]
    if ev.per_class:
        out.append("<h3>Per class</h3>")
        out.append(
            table(
                ["Class", "Rows", "Precision", "Recall", "F1"],
                [
                    [escape(c), _n(f["support"]), _n(f["precision"]), _n(f["recall"]), _n(f["f1"])]
                    for c, f in ev.per_class.items()
                ],
                id="per-class-table",
                numeric=[1, 2, 3, 4],
            )
        )
    return [*out, "</section>"]


def _slice_table(ev: Evaluation, column: str, metrics: list[str]) -> str:
    headline = _headline(ev.task)
    rows: list[list[str]] = []
    alert: list[int] = []
    for s in (s for s in ev.slices if s.column == column):
        b = s.baseline.get(headline) if s.baseline else None
        v = s.metrics.get(headline)
        cells = [escape(s.label), escape(f"{s.rows:,}")]
        cells += [_n(s.metrics.get(m)) for m in metrics]
        cells += [_n(b), _delta(v - b if v is not None and b is not None else None)]
        cells.append('<span class="muted">too few rows: not enforced</span>' if s.small else "")
        failed = any(
            c.verdict == "fail" and c.slice == s.name for c in ev.checks if c.scope == "slice"
        )
        if failed:
            alert.append(len(rows))
        rows.append(cells)
    head = ["Slice", "Rows", *metrics, f"Baseline {headline}", "Change", ""]
    return table(head, rows, id=f"slices-{column}", numeric=range(1, len(metrics) + 4), alert=alert)


def _slices(ev: Evaluation) -> list[str]:
    if not ev.slices:
        return []
    headline = _headline(ev.task)
    metrics = (
        ["accuracy", "balanced_accuracy", "f1_macro", "log_loss"]
        if ev.task in CLASSIFICATION
        else ["mae", "rmse", "r2"]
    )
    out = [
        '<section id="slices"><h2>Slices</h2>',
        f'<p class="muted">{escape(headline)} per slice; the dashed line is the overall value. '
        f"Grey slices have fewer than {ev.min_slice_rows} rows: their thresholds are reported, "
        "not enforced.</p>",
    ]
    for column in dict.fromkeys(s.column for s in ev.slices):
        group = [s for s in ev.slices if s.column == column]
        bars = [
            Bar(
                s.label,
                s.metrics.get(headline),
                num(v) if (v := s.metrics.get(headline)) is not None else "undefined",
                f"{s.name}: {headline} {num(v) if v is not None else 'undefined'}, {s.rows} rows",
                _SMALL if s.small else "",
            )
            for s in group
        ]
        overall = ev.metrics.get(headline)
        top = 1.0 if ev.task in CLASSIFICATION else None
        chart = hbars(
            bars,
            title=f"{headline} by {column}",
            top=top,
            reference=overall,
            reference_label=f"overall {headline} {num(overall)}" if overall is not None else "",
            label_width=130,
            bar_width=180,
            label_chars=22,
        )
        out.append(f"<h3>By {escape(column)}</h3><figure>{chart}</figure>")
        out.append(_slice_table(ev, column, metrics))
    return [*out, "</section>"]


def _fairness(ev: Evaluation) -> list[str]:
    if not ev.fairness:
        return []
    out = [
        '<section id="fairness"><h2>Fairness</h2>',
        '<p class="muted">Computed with fairlearn. Differences are the largest gap between '
        "groups (0 is parity), ratios the smallest ratio (1 is parity). "
        + (
            "Multiclass: each class one-vs-rest; the headline is the worst class. "
            if ev.task == "multiclass"
            else ""
        )
        + f"Groups with fewer than {ev.min_slice_rows} rows are listed but left out of the "
        "differences.</p>",
    ]
    for f in ev.fairness:
        base = ev.baseline_fairness.get(f.column)
        out.append(f"<h3>By {escape(f.column)}</h3>")
        if f.note:
            out.append(f'<p class="muted">{escape(f.note)}</p>')
        if f.metrics:
            out.append("<h4>Between groups</h4>")
            rows = []
            for m, v in f.metrics.items():
                b = base.metrics.get(m) if base else None
                rows.append([escape(m), _n(v), _n(b), _delta(v - b if b is not None else None)])
            out.append(
                table(
                    ["Figure", "Value", "Baseline", "Change"],
                    rows,
                    id=f"fairness-{f.column}",
                    numeric=[1, 2, 3],
                )
            )
        if f.by_class:
            out.append("<h4>Per class, one-vs-rest</h4>")
            names = list(next(iter(f.by_class.values())))
            out.append(
                table(
                    ["Class", *names],
                    [[escape(c), *(_n(d.get(n)) for n in names)] for c, d in f.by_class.items()],
                    id=f"fairness-{f.column}-by-class",
                    numeric=range(1, len(names) + 1),
                )
            )
        names = list(dict.fromkeys(k for g in f.groups for k in g.figures if k != "rows"))
        out.append("<h4>Per group</h4>")
        out.append(
            table(
                ["Group", "Rows", *names, ""],
                [
                    [
                        escape(g.label),
                        escape(f"{g.rows:,}"),
                        *(_n(g.figures.get(n)) for n in names),
                        '<span class="muted">too few rows: left out</span>' if g.small else "",
                    ]
                    for g in f.groups
                ],
                id=f"fairness-{f.column}-groups",
                numeric=range(1, len(names) + 2),
            )
        )
        rate = "error_rate" if ev.task in CLASSIFICATION else "mae"
        acc = ev.metrics.get("accuracy")
        overall = (
            (1 - acc if acc is not None else None)
            if rate == "error_rate"
            else ev.metrics.get("mae")
        )
        bars = [
            Bar(g.label, g.figures.get(rate), colour=_SMALL if g.small else "") for g in f.groups
        ]
        chart = hbars(
            bars,
            title=f"{rate} by {f.column}",
            reference=overall,
            reference_label=f"overall {rate} {num(overall)}" if overall is not None else "",
            label_width=130,
            bar_width=180,
            label_chars=22,
        )
        out.append(f"<figure><figcaption>{escape(rate)} per group</figcaption>{chart}</figure>")
    return [*out, "</section>"]


def _importance(ev: Evaluation) -> list[str]:
    imp = ev.importance
    if imp is None:
        return []
    bars = [
        Bar(name, mean, num(mean), f"{name}: {num(mean)} ± {num(std)} (mean ± sd)")
        for name, mean, std in imp.features
    ]
    chart = hbars(
        bars, title="Permutation importance", label_width=150, bar_width=220, label_chars=24
    )
    return [
        '<section id="importance"><h2>Feature importance</h2>',
        f'<p class="muted">Permutation importance: the drop in {escape(imp.scoring)} when one '
        f"feature's values are shuffled, mean over {imp.n_repeats} shuffles of "
        f"{imp.rows:,} rows (scikit-learn). Near zero: the model does not rely on it.</p>",
        f"<figure>{chart}</figure>",
        table(
            ["Feature", "Mean drop", "Std dev"],
            [[escape(n), _n(m), _n(s)] for n, m, s in imp.features],
            id="importance-table",
            numeric=[1, 2],
        ),
        "</section>",
    ]


def render_html(ev: Evaluation, *, title: str = "Model evaluation") -> str:
    """The evaluation as one self-contained HTML page (inline CSS and SVG, no scripts, no links).

    Args:
        ev: What evaluate found.
        title: The page's heading and ``<title>``.

    Returns:
        The page, well-formed XML as well as HTML; the same evaluation gives the same text.
    """
    body = [
        *_header(ev, title),
        *_checks(ev),
        *_metrics(ev),
        *confusion_section(ev),
        *curves_section(ev),
        *_slices(ev),
        *_fairness(ev),
        *_importance(ev),
    ]
    return page(title, body, css=_CSS)
