"""A V2 body's parts: the ``Inference-Header-Content-Length`` header, the JSON part parsed (with
the non-standard ``NaN`` literals clients write, and refusing text that is not Unicode), and any
body turned back into its V2 JSON object (:func:`json_body`, for the payload log)."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from mlrail.artifacts.v2.binary_data import unpack_any
from mlrail.artifacts.v2.wire import bad, json_type, leaves, not_v2, short

__all__ = ["header_length", "json_body", "parse_json"]

#: JSON longer than this is parsed by the stdlib, not orjson (memory: see parse_json).
_LARGE_JSON = 1024 * 1024
# A JSON escape that can only be half of a surrogate pair: the one way a lone surrogate (text
# that is not Unicode, which ONNX Runtime and orjson cannot encode) gets into a parsed request.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def header_length(value: bytes | None, content_length: int | None = None) -> int | None:
    """The ``Inference-Header-Content-Length`` header as a number (None when absent).

    Args:
        value: The header's value, as ASGI gives it.
        content_length: The body's declared length, when known, to refuse a header longer
            than the body before reading it.

    Raises:
        RequestError: The value is not a non-negative integer, or exceeds ``content_length``.
    """
    if value is None:
        return None
    text = value.strip()
    if not text.isdigit() or len(text) > 18:  # no sign, no spaces inside, below 2**63
        raise bad(
            f"Inference-Header-Content-Length {short(value.decode('latin-1'))} is not a "
            "non-negative integer (the length of the JSON part of the body, in bytes)"
        )
    length = int(text)
    if content_length is not None and length > content_length:
        raise bad(
            f"Inference-Header-Content-Length {length} is larger than the body "
            f"({content_length} bytes)"
        )
    return length


def parse_json(
    raw: bytes | bytearray | memoryview, whole: bytes | bytearray | None
) -> dict[str, Any]:
    """The JSON part of a body; ``whole`` is the same bytes when the body is all JSON."""
    request: Any
    if len(raw) > _LARGE_JSON:
        # orjson first builds a document tree sized from the input: for a 17.7 MB request its
        # peak was 270 MB (traced) against the stdlib's 76 MB, for 0.32 s instead of 0.45 s.
        request = _parse_stdlib(whole if whole is not None else bytes(raw))
    else:
        try:
            request = orjson.loads(raw)
        except orjson.JSONDecodeError:
            # orjson is strict JSON; the stdlib also takes NaN/Infinity, which Python clients
            # write for missing values and which KServe (stdlib json) accepts.
            request = _parse_stdlib(bytes(raw))
    if not isinstance(request, dict):
        raise not_v2(
            'request body must be a JSON object with an "inputs" list, '
            f"got a JSON {json_type(request)}"
        )
    return request


def _parse_stdlib(data: bytes | bytearray) -> Any:
    try:
        request = json.loads(data)
    except (ValueError, RecursionError) as e:
        raise not_v2(f"request body is not valid JSON: {e}") from None
    if _SURROGATE_ESCAPE.search(data):  # orjson refuses lone surrogates; the stdlib does not
        _refuse_surrogates(request)
    return request


def _refuse_surrogates(request: Any) -> None:
    """Raise naming the first string that is not Unicode (a lone surrogate escape).

    Runs only when the body holds such an escape (orjson refuses them, the stdlib parser
    does not): the strings then reach ONNX Runtime and orjson, which cannot encode them.
    """
    why = "is not valid Unicode (a lone surrogate escape such as \\ud800)"
    request_id = request.get("id") if isinstance(request, dict) else None
    if isinstance(request_id, str) and not _is_unicode(request_id):
        raise not_v2(f'"id" {why}')
    inputs = request.get("inputs") if isinstance(request, dict) else None
    for position, item in enumerate(inputs if isinstance(inputs, list) else []):
        if not isinstance(item, dict):
            continue
        name = item.get("name")
        if isinstance(name, str) and not _is_unicode(name):
            raise not_v2(f"inputs[{position}]: the name {why}")
        data = item.get("data")
        if isinstance(data, list):
            for index, value in enumerate(leaves(data)):
                if type(value) is str and not _is_unicode(value):
                    raise bad(f"input {name!r}: element {index} {why}")
    # Anywhere else (output names, parameters, keys): the request as a whole.
    try:
        orjson.dumps(request)
    except orjson.JSONEncodeError:
        raise not_v2(f"request body: a string {why}") from None


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def json_body(body: bytes | bytearray, header_length: int | None) -> dict[str, Any]:
    """A V2 request or response body as its JSON object, binary tensors decoded into ``data``.

    For the payload log, off the request path: the server keeps the bytes it received and sent,
    and this turns them into what a JSON client would have sent or received. Each tensor that
    carried ``binary_data_size`` gets a flat ``data`` list instead (numbers, booleans, or BYTES
    as text, invalid UTF-8 replaced), and the parameter is dropped.

    Args:
        body: The body as it was on the wire.
        header_length: Its ``Inference-Header-Content-Length``, or None for an all-JSON body.

    Returns:
        The V2 JSON object.

    Raises:
        ValueError: The body is not a V2 body (not JSON, or binary data that does not fit).
    """
    view = memoryview(body)
    split = len(view) if header_length is None else header_length
    if not 0 <= split <= len(view):
        raise ValueError(f"header length {split} is outside the body ({len(view)} bytes)")
    try:
        document = orjson.loads(view[:split])
    except orjson.JSONDecodeError:
        document = json.loads(bytes(view[:split]))  # NaN literals, as decode_request takes them
    if not isinstance(document, dict):
        raise ValueError("not a V2 body: the JSON part is not an object")
    binary = view[split:]
    offset = 0
    for key in ("inputs", "outputs"):
        tensors = document.get(key)
        if not isinstance(tensors, list):
            continue
        for tensor in tensors:
            parameters = tensor.get("parameters") if isinstance(tensor, dict) else None
            if not isinstance(parameters, dict) or "binary_data_size" not in parameters:
                continue
            size = parameters.pop("binary_data_size")
            if not parameters:
                del tensor["parameters"]
            if type(size) is not int or not 0 <= size <= len(binary) - offset:
                raise ValueError(f"{key}: tensor {tensor.get('name')!r}: bad binary_data_size")
            tensor["data"] = unpack_any(binary[offset : offset + size], tensor.get("datatype"))
            offset += size
    return document
