"""The trend across windows: each version's estimated (and realized) accuracy, window by window,
from the summaries monitor keeps (:mod:`mlrail.components.monitor.history`)."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from mlrail.charts import PALETTE, Series, escape, line_chart, num, table
from mlrail.components.monitor.findings import MonitorReport

__all__ = ["across_windows"]


def _end(summary: dict[str, Any]) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(str(summary["window"]["end"]).replace("Z", "+00:00"))
    except (KeyError, TypeError, ValueError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _number(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and math.isfinite(x) else None


def across_windows(report: MonitorReport) -> list[str]:
    """A line per version (estimated accuracy, and realized where labels came) against the
    window's end, in days before this window's; a table of every window below it."""
    if not report.history:
        return []
    out = ["<h2>Across windows</h2>"]
    points: list[tuple[dt.datetime, dict[str, Any]]] = []
    for summary in report.history:
        end = _end(summary)
        if end is not None:
            points.extend((end, v) for v in summary.get("versions", []))
    if not points:
        return [*out, "<p>No window summary could be read.</p>"]
    last = max(end for end, _ in points)
    series: list[Series] = []
    for k, version in enumerate(sorted({str(v.get("version")) for _, v in points})):
        colour = PALETTE[k % len(PALETTE)]
        for key, label, dashed in (
            ("estimated_accuracy", "estimated", False),
            ("realized_accuracy", "realized", True),
        ):
            xs, ys = [], []
            for end, v in points:
                value = _number(v.get(key))
                if str(v.get("version")) == version and value is not None:
                    xs.append(-(last - end).total_seconds() / 86400)
                    ys.append(value)
            if xs:
                series.append(
                    Series(
                        f"version {version} {label}",
                        xs,
                        ys,
                        colour=colour,
                        dashed=dashed,
                        markers=True,
                    )
                )
    if series:
        out.append(
            '<figure id="across-windows">'
            + line_chart(
                series,
                title="Accuracy across windows",
                x_label="days before this window's end",
                y_label="accuracy",
            )
            + "</figure>"
        )
    ordered = sorted(points, key=lambda p: (p[0], str(p[1].get("version"))))
    rows = []
    for end, v in ordered:
        rows.append(
            [
                escape(end.isoformat(timespec="seconds").replace("+00:00", "Z")),
                escape(str(v.get("version"))),
                escape(str(v.get("rows", ""))),
                escape(
                    "–"
                    if _number(v.get("estimated_accuracy")) is None
                    else num(v["estimated_accuracy"])
                ),
                escape(
                    "–"
                    if _number(v.get("realized_accuracy")) is None
                    else num(v["realized_accuracy"])
                ),
                escape(", ".join(v.get("skewed", [])) or "–"),
                escape(", ".join(v.get("drifted", [])) or "–"),
                escape("yes" if v.get("healthy") else "no"),
            ]
        )
    alert = [
        i
        for i, (_, v) in enumerate(sorted(points, key=lambda p: (p[0], str(p[1].get("version")))))
        if not v.get("healthy")
    ]
    out.append(
        table(
            [
                "Window end",
                "Version",
                "Rows",
                "Estimated",
                "Realized",
                "Skewed",
                "Drifted",
                "Healthy",
            ],
            rows,
            id="across-windows-table",
            numeric=[2, 3, 4],
            alert=alert,
        )
    )
    out += [f'<p class="note">{escape(n)}</p>' for n in report.history_notes]
    return out
