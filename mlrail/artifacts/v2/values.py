"""Request values to the model's input dtype, whichever wire form they came in (JSON ``data`` or
binary tensor data): numbers cast within the model datatype's range, strings to its text input
(``null`` as the model's OOV) or to days for a date input."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlrail.artifacts.tensors import TensorSpec
from mlrail.artifacts.v2.wire import bad, short
from mlrail.datetimes import parse_days

__all__ = ["strings_to_input", "to_target"]


def to_target(spec: TensorSpec, raw: np.ndarray) -> np.ndarray:
    """Cast numbers to the model's dtype, refusing infinities and values beyond its range."""
    name, target = spec.name, spec.dtype
    with np.errstate(over="ignore", invalid="ignore"):  # out-of-range values are checked below
        array = raw.astype(target, copy=False)
    if target.kind == "f":
        infinite = np.isinf(array)
        if infinite.any():
            index = int(np.flatnonzero(infinite)[0])
            raise bad(
                f"input {name!r}: element {index} ({short(raw.flat[index].item())}) is "
                f"infinite or beyond {spec.datatype}'s range"
            )
    elif raw.dtype != target and not np.array_equal(array, raw):
        index = int(np.flatnonzero(array.ravel() != raw.ravel())[0])
        raise bad(
            f"input {name!r}: element {index} ({short(raw.flat[index].item())}) does not "
            f"fit {spec.datatype}"
        )
    return array


def strings_to_input(spec: TensorSpec, flat: list[Any]) -> np.ndarray:
    """A BYTES input's strings (or nulls) as the model takes them: text, or days for a date."""
    if spec.datetime:
        try:
            return parse_days(flat)
        except ValueError as e:
            raise bad(f"input {spec.name!r}: {e}") from None
    if None in flat:
        flat = ["" if v is None else v for v in flat]  # missing string: the model's OOV
    array = np.empty(len(flat), dtype=object)
    array[:] = flat  # element-wise: np.array(list_of_str) would make a fixed-width unicode array
    return array
