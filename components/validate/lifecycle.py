"""The lifecycle events validate sends (:mod:`mlrail.events`): what it found, as it decides.

- ``io.mlrail.data.anomalies_found`` when any anomaly closed the gate: ``num_anomalies``, the
  first :data:`FIRST_ANOMALIES` as ``[split] description`` lines (``anomalies.json`` has all).
- ``io.mlrail.data.drift_detected`` when a split drifted from the baseline statistics beyond a
  threshold: ``drifted`` (feature, split, measure, value, threshold, each over its threshold)
  and ``baseline`` (its URI, credentials masked).

Drift over a threshold is an anomaly too, so drifted data sends both, in that order. Clean data
sends nothing. Both carry ``links`` (the anomalies artifact, the statistics, the report) and the
pipeline and run when known. With no sink (none given, no ``K_SINK``) no event is built: each
would-be event is recorded as not sent, at the cost of a dataclass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlrail import events
from mlrail.components.validate.findings import ValidationReport

__all__ = ["FIRST_ANOMALIES", "anomaly_lines", "send_events"]

#: How many anomaly lines an event (and the artifact's metadata) carries.
FIRST_ANOMALIES = 5


def anomaly_lines(report: ValidationReport) -> list[str]:
    """The first :data:`FIRST_ANOMALIES` anomalies, one ``[split] description`` line each."""
    return [f"[{a.split}] {a.description}" for a in report.anomalies[:FIRST_ANOMALIES]]


def _facts(report: ValidationReport) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if report.anomalies:
        found.append(
            (
                "data.anomalies_found",
                {"num_anomalies": report.num_anomalies, "anomalies": anomaly_lines(report)},
            )
        )
    drifted = [
        {
            "feature": c.feature,
            "split": c.split,
            "measure": c.measure,
            "value": c.value,
            "threshold": c.threshold,
        }
        for c in report.comparisons
        if c.kind == "drift" and c.exceeded
    ]
    if drifted:
        found.append(("data.drift_detected", {"drifted": drifted, "baseline": report.baseline}))
    return found


def send_events(
    report: ValidationReport,
    *,
    events_sink: str = "",
    model_name: str = "",
    pipeline: str = "",
    run_id: str = "",
    run_name: str = "",
    links: Mapping[str, str] | None = None,
    retry: events.Retry | None = None,
    env: Mapping[str, str] | None = None,
) -> list[events.Delivery]:
    """Send the events ``report`` calls for; never raises for the sink.

    Args:
        report: What validation found.
        events_sink: The sink (:mod:`mlrail.events.sinks`); empty: ``K_SINK``, then none.
        model_name: The events' subject.
        pipeline: The pipeline's name (the events' source and ``data.pipeline``).
        run_id: The run's id (the events' source and ``data.run_id``).
        run_name: The run's name (``data.run_name``).
        links: Names to URIs of the evidence (empty values are left out).
        retry: Delivery bounds (default :class:`mlrail.events.Retry`).
        env: Where ``K_SINK`` is read (default: the process environment).

    Returns:
        One delivery record per event, in the order sent (none for clean data).
    """
    return events.send_all(
        _facts(report),
        events_sink=events_sink,
        model_name=model_name,
        pipeline=pipeline,
        run_id=run_id,
        run_name=run_name,
        links=links,
        retry=retry,
        env=env,
    )
