"""monitor's alert events, once its outputs are written: one per finding and version.

- ``serving.skew_detected``: inputs skewed from training, or schema anomalies in the window;
- ``serving.drift_detected``: predictions unlike the same model's on its eval split;
- ``serving.performance_dropped``: the estimated (or realized) accuracy fell more than the allowed
  drop below the eval accuracy.

A healthy window, or one with no traffic, sends nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from mlrail import events

if TYPE_CHECKING:
    from mlrail.components.monitor.findings import MonitorReport

__all__ = ["found_events", "send_events"]

_SHOWN = 10  # anomalies listed in an event (the anomalies artifact has them all)


def _distance(c: Any) -> dict[str, Any]:
    return {
        "feature": c.feature,
        "measure": c.measure,
        "value": c.value,
        "threshold": c.threshold,
        "test": getattr(c, "test", ""),
    }


def found_events(report: MonitorReport) -> Iterator[tuple[str, dict[str, Any]]]:
    """The (type, data) of each alert in ``report``."""
    for v in report.versions:
        common = {"version": v.version, "identity": v.identity, "window": report.window}
        if v.anomalies:
            yield (
                "serving.skew_detected",
                {
                    **common,
                    "skewed": [_distance(c) for c in v.skewed],
                    "anomalies": [a.description for a in v.anomalies[:_SHOWN]],
                },
            )
        if v.drifted:
            yield (
                "serving.drift_detected",
                {**common, "drifted": [_distance(c) for c in v.drifted]},
            )
        if v.performance_drop:
            realized = (v.realized or {}).get("accuracy")
            yield (
                "serving.performance_dropped",
                {
                    **common,
                    "metric": "accuracy",
                    "value": realized
                    if realized is not None
                    else v.estimated.value
                    if v.estimated
                    else None,
                    "reference": v.eval_accuracy,
                    "kind": "realized" if realized is not None else "estimated",
                },
            )


def send_events(
    report: MonitorReport,
    *,
    events_sink: str = "",
    pipeline: str = "",
    run_id: str = "",
    run_name: str = "",
    links: Mapping[str, str] | None = None,
) -> list[events.Delivery]:
    """Send each alert (:func:`found_events`); never raises."""
    return events.send_all(
        found_events(report),
        events_sink=events_sink,
        model_name=report.model,
        pipeline=pipeline,
        run_id=run_id,
        run_name=run_name,
        links=links,
    )
