"""The lifecycle event register sends (:mod:`mlrail.events`): a new version in the registry.

``io.mlrail.model.registered`` when register created a version: ``version``, ``created``
(true), ``identity``, ``model_uri`` (``models:/<name>/<version>``), ``registry`` (its URI,
credentials removed), ``links`` (the registered_model artifact, the run's page when known) and
the pipeline and run.

A model already registered under its identity sends nothing. A receiver reads
``model.registered`` as "a new version exists" (to review it, or to start what follows a new
model); that version's event was sent when it was created, and a retried step or a retrain
that reproduced the same model would announce the same version again, as if it were new.
The later run's record of it stays in its ``registered_model`` artifact (``created`` false).

With no sink (none given, no ``K_SINK``) no event is built: the would-be event is recorded as
not sent. A sink that is down is recorded, never raised.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlrail import events
from mlrail.redact import redact

__all__ = ["REGISTERED", "send_events"]

#: The event a new version sends.
REGISTERED = "model.registered"


def send_events(
    *,
    model_name: str,
    version: str,
    created: bool,
    identity: str,
    model_uri: str = "",
    registry: str = "",
    events_sink: str = "",
    pipeline: str = "",
    run_id: str = "",
    run_name: str = "",
    links: Mapping[str, str] | None = None,
    retry: events.Retry | None = None,
    env: Mapping[str, str] | None = None,
) -> list[events.Delivery]:
    """Send ``model.registered`` when register created a version; never raises for the sink.

    Args:
        model_name: The registered model (the event's subject).
        version: The registry version.
        created: Whether register created it (False: it existed already, and nothing is sent).
        identity: The model identity it is registered under.
        model_uri: Its ``models:/`` URI.
        registry: The registry's URI (credentials are masked here too).
        events_sink: The sink (:mod:`mlrail.events.sinks`); empty: ``K_SINK``, then none.
        pipeline: The pipeline's name (the event's source and ``data.pipeline``).
        run_id: The run's id (the event's source and ``data.run_id``).
        run_name: The run's name (``data.run_name``).
        links: Names to URIs of the evidence (empty values are left out).
        retry: Delivery bounds (default :class:`mlrail.events.Retry`).
        env: Where ``K_SINK`` is read (default: the process environment).

    Returns:
        One delivery record; none when the version existed already.
    """
    if not created:
        return []
    data: dict[str, Any] = {
        "version": version,
        "created": created,
        "identity": identity,
        "model_uri": model_uri,
        "registry": redact(registry),
    }
    return events.send_all(
        [(REGISTERED, data)],
        events_sink=events_sink,
        model_name=model_name,
        pipeline=pipeline,
        run_id=run_id,
        run_name=run_name,
        links=links,
        retry=retry,
        env=env,
    )
