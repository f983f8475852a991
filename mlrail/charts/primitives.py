"""What every chart is drawn with: the colours, the ``<svg>`` element, coordinates written
short, escaped text and cut labels with their whole text as the tooltip."""

from __future__ import annotations

from collections.abc import Iterable

from mlrail.charts.text import clean, cut, escape

__all__ = ["ALERT", "PALETTE", "cut_label", "px", "svg", "svg_text"]

#: Okabe-Ito, whose colours stay apart under the common colour-vision deficiencies. Vermillion
#: (:data:`ALERT`) is kept out: it marks problems. Yellow is last: it is faint on white.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#000000", "#F0E442")
ALERT = "#D55E00"


def svg(width: float, height: float, title: str, body: Iterable[str]) -> str:
    """An ``<svg>`` of the given size whose ``<title>`` (what screen readers say) is ``title``."""
    w, h = px(width), px(height)
    return (
        f'<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def px(x: float) -> str:
    """A coordinate in at most one decimal, ``.0`` dropped: the pages stay small."""
    return f"{x:.1f}".removesuffix(".0")


def svg_text(x: float, y: float, s: str, cls: str = "", anchor: str = "", extra: str = "") -> str:
    """A ``<text>`` of ``s`` (escaped) at (x, y), with its class, anchor and extra attributes."""
    attrs = f' class="{cls}"' if cls else ""
    attrs += f' text-anchor="{anchor}"' if anchor else ""
    return f'<text x="{px(x)}" y="{px(y)}"{attrs}{extra}>{escape(s)}</text>'


def cut_label(s: str, n: int, whole: str = "") -> str:
    """``s`` cut to ``n`` characters, its whole (or ``whole``) as the tooltip."""
    return f"{escape(cut(clean(s), n))}<title>{escape(whole or s)}</title>"
