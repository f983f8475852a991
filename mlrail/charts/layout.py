"""The page and its HTML parts: the inline :data:`CSS`, :func:`page`, and the badges, swatches
and tables the reports are made of."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from mlrail.charts.text import escape

__all__ = ["CSS", "badge", "page", "swatch", "table"]

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
