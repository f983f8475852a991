"""notify: a run's final status as a lifecycle event (``io.mlrail.run.succeeded`` or
``io.mlrail.run.failed``), sent from the pipeline's exit handler.

The exit handler runs after every step, whether they succeeded, failed or closed a gate, so a
failed run is heard too. KFP hands the exit task its ``PipelineTaskFinalStatus``; the facts it
holds become the event's data: ``state``, and for a failure ``failed_task`` (the task the status
names: on KFP's backend and in kfp.local alike, the exit handler's group, e.g.
``exit-handler-1``) with ``error`` and ``error_code`` when KFP gives them.

Which step failed, KFP's final status does not say: kfp.local names the group and says
``Task <group> failed.``; KFP's backend (its driver) names the group and leaves the error
empty. The event names the step (``failed_step``, with ``step_error``) only where it is known
for sure: in a local run, whose runner (:mod:`mlrail.local.steps`) keeps each step's record and
tells the exit task which step failed (:data:`FAILED_STEP_ENV`, :data:`STEP_ERROR_ENV`; see
:func:`local_failure`). On a cluster it is not in the event; the run's page in the KFP UI shows
it.

A sink that is down never fails the exit handler: the delivery is recorded instead.

Output (the ``delivery`` artifact)::

    delivery.json   {"event": {CloudEvents attributes + "data"},
                     "delivery": {"event_type", "event_id", "event_sink", "event_delivered",
                                  "event_attempts", "event_error"[, "event_status"]}}
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlrail import events
from mlrail.io import atomic_write_json
from mlrail.redact import redact

__all__ = [
    "DELIVERY_FILE",
    "FAILED_STEP_ENV",
    "STEP_ERROR_ENV",
    "Notified",
    "local_failure",
    "notify",
]

DELIVERY_FILE = "delivery.json"
#: Set by the local runner in each task's environment: the step of the run that failed
#: (mlrail.local.steps.FAILED_STEP_ENV, which a component cannot import: it is a layer above).
FAILED_STEP_ENV = "MLRAIL_FAILED_STEP"
#: Set with :data:`FAILED_STEP_ENV`: that step's error, one line.
STEP_ERROR_ENV = "MLRAIL_FAILED_STEP_ERROR"


@dataclass(frozen=True)
class Notified:
    """What notify sent (``event``: attributes and data; empty if it could not be built) and
    what happened to it."""

    event: dict[str, Any]
    delivery: events.Delivery


def local_failure(env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The failed step and its error, as the local runner tells the exit task ("" each when it
    does not: on a cluster, or when no step's record says it failed)."""
    env = os.environ if env is None else env
    return env.get(FAILED_STEP_ENV, ""), env.get(STEP_ERROR_ENV, "")


def notify(
    state: str,
    *,
    failed_task: str = "",
    failed_step: str = "",
    step_error: str = "",
    error_code: float | None = None,
    error_message: str = "",
    events_sink: str = "",
    model_name: str = "",
    pipeline: str = "",
    run_id: str = "",
    run_name: str = "",
    links: Mapping[str, str] | None = None,
    delivery_dir: str | Path | None = None,
    retry: events.Retry | None = None,
    env: Mapping[str, str] | None = None,
) -> Notified:
    """Sends run.succeeded (state SUCCEEDED) or run.failed (any other state); never raises for
    the sink.

    Args:
        state: KFP's final state: SUCCEEDED, FAILED or CANCELLED.
        failed_task: The task KFP's final status names.
        failed_step: The step that failed, when known (:func:`local_failure`); a failure
            only.
        step_error: Its error, one line.
        error_code: Its error code, if any (a whole number; KFP's JSON may hand it over as 1.0).
        error_message: Its error message, if any.
        events_sink: The sink (an http(s) URL, ``…#structured``, a file); empty: ``K_SINK``,
            then none.
        model_name: The event's subject.
        pipeline: The pipeline's name (the event's source).
        run_id: The run's id (the event's source).
        run_name: The run's name.
        links: Names to URIs a receiver may follow (the run's page, its artifacts).
        delivery_dir: Where ``delivery.json`` goes (None: nowhere).
        retry: Delivery bounds.
        env: Where ``K_SINK`` is read (default: the process environment).

    Returns:
        The event and its delivery record.
    """
    data: dict[str, Any] = {"state": state}
    if pipeline:
        data["pipeline"] = pipeline
    if run_id:
        data["run_id"] = run_id
    if run_name:
        data["run_name"] = run_name
    if state == "SUCCEEDED":
        kind = "run.succeeded"
    else:
        kind = "run.failed"
        data["failed_task"] = failed_task
        if failed_step:
            data["failed_step"] = failed_step
            if step_error:
                data["step_error"] = redact(step_error)
        if error_message:
            data["error"] = error_message
        if error_code is not None:
            data["error_code"] = int(error_code)
    if links:
        data["links"] = dict(links)
    source = events.source_for(pipeline, run_id or run_name)
    event = events.make_event(kind, data, subject=model_name, source=source)
    delivery = events.emit(event, events_sink, retry=retry, env=env)
    record = {k: event[k] for k in event} | {"data": event.get_data()}
    if delivery_dir is not None:
        atomic_write_json(
            Path(delivery_dir) / DELIVERY_FILE, {"event": record, "delivery": delivery.metadata()}
        )
    return Notified(record, delivery)
