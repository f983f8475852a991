"""monitor's page put together: the header and what was read (:mod:`.window`), then a section
per version (:mod:`.version`), in one self-contained page (:func:`mlrail.charts.page`)."""

from __future__ import annotations

from mlrail.charts import page
from mlrail.components.monitor.findings import MonitorReport
from mlrail.components.monitor.report.across import across_windows
from mlrail.components.monitor.report.version import version
from mlrail.components.monitor.report.window import header, read

__all__ = ["render_html"]

_CSS = """
.charts { flex-wrap: nowrap; gap: 10px; }
.nochart { font-size: 11px; color: #6b6b6b; padding: 8px 0; width: 120px; }
th.feature, td.feature { min-width: 140px; max-width: 300px; overflow-wrap: anywhere; }
.reasons { margin: 2px 0 0; padding-left: 16px; font-size: 11px; color: #9a3a00;
  font-weight: normal; }
section.version { margin-top: 24px; }
"""


def render_html(report: MonitorReport) -> str:
    """The window's findings as one self-contained HTML page (inline CSS and SVG, no scripts).

    Args:
        report: What the window showed.

    Returns:
        The page, well-formed XML as well as HTML; the same report gives the same text.
    """
    title = f"Monitoring: {report.model}"
    window = report.decoded.window
    body = [*header(report, title), *read(report)]
    for i, v in enumerate(report.versions):
        body += version(v, i, window.start, window.end)
    body += across_windows(report)
    return page(title, body, css=_CSS)
