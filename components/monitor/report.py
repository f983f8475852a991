"""monitor's report: one self-contained HTML page (inline CSS and SVG, no scripts), for KFP's
``HTML`` artifact.

The page, top to bottom:

- the verdict (``healthy``, ``alerts`` or ``no traffic``; ``not checked`` when records came but
  no version's training evidence was found), the window and what reading it found: files,
  records, lines skipped by reason, records not decoded, versions left unresolved and why, and
  the server's own counters when they were scraped;
- per version that answered (never two mixed): its identity, rows and baseline; every input's
  skew (measure, statistic, threshold, test, p-value) with its missing, unseen-category and
  out-of-range rates, exceeded rows highlighted; the schema anomalies; per input the training
  and serving distributions side by side (numeric histograms on one axis, categorical top values
  sharing their categories; flagged inputs first); prediction drift against the eval
  predictions; the estimated accuracy with its interval beside the eval accuracy and the
  realized figures; the per-hour trend of the estimate; latency; notes.

The training statistics of the inputs and the eval predictions' statistics are drawn when the
findings carry them (``VersionFindings.train`` and ``VersionFindings.eval_predictions``); else
the serving side is drawn alone and the page says why.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from typing import Any, TypeAlias

from tensorflow_metadata.proto.v0 import statistics_pb2

from mlrail.charts import (
    PALETTE,
    Bar,
    Series,
    badge,
    count,
    escape,
    hbars,
    histogram,
    line_chart,
    num,
    page,
    pct,
    plural,
    swatch,
    table,
)
from mlrail.components.monitor.checks import VersionFindings
from mlrail.components.monitor.findings import MonitorReport
from mlrail.validation.findings import Comparison

__all__ = ["render_html"]

_DS: TypeAlias = statistics_pb2.DatasetFeatureStatistics
_STANDARD = statistics_pb2.Histogram.STANDARD
MAX_BARS = 10  # categories drawn per string feature; the rest are counted as "+N more"
_LABEL_CHARS = 16
_TRAIN_COLOUR, _SERVING_COLOUR = PALETTE[0], PALETTE[1]
_MEASURES = {"L_INFTY": "L∞ distance", "JENSEN_SHANNON_DIVERGENCE": "JS divergence"}
_TESTS = {
    "chi2": "G-test (χ²)",
    "z": "two-proportion z (Bonferroni)",
    "fixed": "fixed threshold",
}

# the realized figures shown, in this order (mlrail.artifacts.predictions.realized_metrics)
_REALIZED = ("accuracy", "error_rate", "unknown_labels", "rmse", "mae", "bias")

_CSS = """
.charts { flex-wrap: nowrap; gap: 10px; }
.nochart { font-size: 11px; color: #6b6b6b; padding: 8px 0; width: 120px; }
th.feature, td.feature { min-width: 140px; max-width: 300px; overflow-wrap: anywhere; }
.reasons { margin: 2px 0 0; padding-left: 16px; font-size: 11px; color: #9a3a00;
  font-weight: normal; }
section.version { margin-top: 24px; }
"""


# ---------------------------------------------------------------------------------------------
# per-feature charts, one per side (as validate's report draws splits side by side)


def _name(f: statistics_pb2.FeatureNameStatistics) -> str:
    return ".".join(f.path.step) if f.HasField("path") else f.name


def _by_name(ds: _DS | None) -> dict[str, statistics_pb2.FeatureNameStatistics]:
    out: dict[str, statistics_pb2.FeatureNameStatistics] = {}
    if ds is not None:
        for f in ds.features:
            out.setdefault(_name(f), f)
    return out


def _frequencies(s: statistics_pb2.StringStatistics) -> dict[str, float]:
    """Value → count, from the rank histogram (longer) and the top values (exact counts)."""
    out = {b.label: b.sample_count for b in s.rank_histogram.buckets}
    out.update((v.value, v.frequency) for v in s.top_values)
    return out


def _ranked(s: statistics_pb2.StringStatistics) -> list[str]:
    return [v for v, _ in sorted(_frequencies(s).items(), key=lambda kv: (-kv[1], kv[0]))]


def _categories(stats: Iterable[statistics_pb2.StringStatistics]) -> list[str]:
    """The values drawn on every side, one list so the bars line up: the sides' most frequent
    values taken in turns, so a value common on one side only still shows; at most MAX_BARS."""
    orders = [_ranked(s) for s in stats]
    out: dict[str, None] = {}
    for rank in range(max(map(len, orders), default=0)):
        for values in orders:
            if rank < len(values):
                out.setdefault(values[rank])
            if len(out) == MAX_BARS:
                return list(out)
    return list(out)


def _bars(
    title: str, s: statistics_pb2.StringStatistics, cats: Sequence[str], top: float, colour: str
) -> str:
    freq = _frequencies(s)
    complete = len(freq) >= s.unique
    present = s.common_stats.num_non_missing or sum(freq.values())
    bars = []
    for cat in cats:
        label, name = (cat, cat) if cat else ("(empty)", "(empty string)")
        n = freq.get(cat)
        if n is None and not complete:
            bars.append(Bar(label, None, "not recorded", name=name))
            continue
        n = n or 0.0
        share = n / present if present else 0.0
        tip = f"{name}: {count(n)} ({pct(n, present)})"
        bars.append(Bar(label, share, pct(n, present), tip, name=name))
    more = s.unique - sum(1 for b in bars if b.value)
    return hbars(
        bars,
        title=title,
        top=top,
        colour=colour,
        footer=f"+{plural(more, 'more value', 'more values')}" if more > 0 else "",
        label_chars=_LABEL_CHARS,
    )


def _figures(feature: str, sides: Sequence[tuple[str, str, _DS | None]]) -> str:
    """One chart per side ``(label, colour, dataset)``; numeric sides share their axes,
    categorical sides their categories and scale."""
    hists: dict[str, tuple[statistics_pb2.Histogram, float]] = {}
    strs: dict[str, statistics_pb2.StringStatistics] = {}
    for label, _, ds in sides:
        f = _by_name(ds).get(feature)
        kind = f.WhichOneof("stats") if f is not None else None
        if f is not None and kind == "num_stats":
            h = next((h for h in f.num_stats.histograms if h.type == _STANDARD), None)
            if h is not None and any(b.sample_count > 0 for b in h.buckets):
                counted = sum(b.sample_count for b in h.buckets) + h.num_nan
                hists[label] = (h, f.num_stats.common_stats.num_non_missing or counted)
        elif f is not None and kind == "string_stats":
            if f.string_stats.common_stats.num_non_missing:
                strs[label] = f.string_stats
    edges = [
        e
        for h, _ in hists.values()
        for b in h.buckets
        for e in (b.low_value, b.high_value)
        if math.isfinite(e)
    ]
    lo, hi = (min(edges), max(edges)) if edges else (0.0, 1.0)
    if hi <= lo:  # a single value: give it a visible width
        lo, hi = lo - 0.5, hi + 0.5
    num_top = max(
        (b.sample_count / present for h, present in hists.values() for b in h.buckets),
        default=0.0,
    )
    cats = _categories(strs.values())
    cat_top = max(
        (
            _frequencies(s).get(c, 0.0) / s.common_stats.num_non_missing
            for s in strs.values()
            for c in cats
        ),
        default=0.0,
    )
    out = []
    for label, colour, ds in sides:
        if label in hists:
            h, present = hists[label]
            nan = f"NaN: {count(h.num_nan)} ({pct(h.num_nan, present)})" if h.num_nan else ""
            chart = histogram(
                [(b.low_value, b.high_value, b.sample_count) for b in h.buckets],
                title=f"{label}: histogram of {feature}, share of values",
                total=present,
                domain=(lo, hi),
                top=num_top,
                colour=colour,
                note=nan,
            )
        elif label in strs:
            title = f"{label}: top values of {feature}, share"
            chart = _bars(title, strs[label], cats, cat_top, colour)
        else:
            why = "not kept" if ds is None else "no values"
            chart = f'<div class="nochart">{why}</div>'
        caption = f"<figcaption>{swatch(colour)}{escape(label)}</figcaption>"
        out.append(f"<figure>{caption}{chart}</figure>")
    return f'<div class="charts">{"".join(out)}</div>'


# ---------------------------------------------------------------------------------------------
# words and small parts


def _shown(name: str) -> str:
    return name if name else '""'


def _key_name(version: str, identity: str | None) -> str:
    return f"version {version}" + (f" ({identity})" if identity else "")


def _train(v: VersionFindings) -> _DS | None:
    """The training split's statistics of the inputs, when the findings keep them."""
    return v.train


def _eval_predictions(v: VersionFindings) -> _DS | None:
    """The eval predictions' statistics, when the findings keep them."""
    return v.eval_predictions


def _figure(x: float | None) -> str:
    return "–" if x is None else escape(num(float(x)))


def _rate(figures: dict[str, float], key: str) -> str:
    x = figures.get(key)
    if x is None:
        return "–"
    text = escape(pct(x, 1.0))
    return f'<span class="flag">{text}</span>' if x > 0 and key != "missing_rate" else text


def _by_interest(cs: Iterable[Comparison]) -> list[Comparison]:
    """Exceeded first, then largest value first (NaN last); ties by name."""

    def key(c: Comparison) -> tuple[bool, float, str, str]:
        return (
            not c.exceeded,
            -(-math.inf if math.isnan(c.value) else c.value),
            c.feature,
            c.measure,
        )

    return sorted(cs, key=key)


def _comparison_cells(c: Comparison | None) -> list[str]:
    """Measure, value, threshold, test, p-value and result of ``c`` (dashes when None)."""
    if c is None:
        return ["–", "–", "–", "–", "–", '<span class="muted">not compared</span>']
    if c.exceeded:
        result = '<span class="flag">▲ exceeded</span>'
    elif c.threshold is None:
        result = '<span class="muted">no threshold</span>'
    else:
        result = "within"
    return [
        f'<span title="{escape(c.measure)}">{escape(_MEASURES.get(c.measure, c.measure))}</span>',
        escape(num(c.value)),
        _figure(c.threshold),
        escape(_TESTS.get(c.test, c.test) or "–"),
        _figure(c.p_value),
        result,
    ]


def _alerts(v: VersionFindings) -> list[str]:
    out = []
    if v.skewed:
        names = ", ".join(_shown(c.feature) for c in _by_interest(v.skewed))
        out.append(f"{plural(len(v.skewed), 'input', 'inputs')} skewed ({names})")
    schema = [a for a in v.anomalies if not a.type.startswith("COMPARATOR_")]
    if schema:
        out.append(plural(len(schema), "schema anomaly", "schema anomalies"))
    if v.drifted:
        names = ", ".join(_shown(c.feature) for c in v.drifted)
        out.append(f"prediction drift ({names})")
    if v.performance_drop:
        out.append("performance drop")
    return out


# ---------------------------------------------------------------------------------------------
# the window


def _verdict(report: MonitorReport) -> tuple[str, str]:
    if report.no_traffic:
        return "no traffic", "neutral"
    if not report.versions:
        return "not checked", "neutral"
    return ("healthy", "good") if report.healthy else ("alerts", "bad")


def _header(report: MonitorReport, title: str) -> list[str]:
    text, kind = _verdict(report)
    w = report.window
    stats = report.decoded.stats
    out = [
        f"<header><h1>{escape(title)}</h1>",
        f"<p>{badge(text, kind, id='verdict')}</p>",
        f'<p id="window">Window <code>{escape(str(w["start"]))}</code> to '
        f"<code>{escape(str(w['end']))}</code> (end excluded): "
        f"{escape(plural(stats.records, 'record', 'records'))} in "
        f"{escape(plural(stats.files, 'file', 'files'))}.</p>",
    ]
    if report.no_traffic:
        out.append(
            '<p id="no-traffic">No traffic: no request was logged in this window, so nothing '
            "was compared (no drift is reported for it).</p>"
        )
    elif not report.versions:
        out.append(
            "<p>No version that answered could be checked: its training evidence was not "
            "found (below).</p>"
        )
    items = []
    for v in report.versions:
        alerts = _alerts(v)
        what = "; ".join(alerts) if alerts else "healthy"
        cls = ' class="flag"' if alerts else ""
        items.append(
            f"<li>{escape(_key_name(v.version, v.identity))}: <span{cls}>{escape(what)}</span></li>"
        )
    if items:
        out.append(f'<ul id="summary">{"".join(items)}</ul>')
    return [*out, "</header>"]


def _read(report: MonitorReport) -> list[str]:
    d = report.decoded
    s = d.stats
    out = ['<section id="read"><h2>What was read</h2>']
    out.append(
        table(
            ["Files", "Bytes", "Lines", "Records in the window", "Outside the window", "Skipped"],
            [
                [escape(count(x)) for x in (s.files, s.bytes, s.lines, s.records, s.outside)]
                + [escape(count(s.num_skipped))]
            ],
            id="read-counts",
            numeric=range(6),
        )
    )
    if s.skipped:
        out.append("<h3>Lines skipped, by reason</h3>")
        rows = [
            [f"<code>{escape(r)}</code>", escape(count(n)), escape(s.first.get(r, ""))]
            for r, n in sorted(s.skipped.items())
        ]
        out.append(table(["Reason", "Lines", "First at"], rows, id="skipped", numeric=[1]))
    if s.vanished:
        names = ", ".join(s.vanished)
        out.append(f"<p>Files gone when read (removed meanwhile): {escape(names)}</p>")
    undecoded = [
        [
            escape(_key_name(*k)),
            f"<code>{escape(r)}</code>",
            escape(count(n)),
            escape(g.first.get(r, "")),
        ]
        for k, g in d.groups.items()
        for r, n in sorted(g.skipped.items())
    ]
    if undecoded:
        out.append("<h3>Records not decoded</h3>")
        out.append(
            table(["Version", "Reason", "Records", "First"], undecoded, id="undecoded", numeric=[2])
        )
    if report.unresolved:
        records = {_key_name(*k): n for k, n in d.unknown.items()}
        for k, g in d.groups.items():
            records.setdefault(_key_name(*k), g.records + sum(g.skipped.values()))
        rows = [
            [escape(name), escape(count(records[name])) if name in records else "–", escape(why)]
            for name, why in sorted(report.unresolved.items())
        ]
        out.append("<h3>Versions not compared</h3>")
        out.append(
            '<p class="muted">Their records are counted here, never mixed with another '
            "version's.</p>"
        )
        out.append(
            table(
                ["Version", "Records", "Why"],
                rows,
                id="unresolved",
                numeric=[1],
                alert=range(len(rows)),
            )
        )
    if report.server is not None:
        out += _server(report.server)
    return [*out, "</section>"]


def _server(server: dict[str, Any]) -> list[str]:
    out = ["<h3>The server's counters</h3>"]
    if "error" in server:
        return [*out, f'<p id="server" class="flag">{escape(str(server["error"]))}</p>']
    rate = server.get("error_rate")
    rows = [
        [
            escape(count(float(server.get("requests", 0)))),
            escape(count(float(server.get("errors", 0)))),
            "–" if rate is None else escape(pct(float(rate), 1.0)),
        ]
    ]
    out.append(table(["Requests", "Errors", "Error rate"], rows, id="server", numeric=range(3)))
    by_status = server.get("by_status") or {}
    if by_status:
        status = [[escape(str(k)), escape(count(float(n)))] for k, n in sorted(by_status.items())]
        out.append(table(["Status", "Requests"], status, id="server-status", numeric=[1]))
    if server.get("since"):
        out.append(f'<p class="muted">Since {escape(str(server["since"]))}.</p>')
    return out


# ---------------------------------------------------------------------------------------------
# one version


def _skew(v: VersionFindings, i: int) -> list[str]:
    out = [f"<h3>Serving skew: inputs against training ({len(v.skewed):,} exceeded)</h3>"]
    by_feature: dict[str, list[Comparison]] = {}
    for compared in _by_interest(v.skew):
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
                [f'<span class="name">{escape(_shown(n))}</span>', *_comparison_cells(c)]
                + [_rate(figures, k) for k in ("missing_rate", "unseen_rate", "out_of_range_rate")]
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
    out = [f"<h3>Anomalies ({len(v.anomalies):,})</h3>"]
    if not v.anomalies:
        return [*out, "<p>None: the inputs match the schema.</p>"]
    rows = [
        [
            escape(_shown(a.feature))
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


def _reasons(v: VersionFindings) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for c in _by_interest(v.skewed):
        out.setdefault(c.feature, []).append(
            f"{_MEASURES.get(c.measure, c.measure)} {num(c.value)} > {_figure(c.threshold)}"
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
    ordered = [n for n in names if n in reasons] + [n for n in names if n not in reasons]
    rows = []
    for n in ordered:
        why = "".join(f"<li>{escape(r)}</li>" for r in reasons.get(n, []))
        flag = '<span class="flag">⚠ </span>' if n in reasons else ""
        head = f'{flag}<span class="name">{escape(_shown(n))}</span>' + (
            f'<ul class="reasons">{why}</ul>' if why else ""
        )
        rows.append([head, _figures(n, sides)])
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


def _inputs_charts(v: VersionFindings, i: int) -> list[str]:
    train = _train(v)
    out = ["<h3>Inputs: training and serving</h3>"]
    if train is None:
        out.append(
            '<p class="muted">The training statistics are not kept with these findings: the '
            "serving side is drawn alone.</p>"
        )
    names = list(dict.fromkeys([*v.features, *(_name(f) for f in v.serving.features)]))
    rows = v.serving.num_examples
    sides = [
        (
            f"training ({plural(train.num_examples, 'row', 'rows')})" if train else "training",
            _TRAIN_COLOUR,
            train,
        ),
        (f"serving ({plural(rows, 'row', 'rows')})", _SERVING_COLOUR, v.serving),
    ]
    return [*out, _feature_charts(names, _reasons(v), sides, f"charts-v{i}")]


def _drift(v: VersionFindings, i: int) -> list[str]:
    out = [
        f"<h3>Prediction drift: answers against the eval split's ({len(v.drifted):,} exceeded)</h3>"
    ]
    if v.predictions is None:
        return [*out, "<p>Not checked (see the notes).</p>"]
    rows = [[escape(_shown(c.feature)), *_comparison_cells(c)] for c in _by_interest(v.drift)]
    out.append(
        table(
            ["Output", "Measure", "Value", "Threshold", "Test", "p-value", "Result"],
            rows,
            id=f"drift-v{i}",
            numeric=[2, 3, 5],
            alert=[k for k, c in enumerate(_by_interest(v.drift)) if c.exceeded],
        )
    )
    ref = _eval_predictions(v)
    if ref is None:
        out.append(
            '<p class="muted">The eval predictions\' statistics are not kept with these '
            "findings: the window's predictions are drawn alone.</p>"
        )
    reasons = {
        c.feature: [
            f"{_MEASURES.get(c.measure, c.measure)} {num(c.value)} > {_figure(c.threshold)}"
        ]
        for c in v.drifted
    }
    names = [_name(f) for f in v.predictions.features]
    sides = [
        (
            f"eval ({plural(ref.num_examples, 'row', 'rows')})" if ref else "eval",
            _TRAIN_COLOUR,
            ref,
        ),
        (
            f"serving ({plural(v.predictions.num_examples, 'row', 'rows')})",
            _SERVING_COLOUR,
            v.predictions,
        ),
    ]
    return [*out, _feature_charts(names, reasons, sides, f"drift-charts-v{i}")]


def _hour(text: str) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _performance(v: VersionFindings, i: int, start: dt.datetime, end: dt.datetime) -> list[str]:
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
    series = [Series("estimated accuracy", xs, ys, colour=_SERVING_COLOUR, markers=True, tips=tips)]
    if v.eval_accuracy is not None:
        ys = [*ys, v.eval_accuracy]
        series.append(
            Series(
                "accuracy on the eval split",
                list(x_domain),
                [v.eval_accuracy] * 2,
                colour=_TRAIN_COLOUR,
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


def _latency(v: VersionFindings, i: int) -> list[str]:
    if not v.latency_ms:
        return []
    keys = [k for k in ("p50", "p95", "p99", "mean") if k in v.latency_ms]
    rows = [[escape(num(v.latency_ms[k])) for k in keys]]
    return [
        "<h3>Latency (ms, as the server logged it)</h3>",
        table(keys, rows, id=f"latency-v{i}", numeric=range(len(keys))),
    ]


def _version(v: VersionFindings, i: int, start: dt.datetime, end: dt.datetime) -> list[str]:
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
        *_inputs_charts(v, i),
        *_drift(v, i),
        *_performance(v, i, start, end),
        *_latency(v, i),
    ]
    if v.notes:
        out.append("<h3>Notes</h3><ul>" + "".join(f"<li>{escape(n)}</li>" for n in v.notes))
        out.append("</ul>")
    return [*out, "</section>"]


def render_html(report: MonitorReport) -> str:
    """The window's findings as one self-contained HTML page (inline CSS and SVG, no scripts).

    Args:
        report: What the window showed.

    Returns:
        The page, well-formed XML as well as HTML; the same report gives the same text.
    """
    title = f"Monitoring: {report.model}"
    window = report.decoded.window
    body = [*_header(report, title), *_read(report)]
    for i, v in enumerate(report.versions):
        body += _version(v, i, window.start, window.end)
    return page(title, body, css=_CSS)
