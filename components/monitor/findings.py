"""What monitor found in one window: :class:`MonitorReport`, its verdict in words and as JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlrail import events
from mlrail.components.monitor.checks import VersionFindings, window_bounds
from mlrail.components.monitor.decode import WindowDecoded
from mlrail.components.monitor.logs import GroupKey
from mlrail.validation.statistics import json_number

__all__ = ["MonitorReport", "key_name", "to_json", "verdict"]


@dataclass
class MonitorReport:
    """What one window showed.

    Attributes:
        model: The model.
        decoded: The window read and decoded (its files, read counts, rows per version).
        versions: The findings of each (version, identity) that answered.
        unresolved: Versions whose training evidence could not be found, with why; their
            records are counted, not compared.
        server: The server's own counters when ``metrics_url`` was given (since it started).
        deliveries: The events sent.
        history: The summaries of the windows checked before and this one, oldest first
            (:mod:`.history`; empty without a history folder).
        history_notes: What could not be read or written there.
    """

    model: str
    decoded: WindowDecoded
    versions: list[VersionFindings] = field(default_factory=list)
    unresolved: dict[str, str] = field(default_factory=dict)
    server: dict[str, Any] | None = None
    deliveries: list[events.Delivery] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    history_notes: list[str] = field(default_factory=list)

    @property
    def no_traffic(self) -> bool:
        return self.decoded.no_traffic

    @property
    def healthy(self) -> bool:
        """The gate: no version shows skew, schema anomalies, prediction drift or a
        performance drop (a window with no traffic is healthy: nothing to judge)."""
        return all(v.healthy for v in self.versions)

    @property
    def window(self) -> dict[str, Any]:
        w = self.decoded.window
        return {**window_bounds(w.start, w.end), "records": self.decoded.stats.records}


def key_name(key: GroupKey) -> str:
    version, identity = key
    return f"version {version}" + (f" ({identity})" if identity else "")


def verdict(report: MonitorReport) -> str:
    """The window's verdict in one line."""
    if report.no_traffic:
        return f"no traffic in {report.decoded.window.describe()}"
    parts = []
    for v in report.versions:
        found = []
        if v.skewed:
            found.append("skew in " + ", ".join(repr(c.feature) for c in v.skewed))
        other = [a for a in v.anomalies if not a.type.startswith("COMPARATOR_")]
        if other:
            found.append(f"{len(other)} schema anomal{'y' if len(other) == 1 else 'ies'}")
        if v.drifted:
            found.append("prediction drift in " + ", ".join(repr(c.feature) for c in v.drifted))
        if v.performance_drop:
            found.append("a performance drop")
        parts.append(f"version {v.version}: " + ("; ".join(found) or "healthy"))
    return "; ".join(parts) or "no version could be checked"


def _comparison(c: Any) -> dict[str, Any]:
    return {
        "feature": c.feature,
        "measure": c.measure,
        "value": json_number(c.value),
        "threshold": json_number(c.threshold),
        "exceeded": c.exceeded,
        "test": getattr(c, "test", ""),
        "p_value": json_number(getattr(c, "p_value", None)),
    }


def _version_json(v: VersionFindings) -> dict[str, Any]:
    est = v.estimated
    return {
        "version": v.version,
        "identity": v.identity,
        "rows": v.rows,
        "baseline": v.baseline,
        "healthy": v.healthy,
        "anomalies": [
            {"feature": a.feature, "type": a.type, "description": a.description}
            for a in v.anomalies
        ],
        "skew": [_comparison(c) for c in v.skew],
        "drift": [_comparison(c) for c in v.drift],
        "features": v.features,
        "estimated_accuracy": None
        if est is None
        else {"value": est.value, "low": est.low, "high": est.high, "std_error": est.std_error},
        "eval_accuracy": v.eval_accuracy,
        "performance_drop": v.performance_drop,
        "realized": v.realized,
        "trend": v.trend,
        "latency_ms": v.latency_ms,
        "notes": v.notes,
    }


def to_json(report: MonitorReport) -> dict[str, Any]:
    """The whole finding as plain JSON (``anomalies.json``)."""
    read = report.decoded.stats.as_dict()
    read["undecoded"] = {
        key_name(k): {"skipped": dict(d.skipped), "first": d.first}
        for k, d in report.decoded.groups.items()
        if d.skipped
    }
    read["unresolved_records"] = {key_name(k): n for k, n in report.decoded.unknown.items()}
    return {
        "model": report.model,
        "healthy": report.healthy,
        "no_traffic": report.no_traffic,
        "window": report.window,
        "read": read,
        "versions": [_version_json(v) for v in report.versions],
        "unresolved": report.unresolved,
        "server": report.server,
        "history": {"windows": len(report.history), "notes": report.history_notes},
        "events": events.summary(report.deliveries),
    }
