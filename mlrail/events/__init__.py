"""Lifecycle events: CloudEvents 1.0 to an HTTP sink (``K_SINK``) or a JSON Lines file.

A sink that is down never fails a run or blocks a deploy (DESIGN §4): :func:`send` and
:func:`emit` return a :class:`Delivery` record instead of raising, and the step that sent the
event writes it to its log and output metadata.

The types and their data fields: :mod:`mlrail.events.types`. Sinks, modes, retries:
:mod:`mlrail.events.sinks`. From a component's core or adapter, one call::

    from mlrail import events

    delivery = events.send(
        "model.deployed",
        {"version": "3", "target": "kserve", "links": {"release_record": uri}},
        model_name="penguins",
        events_sink=events_sink,  # "" -> K_SINK -> none
    )
    print(delivery.line())
    artifact.metadata.update(delivery.metadata())  # or, for several: events.summary([...])

Importing this package costs no more than its own modules: the CloudEvents SDK and the HTTP
client are imported by the calls that need them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mlrail.errors import MlrailError
from mlrail.events.event import make_event, source_for, to_json_line
from mlrail.events.sinks import Delivery, Retry, Sink, emit, parse_sink, resolve_sink
from mlrail.events.types import PREFIX, TYPES, EventType, event_type, markdown_table

__all__ = [
    "PREFIX",
    "TYPES",
    "Delivery",
    "EventType",
    "Retry",
    "Sink",
    "emit",
    "event_type",
    "make_event",
    "markdown_table",
    "parse_sink",
    "resolve_sink",
    "send",
    "send_all",
    "source_for",
    "summary",
    "to_json_line",
]


def send(
    type_: str,
    data: Mapping[str, Any],
    *,
    model_name: str = "",
    events_sink: str = "",
    pipeline: str = "",
    run_id: str = "",
    retry: Retry | None = None,
    env: Mapping[str, str] | None = None,
) -> Delivery:
    """Build one event and send it; never raises, whatever the sink or the data.

    Args:
        type_: The event type, full or short (``model.deployed``).
        data: The facts: the type's required fields, ``links`` to the evidence, more if useful.
        model_name: The event's ``subject``.
        events_sink: The sink (see :mod:`mlrail.events.sinks`); empty: ``K_SINK``, then none.
        pipeline: The pipeline's name: the ``source``, and ``data.pipeline`` unless given.
        run_id: The run's id (in KFP: ``dsl.PIPELINE_JOB_ID_PLACEHOLDER``): the ``source``,
            and ``data.run_id`` unless given.
        retry: Delivery bounds (default :class:`Retry`: about 5 s at most).
        env: Where ``K_SINK`` is read (default: the process environment).

    Returns:
        What happened: also logged (a warning when not delivered).
    """
    where = {k: v for k, v in (("pipeline", pipeline), ("run_id", run_id)) if v}
    try:
        event = make_event(
            type_, {**where, **data}, subject=model_name, source=source_for(pipeline, run_id)
        )
    except MlrailError as e:
        # a bug in the sender's facts must not stop the step that reports them either
        delivery = Delivery(type_, "", resolve_sink(events_sink, env), False, 0, error=str(e))
    else:
        delivery = emit(event, events_sink, retry=retry, env=env)
    import logging  # only here: importing the package stays cheap

    level = logging.WARNING if delivery.error else logging.INFO
    logging.getLogger(__name__).log(level, "%s", delivery.line())
    return delivery


def send_all(
    found: Iterable[tuple[str, Mapping[str, Any]]],
    *,
    events_sink: str = "",
    model_name: str = "",
    pipeline: str = "",
    run_id: str = "",
    run_name: str = "",
    links: Mapping[str, str] | None = None,
    retry: Retry | None = None,
    env: Mapping[str, str] | None = None,
) -> list[Delivery]:
    """:func:`send` each ``(type, data)`` of a step's decision, in order, with the run's name and
    the ``links`` (empty values left out) added to each; never raises.

    With no sink (none given, no ``K_SINK``) no event is built: each would-be event is recorded
    as not sent, so the step still says what it would have sent.
    """
    found = list(found)
    if not resolve_sink(events_sink, env):
        return [Delivery(event_type(t).name, "", "", False, 0) for t, _ in found]
    common: dict[str, Any] = {"run_name": run_name} if run_name else {}
    kept = {k: v for k, v in (links or {}).items() if v}
    if kept:
        common["links"] = kept
    return [
        send(
            kind,
            {**data, **common},
            model_name=model_name,
            events_sink=events_sink,
            pipeline=pipeline,
            run_id=run_id,
            retry=retry,
            env=env,
        )
        for kind, data in found
    ]


def summary(deliveries: Iterable[Delivery]) -> dict[str, Any]:
    """A step's events for its output metadata, however many it sent: ``events`` (one line
    each, as :meth:`Delivery.line`) and ``events_not_delivered`` (how many a sink, or the
    event's own facts, kept from arriving; an event with no sink at all is not counted)."""
    done = list(deliveries)
    missed = sum(1 for d in done if d.error)
    return {"events": [d.line() for d in done], "events_not_delivered": missed}
