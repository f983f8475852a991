"""Property-based tests of the data road: any header and column types a CSV, Parquet or JSON Lines
file can hold go through ingest, validate's statistics and schema inference intact.

Generated: headers of arbitrary unicode names (the empty name, names equal after case-folding,
long names, quotes, commas and line ends in names), columns of the Arrow types mlrail supports
(integers of every width, floats with NaN, booleans, text, decimals, dictionary-encoded text,
dates, timestamps of every unit with and without a zone) and of types it does not (lists, binary,
time of day), each with nulls, written in every format that can hold them.

Invariants: every column is kept under its exact name and in order; its statistics have the right
kind (numbers, text, dates as days, or an anomaly naming the column and its type); the missing
count is the number of nulls written, and NaN is never counted missing; the inferred schema names
every column and marks the dates; ingest keeps every row once and splits the same rows alike
whatever the block size.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tensorflow_metadata.proto.v0 import statistics_pb2

from mlrail.components.ingest.core import ingest
from mlrail.components.validate.files import validate_source
from mlrail.errors import DataError
from mlrail.sources import read_table
from mlrail.validation.statistics import DATETIME, UNSUPPORTED, custom_str

# Kept modest: each example writes a file and runs ingest twice and validate (~0.4 s); 150
# examples per format ran clean once by hand.
EXAMPLES = 15

# names: any character a header can hold as text (no surrogates, no control characters, no BOM,
# which a CSV reader drops at the start of a file as the encoding mark it is)
_CHARS = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufeff")


@st.composite
def _names(draw: st.DrawFn, count: int) -> list[str]:
    base = st.one_of(
        st.text(_CHARS, max_size=12),
        st.sampled_from(["", "Age", "a.b/c", "Churned?", "2024 Sales", "Größe", '"q"', "a,b"]),
        st.text(_CHARS, min_size=200, max_size=300),
    )
    names: list[str] = []
    while len(names) < count:
        name = draw(base)
        if draw(st.booleans()) and names:  # a name equal to another after case-folding
            name = draw(st.sampled_from(names)).swapcase()
        if name not in names:
            names.append(name)
    return names


@dataclass(frozen=True)
class Kind:
    """A column type: how to make its values, what the statistics must call it."""

    name: str
    arrow: pa.DataType
    make: Any  # (rng draw, row) -> a value, not None
    expect: str  # "number", "text", "datetime" or "unsupported"
    formats: tuple[str, ...]


_EPOCH = dt.datetime(2012, 1, 1)
KINDS = [
    Kind("int64", pa.int64(), lambda i: i * 7 - 20, "number", ("csv", "parquet", "jsonl")),
    Kind("int8", pa.int8(), lambda i: i % 100 - 50, "number", ("parquet",)),
    Kind("uint64", pa.uint64(), lambda i: 2**63 + i, "number", ("parquet",)),
    Kind("float", pa.float64(), lambda i: math.nan if i % 3 == 0 else i / 4, "number",
         ("csv", "parquet")),
    Kind("float_json", pa.float64(), lambda i: i / 4 + 0.5, "number", ("jsonl",)),
    Kind("bool", pa.bool_(), lambda i: i % 2 == 0, "number", ("csv", "parquet", "jsonl")),
    Kind("text", pa.string(), lambda i: f"w{i % 4}", "text", ("csv", "parquet", "jsonl")),
    Kind("large_text", pa.large_string(), lambda i: f"w{i % 3}", "text", ("parquet",)),
    Kind("dict_text", pa.dictionary(pa.int32(), pa.string()), lambda i: f"c{i % 2}", "text",
         ("parquet",)),
    Kind("decimal", pa.decimal128(9, 2), lambda i: decimal.Decimal(i) / 4, "number",
         ("parquet",)),
    Kind("date", pa.date32(), lambda i: _EPOCH.date() + dt.timedelta(days=i), "datetime",
         ("csv", "parquet", "jsonl")),
    Kind("timestamp", pa.timestamp("s"), lambda i: _EPOCH + dt.timedelta(hours=i), "datetime",
         ("csv", "parquet")),
    Kind("timestamp_ns_utc", pa.timestamp("ns", "UTC"),
         lambda i: (_EPOCH + dt.timedelta(minutes=i)).replace(tzinfo=dt.UTC), "datetime",
         ("csv", "parquet")),
    Kind("timestamp_ms_paris", pa.timestamp("ms", "Europe/Paris"),
         lambda i: (_EPOCH + dt.timedelta(minutes=i)).replace(tzinfo=dt.UTC), "datetime",
         ("parquet",)),
    Kind("list", pa.list_(pa.int64()), lambda i: [i, i + 1], "unsupported", ("parquet", "jsonl")),
    Kind("binary", pa.binary(), lambda i: bytes([i % 256]), "unsupported", ("parquet",)),
    Kind("time", pa.time32("s"), lambda i: dt.time(i % 24, 30), "unsupported", ("csv", "parquet")),
]  # fmt: skip


@dataclass
class Case:
    fmt: str
    names: list[str]
    kinds: list[Kind]
    columns: list[list[Any]]  # None: missing

    @property
    def rows(self) -> int:
        return len(self.columns[0])

    def __repr__(self) -> str:  # what a failing example shows
        kinds = [k.name for k in self.kinds]
        return f"Case({self.fmt!r}, names={self.names!r}, kinds={kinds}, columns={self.columns!r})"


@st.composite
def _cases(draw: st.DrawFn, fmt: str) -> Case:
    count = draw(st.integers(1, 5))
    names = draw(_names(count))
    usable = [k for k in KINDS if fmt in k.formats]
    kinds = [draw(st.sampled_from(usable)) for _ in names]
    rows = draw(st.integers(1, 30))
    columns = []
    for c, kind in enumerate(kinds):
        # the first column has no nulls: a CSV row of nothing but empty fields would be a blank
        # line, which CSV readers skip
        nulls = [False] * rows if c == 0 else draw(st.lists(st.booleans(), min_size=rows,
                                                            max_size=rows))  # fmt: skip
        columns.append([None if null else kind.make(r) for r, null in enumerate(nulls)])
    return Case(fmt, names, kinds, columns)


def _write(case: Case, folder: Path) -> Path:
    path = folder / f"data.{case.fmt}"
    if case.fmt == "jsonl":

        def plain(v: Any) -> Any:
            return v.isoformat() if isinstance(v, dt.date) else v

        lines = [
            json.dumps({n: plain(col[r]) for n, col in zip(case.names, case.columns, strict=True)})
            for r in range(case.rows)
        ]
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        return path
    arrays = [
        pa.array(values, kind.arrow if kind.name != "dict_text" else pa.string())
        for values, kind in zip(case.columns, case.kinds, strict=True)
    ]
    arrays = [
        a.dictionary_encode() if k.name == "dict_text" else a
        for a, k in zip(arrays, case.kinds, strict=True)
    ]
    table = pa.Table.from_arrays(arrays, names=case.names)
    if case.fmt == "csv":
        pacsv.write_csv(table, path)
    else:
        pq.write_table(table, path)
    return path


def _kind_of(f: statistics_pb2.FeatureNameStatistics) -> str:
    if custom_str(f, UNSUPPORTED) is not None:
        return "unsupported"
    if custom_str(f, DATETIME) is not None:
        return "datetime"
    return "number" if f.HasField("num_stats") else "text"


def _common(f: statistics_pb2.FeatureNameStatistics) -> statistics_pb2.CommonStatistics:
    kind = f.WhichOneof("stats")
    return getattr(f, kind).common_stats


def _check(case: Case, folder: Path) -> None:
    path = _write(case, folder)
    table, _ = read_table(str(path))
    assert table.column_names == case.names
    assert table.num_rows == case.rows

    report = validate_source(str(path))
    (dataset,) = report.statistics.datasets
    features = {f.path.step[0]: f for f in dataset.features}
    assert list(features) == case.names
    assert [f.name for f in report.schema.feature] == case.names
    schema = {f.name: f for f in report.schema.feature}
    unsupported = {a.feature: a.description for a in report.anomalies if a.feature is not None
                   and a.type == "UNEXPECTED_DATA_TYPE"}  # fmt: skip
    for name, kind, values in zip(case.names, case.kinds, case.columns, strict=True):
        f = features[name]
        nulls = sum(v is None for v in values)
        common = _common(f)
        assert common.num_missing == nulls, (name, kind.name)
        assert common.num_non_missing == case.rows - nulls, (name, kind.name)
        if nulls == case.rows:
            continue  # an all-null column has no type to tell
        assert _kind_of(f) == kind.expect, (name, kind.name)
        if kind.expect == "unsupported":
            assert f"column {name!r} has type " in unsupported[name]
        else:
            assert name not in unsupported
        if kind.expect == "datetime":
            assert schema[name].HasField("time_domain")
        nans = sum(isinstance(v, float) and math.isnan(v) for v in values)
        if kind.expect == "number":  # NaN is a value, never a missing one
            assert [h.num_nan for h in f.num_stats.histograms] in ([nans, nans], [nans], [])
            if nans:
                assert f.num_stats.histograms[0].num_nan == nans

    examples = [folder / "a", folder / "b"]
    # (a JSON key with only nulls has no type; a Parquet column keeps the one written)
    typed = [case.fmt == "parquet" or any(v is not None for v in col) for col in case.columns]
    # lists are the one kind here the split hash cannot read (binary and times it can)
    if all(k.name == "list" and t for k, t in zip(case.kinds, typed, strict=True)):
        with pytest.raises(DataError, match="no column the split hash can read"):
            ingest(str(path), str(examples[0]))
        return
    ingest(str(path), str(examples[0]))
    ingest(str(path), str(examples[1]), block_size=64)  # many blocks for a text file
    splits = []
    for ex in examples:
        parts = {s.name: pq.read_table(s / "part-00000.parquet") for s in sorted(ex.iterdir())}
        for part in parts.values():
            assert part.column_names == case.names
        assert sum(p.num_rows for p in parts.values()) == case.rows
        splits.append({s: sorted(map(repr, p.to_pylist())) for s, p in parts.items()})
    assert splits[0] == splits[1]


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_any_header_and_column_types_go_through_ingest_and_validate(
    fmt: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    @settings(max_examples=EXAMPLES)
    @given(case=_cases(fmt))
    def run(case: Case) -> None:
        _check(case, tmp_path_factory.mktemp(fmt))

    run()


_EVERYWHERE = [k for k in KINDS if {"csv", "parquet", "jsonl"} <= set(k.formats)] + [
    next(k for k in KINDS if k.name == "float_json")
]


# the smallest header is several distinct names, each drawn until it differs from the others
@settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.large_base_example])
@given(data=st.data())
def test_the_split_of_a_row_does_not_depend_on_the_file_format(data: st.DataObject) -> None:
    kinds = data.draw(st.lists(st.sampled_from(_EVERYWHERE), min_size=1, max_size=4))
    names = data.draw(_names(len(kinds) + 1))
    rows = data.draw(st.integers(5, 40))
    columns: list[list[Any]] = [list(range(rows))]  # the row's id, to compare splits by
    for kind in kinds:
        nulls = data.draw(st.lists(st.booleans(), min_size=rows, max_size=rows))
        columns.append([None if null else kind.make(r) for r, null in enumerate(nulls)])
    kinds = [KINDS[0], *kinds]
    folder = Path(tempfile.mkdtemp(prefix="mlrail-split-"))
    try:
        found = []
        for fmt in ("csv", "parquet", "jsonl"):
            path = _write(Case(fmt, names, kinds, columns), folder)
            ingest(str(path), str(folder / fmt))
            found.append(
                {
                    s.name: sorted(pq.read_table(s).column(names[0]).to_pylist())
                    for s in sorted((folder / fmt).iterdir())
                }
            )
        assert found[0] == found[1] == found[2]
        assert sum(map(len, found[0].values())) == rows
    finally:
        shutil.rmtree(folder)
