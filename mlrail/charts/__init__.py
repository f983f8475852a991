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
  calibration, training curves) and :func:`heatmap` (a confusion matrix);
- per feature: :func:`feature_figures` (one chart per side, numeric sides on a shared axis,
  categorical ones sharing their categories and scale), from TFDV statistics.

Chart sizes are in CSS pixels. Texts inside the SVGs use the classes ``axis`` (grey) and
``alert`` (bold, dark orange), styled by :data:`CSS`; a chart outside such a page still draws.

Modules: ``text`` (escaping and numbers), ``layout`` (the page and its HTML parts),
``primitives`` (colours and the SVG building blocks), ``bars``, ``lines`` and ``matrix`` (the
chart kinds), ``features`` (a feature's charts, side by side). Import from here:
``from mlrail.charts import page, hbars``.
"""

from mlrail.charts.bars import Bar, hbars, histogram
from mlrail.charts.features import (
    MAX_BARS,
    Side,
    feature_figures,
    frequencies,
    ranked,
    standard_histogram,
)
from mlrail.charts.layout import CSS, badge, page, swatch, table
from mlrail.charts.lines import Series, line_chart
from mlrail.charts.matrix import heatmap
from mlrail.charts.primitives import ALERT, PALETTE, svg
from mlrail.charts.text import clean, count, cut, escape, num, pct, plural

__all__ = [
    "ALERT",
    "CSS",
    "MAX_BARS",
    "PALETTE",
    "Bar",
    "Series",
    "Side",
    "badge",
    "clean",
    "count",
    "cut",
    "escape",
    "feature_figures",
    "frequencies",
    "heatmap",
    "hbars",
    "histogram",
    "line_chart",
    "num",
    "page",
    "pct",
    "plural",
    "ranked",
    "standard_histogram",
    "svg",
    "swatch",
    "table",
]
