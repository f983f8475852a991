"""Human-readable views of a :class:`~mlrail.components.validate.findings.ValidationReport`.

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

from mlrail.components.validate.report.html import render_html
from mlrail.components.validate.report.markdown import render_markdown

__all__ = ["render_html", "render_markdown"]
