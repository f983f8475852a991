"""The validate report as one self-contained HTML page (sections in :mod:`.report`'s doc)."""

from __future__ import annotations

import math

from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from mlrail.charts import count, cut, escape, num, page, pct, plural, swatch
from mlrail.components.validate.findings import ValidationReport
from mlrail.components.validate.report.figures import MAX_BARS, figures, ranked
from mlrail.components.validate.report.words import (
    Feature,
    View,
    against_text,
    by_interest,
    common,
    drift_checked,
    drift_words,
    identifiers,
    measure_name,
    shown,
    stats_kind,
    test_text,
    threshold_text,
    verdict,
)
from mlrail.datetimes import format_day
from mlrail.validation.schema import IDENTIFIER, has_tag
from mlrail.validation.statistics import DATETIME, UNSUPPORTED, custom_str

__all__ = ["render_html"]

_TOP_TEXT = 3  # top values written out in the categorical table
_FNS = statistics_pb2.FeatureNameStatistics


# the validate page's rules, added to mlrail.charts.CSS
_CSS = """
tbody.feature { border-top: 2px solid #d0d0d0; }
th.feature { min-width: 140px; max-width: 300px; overflow-wrap: anywhere; }
tbody.flagged td, tbody.flagged th { background: #fbe6d7; }
tbody.flagged th.feature { box-shadow: inset 4px 0 #D55E00; }
td.split { white-space: nowrap; }
td.tops { white-space: nowrap; font-size: 12px; }
.reasons { margin: 2px 0 0; padding-left: 16px; font-size: 11px; color: #9a3a00;
  font-weight: normal; }
ul.splits { list-style: none; padding: 0; margin: 6px 0; display: flex; flex-wrap: wrap;
  gap: 6px 18px; }
.charts { flex-wrap: nowrap; gap: 10px; }
.nochart { font-size: 11px; color: #6b6b6b; padding: 8px 0; width: 120px; }
.meter { display: inline-block; position: relative; width: 80px; height: 8px;
  background: #ececec; margin-left: 8px; }
.meter .v { position: absolute; left: 0; top: 0; bottom: 0; background: #0072B2; }
tr.alert .meter .v { background: #D55E00; }
.meter .t { position: absolute; top: -2px; bottom: -2px; width: 2px; background: #1d1d1d; }
"""


def _split_cell(view: View, split: str) -> str:
    return f"{swatch(view.colours.get(split, '#999999'))}{escape(split)}" if split else "–"


def _header(report: ValidationReport, view: View, title: str) -> list[str]:
    ok = "good" if report.ok else "bad"
    mark = "✓" if report.ok else "✗"
    drift = drift_words(report)
    drift_cls = "bad" if report.drift_detected else ("good" if drift_checked(report) else "neutral")
    out = [
        f"<header><h1>{escape(title)}</h1>",
        f'<p><span class="badge {ok}" id="verdict">{mark} {escape(verdict(report))}</span>'
        f'<span class="badge {drift_cls}" id="drift">{escape(drift)}</span></p>',
        "<p>Baseline for drift: "
        + (f"<code>{escape(report.baseline)}</code>" if report.baseline else "none")
        + "</p>",
        '<ul class="splits" id="splits">',
    ]
    for split in view.splits:
        rows = view.rows[split]
        cls = ' class="flag"' if rows == 0 else ""
        out.append(
            f"<li>{swatch(view.colours[split])}<b>{escape(split)}</b> "
            f"<span{cls}>{escape(plural(rows, 'row', 'rows'))}</span></li>"
        )
    out.append("</ul>")
    out.append(
        f'<p class="muted">{plural(len(view.features), "feature", "features")}; '
        f"{plural(len(report.comparisons), 'comparison', 'comparisons')}; "
        "the split colours above are the charts' legend.</p></header>"
    )
    return out


def _anomalies(report: ValidationReport, view: View) -> list[str]:
    out = [f'<section id="anomalies"><h2>Anomalies ({report.num_anomalies:,})</h2>']
    if report.ok:
        return [*out, "<p>None: every split matches the schema.</p></section>"]
    out.append('<div class="scroll"><table id="anomalies-table"><thead><tr><th>Split</th>')
    out.append("<th>Feature</th>")
    out.append("<th>Type</th><th>Description</th></tr></thead><tbody>")
    for a in report.anomalies:
        feature = (
            escape(shown(a.feature))
            if a.feature is not None
            else '<span class="muted">(whole split)</span>'
        )
        out.append(
            f'<tr class="alert"><td class="split">{_split_cell(view, a.split)}</td>'
            f"<td>{feature}</td>"
            f"<td><code>{escape(a.type)}</code></td><td>{escape(a.description)}</td></tr>"
        )
    return [*out, "</tbody></table></div></section>"]


def _comparisons(report: ValidationReport, view: View) -> list[str]:
    cs = by_interest(report.comparisons)
    exceeded = sum(c.exceeded for c in cs)
    out = [
        f'<section id="comparisons"><h2>Skew and drift ({len(cs):,} compared, '
        f"{exceeded:,} over threshold)</h2>"
    ]
    if not cs:
        return [*out, "<p>No distributions were compared.</p></section>"]
    out.append(
        '<p class="muted">Skew: a split against train in this run. Drift: a split against the '
        "same split of the baseline. L∞ distance for categorical features, Jensen-Shannon "
        "divergence for numeric ones; both run from 0 (same) to 1. The bar shows the value, "
        "the black tick the threshold. A threshold the schema does not fix is the test's "
        "critical value at the sizes compared (5% false alarms over all features, never below "
        "a floor), plus for a JS divergence what the binning of the two histograms may add "
        "when their edges differ.</p>"
    )
    out.append(
        '<div class="scroll"><table id="comparisons-table"><thead><tr><th>Feature</th>'
        "<th>Kind</th><th>Measure</th>"
        "<th>Split</th><th>Against</th><th>Value</th><th>Threshold</th><th>Result</th>"
        "<th>Test</th></tr>"
        "</thead><tbody>"
    )
    for c in cs:
        meter = '<span class="meter">'
        if math.isfinite(c.value):
            meter += f'<span class="v" style="width:{min(max(c.value, 0), 1) * 100:.1f}%"></span>'
        if c.threshold is not None and math.isfinite(c.threshold):
            meter += (
                f'<span class="t" style="left:{min(max(c.threshold, 0), 1) * 100:.1f}%"></span>'
            )
        meter += "</span>"
        if c.exceeded:
            result = '<span class="flag">▲ exceeded</span>'
        elif c.threshold is None:
            result = '<span class="muted">no threshold</span>'
        else:
            result = "within"
        against = escape(against_text(c))
        row = '<tr class="alert exceeded">' if c.exceeded else "<tr>"
        out.append(
            f"{row}<td>{escape(shown(c.feature))}</td>"
            f"<td>{escape(c.kind)}</td>"
            f'<td title="{escape(c.measure)}">{escape(measure_name(c.measure))}</td>'
            f'<td class="split">{_split_cell(view, c.split)}</td><td>{against}</td>'
            f'<td class="n">{escape(num(c.value))}{meter}</td>'
            f'<td class="n">{escape(threshold_text(c))}</td><td>{result}</td>'
            f'<td class="muted">{escape(test_text(c))}</td></tr>'
        )
    return [*out, "</tbody></table></div></section>"]


def _left_out(report: ValidationReport) -> list[str]:
    ids = identifiers(report)
    if not ids:
        return []
    out = [
        f'<section id="left-out"><h2>Left out of the default model ({len(ids):,})</h2>',
        '<p class="muted">Identifier-like columns: (nearly) every value is distinct, so a '
        "vocabulary would be as large as the data and learn nothing that holds for new rows. "
        "Not an anomaly; train leaves them out unless a model file uses them.</p>",
        '<div class="scroll"><table id="left-out-table"><thead><tr><th>Feature</th>'
        "<th>Why</th></tr></thead><tbody>",
    ]
    out += [f"<tr><td>{escape(shown(n))}</td><td>{escape(why)}</td></tr>" for n, why in ids]
    return [*out, "</tbody></table></div></section>"]


def _schema_note(feat: schema_pb2.Feature | None) -> str:
    if feat is None:
        return "not in the schema"
    parts = [f"schema {schema_pb2.FeatureType.Name(feat.type)}"]
    if feat.HasField("time_domain"):
        parts.append("dates (days since 1970)")
    if has_tag(feat, IDENTIFIER):
        parts.append("identifier-like: left out of the default model")
    if feat.presence.min_fraction >= 1:
        parts.append("required")
    if feat.HasField("string_domain"):
        parts.append(plural(len(feat.string_domain.value), "allowed value", "allowed values"))
    elif feat.domain:
        parts.append(f"domain {feat.domain}")
    for dom in (feat.int_domain, feat.float_domain):
        if dom.HasField("min") or dom.HasField("max"):
            lo = num(dom.min) if dom.HasField("min") else "-inf"
            hi = num(dom.max) if dom.HasField("max") else "inf"
            parts.append(f"range [{lo}, {hi}]")
    return ", ".join(parts)


def _type_name(f: statistics_pb2.FeatureNameStatistics) -> str:
    """The feature's type as the statistics say, with the Arrow type of dates and of types
    mlrail does not support."""
    unsupported = custom_str(f, UNSUPPORTED)
    if unsupported is not None:
        return f"unsupported type {unsupported}"
    when = custom_str(f, DATETIME)
    return f"dates ({when})" if when is not None else _FNS.Type.Name(f.type)


def _feature_head(feat: Feature, rowspan: int) -> str:
    types = dict.fromkeys(_type_name(f) for f in feat.stats.values())
    flag = '<span class="flag">⚠ </span>' if feat.reasons else ""
    reasons = "".join(f"<li>{escape(r)}</li>" for r in feat.reasons)
    return (
        f'<th class="feature" rowspan="{rowspan}">{flag}'
        f'<span class="name">{escape(shown(feat.name))}</span>'
        f'<div class="muted">{escape(" / ".join(types) or "no statistics")}; '
        f"{escape(_schema_note(feat.schema))}</div>"
        + (f'<ul class="reasons">{reasons}</ul>' if reasons else "")
        + "</th>"
    )


_NUM_COLS = ("Missing", "Mean", "Std dev", "Min", "Median", "Max", "Zeros")
_STR_COLS = ("Missing", "Unique", "Avg length", "Top values")


def _missing(f: statistics_pb2.FeatureNameStatistics, rows: int) -> str:
    cs = common(f)
    if cs is None:
        return '<td class="n">–</td>'
    total = cs.num_missing + cs.num_non_missing or rows
    tip = f"{count(cs.num_missing)} of {count(total)} rows"
    cls = "n flag" if cs.num_missing and cs.num_missing == total else "n"
    return f'<td class="{cls}" title="{escape(tip)}">{escape(pct(cs.num_missing, total))}</td>'


def _numeric_cells(f: statistics_pb2.FeatureNameStatistics) -> list[str]:
    n = f.num_stats
    if not n.common_stats.num_non_missing:
        return ["–"] * 6
    if custom_str(f, DATETIME) is not None:  # days since 1970: shown as dates
        texts = [format_day(n.mean), f"{num(n.std_dev)} days"]
        texts += [format_day(x) for x in (n.min, n.median, n.max)]
    else:
        texts = [num(x) for x in (n.mean, n.std_dev, n.min, n.median, n.max)]
    return [escape(x) for x in [*texts, pct(n.num_zeros, n.common_stats.num_non_missing)]]


def _string_cells(f: statistics_pb2.FeatureNameStatistics) -> list[str]:
    s = f.string_stats
    present = s.common_stats.num_non_missing
    if not present:
        return ["–"] * 3
    tops = "<br/>".join(
        escape(f"{cut(v, 24) if v else '(empty)'} {pct(c, present)}")
        for v, c in ranked(s)[:_TOP_TEXT]
    )
    return [escape(count(s.unique)), escape(num(s.avg_length)), tops]


def _feature_rows(view: View, feat: Feature, numeric: bool) -> list[str]:
    cols = _NUM_COLS if numeric else _STR_COLS
    n = len(view.splits)
    out = [f'<tbody class="feature{" flagged" if feat.reasons else ""}">']
    for i, split in enumerate(view.splits):
        cells = ["<tr>"]
        if i == 0:
            cells.append(_feature_head(feat, n))
        cells.append(f'<td class="split">{_split_cell(view, split)}</td>')
        f = feat.stats.get(split)
        kind = stats_kind(f) if f is not None else ""
        if f is None:
            why = "no rows in this split" if view.rows[split] == 0 else "absent from this split"
            cells.append(f'<td colspan="{len(cols)}" class="muted">{why}</td>')
        elif kind == ("num_stats" if numeric else "string_stats"):
            values = _numeric_cells(f) if numeric else _string_cells(f)
            cells.append(_missing(f, view.rows[split]))
            classes = ["n"] * len(values) if numeric else ["n", "n", "tops"]
            cells.extend(f'<td class="{c}">{v}</td>' for c, v in zip(classes, values, strict=True))
        else:
            what = _type_name(f) if kind else "no statistics"
            cells.append(_missing(f, view.rows[split]))
            cells.append(
                f'<td colspan="{len(cols) - 1}" class="flag">{escape(what)} in this split</td>'
            )
        if i == 0:
            cells.append(f'<td rowspan="{n}">{figures(view, feat)}</td>')
        cells.append("</tr>")
        out.append("".join(cells))
    out.append("</tbody>")
    return out


def _features(view: View) -> list[str]:
    flagged = [shown(f.name) for f in view.features if f.reasons]
    out = [f'<section id="features"><h2>Features ({len(view.features):,})</h2>']
    if flagged:
        out.append(
            '<p><span class="flag">⚠ Flagged, listed first:</span> '
            f"{escape(', '.join(flagged))}</p>"
        )
    out.append(
        '<p class="muted">Missing: share of rows without a value. Charts show each value\'s share '
        "of the split's present values, so splits of different sizes compare; numeric "
        "histograms of one feature share their axes. Hover a bar for its count.</p>"
    )
    for numeric, title, cols, chart in (
        (True, "Numeric features", _NUM_COLS, "Histogram (equal-width buckets)"),
        (False, "Categorical features", _STR_COLS, f"Top values (at most {MAX_BARS})"),
    ):
        feats = [f for f in view.features if f.numeric == numeric]
        if not feats:
            continue
        kind = "numeric" if numeric else "categorical"
        out.append(f'<h3>{title} ({len(feats):,})</h3><div class="scroll">')
        out.append(f'<table id="features-{kind}"><thead><tr><th>Feature</th><th>Split</th>')
        out.append("".join(f"<th>{c}</th>" for c in cols) + f"<th>{chart}</th></tr></thead>")
        for feat in feats:
            out.extend(_feature_rows(view, feat, numeric))
        out.append("</table></div>")
    return [*out, "</section>"]


def render_html(report: ValidationReport, *, title: str = "Data validation") -> str:
    """The report as one self-contained HTML page (inline CSS and SVG, no scripts, no links).

    Args:
        report: What validation found.
        title: The page's heading and ``<title>``.

    Returns:
        The page, well-formed XML as well as HTML; the same report gives the same text.
    """
    view = View.of(report)
    body = [
        *_header(report, view, title),
        *_anomalies(report, view),
        *_left_out(report),
        *_comparisons(report, view),
        *_features(view),
    ]
    return page(title, body, css=_CSS)
