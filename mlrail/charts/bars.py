"""Bar charts: :func:`hbars` (horizontal bars: shares, per-slice metrics, feature importance)
and :func:`histogram` (buckets on a numeric axis)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from mlrail.charts.primitives import PALETTE, cut_label, px, svg, svg_text
from mlrail.charts.text import count, escape, num, pct

__all__ = ["Bar", "hbars", "histogram"]


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
            f'<line x1="{px(x0)}" y1="0" x2="{px(x0)}" y2="{len(bars) * row_height + 2}" '
            'class="base"/>'
        )
    for i, b in enumerate(bars):
        y = i * row_height
        whole = b.name or b.label
        body.append(
            f'<text x="{label_width - 4}" y="{y + 10}" text-anchor="end" class="label">'
            f"{cut_label(b.label, label_chars, whole)}</text>"
        )
        if b.value is None:
            body.append(svg_text(label_width + 2, y + 10, b.text, "axis"))
            continue
        text = b.text or num(b.value)
        v = min(max(b.value, lo), hi) if math.isfinite(b.value) else 0.0
        w = abs(v) * scale
        if v != 0:
            tip = b.tip or f"{whole}: {text}"
            body.append(
                f'<rect x="{px(x0 if v > 0 else x0 - max(w, 1))}" y="{y + 2}" '
                f'width="{px(max(w, 1))}" height="{row_height - 4}" '
                f'fill="{escape(b.colour or colour)}"><title>{escape(tip)}</title></rect>'
            )
        body.append(svg_text(x0 + (w if v > 0 else 0) + 3, y + 10, text, "axis"))
    height = len(bars) * row_height + 4
    if reference is not None and math.isfinite(reference) and scale:
        rx = x0 + min(max(reference, lo), hi) * scale
        body.append(
            f'<line x1="{px(rx)}" y1="0" x2="{px(rx)}" y2="{height - 2}" stroke="#1d1d1d" '
            f'stroke-width="1" stroke-dasharray="3,2">'
            f"<title>{escape(reference_label or num(reference))}</title></line>"
        )
    if footer:
        body.append(svg_text(label_width, height + 8, footer, "axis"))
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
        svg_text(x0, pad + 4, pct(top, 1), "axis"),
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
    body.append(svg_text(x0, below, num(lo), "axis"))
    body.append(svg_text(x0 + width, below, num(hi), "axis", "end"))
    if note:
        body.append(svg_text(x0, below + 12, note, "alert"))
    return svg(width + 2 * pad, below + (16 if note else 4), title, body)
