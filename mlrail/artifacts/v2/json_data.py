"""Tensor elements sent as JSON ``data`` lists, checked and turned into arrays: numbers (flat or
nested to the shape; ``null`` and ``NaN`` as missing values) and strings."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mlrail.artifacts.tensors import TensorSpec
from mlrail.artifacts.v2.values import to_target
from mlrail.artifacts.v2.wire import INT_TYPES, bad, json_type, leaves, short

__all__ = ["decode_numbers", "json_strings"]

#: Largest finite value of each float dtype a model input may have.
_FLOAT_MAX = {np.dtype(t): float(np.finfo(t).max) for t in (np.float16, np.float32, np.float64)}
#: Up to this many values, a flat list of plain numbers is checked in Python and converted in one
#: call: for the batch-1 requests most clients send, numpy's per-call overhead (errstate,
#: isinf, ...) costs more than the values themselves.
_FAST_MAX = 64


def decode_numbers(spec: TensorSpec, datatype: str, data: list[Any], size: int) -> np.ndarray:
    """A numeric or BOOL input's JSON data (flat or nested) as the model's dtype, NaN for null."""
    name = spec.name
    limit = _FLOAT_MAX.get(spec.dtype)
    if limit is not None and len(data) == size and size <= _FAST_MAX:
        ints_only = datatype in INT_TYPES
        for v in data:
            t = type(v)
            # bool, None, str, nested lists, NaN and out-of-range values take the full path below
            if not (t is int or (t is float and not ints_only)) or not -limit <= v <= limit:
                break
        else:
            return np.array(data, dtype=spec.dtype)
    try:
        raw = np.asarray(data)  # infer first, to tell numbers from strings and booleans
    except ValueError as e:  # nested lists of different lengths
        raise bad(f"input {name!r}: data is not a rectangular array: {e}") from None
    if raw.size != size:
        raise bad(f"input {name!r}: shape needs {size} value(s), got {raw.size}")
    if size == 0:  # numpy calls an empty list float64, which is no reason to refuse it
        return np.empty(0, dtype=spec.dtype)
    kind = raw.dtype.kind
    target = spec.dtype
    if spec.datatype == "BOOL":
        if kind != "b":
            raise bad(
                f"input {name!r}: BOOL data must be true/false, {_first_offender(data, (bool,))}"
            )
        return raw.astype(target, copy=False)
    if datatype in INT_TYPES and kind not in "iu":
        if kind == "O" and all(type(v) is int for v in raw.flat):
            raise bad(f"input {name!r}: a value is beyond {datatype}'s range")
        raise bad(
            f"input {name!r}: {datatype} data must be integers, {_first_offender(data, (int,))}"
        )
    if kind == "O":
        # JSON null (a missing value) or an integer too large for int64.
        if target.kind != "f":
            raise bad(
                f"input {name!r}: {datatype} data must be integers, {_first_offender(data, (int,))}"
            )
        if any(v is not None and type(v) not in (int, float) for v in raw.flat):
            raise bad(
                f"input {name!r}: {datatype} data must be numbers (null for a missing "
                f"value), {_first_offender(data, (int, float, type(None)))}"
            )
        try:
            raw = np.fromiter(
                (math.nan if v is None else float(v) for v in raw.flat), np.float64, raw.size
            )
        except OverflowError:  # an integer beyond even FP64
            raise bad(f"input {name!r}: a value is beyond {spec.datatype}'s range") from None
    elif kind not in "iuf":
        hint = " (null for a missing value)" if target.kind == "f" else ""
        raise bad(
            f"input {name!r}: {datatype} data must be numbers{hint}, "
            f"{_first_offender(data, (int, float))}"
        )
    return to_target(spec, raw)


def json_strings(name: str, data: list[Any], size: int) -> list[Any]:
    """A BYTES input's JSON data, flattened and checked to be strings or nulls."""
    flat = data
    if any(type(v) is list for v in data):
        nested = np.empty(0, dtype=object)
        try:
            nested = np.asarray(data, dtype=object)
        except ValueError as e:
            raise bad(f"input {name!r}: data is not a rectangular array: {e}") from None
        flat = nested.ravel().tolist()
    if len(flat) != size:
        raise bad(f"input {name!r}: shape needs {size} value(s), got {len(flat)}")
    if not all(type(v) is str for v in flat):
        if any(v is not None and type(v) is not str for v in flat):
            raise bad(
                f"input {name!r}: BYTES data must be strings (null for a missing value), "
                f"{_first_offender(flat, (str, type(None)))}"
            )
    return flat


def _first_offender(data: list[Any], ok: tuple[type, ...]) -> str:
    """Describe the first element (row-major) whose JSON type is not one of ``ok``.

    Reads the parsed JSON, not the numpy array: numpy turns ``[1, "x"]`` into two strings.
    """
    for index, value in enumerate(leaves(data)):
        if type(value) not in ok:
            return f"element {index} is {short(value)} (a JSON {json_type(value)})"
    return "some elements are not"
