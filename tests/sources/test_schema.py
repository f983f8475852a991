"""mlrail.sources.schema: column names kept exactly or refused, column types settled on first
sight and widened to a common type across blocks and files."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlrail import sources
from mlrail.sources import SchemaWidened, read_blocks, read_table

from .helpers import read_error, write


def test_a_float_after_integers_widens_the_column(tmp_path: Path) -> None:
    lines = "".join(f"{i},{i}\n" for i in range(200)) + "200,0.5\n"
    src = write(tmp_path / "w.csv", ("n,x\n" + lines).encode())
    blocks = read_blocks(str(src), block_size=256)
    with pytest.raises(SchemaWidened) as err:
        list(blocks)
    assert err.value.column_types["x"] == pa.float64()
    assert err.value.column_types["n"] == pa.int64()
    table = read_table(str(src), block_size=256)[0]  # reads again with the wider type
    assert table.schema.field("x").type == pa.float64()
    assert table.column("x").to_pylist()[-2:] == [199.0, 0.5]


def test_a_column_empty_at_first_gets_its_type_from_later_blocks(tmp_path: Path) -> None:
    lines = "".join(f"{i},\n" for i in range(200)) + "200,7\n"
    src = write(tmp_path / "n.csv", ("n,late\n" + lines).encode())
    table = read_table(str(src), block_size=256)[0]
    assert table.schema.field("late").type == pa.int64()
    assert table.column("late").to_pylist()[-2:] == [None, 7]


def test_files_with_int_and_float_columns_are_unified(tmp_path: Path) -> None:
    write(tmp_path / "d" / "a.csv", b"x,y\n1,a\n2,b\n")
    write(tmp_path / "d" / "b.csv", b"y,x\nc,2.5\n")  # columns in another order
    table = read_table(str(tmp_path / "d"))[0]
    assert table.column_names == ["x", "y"]
    assert table.column("x").to_pylist() == [1.0, 2.0, 2.5]
    pq.write_table(pa.table({"x": [1, 2**62 + 1]}), write(tmp_path / "p" / "a.parquet", b""))
    pq.write_table(pa.table({"x": [0.5]}), write(tmp_path / "p" / "b.parquet", b""))
    # an integer beyond 2**53 rounds to the nearest float: the column is floats now
    assert read_table(str(tmp_path / "p"))[0].column("x").to_pylist() == [1.0, 2.0**62, 0.5]


def test_a_header_only_file_among_others_is_fine(tmp_path: Path) -> None:
    write(tmp_path / "d" / "a.csv", b"x,y\n")
    write(tmp_path / "d" / "b.csv", b"x,y\n1,2\n")
    assert read_table(str(tmp_path / "d"))[0].to_pylist() == [{"x": 1, "y": 2}]


def test_json_lines_keys_may_be_missing_and_values_null(tmp_path: Path) -> None:
    lines = [{"a": 1, "b": "x"}, {"a": 2}, {"b": None, "a": 3}, {"a": 4, "b": "y", "c": True}]
    src = write(tmp_path / "d.jsonl", "".join(json.dumps(r) + "\n" for r in lines).encode())
    table = read_table(str(src), block_size=20)[0]  # "c" first appears in a later block
    assert table.column_names == ["a", "b", "c"]
    assert table.column("b").to_pylist() == ["x", None, None, "y"]
    assert table.column("c").to_pylist() == [None, None, None, True]


def test_files_with_other_columns_are_refused(tmp_path: Path) -> None:
    write(tmp_path / "d" / "a.csv", b"x,y\n1,2\n")
    other = write(tmp_path / "d" / "b.csv", b"x,z\n1,2\n")
    error = read_error(tmp_path / "d")
    assert f"{other}: columns differ from {tmp_path / 'd' / 'a.csv'}" in error
    assert "missing 'y'; new 'z'" in error
    pq.write_table(pa.table({"x": [1]}), write(tmp_path / "p" / "a.parquet", b""))
    bad = write(tmp_path / "p" / "b.parquet", b"")
    pq.write_table(pa.table({"x": ["one"]}), bad)
    error = read_error(tmp_path / "p")
    assert f"{bad}: column 'x' is string, but int64 in the files before it" in error


NAMES = ["", "Name", "a b", "a.b/c", "Churned?", "2024 Sales", "Größe", "Age", "age", "x" * 300]


def test_any_header_name_is_kept_exactly_in_every_format(tmp_path: Path) -> None:
    rows = [{n: i * 10 + k for k, n in enumerate(NAMES)} for i in range(5)]
    quoted = ",".join(f'"{n}"' if n else "" for n in NAMES)
    body = "".join(",".join(str(v) for v in r.values()) + "\n" for r in rows)
    csv_file = write(tmp_path / "n.csv", f"{quoted}\n{body}".encode())
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "n.parquet")
    jsonl = write(tmp_path / "n.jsonl", "".join(json.dumps(r) + "\n" for r in rows).encode())
    for src in (csv_file, tmp_path / "n.parquet", jsonl):
        table = read_table(str(src), block_size=64)[0]
        assert table.column_names == NAMES, src
        assert table.to_pylist() == rows


def test_a_pandas_index_column_is_a_column_named_empty(tmp_path: Path) -> None:
    src = write(tmp_path / "p.csv", b",a,b\n0,1,x\n1,2,y\n")
    table = read_table(str(src))[0]
    assert table.column_names == ["", "a", "b"] and table.column("").to_pylist() == [0, 1]


def test_a_parquet_file_naming_a_column_twice_is_refused(tmp_path: Path) -> None:
    table = pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["Größe", "Größe"])
    pq.write_table(table, tmp_path / "d.parquet")
    message = read_error(tmp_path / "d.parquet")
    assert "duplicate column name 'Größe' in the header (columns 1 and 2)" in message


def test_a_date_column_with_datetimes_further_down_widens_to_timestamps(tmp_path: Path) -> None:
    dates = "".join(f"2012-01-{d:02d},{d}\n" for d in range(1, 29))
    src = write(tmp_path / "d.csv", f"when,n\n{dates}2012-02-01 06:00:00,29\n".encode())
    table = read_table(str(src), block_size=64)[0]
    assert table.column("when").type == pa.timestamp("s")
    assert str(table.column("when")[0]) == "2012-01-01 00:00:00"
    assert str(table.column("when")[-1]) == "2012-02-01 06:00:00"


def test_csv_dates_and_zoned_datetimes_read_as_dates_and_utc_timestamps(tmp_path: Path) -> None:
    src = write(
        tmp_path / "t.csv",
        b"d,t,z\n2012-01-01,2012-01-01 10:00:00,2012-01-01T10:00:00+02:00\n"
        b"NA,,2012-01-01T10:00:00Z\n",
    )
    table = read_table(str(src))[0]
    assert table.schema.types == [pa.date32(), pa.timestamp("s"), pa.timestamp("s", "UTC")]
    z = table.column("z").cast(pa.int64()).to_pylist()
    assert z[1] - z[0] == 2 * 3600  # +02:00 converted to UTC
    assert table.column("d").null_count == table.column("t").null_count == 1


def _one(t: pa.DataType) -> pa.Array:
    if pa.types.is_decimal(t):
        return pa.array([decimal.Decimal("1.25")], t)
    if pa.types.is_date(t):
        return pa.array([dt.date(2012, 1, 1)], t)
    if pa.types.is_timestamp(t):
        return pa.array([dt.datetime(2012, 1, 1, 10)], t)
    return pa.array([1], t)


@pytest.mark.parametrize(
    ("first", "second", "merged"),
    [
        (pa.int8(), pa.int32(), pa.int64()),
        (pa.uint8(), pa.uint64(), pa.uint64()),
        (pa.uint64(), pa.int64(), pa.float64()),  # no integer type holds both
        (pa.decimal128(5, 2), pa.int64(), pa.float64()),
        (pa.date32(), pa.timestamp("ms"), pa.timestamp("ms")),
        (pa.timestamp("s", "UTC"), pa.timestamp("ns"), pa.timestamp("ns", "UTC")),
        (pa.timestamp("us", "Europe/Paris"), pa.timestamp("us", "UTC"), pa.timestamp("us", "UTC")),
    ],
)
def test_parquet_files_widen_to_a_common_type(
    tmp_path: Path, first: pa.DataType, second: pa.DataType, merged: pa.DataType
) -> None:
    pq.write_table(pa.table({"c": _one(first)}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"c": _one(second)}), tmp_path / "b.parquet")
    table = read_table(str(tmp_path))[0]
    assert table.column("c").type == merged and table.num_rows == 2


def test_parquet_text_of_any_encoding_is_read_as_text(tmp_path: Path) -> None:
    values = ["x", None, "y"]
    table = pa.table(
        {
            "view": pa.array(values, pa.string_view()),
            "large": pa.array(values, pa.large_string()),
            "dict": pa.array(values).dictionary_encode(),
            "num_dict": pa.array([1.5, None, 2.5]).dictionary_encode(),
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    read = read_table(str(tmp_path / "t.parquet"))[0]
    assert read.schema.types == [pa.string(), pa.large_string(), pa.string(), pa.float64()]
    assert read.column("view").to_pylist() == values


def test_types_no_step_models_are_carried_as_they_are(tmp_path: Path) -> None:
    table = pa.table(
        {
            "blob": pa.array([b"\x00\xff", None]),
            "tags": pa.array([[1, 2], None]),
            "pt": pa.array([{"x": 1}, None]),
            "at": pa.array([3600, None], pa.time32("s")),
            "took": pa.array([5, None], pa.duration("ms")),
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    read = read_table(str(tmp_path / "t.parquet"))[0]
    assert read.to_pylist() == table.to_pylist()


def test_json_dates_with_other_text_in_a_later_block_are_text_as_written(tmp_path: Path) -> None:
    lines = "".join(json.dumps({"n": i, "d": f"2012-01-{i + 1:02d}"}) + "\n" for i in range(20))
    src = write(tmp_path / "j.jsonl", (lines + '{"n": 20, "d": "soon"}\n').encode())
    expected = [f"2012-01-{i + 1:02d}" for i in range(20)] + ["soon"]
    for size in (sources.BLOCK_SIZE, 64):
        table = read_table(str(src), block_size=size)[0]
        assert table.column_names == ["n", "d"]  # the keys' order survives the second pass
        assert table.column("d").to_pylist() == expected
    dates = read_table(str(write(tmp_path / "d.jsonl", lines.encode())), block_size=64)[0]
    assert dates.column("d").type == pa.timestamp("s")
