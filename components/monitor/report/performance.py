"""One version's performance: the estimated accuracy (no labels needed) beside the eval
accuracy and the realized figures, and the estimate's trend hour by hour."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

from mlrail.charts import Series, badge, count, escape, line_chart, num, plural, table
from mlrail.components.monitor.checks import VersionFindings
from mlrail.components.monitor.report.words import SERVING_COLOUR, TRAIN_COLOUR

__all__ = ["performance"]

# the realized figures shown, in this order (mlrail.artifacts.predictions.realized_metrics)
_REALIZED = ("accuracy", "error_rate", "unknown_labels", "rmse", "mae", "bias")


def _hour(text: str) -> dt.datetime | None:
    """An hour's ISO start as an aware time (UTC when it names no zone); None if unreadable."""
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def performance(v: VersionFindings, i: int, start: dt.datetime, end: dt.datetime) -> list[str]:
    """The estimated accuracy with its interval beside the eval accuracy and the realized
    figures, the rows a drop is judged on highlighted; then the per-hour trend."""
    out = ["<h3>Performance</h3>"]
    est = v.estimated
    if est is None and v.realized is None:
        return [*out, "<p>Not estimated (see the notes).</p>"]
    if v.performance_drop:
        out.append(f"<p>{badge('performance drop', 'bad', id=f'drop-v{i}')}</p>")
    rows: list[list[str]] = []
    judged: list[int] = []  # the rows a drop is judged on: the estimate, the realized accuracy
    if est is not None:
        judged.append(len(rows))
        interval = f"{num(est.low)} – {num(est.high)}"
        rows.append(
            [
                "estimated accuracy (this window, no labels)",
                escape(num(est.value)),
                escape(interval),
                escape(count(est.rows)),
            ]
        )
    if v.eval_accuracy is not None:
        rows.append(["accuracy on the eval split", escape(num(v.eval_accuracy)), "–", "–"])
    realized = v.realized or {}
    labelled = realized.get("labelled_rows", realized.get("rows", 0))
    for name in _REALIZED:
        value = realized.get(name)
        if isinstance(value, int | float):
            if name == "accuracy":
                judged.append(len(rows))
            text = count(value) if name == "unknown_labels" else num(float(value))
            what = f"realized {name.replace('_', ' ')} (labelled rows)"
            rows.append([escape(what), escape(text), "–", escape(count(labelled))])
    out.append(
        table(
            ["Figure", "Value", "95% interval", "Rows"],
            rows,
            id=f"performance-v{i}",
            numeric=[1, 2, 3],
            alert=judged if v.performance_drop else [],
        )
    )
    out += _trend(v, i, start, end)
    return out


def _accuracy_axis(values: Sequence[float]) -> tuple[float, float]:
    """A y axis in tenths holding ``values`` with room: an hour's noise in the fourth decimal
    is not drawn as a fall, a drop of a few points shows."""
    lo = max(0.0, math.floor((min(values) - 0.02) * 10) / 10)
    hi = min(1.0, math.ceil((max(values) + 0.02) * 10) / 10)
    return (lo, hi) if hi > lo else (0.0, 1.0)


def _trend(v: VersionFindings, i: int, start: dt.datetime, end: dt.datetime) -> list[str]:
    """The estimate per hour on an axis spanning the window, with the eval accuracy as a
    dashed line, and the same figures as a table; nothing without an hour to draw."""
    points = []
    for t in v.trend:
        when = _hour(str(t.get("hour", "")))
        value = t.get("estimated_accuracy")
        if when is None or not isinstance(value, int | float) or not math.isfinite(value):
            continue
        points.append((when, float(value), int(t.get("rows", 0)), str(t.get("hour"))))
    if not points:
        return []
    # each hour drawn at its middle, on an axis spanning the whole window (quiet hours show)
    xs = [(when - start).total_seconds() / 3600 + 0.5 for when, *_ in points]
    x_domain = (min(0.0, *xs), max((end - start).total_seconds() / 3600, *xs))
    ys = [p[1] for p in points]
    tips = [f"{h}: {num(a)} on {plural(r, 'row', 'rows')}" for _, a, r, h in points]
    series = [Series("estimated accuracy", xs, ys, colour=SERVING_COLOUR, markers=True, tips=tips)]
    if v.eval_accuracy is not None:
        ys = [*ys, v.eval_accuracy]
        series.append(
            Series(
                "accuracy on the eval split",
                list(x_domain),
                [v.eval_accuracy] * 2,
                colour=TRAIN_COLOUR,
                dashed=True,
            )
        )
    chart = line_chart(
        series,
        title="Estimated accuracy per hour",
        x_label=f"hours since {start.isoformat(timespec='seconds').replace('+00:00', 'Z')}",
        y_label="accuracy",
        x_domain=x_domain,
        y_domain=_accuracy_axis(ys),
    )
    rows = [[escape(h), escape(count(r)), escape(num(a))] for _, a, r, h in points]
    return [
        "<h3>Estimated accuracy per hour</h3>",
        f'<figure id="trend-v{i}">{chart}</figure>',
        table(
            ["Hour (UTC)", "Rows", "Estimated accuracy"],
            rows,
            id=f"trend-table-v{i}",
            numeric=[1, 2],
        ),
    ]
