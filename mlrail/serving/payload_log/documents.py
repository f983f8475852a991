"""Logged bodies as the V2 JSON a client would have sent or received, in the writer thread, and
the time format of the records."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson

__all__ = ["document", "utc_time"]


def document(body: bytes, header_length: int | None) -> dict[str, Any]:
    """A logged body as its V2 JSON object."""
    if header_length is not None:
        from mlrail.artifacts.v2 import json_body  # only binary-extension bodies need it

        return json_body(body, header_length)
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        document = json.loads(body)  # NaN literals, which the server accepts as missing values
    if not isinstance(document, dict):
        raise ValueError("not a V2 body: not a JSON object")
    return document


def utc_time(timestamp: float) -> str:
    """``time.time()`` as an RFC 3339 UTC time with microseconds (``...T10:45:00.000123Z``)."""
    moment = datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="microseconds")
    return moment.replace("+00:00", "Z")
