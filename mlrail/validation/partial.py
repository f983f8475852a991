"""The mergeable state of a dataset's statistics: what one pass keeps, what shards merge.

A :class:`PartialStatistics` holds, per column, exact counts (rows, present, zeros, NaN, ±inf),
the exact extremes, the moments (count, mean and M2, the sum of squared deviations, which merge
by Chan et al.'s formula), the exact value counts of a text column, and the finite values'
distribution (the values up to :data:`~.accumulators.EXACT_VALUES`, a KLL sketch above). Two
states of parts of one dataset merge (:meth:`PartialStatistics.merge`, :func:`merge_partials`)
into the state of the whole; :func:`.statistics.summary` turns a state into the
``DatasetFeatureStatistics`` proto. A one-pass computation goes through the same state, so
N merged shards and one pass agree: counts, missing, min/max and value counts exactly, the mean
and standard deviation to float rounding, the quantiles and histograms within the sketch's
bound (:mod:`.statistics`).

Bytes (:meth:`PartialStatistics.to_bytes`), format version 1: an Arrow IPC file (readable by any
Arrow library) with the schema metadata ``mlrail.partial`` = ``"1"`` (the format version; a
reader refuses others), ``dataset`` (its name) and ``rows`` (its row count, decimal), and one
row per column in order of first appearance:

=============  ==========================================  ===================================
field          type                                        meaning
=============  ==========================================  ===================================
name           string                                      the column
kind           string                                      null, int, float, datetime, string
                                                           or unsupported
arrow_type     string                                      the first non-null Arrow type seen
present        int64                                       non-null rows
zeros, nan,    int64 (numbers; else null)                  zeros, NaN, +inf, -inf and finite
pos_inf,                                                   values
neg_inf, count
mean, m2       float64 (numbers; else null)                the finite values' mean and sum of
                                                           squared deviations from it
min, max       float64 (numbers; else null)                over non-NaN values (NaN: none)
fmin, fmax     float64 (numbers; else null)                over finite values (NaN: none)
values         large_list<float64> (exact; else null)      the finite values, sorted
sketch         large_binary (sketched; else null)          ``kll_doubles_sketch.serialize()``
value_counts   large_list<struct<value: large_string,      every distinct value and its count
               count: int64>> (strings; else null)
=============  ==========================================  ===================================

A numeric column has exactly one of ``values`` and ``sketch`` (``count`` values in either).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from datasketches import kll_doubles_sketch

from mlrail.errors import DataError
from mlrail.validation.accumulators import Numbers, Quantiles, Strings

__all__ = ["FORMAT_VERSION", "ColumnState", "PartialStatistics", "merge_partials"]

#: the version of the bytes format (the module doc); a reader refuses any other
FORMAT_VERSION = 1
_VERSION_KEY = b"mlrail.partial"
_INTS = ("zeros", "nan", "pos_inf", "neg_inf", "count")
_FLOATS = ("mean", "m2", "min", "max", "fmin", "fmax")
_COUNTS = pa.struct([("value", pa.large_string()), ("count", pa.int64())])
_SCHEMA = pa.schema(
    [
        ("name", pa.string()),
        ("kind", pa.string()),
        ("arrow_type", pa.string()),
        ("present", pa.int64()),
        *[(f, pa.int64()) for f in _INTS],
        *[(f, pa.float64()) for f in _FLOATS],
        ("values", pa.large_list(pa.float64())),
        ("sketch", pa.large_binary()),
        ("value_counts", pa.large_list(_COUNTS)),
    ]
)
_KINDS = ("null", "int", "float", "datetime", "string", "unsupported")
_APART = {"string", "datetime", "unsupported"}  # kinds that meet no other


@dataclass(eq=False)
class ColumnState:
    """One column's accumulators and the kind they are of."""

    name: str
    kind: str = "null"
    arrow_type: str = "null"  # the first non-null Arrow type seen
    present: int = 0
    numbers: Numbers | None = None
    strings: Strings | None = None

    def meet(self, kind: str, arrow_type: str) -> bool:
        """Take in values of ``kind``: the first non-null kind types the column, integers and
        floats make floats. False when the two cannot meet (text, dates, other types)."""
        if kind == "null":
            return True
        if self.kind == "null":
            self.kind, self.arrow_type = kind, arrow_type
            if kind == "string":
                self.strings = Strings()
            elif kind != "unsupported":
                self.numbers = Numbers(is_int=kind == "int")
            return True
        if self.kind == kind:
            return True
        if _APART & {kind, self.kind}:
            return False
        self.kind = "float"  # integers and floats: a float column with whole numbers
        assert self.numbers is not None
        self.numbers.is_int = False
        return True


class PartialStatistics:
    """The mergeable statistics state of one dataset (see the module doc).

    Args:
        name: The dataset's name (a split).
        source: What to call it in errors (a file or folder); default: the dataset's name.
    """

    def __init__(self, name: str, source: str = "") -> None:
        self.name = name
        self.source = source or f"dataset {name!r}"
        self.rows = 0
        self.columns: dict[str, ColumnState] = {}

    def column(self, name: str) -> ColumnState:
        """The state of column ``name``, new (and last) if it was not seen yet."""
        col = self.columns.get(name)
        if col is None:
            col = self.columns[name] = ColumnState(name)
        return col

    def merge(self, other: PartialStatistics) -> None:
        """Add ``other``, a part of the same dataset: its rows, and its columns in order of
        first appearance after this one's. ``other`` is left as it was.

        Raises:
            DataError: naming both sources and the column, when a column's kinds cannot meet
                (numbers and text, say).
        """
        for theirs in other.columns.values():
            mine = self.column(theirs.name)
            kind, arrow_type = mine.kind, mine.arrow_type
            if not mine.meet(theirs.kind, theirs.arrow_type):
                raise DataError(
                    f"{other.source}: column {theirs.name!r} is {theirs.kind} "
                    f"({theirs.arrow_type}) there but {kind} ({arrow_type}) in {self.source}: "
                    "the parts cannot be merged"
                )
            mine.present += theirs.present
            if theirs.numbers is not None:
                assert mine.numbers is not None
                mine.numbers.merge(theirs.numbers)
            elif theirs.strings is not None:
                assert mine.strings is not None
                mine.strings.merge(theirs.strings)
        self.rows += other.rows

    # -----------------------------------------------------------------------------------------
    # bytes

    def to_bytes(self) -> bytes:
        """The state in the versioned format of the module doc."""
        cols = list(self.columns.values())
        fields: dict[str, Any] = {f: [] for f in _SCHEMA.names}
        value_lists: list[np.ndarray | None] = []
        count_tables: list[pa.Table | None] = []
        for c in cols:
            fields["name"].append(c.name)
            fields["kind"].append(c.kind)
            fields["arrow_type"].append(c.arrow_type)
            fields["present"].append(c.present)
            n = c.numbers
            for f in (*_INTS, *_FLOATS):
                fields[f].append(None if n is None else getattr(n, f))
            q = None if n is None else n.quantiles
            value_lists.append(q.values() if q is not None and q.exact else None)
            fields["sketch"].append(
                q.sketch.serialize() if q is not None and q.sketch is not None else None
            )
            count_tables.append(c.strings.counts() if c.strings is not None else None)
        fields["values"] = _values_column(value_lists)
        fields["value_counts"] = _counts_column(count_tables)
        table = pa.table(fields, schema=_SCHEMA)
        meta = {_VERSION_KEY: str(FORMAT_VERSION), b"dataset": self.name, b"rows": str(self.rows)}
        table = table.replace_schema_metadata(meta)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        return bytes(sink.getvalue())

    @classmethod
    def from_bytes(cls, data: bytes, source: str) -> PartialStatistics:
        """Read a state written by :meth:`to_bytes`.

        Args:
            data: The bytes.
            source: Where they came from (a file), for errors and later merges.

        Raises:
            DataError: naming ``source``, when the bytes are not a partial statistics state of
                a version this reader knows, or are inconsistent.
        """
        try:
            table = pa.ipc.open_file(pa.BufferReader(data)).read_all()
        except (pa.ArrowInvalid, OSError) as e:
            raise DataError(f"{source}: not mlrail's partial statistics: {e}") from e
        meta = table.schema.metadata or {}
        version = meta.get(_VERSION_KEY)
        if version is None:
            raise DataError(f"{source}: not mlrail's partial statistics (no {_VERSION_KEY!r})")
        if version != str(FORMAT_VERSION).encode():
            raise DataError(
                f"{source}: partial statistics format {version.decode(errors='replace')}; "
                f"this mlrail reads format {FORMAT_VERSION}"
            )
        if not table.schema.equals(_SCHEMA):  # the fields, not the metadata
            raise DataError(
                f"{source}: partial statistics with other fields than format {FORMAT_VERSION}'s"
            )
        try:
            state = cls(meta[b"dataset"].decode(), source)
            state.rows = int(meta[b"rows"])
            for row in _rows(table):
                state._load(row)
        except (KeyError, ValueError, IndexError, RuntimeError) as e:
            # IndexError, RuntimeError: what the sketch's deserializer raises on bad bytes
            raise DataError(f"{source}: inconsistent partial statistics: {e}") from e
        return state

    def _load(self, row: dict[str, Any]) -> None:
        if row["kind"] not in _KINDS or row["name"] in self.columns:
            raise ValueError(f"column {row['name']!r}: kind {row['kind']!r} or a repeated name")
        col = self.column(row["name"])
        col.meet(row["kind"], row["arrow_type"])
        col.present = row["present"]
        if col.numbers is not None:
            n = col.numbers
            for f in (*_INTS, *_FLOATS):
                if row[f] is None:
                    raise ValueError(f"column {col.name!r}: no {f}")
                setattr(n, f, row[f])
            n.quantiles = _quantiles(row["values"], row["sketch"])
            if n.quantiles.n != n.count:
                raise ValueError(
                    f"column {col.name!r}: {n.count} finite values but {n.quantiles.n} in its "
                    "distribution"
                )
        elif col.strings is not None and row["value_counts"] is not None:
            value, count = row["value_counts"].flatten()  # flatten: the slice's own rows
            col.strings.merged = pa.table({"v": value, "c": count})


def merge_partials(parts: Iterable[PartialStatistics], name: str) -> PartialStatistics:
    """The state of the dataset ``name`` whose parts are ``parts`` (left as they were).

    Raises:
        DataError: as :meth:`PartialStatistics.merge`.
    """
    out = PartialStatistics(name)
    for part in parts:
        if not out.columns and not out.rows:
            out.source = part.source
        out.merge(part)
    return out


def _values_column(lists: list[np.ndarray | None]) -> pa.Array:
    offsets = np.zeros(len(lists) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([0 if v is None else len(v) for v in lists])
    flat = [v for v in lists if v is not None]
    values = pa.array(np.concatenate(flat) if flat else np.empty(0), pa.float64())
    mask = pa.array([v is None for v in lists], pa.bool_())
    return pa.LargeListArray.from_arrays(pa.array(offsets), values, mask=mask)


def _counts_column(tables: list[pa.Table | None]) -> pa.Array:
    offsets = np.zeros(len(tables) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([0 if t is None else t.num_rows for t in tables])
    present = [t for t in tables if t is not None]
    joined = pa.concat_tables(present) if present else None
    if joined is None or not joined.num_rows:
        flat = pa.array([], _COUNTS)
    else:
        joined = joined.combine_chunks()
        flat = pa.StructArray.from_arrays(
            [joined.column("v").chunk(0), joined.column("c").chunk(0)], fields=list(_COUNTS)
        )
    mask = pa.array([t is None for t in tables], pa.bool_())
    return pa.LargeListArray.from_arrays(pa.array(offsets), flat, mask=mask)


def _rows(table: pa.Table) -> Iterable[dict[str, Any]]:
    scalars = [f for f in _SCHEMA.names if f not in ("values", "value_counts")]
    plain = table.select(scalars).to_pylist()
    values = table.column("values").combine_chunks()
    counts = table.column("value_counts").combine_chunks()
    for i, row in enumerate(plain):
        row["values"] = values[i].values if values[i].is_valid else None
        row["value_counts"] = counts[i].values if counts[i].is_valid else None
        yield row


def _quantiles(values: pa.Array | None, sketch: bytes | None) -> Quantiles:
    if (values is None) == (sketch is None):
        raise ValueError("a numeric column needs exactly one of values and sketch")
    q = Quantiles()
    if values is not None:
        q.add(values.to_numpy(zero_copy_only=False))
    else:
        assert sketch is not None
        q.sketch = kll_doubles_sketch.deserialize(sketch)
        q.n = q.sketch.n
    return q
