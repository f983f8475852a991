"""The lifecycle event evaluate sends (:mod:`mlrail.events`): a model it did not bless.

``io.mlrail.model.not_blessed`` when any enforced check failed, so the gate in front of
deploy closed: ``failed_checks`` (each failed check's metric, value, bound and verdict, with
its op, kind, scope, slice, baseline value, change and reason, as blessing.json holds it),
``baseline`` (the model compared with, credentials masked; null when there was none) and
``decided_on``. It carries ``links`` (the metrics, the blessing, the report) and the pipeline
and run when known. A blessed model sends nothing: its news is the run's, or the registry's.

With no sink (none given, no ``K_SINK``) no event is built: the would-be event is recorded as
not sent, at the cost of a dataclass. A sink that is down is recorded, never raised.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlrail import events
from mlrail.components.evaluate.results import Check, Evaluation
from mlrail.redact import redact

__all__ = ["NOT_BLESSED", "failed_check", "not_blessed_data", "send_events"]

#: The event a model that was not blessed sends.
NOT_BLESSED = "model.not_blessed"


def failed_check(c: Check) -> dict[str, Any]:
    """One failed check as the event carries it (blessing.json's fields but ``passed``)."""
    return {
        "metric": c.metric,
        "value": c.value,
        "bound": c.bound,
        "verdict": c.verdict,
        "op": c.op,
        "kind": c.kind,
        "scope": c.scope,
        "slice": c.slice,
        "baseline_value": c.baseline_value,
        "change": c.change,
        "rows": c.rows,
        "reason": c.reason,
    }


def not_blessed_data(ev: Evaluation) -> dict[str, Any]:
    """The facts of ``model.not_blessed`` for ``ev`` (meant for an evaluation not blessed)."""
    return {
        "failed_checks": [failed_check(c) for c in ev.checks if not c.passed],
        "baseline": redact(ev.baseline.source) if ev.baseline else None,
        "decided_on": redact(ev.decided_on),
    }


def send_events(
    ev: Evaluation,
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
    """Send ``model.not_blessed`` when ``ev`` is not blessed; never raises for the sink.

    Args:
        ev: What evaluate found.
        events_sink: The sink (:mod:`mlrail.events.sinks`); empty: ``K_SINK``, then none.
        model_name: The event's subject.
        pipeline: The pipeline's name (the event's source and ``data.pipeline``).
        run_id: The run's id (the event's source and ``data.run_id``).
        run_name: The run's name (``data.run_name``).
        links: Names to URIs of the evidence (empty values are left out).
        retry: Delivery bounds (default :class:`mlrail.events.Retry`).
        env: Where ``K_SINK`` is read (default: the process environment).

    Returns:
        One delivery record (none for a blessed model).
    """
    found = [] if ev.blessed else [(NOT_BLESSED, not_blessed_data(ev))]
    return events.send_all(
        found,
        events_sink=events_sink,
        model_name=model_name,
        pipeline=pipeline,
        run_id=run_id,
        run_name=run_name,
        links=links,
        retry=retry,
        env=env,
    )
