"""The binary tensor data extension's element layout, both ways: little-endian, row-major; a BOOL
is one byte (0 or 1), a BYTES element a 4-byte little-endian length and then its bytes.

Reading a request checks every size (:func:`binary_numbers`, :func:`unpack_strings`); writing a
response packs (:func:`pack`); the payload log reads any body back, leniently (:func:`unpack_any`).
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import orjson

from mlrail.artifacts.tensors import TensorSpec
from mlrail.artifacts.v2.values import to_target
from mlrail.artifacts.v2.wire import bad

__all__ = ["binary_numbers", "pack", "unpack_any", "unpack_strings"]

# The binary (little-endian) element type of each fixed-size V2 datatype.
_WIRE: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.uint8),  # one byte, 0 or 1: checked before the view as bool
    "INT8": np.dtype("i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "UINT8": np.dtype("u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
_LENGTH = struct.Struct("<I")
#: Distinct BYTES values decoded once per binary input, at most.
_STRING_CACHE = 4096


def binary_numbers(spec: TensorSpec, datatype: str, chunk: memoryview, size: int) -> np.ndarray:
    """A fixed-size datatype's binary data, size checked against the shape, in the model's dtype."""
    name = spec.name
    wire = _WIRE[datatype]
    if len(chunk) != size * wire.itemsize:
        raise bad(
            f'input {name!r}: "binary_data_size" is {len(chunk)} bytes but its shape holds '
            f"{size} {datatype} value(s) of {wire.itemsize} byte(s): {size * wire.itemsize} bytes"
        )
    # A view on the body, not a copy: the cast below makes the one copy that is needed.
    raw = np.frombuffer(chunk, dtype=wire)
    if datatype == "BOOL":
        if raw.size and raw.max() > 1:
            index = int(np.flatnonzero(raw > 1)[0])
            raise bad(
                f"input {name!r}: element {index} is byte {raw[index]}; a binary BOOL is 0 or 1"
            )
        return raw.view(np.bool_).copy()
    if spec.datetime or spec.dtype.kind == "f":
        return to_target(spec, raw)
    return to_target(spec, raw) if raw.dtype != spec.dtype else raw.copy()


def unpack_strings(name: str, chunk: memoryview, size: int) -> list[str]:
    """BYTES binary data: ``size`` elements, each a 4-byte little-endian length and its bytes."""
    out: list[str] = []
    offset, end = 0, len(chunk)
    unpack = _LENGTH.unpack_from
    # Categorical columns repeat a few values: one str per distinct value, not per row (600,000
    # rows of three islands took 33 MB of str objects without it). Bounded, so free text with
    # unique values is not held twice.
    seen: dict[bytes, str] = {}
    for index in range(size):
        if end - offset < 4:
            raise bad(
                f"input {name!r}: binary BYTES data ends inside the length of element {index} "
                f"(the shape needs {size} elements; each is a 4-byte length and its bytes)"
            )
        (length,) = unpack(chunk, offset)
        offset += 4
        if length > end - offset:
            raise bad(
                f"input {name!r}: element {index} claims {length} bytes but only "
                f"{end - offset} are left in its binary data"
            )
        raw = chunk[offset : offset + length].tobytes()
        text = seen.get(raw)
        if text is None:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise bad(
                    f"input {name!r}: element {index} is not UTF-8 text: {e.reason}"
                ) from None
            if len(seen) < _STRING_CACHE:
                seen[raw] = text
        out.append(text)
        offset += length
    if offset != end:
        raise bad(
            f"input {name!r}: {end - offset} byte(s) of binary BYTES data left after the "
            f"{size} element(s) its shape holds"
        )
    return out


def pack(array: np.ndarray, datatype: str) -> bytes:
    """An output's array as binary tensor data of its V2 datatype."""
    if datatype == "BYTES":
        parts = []
        for v in array.ravel().tolist():
            raw = v if isinstance(v, bytes) else str(v).encode("utf-8", "replace")
            parts.append(_LENGTH.pack(len(raw)))
            parts.append(raw)
        return b"".join(parts)
    return np.ascontiguousarray(array, dtype=_WIRE[datatype]).tobytes()


def unpack_any(chunk: memoryview, datatype: Any) -> list[Any]:
    """Any tensor's binary data as a flat JSON ``data`` list (invalid UTF-8 replaced).

    Raises:
        ValueError: The datatype has no binary form, or the bytes are not whole elements.
    """
    if datatype == "BYTES":
        out = []
        offset = 0
        while offset + 4 <= len(chunk):
            (length,) = _LENGTH.unpack_from(chunk, offset)
            out.append(str(chunk[offset + 4 : offset + 4 + length], "utf-8", "replace"))
            offset += 4 + length
        return out
    wire = _WIRE.get(datatype) if isinstance(datatype, str) else None
    if wire is None or len(chunk) % wire.itemsize:
        raise ValueError(f"binary data of datatype {datatype!r} cannot be decoded")
    values = np.frombuffer(chunk, dtype=wire)
    if datatype == "BOOL":
        flags: list[Any] = values.astype(bool).tolist()
        return flags
    # Through orjson, so each value reads as a JSON client would have seen it: FP32's shortest
    # text (0.6409714, not float64's 0.6409714221954346) and NaN as null.
    result: list[Any] = orjson.loads(orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY))
    return result
