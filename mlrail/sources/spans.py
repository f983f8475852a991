"""Span patterns: ``{YYYY}``, ``{MM}`` and ``{DD}`` in a source, filled from the run's date."""

from __future__ import annotations

import datetime as dt
import re

from mlrail.redact import redact

__all__ = ["SPAN_TOKENS", "fill", "resolve_span", "span_day"]

#: The tokens of a span pattern.
SPAN_TOKENS = re.compile(r"\{(YYYY|MM|DD)\}")


def span_day(source: str, span_date: str, scheduled_time: str) -> dt.date:
    """The day ``span_date`` names, or else the day of ``scheduled_time``.

    Raises:
        ValueError: neither holds a date (naming ``source``, credentials masked).
    """
    for given in (span_date, scheduled_time):
        try:
            day = dt.datetime.fromisoformat(given.replace("Z", "+00:00")).date() if given else None
        except ValueError:
            day = None  # e.g. an unresolved placeholder on a run that was not scheduled
        if day is not None:
            return day
    raise ValueError(
        f"{redact(source)}: has a span pattern ({{YYYY}}, {{MM}}, {{DD}}) but no date to fill it: "
        f"give span_date (YYYY-MM-DD), or run on a schedule (scheduled time {scheduled_time!r})"
    )


def fill(source: str, day: dt.date) -> str:
    """``source`` with its span tokens replaced by ``day``'s year, month and day."""
    values = {"YYYY": f"{day.year:04d}", "MM": f"{day.month:02d}", "DD": f"{day.day:02d}"}
    return SPAN_TOKENS.sub(lambda m: values[m.group(1)], source)


def resolve_span(source: str, span_date: str = "", scheduled_time: str = "") -> tuple[str, str]:
    """Fill a span pattern such as ``data/{YYYY}-{MM}-{DD}.csv`` from the run's date.

    The date is ``span_date`` (an explicit ``YYYY-MM-DD``, for backfills) or else the day of
    ``scheduled_time`` (KFP's scheduled-time placeholder on a recurring run, RFC 3339). A source
    without a pattern is returned as it is.

    Returns:
        The resolved source and the span as ``YYYY-MM-DD`` ("" when the source has no pattern).

    Raises:
        ValueError: the source has a pattern but neither argument holds a date.
    """
    if not SPAN_TOKENS.search(source):
        return source, ""
    day = span_day(source, span_date, scheduled_time)
    return fill(source, day), day.isoformat()
