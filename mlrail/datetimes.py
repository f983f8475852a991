"""Dates and timestamps as model inputs: one number, days since 1970-01-01 UTC, for every step.

A date or timestamp column (CSV ISO dates and datetimes, which pyarrow reads as ``date32`` and
``timestamp``; Parquet ``date32``/``date64``/``timestamp`` with or without a time zone) reaches
the model as one float64 number: the days since 1970-01-01T00:00:00Z, with the time of day as
the fraction (``2012-01-01`` is 15340.0, ``2012-01-01T18:00:00Z`` is 15340.75). A timestamp
with a time zone is converted to UTC; one without is taken as UTC (as Arrow stores it). Inside
the model that number becomes calendar features (the trend, the day of the week, the season,
the time of day); outside it a V2 client sends either the number or an ISO 8601 string, which
the server converts with :func:`parse_days`.

Every conversion here is exact integer arithmetic followed by one correctly rounded division,
so Arrow's ``timestamp[s]`` value and the string a client sends for the same instant give the
same float64 bit for bit (the server's answer equals ONNX Runtime's on the training features).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["is_datetime", "arrow_days", "parse_days", "format_day"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US_PER_DAY = 86_400 * 1_000_000
#: Ticks per day of each Arrow time unit (all below 2**53: exact as float64).
_PER_DAY = {"s": 86_400, "ms": 86_400_000, "us": _US_PER_DAY, "ns": 86_400 * 10**9}


def is_datetime(t: Any) -> bool:
    """Whether the Arrow type ``t`` is a date or a timestamp (with or without a time zone)."""
    import pyarrow as pa

    if pa.types.is_dictionary(t):
        t = t.value_type
    return bool(pa.types.is_date(t) or pa.types.is_timestamp(t))


def _days(ticks: np.ndarray, per_day: int) -> np.ndarray:
    whole, part = np.divmod(ticks, per_day)  # floor: an instant before 1970 has a positive part
    return whole.astype(np.float64) + part.astype(np.float64) / per_day


def arrow_days(arr: Any) -> np.ndarray:
    """An Arrow date or timestamp array (or chunked array) as float64 days; null is NaN.

    Raises:
        TypeError: ``arr`` is neither dates nor timestamps.
    """
    import pyarrow as pa

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    t = arr.type
    if pa.types.is_date32(t):
        ticks, per_day = arr.cast(pa.int32()).cast(pa.int64()), 1
    elif pa.types.is_date64(t):
        ticks, per_day = arr.cast(pa.int64()), _PER_DAY["ms"]
    elif pa.types.is_timestamp(t):
        # the stored value is UTC whatever the zone; .cast(int64) reads it without conversion
        ticks, per_day = arr.cast(pa.int64()), _PER_DAY[t.unit]
    else:
        raise TypeError(f"not a date or timestamp type: {t}")
    values = ticks.to_numpy(zero_copy_only=False)
    if arr.null_count:
        valid = ~np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        out = np.full(len(arr), np.nan)
        out[valid] = _days(values[valid].astype(np.int64), per_day)
        return out
    return _days(values.astype(np.int64), per_day)


def _parse_one(text: str) -> float:
    when = dt.datetime.fromisoformat(text.strip())
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    us = (when - _EPOCH) // dt.timedelta(microseconds=1)
    whole, part = divmod(us, _US_PER_DAY)
    return float(whole) + part / _US_PER_DAY


def parse_days(values: Iterable[Any]) -> np.ndarray:
    """ISO 8601 dates or datetimes (or numbers of days) as float64 days since 1970-01-01 UTC.

    Takes what :func:`datetime.datetime.fromisoformat` reads (``2012-01-01``,
    ``2012-01-01T10:00:00``, ``2012-01-01 10:00:00.5+02:00``, ``...Z``), a time without a zone
    being UTC; a number is already days; ``None``, ``""`` and NaN are missing (NaN).

    Raises:
        ValueError: naming the first element (by position) that is neither.
    """
    out = []
    for index, value in enumerate(values):
        if value is None or value == "":
            out.append(math.nan)
        elif isinstance(value, bytes | str):
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
            try:
                out.append(_parse_one(text))
            except (ValueError, OverflowError):
                shown = text if len(text) <= 40 else text[:40] + "..."
                raise ValueError(
                    f"element {index} ({shown!r}) is not an ISO 8601 date or datetime "
                    "(such as 2012-01-31 or 2012-01-31T10:00:00Z)"
                ) from None
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out.append(float(value))
        else:
            raise ValueError(
                f"element {index} is a {type(value).__name__}, not an ISO 8601 date string"
            )
    return np.asarray(out, dtype=np.float64)


def format_day(days: float) -> str:
    """``days`` since 1970-01-01 UTC as an ISO 8601 string (a date when it has no time part)."""
    if math.isnan(days):
        return ""
    whole = math.floor(days)
    when = _EPOCH + dt.timedelta(days=whole, microseconds=round((days - whole) * _US_PER_DAY))
    if when.time() == dt.time(0):
        return when.date().isoformat()
    return when.isoformat().replace("+00:00", "Z")
