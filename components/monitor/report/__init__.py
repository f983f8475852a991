"""monitor's report: one self-contained HTML page (inline CSS and SVG, no scripts), for KFP's
``HTML`` artifact.

The page, top to bottom:

- the verdict (``healthy``, ``alerts`` or ``no traffic``; ``not checked`` when records came but
  no version's training evidence was found), the window and what reading it found: files,
  records, lines skipped by reason, records not decoded, versions left unresolved and why, and
  the server's own counters when they were scraped;
- per version that answered (never two mixed): its identity, rows and baseline; every input's
  skew (measure, statistic, threshold, test, p-value) with its missing, unseen-category and
  out-of-range rates, exceeded rows highlighted; the schema anomalies; per input the training
  and serving distributions side by side (numeric histograms on one axis, categorical top values
  sharing their categories; flagged inputs first); prediction drift against the eval
  predictions; the estimated accuracy with its interval beside the eval accuracy and the
  realized figures; the per-hour trend of the estimate; latency; notes.

The training statistics of the inputs and the eval predictions' statistics are drawn when the
findings carry them (``VersionFindings.train`` and ``VersionFindings.eval_predictions``); else
the serving side is drawn alone and the page says why.

Modules: ``html`` (the page), ``window`` (the verdict and what was read), ``version`` (one
version's section), ``distributions`` (the charts per input and per output, one per side),
``performance`` (the estimate, the realized figures and the hourly trend), ``words`` (the
small parts they share).
"""

from mlrail.components.monitor.report.html import render_html

__all__ = ["render_html"]
