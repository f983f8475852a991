"""A matrix of shaded cells with their figures (:func:`heatmap`), e.g. a confusion matrix."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from mlrail.charts.primitives import PALETTE, cut_label, px, svg, svg_text
from mlrail.charts.text import clean, count, cut, escape

__all__ = ["heatmap"]


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
        body.append(svg_text(left + n_cols * cell / 2, 12, col_title, "axis", "middle"))
    if row_title:
        cy = top + n_rows * cell / 2
        body.append(
            svg_text(10, cy, row_title, "axis", "middle", f' transform="rotate(-90 10 {px(cy)})"')
        )
    for j, label in enumerate(col_labels):
        x, y = left + j * cell + cell / 2, top - 4
        body.append(
            f'<text x="{px(x)}" y="{px(y)}" transform="rotate(-45 {px(x)} {px(y)})" '
            f'class="label">{cut_label(label, label_chars)}</text>'
        )
    for i, row in enumerate(matrix):
        y = top + i * cell
        body.append(
            f'<text x="{left - 4}" y="{px(y + cell / 2 + 3)}" text-anchor="end" class="label">'
            f"{cut_label(row_labels[i], label_chars)}</text>"
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
                f'<text x="{px(x + cell / 2)}" y="{px(y + cell / 2 + 3)}" text-anchor="middle" '
                f'style="fill:{fill}">{escape(words)}</text>'
            )
    return svg(left + n_cols * cell + 4, top + n_rows * cell + 4, title, body)
