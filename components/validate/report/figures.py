"""The charts of one feature, one per split side by side (:func:`mlrail.charts.feature_figures`).

Numeric splits share their axes (equal-width histograms); categorical splits share their
categories and scale (top-value bars).
"""

from __future__ import annotations

from mlrail.charts import MAX_BARS, feature_figures, ranked
from mlrail.components.validate.report.words import Feature, View

__all__ = ["MAX_BARS", "figures", "ranked"]


def figures(view: View, feat: Feature) -> str:
    """One chart per split, side by side; a split without the feature says whether it has no
    rows or lacks the column."""
    sides = [(split, view.colours[split], feat.stats.get(split)) for split in view.splits]
    missing = {split: "no rows" if view.rows[split] == 0 else "absent" for split in view.splits}
    return feature_figures(feat.name, sides, missing=missing)
