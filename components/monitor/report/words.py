"""The words and small parts every section of monitor's page uses: names, figures, rates, the
comparisons in order of interest and their table cells, the sides' colours."""

from __future__ import annotations

import math
from collections.abc import Iterable

from tensorflow_metadata.proto.v0 import statistics_pb2

from mlrail.charts import PALETTE, escape, num, pct, plural
from mlrail.components.monitor.checks import VersionFindings
from mlrail.validation.findings import Comparison

__all__ = [
    "SERVING_COLOUR",
    "TRAIN_COLOUR",
    "alerts",
    "by_interest",
    "comparison_cells",
    "feature_name",
    "figure",
    "key_name",
    "measure_name",
    "rate",
    "shown",
]

TRAIN_COLOUR, SERVING_COLOUR = PALETTE[0], PALETTE[1]  # the reference side, the window's side
_MEASURES = {"L_INFTY": "L∞ distance", "JENSEN_SHANNON_DIVERGENCE": "JS divergence"}
_TESTS = {
    "chi2": "G-test (χ²)",
    "z": "two-proportion z (Bonferroni)",
    "fixed": "fixed threshold",
}


def measure_name(measure: str) -> str:
    """A distance measure's name for a reader."""
    return _MEASURES.get(measure, measure)


def feature_name(f: statistics_pb2.FeatureNameStatistics) -> str:
    """A feature's name: its path's steps joined with dots, else its name."""
    return ".".join(f.path.step) if f.HasField("path") else f.name


def shown(name: str) -> str:
    """A column's name for a reader: the empty name visibly."""
    return name if name else '""'


def key_name(version: str, identity: str | None) -> str:
    """A served version as the page names it: its number and, when logged, its identity."""
    return f"version {version}" + (f" ({identity})" if identity else "")


def figure(x: float | None) -> str:
    """A figure to about four significant digits; a dash for none."""
    return "–" if x is None else escape(num(float(x)))


def rate(figures: dict[str, float], key: str) -> str:
    """A rate as a percentage, flagged when above zero (the missing rate never is)."""
    x = figures.get(key)
    if x is None:
        return "–"
    text = escape(pct(x, 1.0))
    return f'<span class="flag">{text}</span>' if x > 0 and key != "missing_rate" else text


def by_interest(cs: Iterable[Comparison]) -> list[Comparison]:
    """Exceeded first, then largest value first (NaN last); ties by name."""

    def key(c: Comparison) -> tuple[bool, float, str, str]:
        return (
            not c.exceeded,
            -(-math.inf if math.isnan(c.value) else c.value),
            c.feature,
            c.measure,
        )

    return sorted(cs, key=key)


def comparison_cells(c: Comparison | None) -> list[str]:
    """Measure, value, threshold, test, p-value and result of ``c`` (dashes when None)."""
    if c is None:
        return ["–", "–", "–", "–", "–", '<span class="muted">not compared</span>']
    if c.exceeded:
        result = '<span class="flag">▲ exceeded</span>'
    elif c.threshold is None:
        result = '<span class="muted">no threshold</span>'
    else:
        result = "within"
    return [
        f'<span title="{escape(c.measure)}">{escape(measure_name(c.measure))}</span>',
        escape(num(c.value)),
        figure(c.threshold),
        escape(_TESTS.get(c.test, c.test) or "–"),
        figure(c.p_value),
        result,
    ]


def alerts(v: VersionFindings) -> list[str]:
    """What is wrong with a version, in words (empty: healthy)."""
    out = []
    if v.skewed:
        names = ", ".join(shown(c.feature) for c in by_interest(v.skewed))
        out.append(f"{plural(len(v.skewed), 'input', 'inputs')} skewed ({names})")
    schema = [a for a in v.anomalies if not a.type.startswith("COMPARATOR_")]
    if schema:
        out.append(plural(len(schema), "schema anomaly", "schema anomalies"))
    if v.drifted:
        names = ", ".join(shown(c.feature) for c in v.drifted)
        out.append(f"prediction drift ({names})")
    if v.performance_drop:
        out.append("performance drop")
    return out
