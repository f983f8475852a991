"""mlrail.datetimes: a date reaches the model as the same number from Arrow and from a string."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlrail.datetimes import arrow_days, format_day, is_datetime, parse_days

# instants Arrow's nanosecond timestamps can hold (about 1677-2262), at microsecond precision
_INSTANTS = st.datetimes(
    min_value=dt.datetime(1678, 1, 1), max_value=dt.datetime(2261, 12, 31)
).map(lambda d: d.replace(tzinfo=dt.UTC))
_ZONES = st.sampled_from(
    [dt.UTC, dt.timezone(dt.timedelta(hours=2)), dt.timezone(-dt.timedelta(hours=9, minutes=30))]
)


def test_known_days() -> None:
    assert parse_days(["1970-01-01", "2012-01-01", "2012-01-01T18:00:00Z"]).tolist() == [
        0.0,
        15340.0,
        15340.75,
    ]
    # a zone offset is converted to UTC; no zone is UTC
    assert parse_days(["2012-01-01T20:00:00+02:00", "2012-01-01 18:00:00"]).tolist() == [
        15340.75,
        15340.75,
    ]
    assert parse_days(["1969-12-31T12:00:00"]).tolist() == [-0.5]


def test_missing_values_are_nan_and_numbers_are_days() -> None:
    out = parse_days([None, "", 3.5, 7])
    assert math.isnan(out[0]) and math.isnan(out[1]) and out[2:].tolist() == [3.5, 7.0]


@pytest.mark.parametrize("bad", ["2012-13-01", "yesterday", "12/31/2012", "\ud800"])
def test_a_value_that_is_no_date_is_named_by_position(bad: str) -> None:
    with pytest.raises(ValueError, match=r"element 1 .* is not an ISO 8601 date"):
        parse_days(["2012-01-01", bad])


def test_booleans_are_not_days() -> None:
    with pytest.raises(ValueError, match="element 0 is a bool"):
        parse_days([True])


@given(_INSTANTS, _ZONES, st.sampled_from(["s", "ms", "us", "ns"]))
def test_arrow_and_iso_strings_agree_bit_for_bit(
    when: dt.datetime, zone: dt.tzinfo, unit: str
) -> None:
    if unit == "s":
        when = when.replace(microsecond=0)
    elif unit == "ms":
        when = when.replace(microsecond=when.microsecond // 1000 * 1000)
    local = when.astimezone(zone)
    naive = pa.array([when.replace(tzinfo=None)], pa.timestamp(unit))
    aware = pa.array([when], pa.timestamp(unit, tz="UTC")).cast(pa.timestamp(unit, tz="Asia/Tokyo"))
    from_string = parse_days([local.isoformat()])[0]
    assert arrow_days(naive)[0] == from_string
    assert arrow_days(aware)[0] == from_string
    assert parse_days([format_day(from_string)])[0] == pytest.approx(from_string, abs=1e-9)


@given(st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31)))
def test_dates_are_whole_days(day: dt.date) -> None:
    expected = float((day - dt.date(1970, 1, 1)).days)
    assert arrow_days(pa.array([day], pa.date32()))[0] == expected
    assert arrow_days(pa.array([day], pa.date32()).cast(pa.date64()))[0] == expected
    assert parse_days([day.isoformat()])[0] == expected
    assert format_day(expected) == day.isoformat()


def test_nulls_and_chunks() -> None:
    chunked = pa.chunked_array([[dt.date(1970, 1, 2), None], [dt.date(1970, 1, 3)]])
    out = arrow_days(chunked)
    assert out[0] == 1.0 and np.isnan(out[1]) and out[2] == 2.0


def test_which_types_are_datetimes() -> None:
    for t in (pa.date32(), pa.date64(), pa.timestamp("s"), pa.timestamp("ns", tz="UTC")):
        assert is_datetime(t)
    for t in (pa.int64(), pa.string(), pa.time64("us"), pa.duration("s")):
        assert not is_datetime(t)
    with pytest.raises(TypeError, match="not a date or timestamp"):
        arrow_days(pa.array([1]))
