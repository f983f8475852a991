"""Human-readable views of a :class:`~mlrail.components.validate.core.ValidationReport`.

``render_html`` makes one self-contained page for a KFP ``HTML`` artifact, which the Kubeflow UI
shows in a sandboxed iframe: no scripts, no external styles, fonts or images; the charts are
inline SVG drawn here. ``render_markdown`` makes the short summary for a ``Markdown`` artifact.

Every string that comes from the data (feature names, values, descriptions, the baseline) is
escaped, and the same report renders to the same bytes (no clock, no random ids). The page is
also well-formed XML, so each SVG stands alone and a test can parse the whole document.

Page sections, top to bottom:

- header: the verdict (OK or N anomalies), drift (detected, not detected, or not checked for
  want of a baseline) with the baseline, and the splits with their row counts and chart colours;
- anomalies: split, feature, type, description;
- left out of the default model: identifier-like columns (schema annotation
  ``mlrail.identifier``), each with why (its counts); not anomalies;
- skew and drift: every comparison, exceeded ones first and highlighted;
- features: numeric and categorical tables, flagged features first; per split the missing
  share and the headline figures, and side by side a histogram or a top-values chart per split.
  A date or timestamp column's figures are dates (its statistics are days since 1970 UTC).

A column named "" (a pandas index) is shown as ``""``.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from mlrail.charts import (
    PALETTE,
    Bar,
    clean,
    count,
    cut,
    escape,
    hbars,
    histogram,
    num,
    page,
    pct,
    plural,
    swatch,
)
from mlrail.components.validate.core import Comparison, ValidationReport
from mlrail.components.validate.schema import IDENTIFIER, has_tag
from mlrail.components.validate.statistics import DATETIME, UNSUPPORTED, custom_str
from mlrail.datetimes import format_day

__all__ = ["render_html", "render_markdown"]

_MAX_BARS = 10  # categories drawn per string feature; the rest are counted as "+N more"
_TOP_TEXT = 3  # top values written out in the categorical table
_LABEL_CHARS = 16  # category labels in charts are cut to this many characters
_MD_ANOMALIES = 20  # anomalies listed in the Markdown summary
_MD_LARGEST = 5  # largest skew/drift values tabulated in the Markdown summary
_MEASURES = {"L_INFTY": "L∞ distance", "JENSEN_SHANNON_DIVERGENCE": "JS divergence"}
_FNS = statistics_pb2.FeatureNameStatistics
_STANDARD = statistics_pb2.Histogram.STANDARD


# ---------------------------------------------------------------------------------------------
# text


def _shown(name: str) -> str:
    """A column's name for a reader: the empty name visibly."""
    return name if name else '""'


def _identifiers(report: ValidationReport) -> list[tuple[str, str]]:
    """The identifier-like columns left out of the default model, with why."""
    return [
        (f.name, "; ".join(f.annotation.comment) or "identifier-like")
        for f in report.schema.feature
        if has_tag(f, IDENTIFIER)
    ]


def _verdict(report: ValidationReport) -> str:
    return "OK" if report.ok else plural(report.num_anomalies, "anomaly", "anomalies")


def _drift_checked(report: ValidationReport) -> bool:
    return bool(report.baseline) or any(c.kind == "drift" for c in report.comparisons)


def _drift(report: ValidationReport) -> str:
    """Drift in words, without the baseline (the callers format it their way)."""
    if not _drift_checked(report):
        return "drift not checked (no baseline)"
    return "drift detected" if report.drift_detected else "no drift"


def _measure(m: str) -> str:
    return _MEASURES.get(m, m)


def _threshold(c: Comparison) -> str:
    return "–" if c.threshold is None else num(c.threshold)


def _by_interest(comparisons: Iterable[Comparison]) -> list[Comparison]:
    """Exceeded first, then largest value first (NaN last); ties in a fixed order."""

    def key(c: Comparison) -> tuple[bool, float, str, str, str, str, str]:
        v = -math.inf if math.isnan(c.value) else c.value
        return (not c.exceeded, -v, c.feature, c.kind, c.split, c.against, c.measure)

    return sorted(comparisons, key=key)


# ---------------------------------------------------------------------------------------------
# the statistics, per feature


def _ordered(splits: Iterable[str]) -> list[str]:
    """Train, eval and test first (the order a reader compares them in), then the rest as given."""
    known = {"train": 0, "eval": 1, "test": 2}
    return sorted(splits, key=lambda s: known.get(s, len(known)))


def _against(c: Comparison) -> str:
    return f"baseline {c.against}" if c.kind == "drift" else c.against


def _name(f: statistics_pb2.FeatureNameStatistics) -> str:
    return ".".join(f.path.step) if f.HasField("path") else f.name


def _stats_kind(f: statistics_pb2.FeatureNameStatistics) -> str:
    return f.WhichOneof("stats") or ""


def _common(f: statistics_pb2.FeatureNameStatistics) -> statistics_pb2.CommonStatistics | None:
    kind = _stats_kind(f)
    return getattr(f, kind).common_stats if kind else None


def _standard(n: statistics_pb2.NumericStatistics) -> statistics_pb2.Histogram | None:
    return next((h for h in n.histograms if h.type == _STANDARD), None)


def _frequencies(s: statistics_pb2.StringStatistics) -> dict[str, float]:
    """Value → count, from the rank histogram (longer) and the top values (exact counts)."""
    out = {b.label: b.sample_count for b in s.rank_histogram.buckets}
    out.update((v.value, v.frequency) for v in s.top_values)
    return out


@dataclass
class _Feature:
    name: str
    stats: dict[str, statistics_pb2.FeatureNameStatistics]  # by split, where present
    schema: schema_pb2.Feature | None
    reasons: list[str] = field(default_factory=list)  # why it is flagged

    @property
    def numeric(self) -> bool:
        """As the first split holding it has it, else as the schema says."""
        first = next(iter(self.stats.values()), None)
        if first is not None:
            return _stats_kind(first) == "num_stats"
        return self.schema is not None and self.schema.type in (schema_pb2.INT, schema_pb2.FLOAT)


@dataclass
class _View:
    splits: list[str]
    rows: dict[str, int]
    colours: dict[str, str]
    features: list[_Feature]  # flagged first

    @classmethod
    def of(cls, report: ValidationReport) -> _View:
        datasets: dict[str, statistics_pb2.DatasetFeatureStatistics] = {}
        for ds in report.statistics.datasets:
            datasets.setdefault(ds.name, ds)
        splits = _ordered(datasets)
        rows = {s: datasets[s].num_examples for s in splits}
        by_name: dict[str, dict[str, statistics_pb2.FeatureNameStatistics]] = {}
        for split in splits:
            for f in datasets[split].features:
                by_name.setdefault(_name(f), {}).setdefault(split, f)
        colours = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(splits)}
        schema = {f.name: f for f in report.schema.feature}
        names = dict.fromkeys(
            [*by_name, *schema, *(a.feature for a in report.anomalies if a.feature is not None)]
            + [c.feature for c in report.comparisons if c.exceeded]
        )
        features = {n: _Feature(n, by_name.get(n, {}), schema.get(n)) for n in names}
        for a in report.anomalies:
            if a.feature is not None:
                features[a.feature].reasons.append(f"{a.split}: {a.type}")
        for c in _by_interest(report.comparisons):
            if c.exceeded:
                features[c.feature].reasons.append(
                    f"{c.kind} {c.split} vs {_against(c)}: {_measure(c.measure)} "
                    f"{num(c.value)} > {_threshold(c)}"
                )
        ordered = sorted(features.values(), key=lambda f: not f.reasons)
        return cls(splits, rows, colours, ordered)


# ---------------------------------------------------------------------------------------------
# charts (inline SVG; sizes in px)


def _histogram(
    feature: str,
    split: str,
    hist: statistics_pb2.Histogram,
    present: float,
    domain: tuple[float, float],
    top: float,
    colour: str,
) -> str:
    """Equal-width buckets as shares of the split's present values, drawn on ``domain`` with
    ``top`` (a share) as the full height."""
    buckets = [(b.low_value, b.high_value, b.sample_count) for b in hist.buckets]
    nan = f"NaN: {count(hist.num_nan)} ({pct(hist.num_nan, present)})" if hist.num_nan else ""
    return histogram(
        buckets,
        title=f"{split}: histogram of {feature}, share of values",
        total=present,
        domain=domain,
        top=top,
        colour=colour,
        note=nan,
    )


def _bars(
    feature: str,
    split: str,
    s: statistics_pb2.StringStatistics,
    categories: Sequence[str],
    top: float,
    colour: str,
) -> str:
    """Horizontal bars: each category's share of the split's present values."""
    freq = _frequencies(s)
    complete = len(freq) >= s.unique
    present = s.common_stats.num_non_missing or sum(freq.values())
    bars = []
    for cat in categories:
        label, name = (cat, cat) if cat else ("(empty)", "(empty string)")
        n = freq.get(cat)
        if n is None and not complete:
            bars.append(Bar(label, None, "not recorded", name=name))
            continue
        n = n or 0.0
        share = n / present if present else 0.0
        bars.append(Bar(label, share, pct(n, present), f"{cat}: {count(n)}", name=name))
    shown = sum(1 for b in bars if b.value)
    more = s.unique - shown
    return hbars(
        bars,
        title=f"{split}: top values of {feature}, share",
        top=top,
        colour=colour,
        footer=f"+{plural(more, 'more value', 'more values')}" if more > 0 else "",
        label_chars=_LABEL_CHARS,
    )


def _ranked(s: statistics_pb2.StringStatistics) -> list[tuple[str, float]]:
    return sorted(_frequencies(s).items(), key=lambda kv: (-kv[1], kv[0]))


def _categories(stats: Iterable[statistics_pb2.StringStatistics]) -> list[str]:
    """The values drawn for every split, one list so the splits' bars line up: the splits' most
    frequent values taken in turns (each split's first, then each one's second, ...), so a value
    common in one split only still shows; at most ``_MAX_BARS``."""
    ranked = [[v for v, _ in _ranked(s)] for s in stats]
    out: dict[str, None] = {}
    for rank in range(max(map(len, ranked), default=0)):
        for values in ranked:
            if rank < len(values):
                out.setdefault(values[rank])
            if len(out) == _MAX_BARS:
                return list(out)
    return list(out)


def _charts(view: _View, feat: _Feature) -> str:
    """One chart per split, side by side; numeric splits share their axes, categorical splits
    their categories and scale."""
    hists: dict[str, tuple[statistics_pb2.Histogram, float]] = {}
    strs: dict[str, statistics_pb2.StringStatistics] = {}
    for split in view.splits:
        f = feat.stats.get(split)
        if f is not None and _stats_kind(f) == "num_stats":
            h = _standard(f.num_stats)
            if h is not None and any(b.sample_count > 0 for b in h.buckets):
                counted = sum(b.sample_count for b in h.buckets) + h.num_nan
                hists[split] = (h, f.num_stats.common_stats.num_non_missing or counted)
        elif f is not None and _stats_kind(f) == "string_stats":
            if f.string_stats.common_stats.num_non_missing:
                strs[split] = f.string_stats

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

    figures = []
    for split in view.splits:
        colour = view.colours[split]
        if split in hists:
            h, present = hists[split]
            chart = _histogram(_shown(feat.name), split, h, present, (lo, hi), num_top, colour)
        elif split in strs:
            chart = _bars(_shown(feat.name), split, strs[split], cats, cat_top, colour)
        elif split in feat.stats:
            chart = '<div class="nochart">no values</div>'
        elif view.rows[split] == 0:
            chart = '<div class="nochart">no rows</div>'
        else:
            chart = '<div class="nochart">absent</div>'
        caption = f"<figcaption>{swatch(colour)}{escape(split)}</figcaption>"
        figures.append(f"<figure>{caption}{chart}</figure>")
    return f'<div class="charts">{"".join(figures)}</div>'


# ---------------------------------------------------------------------------------------------
# HTML

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


def _split_cell(view: _View, split: str) -> str:
    return f"{swatch(view.colours.get(split, '#999999'))}{escape(split)}" if split else "–"


def _header(report: ValidationReport, view: _View, title: str) -> list[str]:
    ok = "good" if report.ok else "bad"
    mark = "✓" if report.ok else "✗"
    drift = _drift(report)
    drift_cls = (
        "bad" if report.drift_detected else ("good" if _drift_checked(report) else "neutral")
    )
    out = [
        f"<header><h1>{escape(title)}</h1>",
        f'<p><span class="badge {ok}" id="verdict">{mark} {escape(_verdict(report))}</span>'
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


def _anomalies(report: ValidationReport, view: _View) -> list[str]:
    out = [f'<section id="anomalies"><h2>Anomalies ({report.num_anomalies:,})</h2>']
    if report.ok:
        return [*out, "<p>None: every split matches the schema.</p></section>"]
    out.append('<div class="scroll"><table id="anomalies-table"><thead><tr><th>Split</th>')
    out.append("<th>Feature</th>")
    out.append("<th>Type</th><th>Description</th></tr></thead><tbody>")
    for a in report.anomalies:
        feature = (
            escape(_shown(a.feature))
            if a.feature is not None
            else '<span class="muted">(whole split)</span>'
        )
        out.append(
            f'<tr class="alert"><td class="split">{_split_cell(view, a.split)}</td>'
            f"<td>{feature}</td>"
            f"<td><code>{escape(a.type)}</code></td><td>{escape(a.description)}</td></tr>"
        )
    return [*out, "</tbody></table></div></section>"]


def _comparisons(report: ValidationReport, view: _View) -> list[str]:
    cs = _by_interest(report.comparisons)
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
        "the black tick the threshold.</p>"
    )
    out.append(
        '<div class="scroll"><table id="comparisons-table"><thead><tr><th>Feature</th>'
        "<th>Kind</th><th>Measure</th>"
        "<th>Split</th><th>Against</th><th>Value</th><th>Threshold</th><th>Result</th></tr>"
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
        against = escape(_against(c))
        row = '<tr class="alert exceeded">' if c.exceeded else "<tr>"
        out.append(
            f"{row}<td>{escape(_shown(c.feature))}</td>"
            f"<td>{escape(c.kind)}</td>"
            f'<td title="{escape(c.measure)}">{escape(_measure(c.measure))}</td>'
            f'<td class="split">{_split_cell(view, c.split)}</td><td>{against}</td>'
            f'<td class="n">{escape(num(c.value))}{meter}</td>'
            f'<td class="n">{escape(_threshold(c))}</td><td>{result}</td></tr>'
        )
    return [*out, "</tbody></table></div></section>"]


def _left_out(report: ValidationReport) -> list[str]:
    ids = _identifiers(report)
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
    out += [f"<tr><td>{escape(_shown(n))}</td><td>{escape(why)}</td></tr>" for n, why in ids]
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


def _feature_head(feat: _Feature, rowspan: int) -> str:
    types = dict.fromkeys(_type_name(f) for f in feat.stats.values())
    flag = '<span class="flag">⚠ </span>' if feat.reasons else ""
    reasons = "".join(f"<li>{escape(r)}</li>" for r in feat.reasons)
    return (
        f'<th class="feature" rowspan="{rowspan}">{flag}'
        f'<span class="name">{escape(_shown(feat.name))}</span>'
        f'<div class="muted">{escape(" / ".join(types) or "no statistics")}; '
        f"{escape(_schema_note(feat.schema))}</div>"
        + (f'<ul class="reasons">{reasons}</ul>' if reasons else "")
        + "</th>"
    )


_NUM_COLS = ("Missing", "Mean", "Std dev", "Min", "Median", "Max", "Zeros")
_STR_COLS = ("Missing", "Unique", "Avg length", "Top values")


def _missing(f: statistics_pb2.FeatureNameStatistics, rows: int) -> str:
    cs = _common(f)
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
        figures = [format_day(n.mean), f"{num(n.std_dev)} days"]
        figures += [format_day(x) for x in (n.min, n.median, n.max)]
    else:
        figures = [num(x) for x in (n.mean, n.std_dev, n.min, n.median, n.max)]
    return [escape(x) for x in [*figures, pct(n.num_zeros, n.common_stats.num_non_missing)]]


def _string_cells(f: statistics_pb2.FeatureNameStatistics) -> list[str]:
    s = f.string_stats
    present = s.common_stats.num_non_missing
    if not present:
        return ["–"] * 3
    tops = "<br/>".join(
        escape(f"{cut(v, 24) if v else '(empty)'} {pct(c, present)}")
        for v, c in _ranked(s)[:_TOP_TEXT]
    )
    return [escape(count(s.unique)), escape(num(s.avg_length)), tops]


def _feature_rows(view: _View, feat: _Feature, numeric: bool) -> list[str]:
    cols = _NUM_COLS if numeric else _STR_COLS
    n = len(view.splits)
    out = [f'<tbody class="feature{" flagged" if feat.reasons else ""}">']
    for i, split in enumerate(view.splits):
        cells = ["<tr>"]
        if i == 0:
            cells.append(_feature_head(feat, n))
        cells.append(f'<td class="split">{_split_cell(view, split)}</td>')
        f = feat.stats.get(split)
        kind = _stats_kind(f) if f is not None else ""
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
            cells.append(f'<td rowspan="{n}">{_charts(view, feat)}</td>')
        cells.append("</tr>")
        out.append("".join(cells))
    out.append("</tbody>")
    return out


def _features(view: _View) -> list[str]:
    flagged = [_shown(f.name) for f in view.features if f.reasons]
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
        (False, "Categorical features", _STR_COLS, f"Top values (at most {_MAX_BARS})"),
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
    view = _View.of(report)
    body = [
        *_header(report, view, title),
        *_anomalies(report, view),
        *_left_out(report),
        *_comparisons(report, view),
        *_features(view),
    ]
    return page(title, body, css=_CSS)


# ---------------------------------------------------------------------------------------------
# Markdown

# inline markup only: data text never starts a line, so block markers (#, -, 1.) are inert
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_MD_CODE = re.compile(r"[A-Z0-9_]+")  # anomaly types, safe in a code span


def _md(s: str) -> str:
    """Data text made inert in Markdown: no markup, no HTML, one line."""
    one_line = " ".join(clean(s).splitlines())
    return _MD_SPECIAL.sub(r"\\\1", html.escape(one_line, quote=False))


def render_markdown(report: ValidationReport) -> str:
    """A short summary for a KFP ``Markdown`` artifact.

    Args:
        report: What validation found.

    Returns:
        Markdown: the verdict, rows per split, the anomalies, the exceeded thresholds and the
        largest skew/drift values.
    """
    mark = "✅" if report.ok else "❌"
    rows = report.num_examples()
    drift = _drift(report)
    if report.baseline:
        drift += f" against baseline {_md(report.baseline)}"
    lines = [
        f"## Data validation: {mark} {_verdict(report)}",
        "",
        f"**Drift:** {'⚠️ ' if report.drift_detected else ''}{drift}",
        "",
        "| Split | Rows |",
        "|---|---:|",
        *(f"| {_md(s)} | {rows[s]:,} |" for s in _ordered(rows)),
    ]
    if report.anomalies:
        lines += ["", f"### Anomalies ({report.num_anomalies:,})", ""]
        for a in report.anomalies[:_MD_ANOMALIES]:
            where = f"{_md(_shown(a.feature))} " if a.feature is not None else ""
            kind = f"`{a.type}`" if _MD_CODE.fullmatch(a.type) else _md(a.type)
            lines.append(f"- **{_md(a.split)}** {where}{kind}: {_md(a.description)}")
        if report.num_anomalies > _MD_ANOMALIES:
            lines.append(f"- … and {report.num_anomalies - _MD_ANOMALIES:,} more (see the HTML)")
    ids = _identifiers(report)
    if ids:
        lines += ["", f"### Left out of the default model ({len(ids):,})", ""]
        lines += [f"- **{_md(_shown(n))}** identifier-like: {_md(why)}" for n, why in ids]
    ranked = _by_interest(report.comparisons)
    exceeded = [c for c in ranked if c.exceeded]
    if exceeded:
        lines += ["", f"### Thresholds exceeded ({len(exceeded):,})", ""]
        lines += [
            f"- **{_md(_shown(c.feature))}** {_md(c.kind)} {_md(c.split)} vs {_md(_against(c))}: "
            f"{_md(_measure(c.measure))} {num(c.value)} &gt; {_threshold(c)}"
            for c in exceeded
        ]
    largest = sorted(
        (c for c in report.comparisons if not math.isnan(c.value)),
        key=lambda c: (-c.value, c.feature, c.kind, c.split, c.against),
    )[:_MD_LARGEST]
    if largest:
        lines += [
            "",
            "### Largest skew/drift values",
            "",
            "| Feature | Kind | Split vs | Measure | Value | Threshold |",
            "|---|---|---|---|---:|---:|",
        ]
        for c in largest:
            value = num(c.value)
            if c.exceeded:
                value = f"**{value}** ⚠️"
            lines.append(
                f"| {_md(_shown(c.feature))} | {_md(c.kind)} | {_md(c.split)} vs "
                f"{_md(_against(c))} | {_md(_measure(c.measure))} | {value} | {_threshold(c)} |"
            )
    return "\n".join(lines) + "\n"
