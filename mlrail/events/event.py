"""Building an mlrail lifecycle event: a CloudEvents 1.0 event with a JSON object as ``data``.

Attributes: ``type`` (:mod:`mlrail.events.types`), ``source`` (the pipeline and run,
:func:`source_for`), ``subject`` (the model's name), ``id`` (a UUID), ``time`` (UTC, RFC 3339),
``datacontenttype`` ``application/json``.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from mlrail.artifacts.jsonsafe import finite
from mlrail.errors import MlrailError
from mlrail.events.types import event_type

if TYPE_CHECKING:
    from cloudevents.http import CloudEvent

__all__ = ["make_event", "source_for", "to_json_line"]


def source_for(pipeline: str = "", run: str = "") -> str:
    """The ``source`` of a run's events: ``/mlrail/pipelines/<pipeline>/runs/<run>``.

    A URI reference, as CloudEvents asks; either part may be empty (``/mlrail/pipelines/training``
    for events outside a run, ``/mlrail`` when neither is known).
    """
    source = "/mlrail"
    if pipeline:
        source += f"/pipelines/{quote(pipeline, safe='')}"
    if run:
        source += f"/runs/{quote(run, safe='')}"
    return source


def _json_data(name: str, data: Mapping[str, Any]) -> dict[str, Any]:
    # JSON has no NaN or infinity: they become null (as in every artifact); anything else JSON
    # cannot hold (bytes, sets, objects) is refused here, naming the field, not by a receiver
    clean = finite(dict(data))
    for key, value in clean.items():
        if not isinstance(key, str):
            raise MlrailError(f"event {name}: data key {key!r} is not a string")
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise MlrailError(f"event {name}: data field {key!r} is not JSON: {e}") from e
    return clean  # type: ignore[no-any-return]


def make_event(
    type_: str,
    data: Mapping[str, Any],
    *,
    subject: str = "",
    source: str = "",
    event_id: str = "",
    time: dt.datetime | None = None,
) -> CloudEvent:
    """A lifecycle event, checked against its type.

    Args:
        type_: The type, in full (``io.mlrail.model.deployed``) or short (``model.deployed``).
        data: The facts; must hold the type's required fields. NaN/infinity become null.
        subject: The model's name (empty: no ``subject`` attribute).
        source: :func:`source_for` the run (empty: ``/mlrail``).
        event_id: The event's id (empty: a new UUID).
        time: When it happened (None: now), in UTC.

    Returns:
        A ``cloudevents.http.CloudEvent``.

    Raises:
        MlrailError: an unknown type, a missing required field, or data JSON cannot hold.
    """
    from cloudevents.http import CloudEvent

    kind = event_type(type_)
    missing = [k for k in kind.required if k not in data]
    if missing:
        raise MlrailError(
            f"event {kind.name}: data has no {', '.join(map(repr, missing))} "
            f"(it needs {', '.join(kind.required)})"
        )
    when = (time or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    attributes = {
        "specversion": "1.0",
        "type": kind.name,
        "source": source or source_for(),
        "id": event_id or str(uuid.uuid4()),
        "time": when.isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
    }
    if subject:
        attributes["subject"] = subject
    return CloudEvent(attributes, _json_data(kind.name, data))


def to_json_line(event: CloudEvent) -> bytes:
    """``event`` in the CloudEvents JSON format, on one line ending in a newline."""
    attributes = {k: event[k] for k in event}
    # json.dumps escapes non-ASCII and newlines: one event is always exactly one line
    return json.dumps({**attributes, "data": event.get_data()}, allow_nan=False).encode() + b"\n"
