"""The report's model-behaviour figures: the confusion matrix and the curves sections.

Part of the HTML page :mod:`.report` assembles (its docstring lists the sections); inline SVG
drawn by :mod:`mlrail.charts`, every string escaped.
"""

from __future__ import annotations

from mlrail.artifacts.modelspec import CLASSIFICATION
from mlrail.charts import PALETTE, Series, escape, heatmap, line_chart, num
from mlrail.components.evaluate.results import Evaluation

__all__ = ["confusion_section", "curves_section"]


def confusion_section(ev: Evaluation) -> list[str]:
    """``<section id="confusion">``: the confusion matrix, shaded by the share of each row."""
    cm = ev.confusion_matrix
    if not cm:
        return []
    totals = [sum(r) for r in cm]
    shade = [[v / t if t else 0.0 for v in r] for r, t in zip(cm, totals, strict=True)]

    def tip(i: int, j: int) -> str:
        share = f" ({100 * shade[i][j]:.0f}% of true {ev.classes[i]})" if totals[i] else ""
        return f"true {ev.classes[i]}, predicted {ev.classes[j]}: {cm[i][j]}{share}"

    chart = heatmap(
        cm,
        title="Confusion matrix",
        row_labels=ev.classes,
        col_labels=ev.classes,
        row_title="true class",
        col_title="predicted class",
        shade=shade,
        tip=tip,
    )
    return [
        '<section id="confusion"><h2>Confusion matrix</h2>',
        '<p class="muted">Rows: true class; columns: predicted class; shade: the share of the '
        "row (the recall on the diagonal).</p>",
        f"<figure>{chart}</figure></section>",
    ]


def _curve_series(
    curves: dict[str, dict[str, list[float]]], x: str, y: str, dashed: bool, suffix: str
) -> list[Series]:
    return [
        Series(f"{c}{suffix}", v[x], v[y], PALETTE[i % len(PALETTE)], dashed=dashed)
        for i, (c, v) in enumerate(curves.items())
    ]


def curves_section(ev: Evaluation) -> list[str]:
    """``<section id="curves">``: ROC, precision-recall and calibration (the baseline dashed), or
    for regression mean true value against mean prediction per decile."""
    base = ev.baseline.curves if ev.baseline else None
    figures = []
    if ev.task not in CLASSIFICATION:
        pvt = ev.curves.predicted_vs_true
        series = [
            Series(
                "model",
                pvt.get("predicted", []),
                pvt.get("true", []),
                PALETTE[0],
                markers=True,
                tips=[
                    f"mean prediction {num(p)}, mean true {num(t)} ({num(n)} rows)"
                    for p, t, n in zip(pvt["predicted"], pvt["true"], pvt["rows"], strict=True)
                ]
                if pvt
                else (),
            )
        ]
        if base and base.predicted_vs_true:
            b = base.predicted_vs_true
            series.append(
                Series("baseline", b["predicted"], b["true"], PALETTE[1], dashed=True, markers=True)
            )
        values = [*pvt.get("predicted", []), *pvt.get("true", [])]
        lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
        dom = (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)
        chart = line_chart(
            series,
            title="Mean true value against mean prediction, per decile of the prediction",
            x_label="mean prediction",
            y_label="mean true value",
            x_domain=dom,
            y_domain=dom,
            diagonal=True,
        )
        figures.append(("Predicted against true (deciles of the prediction)", chart))
    else:
        suffix = "" if not base else " (model)"
        one_vs_rest = " one-vs-rest" if ev.task != "binary" else ""
        roc = _curve_series(ev.curves.roc, "fpr", "tpr", False, suffix)
        pr = _curve_series(ev.curves.pr, "recall", "precision", False, suffix)
        if base:
            roc += _curve_series(base.roc, "fpr", "tpr", True, " (baseline)")
            pr += _curve_series(base.pr, "recall", "precision", True, " (baseline)")
        unit = ((0.0, 1.0), (0.0, 1.0))
        if roc:
            figures.append(
                (
                    f"ROC curve{one_vs_rest}",
                    line_chart(
                        roc,
                        title=f"ROC curve{one_vs_rest}",
                        x_label="false positive rate",
                        y_label="true positive rate",
                        x_domain=unit[0],
                        y_domain=unit[1],
                        diagonal=True,
                    ),
                )
            )
            figures.append(
                (
                    f"Precision-recall curve{one_vs_rest}",
                    line_chart(
                        pr,
                        title=f"Precision-recall curve{one_vs_rest}",
                        x_label="recall",
                        y_label="precision",
                        x_domain=unit[0],
                        y_domain=unit[1],
                    ),
                )
            )
        cal = ev.curves.calibration
        if cal:
            series = [
                Series(
                    "model",
                    cal["confidence"],
                    cal["accuracy"],
                    PALETTE[0],
                    markers=True,
                    tips=[
                        f"confidence {num(c)}, accuracy {num(a)} ({num(n)} rows)"
                        for c, a, n in zip(
                            cal["confidence"], cal["accuracy"], cal["rows"], strict=True
                        )
                    ],
                )
            ]
            if base and base.calibration:
                b = base.calibration
                series.append(
                    Series(
                        "baseline", b["confidence"], b["accuracy"], PALETTE[1], True, markers=True
                    )
                )
            ece = ev.metrics.get("ece")
            caption = "Calibration (top label)" + (f", ECE {num(ece)}" if ece is not None else "")
            figures.append(
                (
                    caption,
                    line_chart(
                        series,
                        title="Calibration: accuracy against confidence, 10 equal-width bins",
                        x_label="confidence (largest probability)",
                        y_label="accuracy",
                        x_domain=unit[0],
                        y_domain=unit[1],
                        diagonal=True,
                    ),
                )
            )
    if not figures:
        return []
    out = ['<section id="curves"><h2>Curves</h2><div class="charts">']
    out += [f"<figure><figcaption>{escape(cap)}</figcaption>{svg}</figure>" for cap, svg in figures]
    out.append("</div>")
    if ev.task in CLASSIFICATION:
        out.append(
            '<p class="muted">Calibration: each dot is a bin of rows by the model\'s confidence; '
            "on the diagonal the model is right as often as it is confident.</p>"
        )
    return [*out, "</section>"]
