"""The validate report's short Markdown summary, for a KFP ``Markdown`` artifact."""

from __future__ import annotations

import html
import math
import re

from mlrail.charts import clean, num
from mlrail.components.validate.findings import ValidationReport
from mlrail.components.validate.report.words import (
    against_text,
    by_interest,
    drift_words,
    identifiers,
    measure_name,
    shown,
    split_order,
    test_text,
    threshold_text,
    verdict,
)

__all__ = ["render_markdown"]

_MD_ANOMALIES = 20  # anomalies listed in the Markdown summary
_MD_LARGEST = 5  # largest skew/drift values tabulated in the Markdown summary

# inline markup only: data text never starts a line, so block markers (#, -, 1.) are inert
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_MD_CODE = re.compile(r"[A-Z0-9_]+")  # anomaly types, safe in a code span


def _md(s: str) -> str:
    """Data text made inert in Markdown: no markup, no HTML, one line."""
    one_line = " ".join(clean(s).splitlines())
    return _MD_SPECIAL.sub(r"\\\1", html.escape(one_line, quote=False))


def render_markdown(report: ValidationReport) -> str:
    """A short summary for a KFP ``Markdown`` artifact.

    Args:
        report: What validation found.

    Returns:
        Markdown: the verdict, rows per split, the anomalies, the exceeded thresholds and the
        largest skew/drift values.
    """
    mark = "✅" if report.ok else "❌"
    rows = report.num_examples()
    drift = drift_words(report)
    if report.baseline:
        drift += f" against baseline {_md(report.baseline)}"
    lines = [
        f"## Data validation: {mark} {verdict(report)}",
        "",
        f"**Drift:** {'⚠️ ' if report.drift_detected else ''}{drift}",
        "",
        "| Split | Rows |",
        "|---|---:|",
        *(f"| {_md(s)} | {rows[s]:,} |" for s in split_order(rows)),
    ]
    if report.anomalies:
        lines += ["", f"### Anomalies ({report.num_anomalies:,})", ""]
        for a in report.anomalies[:_MD_ANOMALIES]:
            where = f"{_md(shown(a.feature))} " if a.feature is not None else ""
            kind = f"`{a.type}`" if _MD_CODE.fullmatch(a.type) else _md(a.type)
            lines.append(f"- **{_md(a.split)}** {where}{kind}: {_md(a.description)}")
        if report.num_anomalies > _MD_ANOMALIES:
            lines.append(f"- … and {report.num_anomalies - _MD_ANOMALIES:,} more (see the HTML)")
    ids = identifiers(report)
    if ids:
        lines += ["", f"### Left out of the default model ({len(ids):,})", ""]
        lines += [f"- **{_md(shown(n))}** identifier-like: {_md(why)}" for n, why in ids]
    ranked = by_interest(report.comparisons)
    exceeded = [c for c in ranked if c.exceeded]
    if exceeded:
        lines += ["", f"### Thresholds exceeded ({len(exceeded):,})", ""]
        lines += [
            f"- **{_md(shown(c.feature))}** {_md(c.kind)} {_md(c.split)} vs "
            f"{_md(against_text(c))}: {_md(measure_name(c.measure))} {num(c.value)} "
            f"&gt; {threshold_text(c)}{f' ({_md(test_text(c))})' if c.test else ''}"
            for c in exceeded
        ]
    largest = sorted(
        (c for c in report.comparisons if not math.isnan(c.value)),
        key=lambda c: (-c.value, c.feature, c.kind, c.split, c.against),
    )[:_MD_LARGEST]
    if largest:
        lines += [
            "",
            "### Largest skew/drift values",
            "",
            "| Feature | Kind | Split vs | Measure | Value | Threshold | Test |",
            "|---|---|---|---|---:|---:|---|",
        ]
        for c in largest:
            value = num(c.value)
            if c.exceeded:
                value = f"**{value}** ⚠️"
            lines.append(
                f"| {_md(shown(c.feature))} | {_md(c.kind)} | {_md(c.split)} vs "
                f"{_md(against_text(c))} | {_md(measure_name(c.measure))} | {value} | "
                f"{threshold_text(c)} | {_md(test_text(c))} |"
            )
    return "\n".join(lines) + "\n"
