"""Self-contained HTML pages with inline SVG charts, for KFP ``HTML`` artifacts.

The Kubeflow UI shows an ``HTML`` artifact in a sandboxed iframe: no scripts run and nothing is
fetched, so a page carries its CSS inline and draws its charts as SVG here. Every function
returns text that is well-formed XML as well as HTML (each ``<svg>`` parses on its own, and so
does a whole page), escapes every string it is given (data can hold ``<``, ``&`` and control
characters that XML forbids even as references), and is deterministic: the same input gives the
same bytes (no clock, no random ids).

Building blocks:

- text: :func:`escape` (HTML-escape, control characters made visible), :func:`cut`,
  :func:`num` (about four significant digits), :func:`count`, :func:`pct`, :func:`plural`;
- page: :data:`CSS` and :func:`page`; :func:`badge`, :func:`swatch` and :func:`table`;
- colours: :data:`PALETTE` (Okabe-Ito, colour-blind safe) and :data:`ALERT`;
- charts: :func:`hbars` (horizontal bars: shares, per-slice metrics, feature importance),
  :func:`histogram` (buckets on a numeric axis), :func:`line_chart` (ROC, precision-recall,
  calibration, training curves) and :func:`heatmap` (a confusion matrix).

Chart sizes are in CSS pixels. Texts inside the SVGs use the classes ``axis`` (grey) and
``alert`` (bold, dark orange), styled by :data:`CSS`; a chart outside such a page still draws.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "ALERT",
    "CSS",
    "PALETTE",
    "Bar",
    "Series",
    "badge",
    "clean",
    "count",
    "cut",
    "escape",
    "heatmap",
    "hbars",
    "histogram",
    "line_chart",
    "num",
    "page",
    "pct",
    "plural",
    "svg",
    "swatch",
    "table",
]

#: Okabe-Ito, whose colours stay apart under the common colour-vision deficiencies. Vermillion
#: (:data:`ALERT`) is kept out: it marks problems. Yellow is last: it is faint on white.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#000000", "#F0E442")
ALERT = "#D55E00"

# characters XML 1.0 forbids even as references; data can hold them, the page must not
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# a polyline with more points than this is thinned: the picture does not change, the page size does
_MAX_POINTS = 400


# ---------------------------------------------------------------------------------------------
# text and numbers


def clean(s: str) -> str:
    """``s`` with XML-forbidden characters written as visible escapes (``\\x01``)."""
    return _FORBIDDEN.sub(lambda m: f"\\x{ord(m.group()):02x}", s)


def escape(s: str) -> str:
    """``s`` safe as HTML/XML text or attribute value (quotes escaped, control characters shown)."""
    return html.escape(clean(s), quote=True)


def cut(s: str, n: int) -> str:
    """``s`` in at most ``n`` characters, cut in the middle: values that share a prefix (codes,
    ids) keep the ends that tell them apart."""
    if len(s) <= n:
        return s
    head = (n - 1) // 2 + (n - 1) % 2
    return s[:head] + "…" + s[len(s) - (n - 1 - head) :]


def num(x: float) -> str:
    """A float to about four significant digits; "nan", "inf" and "-inf" as such."""
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    a = abs(x)
    if 1e4 <= a < 1e15:  # below 10,000 no separator: years and such read as they are written
        return f"{x:,.0f}"
    return f"{x:.3g}" if a < 1e-4 else f"{x:.4g}"


def count(x: float) -> str:
    """A count with thousands separators (counts can be weighted, hence floats)."""
    return f"{int(x):,}" if float(x).is_integer() else num(x)


def pct(part: float, whole: float) -> str:
    """``part`` as a percentage of ``whole``, never rounded to 0% or 100% when it is not."""
    if not whole or math.isnan(part) or math.isnan(whole):
        return "–"
    p = 100 * part / whole
    if p == 0 or p == 100:
        return f"{p:.0f}%"
    if 0 < p < 0.1:
        return "<0.1%"
    if 99.9 < p < 100:
        return ">99.9%"
    return f"{p:.1f}%"


def plural(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


# ---------------------------------------------------------------------------------------------
# the page

#: The page's style: typography, tables (``td.n`` for figures), badges (``good``, ``bad``,
#: ``neutral``), ``flag``/``muted`` text, figures and the SVG text classes.
CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; color: #1d1d1d; background: #fff; margin: 16px 20px; }
h1 { font-size: 20px; margin: 0 0 8px; }
h2 { font-size: 16px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 1px solid #ddd; }
h3 { font-size: 14px; margin: 18px 0 6px; }
p { margin: 6px 0; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 12px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 3px 8px; border-bottom: 1px solid #e6e6e6; text-align: left;
  vertical-align: top; }
thead th { background: #f3f4f6; font-weight: 600; white-space: nowrap; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.alert td { background: #fbe6d7; }
tr.alert td:first-child { box-shadow: inset 4px 0 #D55E00; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 12px; font-weight: 600;
  margin-right: 6px; }
.good { background: #dcebf7; color: #003d5e; }
.bad { background: #D55E00; color: #fff; }
.neutral { background: #ececec; color: #444; }
.flag { color: #9a3a00; font-weight: 700; }
.muted { color: #6b6b6b; font-size: 11px; font-weight: normal; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
  margin-right: 5px; }
.charts { display: flex; flex-wrap: wrap; gap: 10px 18px; }
figure { margin: 0; }
figcaption { font-size: 11px; color: #444; }
svg text { font-size: 10px; fill: #333; }
svg text.axis { fill: #6b6b6b; }
svg text.alert { fill: #9a3a00; font-weight: 700; }
svg line.base { stroke: #999; stroke-width: 1; }
svg line.grid { stroke: #ececec; stroke-width: 1; }
"""


def page(title: str, body: Iterable[str], *, css: str = "") -> str:
    """One self-contained HTML page: inline CSS, no scripts, no links.

    Args:
        title: The ``<title>`` (escaped here); the body writes its own heading.
        body: The body's parts, already HTML; joined with newlines.
        css: Style rules added after :data:`CSS`.

    Returns:
        The page, well-formed XML as well as HTML.
    """
    return (
        "\n".join(
            [
                "<!DOCTYPE html>",
                '<html lang="en"><head><meta charset="utf-8"/>',
                '<meta name="viewport" content="width=device-width, initial-scale=1"/>',
                f"<title>{escape(title)}</title><style>{CSS}{css}</style></head><body>",
                *body,
                "</body></html>",
            ]
        )
        + "\n"
    )


def swatch(colour: str) -> str:
    """A small square of ``colour``, a legend entry."""
    return f'<span class="swatch" style="background:{escape(colour)}"></span>'


def badge(text: str, kind: str, *, id: str = "") -> str:
    """A rounded label; ``kind`` is ``good``, ``bad`` or ``neutral``."""
    ident = f' id="{escape(id)}"' if id else ""
    return f'<span class="badge {escape(kind)}"{ident}>{escape(text)}</span>'


def table(
    head: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    id: str = "",
    numeric: Iterable[int] = (),
    alert: Iterable[int] = (),
) -> str:
    """An HTML table in a horizontally scrolling box.

    Args:
        head: Column titles (escaped here).
        rows: Cells as HTML: the caller escapes data (:func:`escape`) and may add markup.
        id: The table's ``id``.
        numeric: Indices of columns holding figures (right-aligned).
        alert: Indices of rows to highlight.
    """
    right = set(numeric)
    flagged = set(alert)
    ident = f' id="{escape(id)}"' if id else ""
    out = [f'<div class="scroll"><table{ident}><thead><tr>']
    out += [f"<th>{escape(h)}</th>" for h in head]
    out.append("</tr></thead><tbody>")
    for i, row in enumerate(rows):
        out.append('<tr class="alert">' if i in flagged else "<tr>")
        out += [
            f'<td class="n">{cell}</td>' if j in right else f"<td>{cell}</td>"
            for j, cell in enumerate(row)
        ]
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# charts


def svg(width: float, height: float, title: str, body: Iterable[str]) -> str:
    """An ``<svg>`` of the given size whose ``<title>`` (what screen readers say) is ``title``."""
    w, h = _px(width), _px(height)
    return (
        f'<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def _px(x: float) -> str:
    return f"{x:.1f}".removesuffix(".0")


def _text(x: float, y: float, s: str, cls: str = "", anchor: str = "", extra: str = "") -> str:
    attrs = f' class="{cls}"' if cls else ""
    attrs += f' text-anchor="{anchor}"' if anchor else ""
    return f'<text x="{_px(x)}" y="{_px(y)}"{attrs}{extra}>{escape(s)}</text>'


def _label(s: str, n: int, whole: str = "") -> str:
    """``s`` cut to ``n`` characters, its whole (or ``whole``) as the tooltip."""
    return f"{escape(cut(clean(s), n))}<title>{escape(whole or s)}</title>"


@dataclass(frozen=True)
class Bar:
    """One bar of :func:`hbars`.

    Attributes:
        label: The label left of the bar (cut to fit; the whole of ``name`` is its tooltip).
        value: The bar's length in data units; None draws no bar and writes ``text`` alone.
        text: Written after the bar; ``num(value)`` when empty.
        tip: The bar's tooltip; ``"<name>: <text>"`` when empty.
        colour: The bar's colour; the chart's when empty.
        name: The label's full text for the tooltip; ``label`` when empty.
    """

    label: str
    value: float | None
    text: str = ""
    tip: str = ""
    colour: str = ""
    name: str = ""


def hbars(
    bars: Sequence[Bar],
    *,
    title: str,
    top: float | None = None,
    colour: str = PALETTE[0],
    reference: float | None = None,
    reference_label: str = "",
    footer: str = "",
    label_width: int = 100,
    bar_width: int = 84,
    value_width: int = 44,
    row_height: int = 14,
    label_chars: int = 16,
) -> str:
    """Horizontal bars, one row each, with labels on the left and values on the right.

    Bars start at zero; negative values (a metric change, a permutation importance below zero)
    extend left of a zero line. A zero-length bar is not drawn, but its text is.

    Args:
        bars: The rows, top to bottom.
        title: The chart's title (its ``<title>``).
        top: The value drawn at the right end; the largest value (or 0) when None. Give the
            same ``top`` to charts meant to be compared side by side.
        colour: The bars' colour where a bar names none.
        reference: A value marked by a dashed vertical line (a threshold, an overall figure).
        reference_label: The line's tooltip.
        footer: A line of grey text under the bars (e.g. "+15 more values").
        label_width: Width of the label column.
        bar_width: Width of the longest bar.
        value_width: Room right of the bars for their text.
        row_height: Height of one row.
        label_chars: Labels longer than this are cut in the middle.

    Returns:
        The ``<svg>``.
    """
    values = [b.value for b in bars if b.value is not None and math.isfinite(b.value)]
    if reference is not None and math.isfinite(reference):
        values.append(reference)
    lo = min([0.0, *values])
    hi = top if top is not None else max([0.0, *values])
    scale = bar_width / (hi - lo) if hi > lo else 0.0
    x0 = label_width - lo * scale  # the zero line
    body: list[str] = []
    if lo < 0:
        body.append(
            f'<line x1="{_px(x0)}" y1="0" x2="{_px(x0)}" y2="{len(bars) * row_height + 2}" '
            'class="base"/>'
        )
    for i, b in enumerate(bars):
        y = i * row_height
        whole = b.name or b.label
        body.append(
            f'<text x="{label_width - 4}" y="{y + 10}" text-anchor="end" class="label">'
            f"{_label(b.label, label_chars, whole)}</text>"
        )
        if b.value is None:
            body.append(_text(label_width + 2, y + 10, b.text, "axis"))
            continue
        text = b.text or num(b.value)
        v = min(max(b.value, lo), hi) if math.isfinite(b.value) else 0.0
        w = abs(v) * scale
        if v != 0:
            tip = b.tip or f"{whole}: {text}"
            body.append(
                f'<rect x="{_px(x0 if v > 0 else x0 - max(w, 1))}" y="{y + 2}" '
                f'width="{_px(max(w, 1))}" height="{row_height - 4}" '
                f'fill="{escape(b.colour or colour)}"><title>{escape(tip)}</title></rect>'
            )
        body.append(_text(x0 + (w if v > 0 else 0) + 3, y + 10, text, "axis"))
    height = len(bars) * row_height + 4
    if reference is not None and math.isfinite(reference) and scale:
        rx = x0 + min(max(reference, lo), hi) * scale
        body.append(
            f'<line x1="{_px(rx)}" y1="0" x2="{_px(rx)}" y2="{height - 2}" stroke="#1d1d1d" '
            f'stroke-width="1" stroke-dasharray="3,2">'
            f"<title>{escape(reference_label or num(reference))}</title></line>"
        )
    if footer:
        body.append(_text(label_width, height + 8, footer, "axis"))
        height += 14
    return svg(label_width + bar_width + value_width, height, title, body)


def histogram(
    buckets: Sequence[tuple[float, float, float]],
    *,
    title: str,
    total: float,
    domain: tuple[float, float],
    top: float,
    colour: str = PALETTE[0],
    note: str = "",
    width: int = 168,
    height: int = 60,
    pad: int = 6,
) -> str:
    """Buckets ``(low, high, count)`` as bars of their share of ``total`` on a numeric axis.

    Args:
        buckets: The buckets; empty ones are not drawn; infinite edges are clipped to ``domain``.
        title: The chart's title.
        total: The count the shares are of.
        domain: The axis' (low, high); give the same domain to histograms meant to be compared.
        top: The share drawn full height.
        colour: The bars' colour.
        note: A line under the axis, in the alert style (e.g. "NaN: 2 (2.0%)").
        width: The axis' width.
        height: The tallest bar's height.
        pad: The margin around the plot.

    Returns:
        The ``<svg>``.
    """
    lo, hi = domain
    x0, y0 = pad, pad + 10
    body = [
        _text(x0, pad + 4, pct(top, 1), "axis"),
        f'<line x1="{x0}" y1="{y0 + height}" x2="{x0 + width}" y2="{y0 + height}" class="base"/>',
    ]
    for b_lo, b_hi, c in buckets:
        if c <= 0:
            continue
        left = min(max(b_lo, lo), hi) if math.isfinite(b_lo) else lo
        right = min(max(b_hi, lo), hi) if math.isfinite(b_hi) else hi
        x = x0 + (left - lo) / (hi - lo) * width
        w = (right - left) / (hi - lo) * width
        if w < 4:  # a bucket of one value (or nearly): a narrow bar centred on it
            x, w = x + w / 2 - 1.5, 3
        else:
            w -= 1  # a gap between neighbours
        h = max(c / total / top * height, 1) if top and total else 0
        tip = f"[{num(b_lo)}, {num(b_hi)}]: {count(c)} ({pct(c, total)})"
        body.append(
            f'<rect x="{x:.1f}" y="{y0 + height - h:.1f}" width="{w:.1f}" height="{h:.1f}" '
            f'fill="{escape(colour)}"><title>{escape(tip)}</title></rect>'
        )
    below = y0 + height + 12
    body.append(_text(x0, below, num(lo), "axis"))
    body.append(_text(x0 + width, below, num(hi), "axis", "end"))
    if note:
        body.append(_text(x0, below + 12, note, "alert"))
    return svg(width + 2 * pad, below + (16 if note else 4), title, body)


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round values from ``lo`` to ``hi`` (steps of 1, 2 or 5 times a power of 10)."""
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if raw <= m * mag * (1 + 1e-9))
    first = math.ceil(lo / step - 1e-9)
    out = []
    k = first
    while k * step <= hi * (1 + 1e-12) + 1e-12:
        out.append(round(k * step, 12))
        k += 1
    return out


def _domain(values: Iterable[float]) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    lo, hi = min(finite), max(finite)
    if hi <= lo:  # one value: give it room
        return lo - 0.5, hi + 0.5
    return lo, hi


@dataclass(frozen=True)
class Series:
    """One line of :func:`line_chart`.

    Attributes:
        name: The legend's text and the line's tooltip.
        x: The x values.
        y: The y values, as many as ``x``; a non-finite point breaks the line.
        colour: The line's colour; the next :data:`PALETTE` colour when empty.
        dashed: Draw the line dashed (e.g. a baseline model or a validation curve).
        markers: Mark each point with a dot whose tooltip gives its values (e.g. calibration
            bins, epochs).
        tips: One tooltip per point for the markers, instead of "x, y".
    """

    name: str
    x: Sequence[float]
    y: Sequence[float]
    colour: str = ""
    dashed: bool = False
    markers: bool = False
    tips: Sequence[str] = ()


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str = "",
    y_label: str = "",
    x_domain: tuple[float, float] | None = None,
    y_domain: tuple[float, float] | None = None,
    diagonal: bool = False,
    width: int = 300,
    height: int = 220,
    legend: bool = True,
) -> str:
    """Lines on x/y axes with round ticks and a legend: ROC and precision-recall curves, a
    calibration curve, training curves (loss and metrics per epoch).

    Example (training curves from Keras' ``history.history``)::

        epochs = list(range(1, len(h["loss"]) + 1))
        line_chart(
            [Series("train loss", epochs, h["loss"]),
             Series("validation loss", epochs, h["val_loss"], dashed=True)],
            title="Loss per epoch", x_label="epoch", y_label="loss",
        )

    Args:
        series: The lines, drawn in order (the last on top). Each gets the next palette colour
            unless it names one; a series with no finite point draws nothing but stays in the
            legend.
        title: The chart's title (its ``<title>``, not drawn).
        x_label: The x axis' title.
        y_label: The y axis' title.
        x_domain: The x axis' (low, high); the data's range when None.
        y_domain: The y axis' (low, high); the data's range when None.
        diagonal: Draw the dashed line y = x (chance for ROC, perfect calibration).
        width: The plot's width (the axes' labels and the legend are outside it).
        height: The plot's height.
        legend: List the series under the plot.

    Returns:
        The ``<svg>``.
    """
    xs = [float(v) for s in series for v in s.x]
    ys = [float(v) for s in series for v in s.y]
    x_lo, x_hi = x_domain or _domain(xs)
    y_lo, y_hi = y_domain or _domain(ys)
    ml, mt = 46, 8  # room for the y ticks and its title; the top tick's text
    plot_bottom = mt + height
    body: list[str] = []

    def sx(v: float) -> float:
        return ml + (min(max(v, x_lo), x_hi) - x_lo) / (x_hi - x_lo) * width

    def sy(v: float) -> float:
        return plot_bottom - (min(max(v, y_lo), y_hi) - y_lo) / (y_hi - y_lo) * height

    for t in _ticks(y_lo, y_hi):
        y = sy(t)
        body.append(f'<line x1="{ml}" y1="{_px(y)}" x2="{ml + width}" y2="{_px(y)}" class="grid"/>')
        body.append(_text(ml - 4, y + 3, num(t), "axis", "end"))
    for t in _ticks(x_lo, x_hi):
        x = sx(t)
        body.append(
            f'<line x1="{_px(x)}" y1="{plot_bottom}" x2="{_px(x)}" y2="{plot_bottom + 3}" '
            'class="base"/>'
        )
        body.append(_text(x, plot_bottom + 13, num(t), "axis", "middle"))
    body.append(
        f'<line x1="{ml}" y1="{plot_bottom}" x2="{ml + width}" y2="{plot_bottom}" class="base"/>'
        f'<line x1="{ml}" y1="{mt}" x2="{ml}" y2="{plot_bottom}" class="base"/>'
    )
    if diagonal:
        lo, hi = max(x_lo, y_lo), min(x_hi, y_hi)
        if hi > lo:
            body.append(
                f'<line x1="{_px(sx(lo))}" y1="{_px(sy(lo))}" x2="{_px(sx(hi))}" '
                f'y2="{_px(sy(hi))}" stroke="#999" stroke-width="1" stroke-dasharray="4,3"/>'
            )
    if x_label:
        body.append(_text(ml + width / 2, plot_bottom + 27, x_label, "axis", "middle"))
    if y_label:
        cy = mt + height / 2
        body.append(
            _text(12, cy, y_label, "axis", "middle", f' transform="rotate(-90 12 {_px(cy)})"')
        )

    colours = [s.colour or PALETTE[i % len(PALETTE)] for i, s in enumerate(series)]
    for s, colour in zip(series, colours, strict=True):
        if len(s.x) != len(s.y):
            raise ValueError(f"series {s.name!r}: {len(s.x)} x values but {len(s.y)} y values")
        points = [(float(a), float(b)) for a, b in zip(s.x, s.y, strict=True)]
        keep = _thin(len(points))
        dash = ' stroke-dasharray="5,3"' if s.dashed else ""
        segment: list[str] = []
        segments: list[list[str]] = [segment]
        for i in keep:
            a, b = points[i]
            if math.isfinite(a) and math.isfinite(b):
                segment.append(f"{_px(sx(a))},{_px(sy(b))}")
            elif segment:
                segment = []
                segments.append(segment)
        for seg in segments:
            if len(seg) >= 2:
                body.append(
                    f'<polyline points="{" ".join(seg)}" fill="none" stroke="{escape(colour)}" '
                    f'stroke-width="1.6"{dash}><title>{escape(s.name)}</title></polyline>'
                )
        if s.markers or sum(map(len, segments)) == 1:  # a lone point shows as a dot
            for i in keep:
                a, b = points[i]
                if not (math.isfinite(a) and math.isfinite(b)):
                    continue
                tip = s.tips[i] if i < len(s.tips) else f"{s.name}: {num(a)}, {num(b)}"
                body.append(
                    f'<circle cx="{_px(sx(a))}" cy="{_px(sy(b))}" r="2.5" '
                    f'fill="{escape(colour)}"><title>{escape(tip)}</title></circle>'
                )

    total_h = plot_bottom + (34 if x_label else 20)
    if legend and series:
        for i, (s, colour) in enumerate(zip(series, colours, strict=True)):
            y = total_h + 4 + i * 14
            dash = ' stroke-dasharray="5,3"' if s.dashed else ""
            body.append(
                f'<line x1="{ml}" y1="{y}" x2="{ml + 18}" y2="{y}" stroke="{escape(colour)}" '
                f'stroke-width="2"{dash}/>'
            )
            body.append(_text(ml + 24, y + 3, s.name))
        total_h += 8 + 14 * len(series)
    return svg(ml + width + 12, total_h, title, body)


def _thin(n: int) -> list[int]:
    """Indices of at most ``_MAX_POINTS`` points spread evenly, first and last kept."""
    if n <= _MAX_POINTS:
        return list(range(n))
    step = (n - 1) / (_MAX_POINTS - 1)
    return sorted({round(i * step) for i in range(_MAX_POINTS)})


def _mix(colour: str, share: float) -> str:
    """``colour`` (``#rrggbb``) mixed with white: 0 is white, 1 the colour itself."""
    share = min(max(share, 0.0), 1.0) if math.isfinite(share) else 0.0
    rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(255 + (c - 255) * share):02x}" for c in rgb)


def heatmap(
    matrix: Sequence[Sequence[float]],
    *,
    title: str,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    row_title: str = "",
    col_title: str = "",
    shade: Sequence[Sequence[float]] | None = None,
    text: Callable[[int, int], str] | None = None,
    tip: Callable[[int, int], str] | None = None,
    colour: str = PALETTE[0],
    label_chars: int = 14,
) -> str:
    """A matrix of shaded cells with their figures, e.g. a confusion matrix (rows: true class,
    columns: predicted class, shade: each row's share).

    Args:
        matrix: The figures, one list per row.
        title: The chart's title.
        row_labels: One label per row (left).
        col_labels: One label per column (on top, slanted).
        row_title: What the rows are (e.g. "true").
        col_title: What the columns are (e.g. "predicted").
        shade: Per cell, from 0 (white) to 1 (``colour``); ``cell / largest cell`` when None.
        text: The text written in cell (i, j); ``count(matrix[i][j])`` when None.
        tip: The tooltip of cell (i, j); "row label → column label: text" when None.
        colour: The darkest shade.
        label_chars: Labels longer than this are cut in the middle.

    Returns:
        The ``<svg>``.
    """
    n_rows, n_cols = len(matrix), len(col_labels)
    if len(row_labels) != n_rows or any(len(r) != n_cols for r in matrix):
        raise ValueError(
            f"heatmap {title!r}: {n_rows} rows of {[len(r) for r in matrix]} cells for "
            f"{len(row_labels)} row and {n_cols} column labels"
        )
    largest = max((abs(v) for r in matrix for v in r if math.isfinite(v)), default=0.0)
    cell = max(22, min(48, 360 // max(n_rows, n_cols, 1)))
    longest = max((len(cut(clean(s), label_chars)) for s in col_labels), default=0)
    left = 20 + min(label_chars, max((len(s) for s in row_labels), default=0)) * 6 + 8
    top = 20 + int(longest * 6 * 0.71) + 10  # slanted 45°: a label rises by ~0.71 its length
    body: list[str] = []
    if col_title:
        body.append(_text(left + n_cols * cell / 2, 12, col_title, "axis", "middle"))
    if row_title:
        cy = top + n_rows * cell / 2
        body.append(
            _text(10, cy, row_title, "axis", "middle", f' transform="rotate(-90 10 {_px(cy)})"')
        )
    for j, label in enumerate(col_labels):
        x, y = left + j * cell + cell / 2, top - 4
        body.append(
            f'<text x="{_px(x)}" y="{_px(y)}" transform="rotate(-45 {_px(x)} {_px(y)})" '
            f'class="label">{_label(label, label_chars)}</text>'
        )
    for i, row in enumerate(matrix):
        y = top + i * cell
        body.append(
            f'<text x="{left - 4}" y="{_px(y + cell / 2 + 3)}" text-anchor="end" class="label">'
            f"{_label(row_labels[i], label_chars)}</text>"
        )
        for j, v in enumerate(row):
            x = left + j * cell
            s = shade[i][j] if shade is not None else (abs(v) / largest if largest else 0.0)
            s = s if math.isfinite(s) else 0.0
            words = text(i, j) if text else count(v)
            hint = tip(i, j) if tip else f"{row_labels[i]} → {col_labels[j]}: {words}"
            fill = "#fff" if s > 0.55 else "#1d1d1d"  # dark cells carry white figures
            body.append(
                f'<rect x="{x}" y="{y}" width="{cell - 1}" height="{cell - 1}" '
                f'fill="{_mix(colour, s)}" stroke="#e6e6e6"><title>{escape(hint)}</title></rect>'
            )
            body.append(
                f'<text x="{_px(x + cell / 2)}" y="{_px(y + cell / 2 + 3)}" text-anchor="middle" '
                f'style="fill:{fill}">{escape(words)}</text>'
            )
    return svg(left + n_cols * cell + 4, top + n_rows * cell + 4, title, body)
