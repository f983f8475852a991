"""Cron expressions as KFP's scheduler reads them.

KFP parses them with ``robfig/cron`` v1, which reads the FIRST field as seconds. A standard
5-field expression such as ``0 2 * * *`` ("02:00 every day") would be read there as "second 0 of
minute 2 of every hour". :func:`normalize_cron` therefore turns a 5-field expression into KFP's
6-field form by prefixing ``0`` (second zero): ``0 0 2 * * *``. Six fields are taken as KFP's
own form. Schedules are evaluated in UTC by the KFP scheduler.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["normalize_cron"]

_MONTHS = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}
_WEEKDAYS = {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())}
# (name, lowest, highest, names) of each field of KFP's 6-field form, in order. robfig/cron v1
# bounds the day of week to 0-6: 7 (Sunday in some crons) is refused by the scheduler.
_CRON_FIELDS: tuple[tuple[str, int, int, Mapping[str, int]], ...] = (
    ("second", 0, 59, {}),
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 6, _WEEKDAYS),
)
_CRON_DESCRIPTORS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)


def normalize_cron(expression: str) -> str:
    """Checks a cron expression and returns it in KFP's 6-field form (seconds first).

    Args:
        expression: 5 fields (standard cron: minute hour day-of-month month day-of-week), 6
            fields (KFP: second minute hour day-of-month month day-of-week) or a descriptor
            such as ``@daily``. Fields take ``*``, ``?``, numbers, names (``jan``, ``mon``),
            ranges ``a-b``, steps ``/n`` and comma lists.

    Returns:
        The 6-field expression (a 5-field one with ``0 `` prefixed), or the descriptor.

    Raises:
        ValueError: The expression has the wrong number of fields or a field out of range.
    """
    if not isinstance(expression, str):
        raise ValueError(f"cron must be a string, got {expression!r}")
    fields = expression.split()
    if fields and fields[0].startswith("@"):
        if len(fields) == 1 and fields[0] in _CRON_DESCRIPTORS:
            return fields[0]
        if fields[0] == "@every":
            raise ValueError(f"cron {expression!r}: for a fixed period use an interval instead")
        raise ValueError(
            f"cron {expression!r}: unknown descriptor; use one of "
            + ", ".join(sorted(_CRON_DESCRIPTORS))
        )
    if len(fields) == 5:
        # Standard cron has no seconds field; KFP's parser would read the minute as seconds.
        fields = ["0", *fields]
    elif len(fields) != 6:
        raise ValueError(
            f"cron {expression!r} has {len(fields)} fields; expected 5 (standard cron: minute "
            "hour day-of-month month day-of-week, e.g. '0 2 * * *') or 6 (KFP's form with "
            "seconds first, e.g. '0 0 2 * * *')"
        )
    for field, (what, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        _check_cron_field(expression, field, what, low, high, names)
    return " ".join(fields)


def _check_cron_field(
    expression: str, field: str, what: str, low: int, high: int, names: Mapping[str, int]
) -> None:
    def fail(reason: str) -> ValueError:
        return ValueError(f"cron {expression!r}: {what} field {field!r}: {reason}")

    def value(text: str) -> int:
        if text.lower() in names:
            return names[text.lower()]
        if not (text.isascii() and text.isdigit()):
            raise fail(f"{text!r} is not a number" + (" or a name" if names else ""))
        number = int(text)
        if not low <= number <= high:
            hint = " (use 0 for Sunday)" if what == "day of week" and number == 7 else ""
            raise fail(f"{number} is outside {low}-{high}{hint}")
        return number

    for part in field.split(","):
        range_text, _, step = part.partition("/")
        if not range_text:
            raise fail("empty entry")
        if step and not (step.isascii() and step.isdigit() and int(step) > 0):
            raise fail(f"step {step!r} is not a positive number")
        if range_text in ("*", "?"):
            continue
        first, dash, last = range_text.partition("-")
        if value(first) > (value(last) if dash else high):
            raise fail(f"range {range_text!r} runs backwards")
