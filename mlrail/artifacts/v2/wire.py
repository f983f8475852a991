"""What every part of the V2 codec shares: the wire's names and datatypes, the error a refused
request raises, and the helpers its messages are written with."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = [
    "ACCEPTS",
    "ACCEPTS_DATETIME",
    "BINARY_CONTENT_TYPE",
    "EXTENSIONS",
    "HEADER_LENGTH",
    "INT_TYPES",
    "V2_DATATYPES",
    "RequestError",
    "bad",
    "json_type",
    "leaves",
    "not_v2",
    "short",
]

#: The HTTP header giving the length of the JSON part of a binary body (lower case, as ASGI).
HEADER_LENGTH = b"inference-header-content-length"
#: Content type of a response with binary tensors after its JSON part.
BINARY_CONTENT_TYPE = b"application/octet-stream"
#: Protocol extensions implemented here, as ``GET /v2`` lists them.
EXTENSIONS = ("binary_tensor_data",)

_FLOAT_TYPES = frozenset({"FP16", "FP32", "FP64"})
INT_TYPES = frozenset({"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"})
V2_DATATYPES = ("BOOL", *sorted(INT_TYPES), "FP16", "FP32", "FP64", "BYTES")
#: Request datatypes each model datatype accepts: numbers convert (cast), numbers and strings
#: don't.
ACCEPTS: dict[str, frozenset[str]] = {
    **{t: _FLOAT_TYPES | INT_TYPES for t in _FLOAT_TYPES},
    **{t: INT_TYPES for t in INT_TYPES},
    "BOOL": frozenset({"BOOL"}),
    "BYTES": frozenset({"BYTES"}),
}
#: A date input also takes ISO 8601 strings.
ACCEPTS_DATETIME = ACCEPTS["FP64"] | {"BYTES"}


class RequestError(Exception):
    """A request the server refuses, with the HTTP status and the message for the client.

    Attributes:
        status: 400 (a V2 request this model cannot take) or 422 (not a V2 request at all).
        message: What was wrong, naming the input, element or field.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def bad(message: str) -> RequestError:
    """A V2 request this model cannot take (400)."""
    return RequestError(400, message)


def not_v2(message: str) -> RequestError:
    """A body that is not a V2 request at all (422)."""
    return RequestError(422, message)


def short(value: Any, limit: int = 40) -> str:
    """``repr(value)``, cut short: an error message must not echo a megabyte of the request."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}..."


def leaves(data: list[Any]) -> Iterator[Any]:
    """The elements of nested JSON lists, row-major."""
    # A stack, not recursion: JSON nesting may be deeper than Python's recursion limit.
    stack = [iter(data)]
    while stack:
        for value in stack[-1]:
            if type(value) is list:
                stack.append(iter(value))
                break
            yield value
        else:
            stack.pop()


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
