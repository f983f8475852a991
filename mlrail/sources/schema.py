"""A stream's schema: column names checked, column types widened to a common type, and said.

The rules (which types widen to which, which names are refused) are in the package doc
(:mod:`mlrail.sources`); this module holds them once, for every format.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from mlrail.datetimes import is_datetime
from mlrail.errors import DataError

__all__ = [
    "SchemaWidened",
    "check_names",
    "first_not",
    "is_text",
    "json_kind",
    "kind",
    "merge",
    "read_type",
    "same_columns",
]

_UNITS = ("s", "ms", "us", "ns")


class SchemaWidened(Exception):
    """A later block needs a wider column type than the rows already streamed were given.

    Read the source again with ``column_types=error.column_types``: the first blocks then get the
    wider type too. Not a :class:`~mlrail.errors.DataError`: the data is fine.

    Attributes:
        column_types: The types to read every column with (the widened ones included).
        reason: What was found, for the log.
    """

    def __init__(self, column_types: dict[str, pa.DataType], reason: str) -> None:
        super().__init__(reason)
        self.column_types = column_types
        self.reason = reason


def check_names(name: str, names: list[str]) -> None:
    """Refuse a header naming one column twice (any other name, "" included, is a name)."""
    if len(set(names)) == len(names):
        return
    first: dict[str, int] = {}
    for i, n in enumerate(names):
        if n in first:
            raise DataError(
                f"{name}: duplicate column name {n!r} in the header "
                f"(columns {first[n] + 1} and {i + 1}); rename one of them"
            )
        first[n] = i


def same_columns(name: str, names: list[str], first: str, expected: list[str]) -> None:
    """Refuse file ``name`` when its columns are not those of file ``first`` (in any order)."""
    missing = [n for n in expected if n not in names]
    new = [n for n in names if n not in expected]
    if missing or new:
        parts = ([f"missing {', '.join(map(repr, missing))}"] if missing else []) + (
            [f"new {', '.join(map(repr, new))}"] if new else []
        )
        raise DataError(f"{name}: columns differ from {first}: {'; '.join(parts)}")


def is_text(t: pa.DataType) -> bool:
    """Whether ``t`` is a string type."""
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def _is_number(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))


def read_type(t: pa.DataType) -> pa.DataType:
    """The type a stored column of type ``t`` is read as (Parquet keeps its types but these)."""
    if pa.types.is_dictionary(t):  # e.g. pandas categoricals: their values count
        t = t.value_type
    if pa.types.is_string_view(t):  # one text type for the steps after
        t = pa.string()
    return t


def merge(have: pa.DataType | None, new: pa.DataType) -> pa.DataType | None:
    """The type holding both ``have`` and ``new`` (see :mod:`mlrail.sources`), or None."""
    if have is None or pa.types.is_null(have):
        return new
    if pa.types.is_null(new) or new == have:
        return have
    if _is_number(have) and _is_number(new):
        if pa.types.is_integer(have) and pa.types.is_integer(new):
            unsigned = [pa.types.is_unsigned_integer(t) for t in (have, new)]
            if all(unsigned):
                return pa.uint64()
            if not any(unsigned) or pa.uint64() not in (have, new):
                return pa.int64()
        return pa.float64()  # also uint64 with a signed integer: no integer type holds both
    if is_text(have) and is_text(new):
        return have
    if (is_datetime(have) and is_text(new)) or (is_text(have) and is_datetime(new)):
        # ISO strings read as dates in one block, with other text in another: the column is
        # text (a CSV column of 90% dates or more is then refused, naming the other value)
        return new if is_text(new) else have
    dated = (pa.types.is_date(have) or pa.types.is_timestamp(have)) and (
        pa.types.is_date(new) or pa.types.is_timestamp(new)
    )
    if dated:
        if pa.types.is_date(have) and pa.types.is_date(new):
            return pa.date64() if pa.date64() in (have, new) else have
        stamps = [t for t in (have, new) if pa.types.is_timestamp(t)]
        unit = max((t.unit for t in stamps), key=_UNITS.index)
        zones = {t.tz for t in stamps} | ({None} if len(stamps) == 1 else set())
        # a stored timestamp is UTC whatever its zone says: only the label changes
        return pa.timestamp(unit, zones.pop() if len(zones) == 1 else "UTC")
    return None


def kind(t: pa.DataType | None) -> str:
    """What a value of type ``t`` is, in an error's words ("a number", "text", ...)."""
    if t is None or pa.types.is_null(t):
        return "empty"
    if _is_number(t):
        return "a number"
    if pa.types.is_boolean(t):
        return "a boolean"
    if is_text(t):
        return "text"
    if pa.types.is_temporal(t):
        return f"a date/time ({t})"
    return str(t)


def json_kind(value: Any) -> str | None:
    """What a JSON value is, in :func:`kind`'s words; None for null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    return "a list" if isinstance(value, list) else "an object"


def first_not(column: pa.ChunkedArray, t: pa.DataType | None) -> tuple[int, Any]:
    """The first row of ``column`` (read as text or inferred) that does not convert to ``t``."""
    values = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if t is None:
        return -1, None
    text = values.cast(pa.string()) if not is_text(values.type) else values

    def converts(n: int) -> bool:
        try:
            text.slice(0, n).cast(t)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return False
        return True

    if converts(len(text)):
        return -1, None
    lo, hi = 0, len(text)  # text[:lo] converts, text[:hi] does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if converts(mid) else (lo, mid)
    return hi - 1, text[hi - 1].as_py()
