"""KServe's payload-logger CloudEvents, as the receiver reads them: binary mode (``ce-*``
headers, the body is the data: how KServe's logger sends them) and structured mode
(``application/cloudevents+json``: how ``mlrail serve``'s sink sends them).

Only what a payload-log record needs is kept: the event's ``id``, ``type`` (request or
response), ``time``, KServe's extensions ``inferenceservicename`` and ``namespace``, and
``modelversion``, ``latencyus`` and ``mlrailidentity`` when present, and of the data (the V2
body) its ``inputs`` or ``outputs`` as compact JSON bytes: an event waiting for its other half
holds those bytes, not parsed objects (which cost several times their size). Anything else is a
:class:`BadEvent` whose message says what is wrong (the server answers 400 with it).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from mlrail.serving.payload_log.cloudevents_sink import (
    CE_IDENTITY_EXTENSION,
    CE_REQUEST_TYPE,
    CE_RESPONSE_TYPE,
)

__all__ = [
    "IDENTITY_EXTENSION",
    "REQUEST_TYPE",
    "RESPONSE_TYPE",
    "BadEvent",
    "Event",
    "parse_event",
]

# the names mlrail serve's sink sends (KServe's types, and mlrail's identity extension)
REQUEST_TYPE = CE_REQUEST_TYPE
RESPONSE_TYPE = CE_RESPONSE_TYPE
IDENTITY_EXTENSION = CE_IDENTITY_EXTENSION
_STRUCTURED = "application/cloudevents+json"


class BadEvent(ValueError):
    """Not a KServe inference CloudEvent the receiver can record (the message says why)."""


@dataclass(frozen=True, slots=True)
class Event:
    """One inference CloudEvent: a request or a response."""

    id: str
    is_request: bool
    model: str  # inferenceservicename ("" when absent: the response body's model_name then)
    namespace: str
    time: float | None  # the event's time (seconds since the epoch), None when absent
    version: str | None  # the modelversion extension
    identity: str | None  # the mlrailidentity extension
    latency_us: float | None  # the latencyus extension
    tensors: bytes  # the V2 body's inputs (request) or outputs (response), as JSON
    body_model: str  # the response body's model_name ("" when absent)
    body_version: str | None  # the response body's model_version
    error: bool  # a response with an error and no outputs: nothing to record

    @property
    def size(self) -> int:
        """What holding this event costs, in bytes."""
        return len(self.tensors)


def _time(value: object) -> float | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise BadEvent(f"time {value!r} is not an RFC 3339 string")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadEvent(f"time {value!r} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise BadEvent(f"time {value!r} has no time zone")
    return moment.timestamp()


def _json_object(raw: bytes | str, what: str) -> dict[str, Any]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            value = json.loads(raw)  # NaN and Infinity literals, which V2 servers accept
        except ValueError as e:
            raise BadEvent(f"{what} is not JSON: {e}") from None
    if not isinstance(value, dict):
        raise BadEvent(f"{what} is not a JSON object")
    return value


def _latency(value: object) -> float | None:
    if value in (None, ""):
        return None
    try:
        latency = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise BadEvent(f"latencyus {value!r} is not a number") from None
    if not latency >= 0:
        raise BadEvent(f"latencyus {value!r} is not a non-negative number")
    return latency


def _optional_text(value: object) -> str | None:
    return None if value in (None, "") else str(value)


def _event(attributes: Mapping[str, Any], data: dict[str, Any]) -> Event:
    if attributes.get("specversion") != "1.0":
        raise BadEvent(f"specversion {attributes.get('specversion')!r}: expected '1.0'")
    kind = attributes.get("type")
    if kind not in (REQUEST_TYPE, RESPONSE_TYPE):
        raise BadEvent(f"type {kind!r}: expected {REQUEST_TYPE} or {RESPONSE_TYPE}")
    event_id = attributes.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise BadEvent("no id: the request and its response are paired by it")
    is_request = kind == REQUEST_TYPE
    tensors = data.get("inputs" if is_request else "outputs")
    error = not is_request and not isinstance(tensors, list) and "error" in data
    if is_request and not isinstance(tensors, list):
        raise BadEvent("not a V2 inference request: the data has no inputs list")
    if not is_request and not isinstance(tensors, list) and not error:
        raise BadEvent("not a V2 inference response: the data has no outputs list")
    return Event(
        id=event_id,
        is_request=is_request,
        model=str(attributes.get("inferenceservicename") or ""),
        namespace=str(attributes.get("namespace") or ""),
        time=_time(attributes.get("time")),
        version=_optional_text(attributes.get("modelversion")),
        identity=_optional_text(attributes.get(IDENTITY_EXTENSION)),
        latency_us=_latency(attributes.get("latencyus")),
        tensors=b"null" if error else orjson.dumps(tensors),
        body_model=str(data.get("model_name") or ""),
        body_version=_optional_text(data.get("model_version")),
        error=error,
    )


def parse_event(headers: Mapping[str, str], body: bytes) -> Event:
    """The event in an HTTP request: structured or binary mode.

    Args:
        headers: The request's headers, with lower-case names.
        body: Its body.

    Raises:
        BadEvent: Not a KServe inference CloudEvent with a V2 JSON body (the message says why).
    """
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == _STRUCTURED:
        envelope = _json_object(body, "the structured CloudEvent")
        if "data_base64" in envelope:
            try:
                raw = base64.b64decode(envelope["data_base64"], validate=True)
            except (binascii.Error, TypeError, ValueError):
                raise BadEvent("data_base64 is not base64") from None
            data = _json_object(raw, "the event's data")
        else:
            value = envelope.get("data")
            if not isinstance(value, dict):
                raise BadEvent("the event's data is not a JSON object (a V2 body)")
            data = value
        return _event(envelope, data)
    if "ce-specversion" not in headers:
        raise BadEvent(
            "not a CloudEvent: no ce-specversion header (binary mode) and content type "
            f"{content_type or 'none'} is not {_STRUCTURED} (structured mode)"
        )
    if content_type and content_type != "application/json":
        raise BadEvent(f"content type {content_type}: the data must be a V2 JSON body")
    attributes = {k.removeprefix("ce-"): v for k, v in headers.items() if k.startswith("ce-")}
    return _event(attributes, _json_object(body, "the event's data"))
