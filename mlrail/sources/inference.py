"""CSV type inference's one rule of its own: a text column of numbers or dates with a stray word.

pyarrow reads such a column as text, which would silently turn a measurement (or a date) into a
category with thousands of values; one "n/a" or "12,5" among numbers is almost always a typo.
A CSV text column whose values are 90% or more numbers, or 90% or more ISO dates or datetimes,
is refused, naming its first other value (see the package doc, :mod:`mlrail.sources`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from mlrail.errors import DataError
from mlrail.redact import redact
from mlrail.sources.chunks import Chunk, read_range
from mlrail.sources.csvtext import record_line
from mlrail.sources.resolver import Resolved
from mlrail.sources.schema import is_text

__all__ = ["MixedColumns"]

# a number as pyarrow's float parser reads it, NaN and infinity spellings included
_NUMBER = r"(?i)^\s*[-+]?((\d+\.?\d*|\.\d+)(e[-+]?\d+)?|nan(\([0-9a-z_]*\))?|inf(inity)?)\s*$"
# an ISO 8601 date or datetime, as pyarrow's CSV reader infers them
_ISO_DATE = r"^\s*\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?)?\s*$"
_ZONED = r"\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)\s*$"  # a time with its zone
# what a text column may be with a stray word in it, and the pattern of its values
_MIXED = {"numbers": _NUMBER, "dates": _ISO_DATE}


@dataclass
class _Mixed:
    """Running counts for a text column that may be numbers (or dates) with a stray word."""

    values: int = 0
    numeric: int = 0  # values that are numbers (or dates: what the state counts)
    # the first other value: its block (without its bytes), the block's length, row and value
    first_bad: tuple[Chunk, int, int, Any] | None = None
    dropped: bool = False  # under half: the column is not that
    # dates only: the first value with a time zone and the first without
    zoned: str | None = None
    naive: str | None = None


class MixedColumns:
    """Counts numbers and dates in a stream's CSV text columns, block by block (:meth:`track`),
    and refuses a column of them with a few stray words once every block is read
    (:meth:`check`): the answer does not depend on where the blocks are cut."""

    def __init__(self) -> None:
        self._mixed: dict[tuple[str, str], _Mixed] = {}  # (column, "numbers" or "dates")
        self._settled: set[str] = set()  # text columns that clearly hold words

    def track(self, table: pa.Table, chunk: Chunk) -> None:
        """Count numbers and dates in the text columns of ``table``, parsed from ``chunk``.

        A column stops being checked once it clearly holds words (under half numbers and under
        half dates).
        """
        # imported here, not at the top: pyarrow.compute is a fifth of `import mlrail.sources`
        # (measured 61 ms of 300), and only CSV text columns need it
        import pyarrow.compute as pc

        for name in table.column_names:
            if name in self._settled:
                continue
            column = table.column(name)
            if not is_text(column.type):
                continue
            values = len(column) - column.null_count
            if not values:
                continue
            if (name, "numbers") not in self._mixed:  # most text columns are words, seen soon
                sample = column.slice(0, 1024)
                seen = len(sample) - sample.null_count
                if seen and all(
                    (pc.sum(pc.match_substring_regex(sample, pattern)).as_py() or 0) < 0.5 * seen
                    for pattern in _MIXED.values()
                ):
                    self._settled.add(name)
                    continue
            alive = False
            for what, pattern in _MIXED.items():
                state = self._mixed.setdefault((name, what), _Mixed())
                if state.dropped:
                    continue
                mask = pc.match_substring_regex(column, pattern)
                matched = pc.sum(mask).as_py() or 0
                if matched < values and state.first_bad is None:
                    bad = pc.and_(column.is_valid(), pc.invert(pc.fill_null(mask, True)))
                    row = int(pc.index(bad, True).as_py())
                    where = Chunk(chunk.file, chunk.offset, None, chunk.first, names=chunk.names)
                    state.first_bad = (where, len(chunk.data), row, column[row].as_py())
                if what == "dates" and (state.zoned is None or state.naive is None):
                    self._zones(state, column)
                state.values += values
                state.numeric += matched
                state.dropped = state.numeric < 0.5 * state.values
                alive = alive or not state.dropped
            if not alive:
                self._settled.add(name)

    @staticmethod
    def _zones(state: _Mixed, column: pa.ChunkedArray) -> None:
        """Note the first date/time value of ``column`` with a time zone and the first without."""
        import pyarrow.compute as pc  # loaded by track(), the only caller

        dated = pc.match_substring_regex(column, _ISO_DATE)
        zoned = pc.match_substring_regex(column, _ZONED)
        for want, attr in ((True, "zoned"), (False, "naive")):
            if getattr(state, attr) is None:
                hits = pc.and_(dated, zoned if want else pc.invert(zoned))
                row = pc.index(pc.fill_null(hits, False), True).as_py()
                if row >= 0:
                    setattr(state, attr, column[row].as_py())

    def check(self, resolved: Resolved) -> None:
        """Refuse a column of numbers or dates with a few other values, once all are counted.

        Raises:
            DataError: naming the column and its first other value with its line.
        """
        for (name, what), state in self._mixed.items():
            if name in self._settled or state.dropped:
                continue
            if what == "dates" and state.first_bad is None and state.values:
                # every value is an ISO date or datetime, yet pyarrow read them as text
                f = resolved.files[0].name if len(resolved.files) == 1 else redact(resolved.source)
                why = (
                    f"some with a time zone (first {state.zoned!r}), some without (first "
                    f"{state.naive!r}); give every value a zone (or Z), or none"
                    if state.zoned is not None and state.naive is not None
                    else "one of them is not a real date or time (such as 2012-02-30); fix it"
                )
                raise DataError(
                    f"{f}: column {name!r} holds ISO dates and times that cannot be read as one "
                    f"type: {why}"
                )
            if state.first_bad is None:
                continue
            if state.numeric < 0.9 * state.values:
                continue
            where, length, row, value = state.first_bad
            where.data = memoryview(read_range(where.file, where.offset, length))
            raise DataError(
                f"{where.file.name}: column {name!r} holds {what} except for "
                f"{state.values - state.numeric} value(s), first at line "
                f"{record_line(where, row)}: {value!r}; fix the value, or leave it empty "
                "if missing"
            )
