"""One version's section of monitor's page: its identity, the inputs' skew against training,
the schema anomalies, latency and notes; the distributions (:mod:`.distributions`) and the
performance (:mod:`.performance`) in between."""

from __future__ import annotations

import datetime as dt

from mlrail.charts import badge, escape, num, plural, table
from mlrail.components.monitor.checks import VersionFindings
from mlrail.components.monitor.report.distributions import drift, inputs_charts
from mlrail.components.monitor.report.performance import performance
from mlrail.components.monitor.report.words import (
    by_interest,
    comparison_cells,
    rate,
    shown,
)
from mlrail.validation.findings import Comparison

__all__ = ["version"]


def _skew(v: VersionFindings, i: int) -> list[str]:
    """Every input's skew against training, exceeded ones (and inputs with an anomaly)
    highlighted, with its missing, unseen and out-of-range rates."""
    out = [f"<h3>Serving skew: inputs against training ({len(v.skewed):,} exceeded)</h3>"]
    by_feature: dict[str, list[Comparison]] = {}
    for compared in by_interest(v.skew):
        by_feature.setdefault(compared.feature, []).append(compared)
    flagged = {a.feature for a in v.anomalies if a.feature is not None}
    names = list(by_feature) + [n for n in v.features if n not in by_feature]
    rows: list[list[str]] = []
    alert: list[int] = []
    for n in names:
        figures = v.features.get(n, {})
        found: list[Comparison | None] = [*by_feature.get(n, [])] or [None]
        for c in found:
            if (c is not None and c.exceeded) or n in flagged:
                alert.append(len(rows))
            rows.append(
                [f'<span class="name">{escape(shown(n))}</span>', *comparison_cells(c)]
                + [rate(figures, k) for k in ("missing_rate", "unseen_rate", "out_of_range_rate")]
            )
    if not rows:
        return [*out, "<p>No input was compared.</p>"]
    out.append(
        '<p class="muted">L∞ distance for categorical inputs, Jensen-Shannon divergence for '
        "numeric ones (0: same). The threshold comes from the test named, at these sample "
        "sizes. Unseen: values not in the training domain; out of range: outside training's "
        "min and max.</p>"
    )
    head = [
        "Input",
        "Measure",
        "Value",
        "Threshold",
        "Test",
        "p-value",
        "Result",
        "Missing",
        "Unseen",
        "Out of range",
    ]
    return [
        *out,
        table(head, rows, id=f"skew-v{i}", numeric=[2, 3, 5, 7, 8, 9], alert=alert),
    ]


def _anomalies(v: VersionFindings, i: int) -> list[str]:
    """The schema anomalies, each a highlighted row."""
    out = [f"<h3>Anomalies ({len(v.anomalies):,})</h3>"]
    if not v.anomalies:
        return [*out, "<p>None: the inputs match the schema.</p>"]
    rows = [
        [
            escape(shown(a.feature))
            if a.feature is not None
            else '<span class="muted">(all)</span>',
            f"<code>{escape(a.type)}</code>",
            escape(a.description),
        ]
        for a in v.anomalies
    ]
    return [
        *out,
        table(["Input", "Type", "Description"], rows, id=f"anomalies-v{i}", alert=range(len(rows))),
    ]


def _latency(v: VersionFindings, i: int) -> list[str]:
    """The latency percentiles the server logged; nothing when none were."""
    if not v.latency_ms:
        return []
    keys = [k for k in ("p50", "p95", "p99", "mean") if k in v.latency_ms]
    rows = [[escape(num(v.latency_ms[k])) for k in keys]]
    return [
        "<h3>Latency (ms, as the server logged it)</h3>",
        table(keys, rows, id=f"latency-v{i}", numeric=range(len(keys))),
    ]


def version(v: VersionFindings, i: int, start: dt.datetime, end: dt.datetime) -> list[str]:
    """One version's section: identity and baseline, skew, anomalies, the inputs' charts,
    prediction drift, performance, latency and notes."""
    ok, kind = ("healthy", "good") if v.healthy else ("alerts", "bad")
    out = [
        f'<section class="version" id="v{i}">',
        f"<h2>Version {escape(v.version)}</h2>",
        f"<p>{badge(ok, kind, id=f'verdict-v{i}')}"
        f"{escape(plural(v.rows, 'row', 'rows'))} answered.</p>",
        "<p>Identity: "
        + (f"<code>{escape(v.identity)}</code>" if v.identity else "unknown (not logged)")
        + f"<br/>Compared with: {escape(v.baseline)}</p>",
        *_skew(v, i),
        *_anomalies(v, i),
        *inputs_charts(v, i),
        *drift(v, i),
        *performance(v, i, start, end),
        *_latency(v, i),
    ]
    if v.notes:
        out.append("<h3>Notes</h3><ul>" + "".join(f"<li>{escape(n)}</li>" for n in v.notes))
        out.append("</ul>")
    return [*out, "</section>"]
