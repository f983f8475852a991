"""evaluate's thresholds: how they are written, and the defaults.

Thresholds (``thresholds``), either a flat mapping for the whole eval set::

    {"accuracy": ">= 0.9", "log_loss": 0.5}

or, to add per-slice thresholds::

    {"overall": {"accuracy": ">= 0.9", "roc_auc": {"max_drop": 0.01}},
     "slices": {"island": {"accuracy": ">= 0.8"},            # every slice of island
                "island=Biscoe": {"recall[Gentoo]": 0.9}}}   # one slice

Per metric: a number (at least for metrics where higher is better, see
:data:`~.metrics.HIGHER_IS_BETTER`, at most for the others); ``"<op> <number>"`` with op one of
``>= <= > <`` (a value threshold); ``"change <op> <number>"`` on the change against the
baseline (``value - baseline value``; ``"change >= -0.01"``: may fall by at most 0.01);
``{"max_drop": d}`` (``change >= -d``), ``{"max_increase": d}`` (``change <= d``),
``{"value": ..., "change": "<op> <number>"}``, or a list of any of these. Metric names are
those of :mod:`.metrics`; per-class figures are written ``recall[Adelie]``.

Defaults: when the overall thresholds hold no value threshold, the task's
:data:`DEFAULT_THRESHOLDS` (clearly better than chance) is added; when there is a baseline and
the overall thresholds hold no change threshold, :data:`DEFAULT_CHANGE_THRESHOLDS` (the task's
headline metric may not fall by more than 0.01) is added, so a model worse than the one
deployed is not blessed by default (:func:`.checks.with_defaults`).

Fairness thresholds (``fairness_thresholds``), on fairlearn's figures per sensitive column (see
:mod:`.fairness`), flat (every sensitive column) or per column::

    {"demographic_parity_difference": "<= 0.1"}
    {"sex": {"equalized_odds_difference": 0.2}}

with the same per-metric syntax (a bare number means at most, except for ratios).

This module only reads thresholds; :mod:`.checks` judges them against an evaluation's figures.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlrail.components.evaluate.fairness import FAIRNESS_METRICS
from mlrail.components.evaluate.metrics import HIGHER_IS_BETTER

__all__ = [
    "DEFAULT_CHANGE_THRESHOLDS",
    "DEFAULT_MIN_SLICE_ROWS",
    "DEFAULT_THRESHOLDS",
    "Threshold",
    "check_column_named",
    "check_slice_named",
    "describe_bound",
    "fmt_bound",
    "parse_fairness_thresholds",
    "parse_thresholds",
]

#: Used when the overall thresholds hold no value threshold: clearly better than chance.
DEFAULT_THRESHOLDS: dict[str, dict[str, str]] = {
    "binary": {"roc_auc": ">= 0.6"},
    "multiclass": {"accuracy": ">= 0.6"},
    "regression": {"r2": ">= 0.1"},
}
#: Used with a baseline when the overall thresholds hold no change threshold.
DEFAULT_CHANGE_THRESHOLDS: dict[str, dict[str, Any]] = {
    "binary": {"roc_auc": {"max_drop": 0.01}},
    "multiclass": {"accuracy": {"max_drop": 0.01}},
    "regression": {"r2": {"max_drop": 0.01}},
}
#: Slices and fairness groups with fewer rows are reported, their thresholds not enforced.
DEFAULT_MIN_SLICE_ROWS = 10
_OPS = {
    ">=": lambda v, b: v >= b,
    "<=": lambda v, b: v <= b,
    ">": lambda v, b: v > b,
    "<": lambda v, b: v < b,
}
_NUMBER = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
_VALUE = re.compile(rf"^\s*(>=|<=|>|<)?\s*{_NUMBER}\s*$")
_CHANGE = re.compile(rf"^\s*change\s*(>=|<=|>|<)\s*{_NUMBER}\s*$")
_SYNTAX = "a number, '>= 0.9', 'change >= -0.01', {'max_drop': 0.01} or a list of these"


@dataclass(frozen=True)
class Threshold:
    """One bound: ``metric op bound`` (kind ``value``) or ``metric - baseline op bound``
    (kind ``change``), overall (``slice`` None), for a slice column, ``column=label`` or a
    sensitive column."""

    metric: str
    op: str
    bound: float
    kind: str = "value"
    slice: str | None = None

    def holds(self, x: float) -> bool:
        return bool(_OPS[self.op](x, self.bound))

    def describe(self) -> str:
        """``accuracy >= 0.9`` or ``accuracy change >= -0.01``."""
        return describe_bound(self.metric, self.kind, self.op, self.bound)


def describe_bound(metric: str, kind: str, op: str, bound: float) -> str:
    """A bound in words, as thresholds are written: ``accuracy change >= -0.01``."""
    what = "change" if kind == "change" else ""
    return " ".join(p for p in (metric, what, op, fmt_bound(bound)) if p)


def fmt_bound(x: float) -> str:
    """A bound as messages show it (``0.9``, ``-0.01``)."""
    return f"{x:g}"


def _number(raw: Any) -> float | None:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
        return None
    return float(raw)


def _parse_one(metric: str, raw: Any, where: str, scope: str | None) -> list[Threshold]:
    what = f"threshold for {metric!r}{where}"
    if isinstance(raw, list):
        if not raw:
            raise ValueError(f"{what}: an empty list; write {_SYNTAX}")
        return [t for item in raw for t in _parse_one(metric, item, where, scope)]
    if isinstance(raw, dict):
        known = {"value", "change", "max_drop", "max_increase"}
        if not raw or set(raw) - known:
            raise ValueError(
                f"{what}: cannot read {raw!r}; the keys are {', '.join(sorted(known))}"
            )
        out: list[Threshold] = []
        if "value" in raw:
            if isinstance(raw["value"], (dict, list)):
                raise ValueError(f"{what}: 'value' takes a number or '>= 0.9', got {raw!r}")
            out += _parse_one(metric, raw["value"], where, scope)
        if "change" in raw:
            text = raw["change"]
            if not isinstance(text, str):
                raise ValueError(f"{what}: 'change' takes e.g. '>= -0.01', got {text!r}")
            out += _parse_one(metric, f"change {text}", where, scope)
        for key, op, sign in (("max_drop", ">=", -1.0), ("max_increase", "<=", 1.0)):
            if key in raw:
                d = _number(raw[key])
                if d is None or d < 0:
                    raise ValueError(f"{what}: {key} takes a number >= 0, got {raw[key]!r}")
                out.append(Threshold(metric, op, sign * d if d else 0.0, "change", scope))
        return out
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise ValueError(f"{what}: expected {_SYNTAX}; got {raw!r}")
    text = str(raw)
    m = _CHANGE.match(text)
    if m:
        return [Threshold(metric, m.group(1), float(m.group(2)), "change", scope)]
    m = _VALUE.match(text)
    if not m or not math.isfinite(float(m.group(2))):
        raise ValueError(f"{what}: cannot read {raw!r}; write e.g. '>= 0.9' ({_SYNTAX})")
    op = m.group(1) or (">=" if _base(metric) in HIGHER_IS_BETTER else "<=")
    return [Threshold(metric, op, float(m.group(2)), "value", scope)]


def _base(metric: str) -> str:
    """``recall[Adelie]`` → ``recall``."""
    return metric.split("[", 1)[0]


def _flat(raw: Any, where: str, scope: str | None) -> list[Threshold]:
    if not isinstance(raw, Mapping):
        raise ValueError(f"thresholds{where}: expected a mapping of metric to bound, got {raw!r}")
    out = []
    for metric, value in raw.items():
        if not isinstance(metric, str) or not metric:
            raise ValueError(f"thresholds{where}: a metric name must be a string, got {metric!r}")
        out += _parse_one(metric, value, where, scope)
    return out


def _nested(thresholds: Mapping[str, Any]) -> bool:
    return bool(thresholds) and set(thresholds) <= {"overall", "slices"}


def parse_thresholds(thresholds: Mapping[str, Any] | None) -> list[Threshold]:
    """The thresholds of ``thresholds`` (flat, or ``{"overall": ..., "slices": ...}``).

    ``{"accuracy": ">= 0.9", "rmse": 3}`` → ``[Threshold("accuracy", ">=", 0.9),
    Threshold("rmse", "<=", 3.0)]``. Defaults are not added here (they depend on the task and
    the baseline).

    Raises:
        ValueError: naming the metric (and slice) whose bound cannot be read.
    """
    if not thresholds:
        return []
    if not _nested(thresholds):
        return _flat(thresholds, "", None)
    out = _flat(thresholds.get("overall") or {}, "", None)
    slices = thresholds.get("slices") or {}
    if not isinstance(slices, Mapping):
        raise ValueError(
            f"thresholds 'slices': expected a mapping of slice to thresholds, got {slices!r}"
        )
    for key, raw in slices.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"thresholds 'slices': a slice must be a string, got {key!r}")
        out += _flat(raw, f" (slice {key})", key)
    return out


def parse_fairness_thresholds(thresholds: Mapping[str, Any] | None) -> list[Threshold]:
    """Fairness thresholds: ``{metric: bound}`` for every sensitive column (``slice`` None), or
    ``{column: {metric: bound}}`` for one.

    Raises:
        ValueError: a bound that cannot be read, or a key that is neither a fairness metric
            nor a mapping for a column.
    """
    out: list[Threshold] = []
    for key, raw in (thresholds or {}).items():
        if key in FAIRNESS_METRICS:
            out += _parse_one(key, raw, " (fairness)", None)
        elif isinstance(raw, Mapping):
            for metric in raw:
                if metric not in FAIRNESS_METRICS:
                    raise ValueError(
                        f"fairness threshold for {metric!r} (column {key}): not a fairness "
                        f"metric; these are {', '.join(FAIRNESS_METRICS)}"
                    )
            out += _flat(raw, f" (fairness, column {key})", key)
        else:
            raise ValueError(
                f"fairness threshold {key!r}: not a fairness metric ({', '.join(FAIRNESS_METRICS)})"
                " nor a column with a mapping of its own thresholds"
            )
    return out


def check_slice_named(t: Threshold, slice_columns: Sequence[str]) -> None:
    """Refuse a threshold for a slice (``island`` or ``island=Biscoe``) of a column not sliced by.

    Raises:
        ValueError: naming the slice and the slice columns there are.
    """
    if t.slice is not None and t.slice.split("=", 1)[0] not in slice_columns:
        raise ValueError(
            f"thresholds for slice {t.slice!r}, but the slices are: "
            f"{', '.join(slice_columns) or 'none (set slices)'}"
        )


def check_column_named(t: Threshold, sensitive_columns: Sequence[str]) -> None:
    """Refuse a fairness threshold for a column that is not a sensitive column.

    Raises:
        ValueError: naming the column and the sensitive columns there are.
    """
    if t.slice is not None and t.slice not in sensitive_columns:
        raise ValueError(
            f"fairness thresholds for column {t.slice!r}, but the sensitive columns are: "
            f"{', '.join(sensitive_columns) or 'none (set sensitive_columns)'}"
        )
