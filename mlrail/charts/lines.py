"""Line charts on x/y axes with round ticks and a legend (:func:`line_chart`): ROC and
precision-recall curves, calibration, training curves."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mlrail.charts.primitives import PALETTE, px, svg, svg_text
from mlrail.charts.text import escape, num

__all__ = ["Series", "line_chart"]

# a polyline with more points than this is thinned: the picture does not change, the page size does
_MAX_POINTS = 400


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
        body.append(f'<line x1="{ml}" y1="{px(y)}" x2="{ml + width}" y2="{px(y)}" class="grid"/>')
        body.append(svg_text(ml - 4, y + 3, num(t), "axis", "end"))
    for t in _ticks(x_lo, x_hi):
        x = sx(t)
        body.append(
            f'<line x1="{px(x)}" y1="{plot_bottom}" x2="{px(x)}" y2="{plot_bottom + 3}" '
            'class="base"/>'
        )
        body.append(svg_text(x, plot_bottom + 13, num(t), "axis", "middle"))
    body.append(
        f'<line x1="{ml}" y1="{plot_bottom}" x2="{ml + width}" y2="{plot_bottom}" class="base"/>'
        f'<line x1="{ml}" y1="{mt}" x2="{ml}" y2="{plot_bottom}" class="base"/>'
    )
    if diagonal:
        lo, hi = max(x_lo, y_lo), min(x_hi, y_hi)
        if hi > lo:
            body.append(
                f'<line x1="{px(sx(lo))}" y1="{px(sy(lo))}" x2="{px(sx(hi))}" '
                f'y2="{px(sy(hi))}" stroke="#999" stroke-width="1" stroke-dasharray="4,3"/>'
            )
    if x_label:
        body.append(svg_text(ml + width / 2, plot_bottom + 27, x_label, "axis", "middle"))
    if y_label:
        cy = mt + height / 2
        body.append(
            svg_text(12, cy, y_label, "axis", "middle", f' transform="rotate(-90 12 {px(cy)})"')
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
                segment.append(f"{px(sx(a))},{px(sy(b))}")
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
                    f'<circle cx="{px(sx(a))}" cy="{px(sy(b))}" r="2.5" '
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
            body.append(svg_text(ml + 24, y + 3, s.name))
        total_h += 8 + 14 * len(series)
    return svg(ml + width + 12, total_h, title, body)


def _thin(n: int) -> list[int]:
    """Indices of at most ``_MAX_POINTS`` points spread evenly, first and last kept."""
    if n <= _MAX_POINTS:
        return list(range(n))
    step = (n - 1) / (_MAX_POINTS - 1)
    return sorted({round(i * step) for i in range(_MAX_POINTS)})
