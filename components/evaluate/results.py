"""What evaluate found: the :class:`Evaluation` and its parts, the one shape every output reads.

:mod:`.core` builds it, :mod:`.checks` adds the :class:`Check` of each threshold, and the outputs
read it: metrics.json and blessing.json (:mod:`.outputs`), the HTML report (:mod:`.report`) and
the KFP ``Metrics`` / ``ClassificationMetrics`` figures (:meth:`Evaluation.kfp_metrics`,
:meth:`Evaluation.kfp_roc_curve`, logged by the component).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from mlrail import events
from mlrail.components.evaluate.fairness import Fairness
from mlrail.components.evaluate.importance import Importance
from mlrail.components.evaluate.metrics import Curves, MetricSet
from mlrail.components.evaluate.thresholds import DEFAULT_MIN_SLICE_ROWS, describe_bound

__all__ = ["BaselineResult", "Check", "Evaluation", "SliceResult"]


@dataclass(frozen=True)
class Check:
    """One threshold checked: what, where, the figures and the verdict."""

    metric: str
    op: str
    bound: float
    value: float | None
    passed: bool  # False only for a failed check: a skipped one does not withhold the blessing
    kind: str = "value"
    scope: str = "overall"
    slice: str | None = None
    baseline_value: float | None = None
    change: float | None = None
    rows: int = 0
    verdict: str = "pass"
    reason: str = ""

    def describe(self) -> str:
        """``accuracy >= 0.9`` or ``accuracy change >= -0.01``."""
        return describe_bound(self.metric, self.kind, self.op, self.bound)


@dataclass
class SliceResult:
    """The figures of one slice (and of the baseline on the same rows)."""

    column: str
    label: str
    rows: int
    metrics: MetricSet
    small: bool
    baseline: MetricSet | None = None

    @property
    def name(self) -> str:
        return f"{self.column}={self.label}"


@dataclass
class BaselineResult:
    """The baseline model's figures on the same rows (``version``: the registry version
    compared with, "" for a baseline that is not from a registry)."""

    source: str
    format: str
    metrics: MetricSet
    curves: Curves
    version: str = ""


@dataclass
class Evaluation:
    """What evaluate found; the ``metrics``, ``classes``, ``confusion_matrix`` and ``checks``
    fields keep their earlier meaning."""

    task: str
    rows: int
    metrics: dict[str, float]
    classes: list[str] = field(default_factory=list)
    confusion_matrix: list[list[int]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)
    curves: Curves = field(default_factory=Curves)
    slices: list[SliceResult] = field(default_factory=list)
    fairness: list[Fairness] = field(default_factory=list)
    baseline_fairness: dict[str, Fairness] = field(default_factory=dict)
    importance: Importance | None = None
    baseline: BaselineResult | None = None
    baseline_requested: str = ""
    baseline_reason: str = ""
    min_slice_rows: int = DEFAULT_MIN_SLICE_ROWS
    model: str = ""
    data: str = ""
    notes: list[str] = field(default_factory=list)
    dropped_unlabelled: int = 0
    #: What became of the lifecycle event (:mod:`.lifecycle`); a sink that is down is here.
    deliveries: list[events.Delivery] = field(default_factory=list)

    @property
    def blessed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed_checks(self) -> list[dict[str, str]]:
        """Each failed check's metric and why (the blessing's metadata)."""
        return [{"metric": c.metric, "reason": c.reason} for c in self.checks if not c.passed]

    @property
    def decided_on(self) -> str:
        """In words, what the blessing rests on."""
        kinds = {c.kind for c in self.checks if c.verdict != "skipped"}
        if self.baseline is None:
            why = self.baseline_reason or "no baseline model was given"
            return f"value thresholds only: no baseline ({why})"
        if "change" in kinds:
            return f"value thresholds and changes against the baseline {self.baseline.source}"
        return (
            f"value thresholds; no change was checked against the baseline {self.baseline.source}"
        )

    def kfp_metrics(self) -> dict[str, float]:
        """Scalars for the KFP ``Metrics`` artifact: the overall metrics and, per sensitive
        column, its fairness figures (``demographic_parity_difference[sex]``), and
        ``dropped_unlabelled`` (rows left out for having no label)."""
        out = dict(self.metrics)
        out["dropped_unlabelled"] = float(self.dropped_unlabelled)
        for f in self.fairness:
            out.update({f"{k}[{f.column}]": v for k, v in f.metrics.items()})
        return {k: v for k, v in out.items() if math.isfinite(v)}

    def kfp_roc_curve(self) -> tuple[list[float], list[float], list[float]]:
        """The binary ROC curve (fpr, tpr, finite thresholds) for ``ClassificationMetrics``;
        empty lists for other tasks (KFP then records no curve)."""
        if self.task != "binary" or not self.curves.roc:
            return [], [], []
        (roc,) = self.curves.roc.values()
        return roc["fpr"], roc["tpr"], roc["thresholds"]
