from __future__ import annotations

import datetime as dt
import decimal
import json
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from mlrail.artifacts.examples import part_name
from mlrail.components.ingest.core import ingest
from mlrail.components.ingest.split_hash import row_buckets
from mlrail.errors import DataError
from mlrail.sources import read_table


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _rows(examples: Path, split: str) -> list[dict]:
    return pq.read_table(examples / split / "part-00000.parquet").to_pylist()


def test_penguins_splits_every_row_once(penguins_csv: Path, tmp_path: Path) -> None:
    result = ingest(str(penguins_csv), str(tmp_path / "examples"))
    assert result.source == str(penguins_csv) and result.files == [str(penguins_csv)]
    assert ingest("bundled:penguins", str(tmp_path / "b")).source == "bundled:penguins"
    assert result.splits == ["train", "eval"]
    assert result.rows["train"] + result.rows["eval"] == 344
    # the hash split lands near the ratio on 344 rows
    assert 0.12 < result.rows["eval"] / 344 < 0.28
    assert len(_rows(tmp_path / "examples", "eval")) == result.rows["eval"]


def test_same_row_lands_in_same_split_whatever_the_order(tmp_path: Path) -> None:
    lines = [f"{i},{'a' if i % 2 else 'b'},{i * 0.5}" for i in range(200)]
    forward = _write(tmp_path / "f.csv", ("id,cat,x\n" + "\n".join(lines) + "\n").encode())
    backward = _write(tmp_path / "b.csv", ("id,cat,x\n" + "\n".join(lines[::-1]) + "\n").encode())
    ingest(str(forward), str(tmp_path / "ef"))
    ingest(str(backward), str(tmp_path / "eb"))
    ids_f = sorted(r["id"] for r in _rows(tmp_path / "ef", "eval"))
    ids_b = sorted(r["id"] for r in _rows(tmp_path / "eb", "eval"))
    assert ids_f == ids_b and 0 < len(ids_f) < 200


def test_key_column_keeps_rows_with_one_key_together(tmp_path: Path) -> None:
    rows = [f"user{i % 20},{i}" for i in range(400)]
    src = _write(tmp_path / "k.csv", ("user,x\n" + "\n".join(rows) + "\n").encode())
    ingest(str(src), str(tmp_path / "ex"), key_column="user")
    train_users = {r["user"] for r in _rows(tmp_path / "ex", "train")}
    eval_users = {r["user"] for r in _rows(tmp_path / "ex", "eval")}
    assert train_users and eval_users and not train_users & eval_users


def test_test_split_is_written_when_asked(penguins_csv: Path, tmp_path: Path) -> None:
    result = ingest(str(penguins_csv), str(tmp_path / "ex"), eval_ratio=0.2, test_ratio=0.1)
    assert result.splits == ["train", "eval", "test"]
    assert sum(result.rows.values()) == 344 and result.rows["test"] > 0


def test_fingerprint_is_the_content_hash(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.csv", b"x,y\n1,2\n")
    b = _write(tmp_path / "b.csv", b"x,y\n1,3\n")
    assert read_table(str(a))[1] != read_table(str(b))[1]
    c = _write(tmp_path / "c.csv", b"x,y\n1,2\n")
    assert read_table(str(a))[1] == read_table(str(c))[1]


def test_parquet_and_file_uri_sources(tmp_path: Path) -> None:
    pq.write_table(
        pa.table({"x": [1.0, 2.0, 3.0] * 10, "y": ["a", "b", "c"] * 10}), tmp_path / "d.parquet"
    )
    result = ingest(f"file://{tmp_path / 'd.parquet'}", str(tmp_path / "ex"))
    assert sum(result.rows.values()) == 30


def test_quoted_multiline_field_and_bom_are_valid_csv(tmp_path: Path) -> None:
    src = _write(tmp_path / "m.csv", '\ufeffid,note\n1,"two\nlines"\n2,plain\n'.encode())
    table, _ = read_table(str(src))
    assert table.column_names == ["id", "note"]  # BOM stripped from the first name
    assert table.column("note").to_pylist() == ["two\nlines", "plain"]


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.csv", b"", "the file is empty"),
        ("blank.csv", b"\n\n", "the file is empty"),
        ("header.csv", b"a,b,c\n", "has a header but no data rows"),
        ("ragged.csv", b"a,b\n1,2\n3,4,5\n", "malformed CSV: line 3: expected 2 fields, found 3"),
        ("latin1.csv", b"a,b\n1,caf\xe9\n", "not UTF-8 text: byte 0xe9 at offset 9 (line 2)"),
        ("dupe.csv", b"a,a\n1,2\n", "duplicate column name 'a' in the header (columns 1 and 2)"),
        ("corrupt.parquet", b"PAR1 not really", "not a readable Parquet file"),
        ("empty.parquet", b"", "the file is empty"),
        ("data.xlsx", b"a,b\n1,2\n", "unknown file type"),
    ],
)
def test_bad_input_names_the_file(tmp_path: Path, name: str, data: bytes, message: str) -> None:
    src = _write(tmp_path / name, data)
    with pytest.raises(DataError) as err:
        ingest(str(src), str(tmp_path / "examples"))
    assert str(src) in str(err.value)
    assert message in str(err.value)
    assert not (tmp_path / "examples").exists()


def test_missing_file_and_unknown_bundle(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        ingest(str(tmp_path / "nope.csv"), str(tmp_path / "ex"))
    with pytest.raises(DataError, match="no bundled data set 'iris'"):
        ingest("bundled:iris", str(tmp_path / "ex"))


def test_bad_ratio_is_refused(penguins_csv: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="eval_ratio"):
        ingest(str(penguins_csv), str(tmp_path / "ex"), eval_ratio=0.7, test_ratio=0.3)


def test_a_failed_ingest_keeps_the_previous_output(tmp_path: Path) -> None:
    good = _write(tmp_path / "good.csv", b"x\n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n")
    out = tmp_path / "examples"
    ingest(str(good), str(out))
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    with pytest.raises(DataError):
        ingest(str(_write(tmp_path / "bad.csv", b"")), str(out))
    # a failure after some blocks were split and written: nothing of it is left either
    late = b"x\n" + b"".join(b"%d\n" % i for i in range(2000)) + b"oops\n"
    with pytest.raises(DataError, match="line 2002"):
        ingest(str(_write(tmp_path / "late.csv", late)), str(out), block_size=256)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert not [t for t in threading.enumerate() if t.name.startswith("mlrail-")]


def test_missing_values_in_text_columns_are_null(tmp_path: Path) -> None:
    src = _write(tmp_path / "na.csv", b"sex,x\nmale,1\nNA,2\n,3\nfemale,NA\n")
    table, _ = read_table(str(src))
    assert table.column("sex").to_pylist() == ["male", None, None, "female"]
    assert table.column("x").to_pylist() == [1, 2, 3, None]


def test_a_ragged_row_is_named_by_its_line(tmp_path: Path) -> None:
    src = _write(tmp_path / "r.csv", b'a,b\n1,"two\nlines"\n3,4,5\n')
    with pytest.raises(DataError, match=r"line 4: expected 2 fields, found 3: '3,4,5'"):
        read_table(str(src))


def test_numbers_with_a_stray_word_are_refused(tmp_path: Path) -> None:
    rows = b"".join(b"%d,a\n" % i for i in range(50))
    src = _write(tmp_path / "m.csv", b"x,y\n" + rows + b"n/a-ish,b\n7,c\n")
    with pytest.raises(
        DataError,
        match=r"column 'x' holds numbers except for 1 value\(s\), "
        r"first at line 52: 'n/a-ish'",
    ):
        read_table(str(src))
    # a column that is mostly words is a category, not a typo
    words = _write(
        tmp_path / "w.csv", b"code\n" + b"".join(b"A%d\n" % i for i in range(9)) + b"12\n"
    )
    assert read_table(str(words))[0].column("code").type == pa.string()


@pytest.mark.parametrize(
    ("span_date", "scheduled_time", "resolved", "span"),
    [
        ("2026-03-04", "", "data/2026-03-04/x.csv", "2026-03-04"),
        ("", "2026-11-25T02:00:00Z", "data/2026-11-25/x.csv", "2026-11-25"),
        ("2026-01-31", "2026-11-25T02:00:00Z", "data/2026-01-31/x.csv", "2026-01-31"),  # backfill
    ],
)
def test_span_pattern_is_filled_from_the_run_date(
    span_date: str, scheduled_time: str, resolved: str, span: str
) -> None:
    from mlrail.sources import resolve_span

    assert resolve_span("data/{YYYY}-{MM}-{DD}/x.csv", span_date, scheduled_time) == (
        resolved,
        span,
    )
    assert resolve_span("data/plain.csv", span_date, scheduled_time) == ("data/plain.csv", "")


def test_span_pattern_without_a_date_is_refused() -> None:
    from mlrail.sources import resolve_span

    with pytest.raises(ValueError, match="has a span pattern .* but no date"):
        resolve_span("d/{YYYY}.csv", "", "{{$.pipeline_job_schedule_time_utc}}")


def test_ingest_reads_the_span_of_its_slot(penguins_csv: Path, tmp_path: Path) -> None:
    day = tmp_path / "2026-11-24"
    day.mkdir()
    (day / "data.csv").write_bytes(penguins_csv.read_bytes())
    result = ingest(
        str(tmp_path / "{YYYY}-{MM}-{DD}" / "data.csv"),
        str(tmp_path / "ex"),
        scheduled_time="2026-11-24T00:00:00+00:00",
    )
    assert result.span == "2026-11-24" and result.source == str(day / "data.csv")
    assert sum(result.rows.values()) == 344


# ----------------------------------------------------------------------- sources, spans, result


def test_the_result_lists_the_files_spans_and_format(tmp_path: Path) -> None:
    for day in ("2026-03-02", "2026-03-04"):
        _write(tmp_path / day / "a.csv", b"x,y\n" + b"".join(b"%d,%d\n" % (i, i) for i in range(9)))
    result = ingest(
        str(tmp_path / "{YYYY}-{MM}-{DD}"),
        str(tmp_path / "ex"),
        span_date="2026-03-04",
        span_window=3,
    )
    assert result.format == "csv" and result.span == "2026-03-04"
    assert result.spans == ["2026-03-02", "2026-03-04"]
    assert result.missing_spans == ["2026-03-03"]
    assert result.files == [str(tmp_path / d / "a.csv") for d in ("2026-03-02", "2026-03-04")]
    assert result.source == str(tmp_path / "{YYYY}-{MM}-{DD}")  # a window: the pattern itself
    assert sum(result.rows.values()) == 18


def test_json_lines_and_globs_are_ingested(tmp_path: Path) -> None:
    for part in range(3):
        lines = "".join(json.dumps({"id": part * 10 + i, "s": f"v{i}"}) + "\n" for i in range(10))
        _write(tmp_path / f"part-{part}.jsonl", lines.encode())
    result = ingest(str(tmp_path / "part-*.jsonl"), str(tmp_path / "ex"))
    assert result.format == "jsonl" and len(result.files) == 3
    ids = sorted(r["id"] for s in result.splits for r in _rows(tmp_path / "ex", s))
    assert ids == list(range(30))


# -------------------------------------------------------------------------------- the split


def _split_ids(examples: Path) -> dict[str, list[int]]:
    return {s.name: sorted(r["id"] for r in _rows(examples, s.name)) for s in examples.iterdir()}


def _table() -> pa.Table:
    n = 400
    return pa.table(
        {
            "id": list(range(n)),
            "x": [None if i % 11 == 0 else i * 0.25 for i in range(n)],
            "whole": [float(i % 5) for i in range(n)],
            "cat": [None if i % 13 == 0 else f"c{i % 17}" for i in range(n)],
            "text": ["ü" if i % 2 else "é" for i in range(n)],
            "flag": [i % 3 == 0 for i in range(n)],
        }
    )


def test_the_split_ignores_block_size_file_order_and_format(tmp_path: Path) -> None:
    table = _table()
    csv_file = tmp_path / "one.csv"
    pacsv.write_csv(table, csv_file)
    kw = {"eval_ratio": 0.2, "test_ratio": 0.1}
    ingest(str(csv_file), str(tmp_path / "a"), **kw)
    expected = _split_ids(tmp_path / "a")
    assert all(len(ids) > 10 for ids in expected.values())
    ingest(str(csv_file), str(tmp_path / "b"), block_size=200, **kw)  # many blocks
    assert _split_ids(tmp_path / "b") == expected
    # the rows reversed, in two files
    rows = table.to_pylist()[::-1]
    (tmp_path / "d").mkdir()
    pacsv.write_csv(pa.Table.from_pylist(rows[:150], table.schema), tmp_path / "d" / "1.csv")
    pacsv.write_csv(pa.Table.from_pylist(rows[150:], table.schema), tmp_path / "d" / "2.csv")
    ingest(str(tmp_path / "d"), str(tmp_path / "c"), **kw)
    assert _split_ids(tmp_path / "c") == expected
    pq.write_table(table, tmp_path / "same.parquet")
    ingest(str(tmp_path / "same.parquet"), str(tmp_path / "p"), **kw)
    assert _split_ids(tmp_path / "p") == expected
    jsonl = "".join(json.dumps(r) + "\n" for r in table.to_pylist())
    ingest(str(_write(tmp_path / "same.jsonl", jsonl.encode())), str(tmp_path / "j"), **kw)
    assert _split_ids(tmp_path / "j") == expected


def test_the_split_is_pinned_to_its_version(tmp_path: Path) -> None:
    """Changing the hash moves rows between splits of every user: it must be deliberate."""
    lines = b"".join(b"%d,n%d\n" % (i, i) for i in range(20))
    src = _write(tmp_path / "d.csv", b"id,name\n" + lines)
    ingest(str(src), str(tmp_path / "ex"))
    assert _split_ids(tmp_path / "ex")["eval"] == EVAL_IDS_V2


EVAL_IDS_V2 = [2, 11, 14, 18]


def _buckets(**columns: pa.Array) -> list[float]:
    return list(row_buckets(pa.table(columns), sorted(columns)))


def test_equal_values_hash_equal_whatever_their_encoding() -> None:
    # -0.0 is 0.0, every NaN is one NaN, a whole float is its integer
    assert _buckets(x=pa.array([0.0, float("nan"), 3.0])) == _buckets(
        x=pa.array([-0.0, -float("nan"), 3.0])
    )
    assert _buckets(x=pa.array([3.0, -7.0])) == _buckets(x=pa.array([3, -7]))
    text = ["a", "", None, "ünï", "a" * 100]
    plain = _buckets(s=pa.array(text))
    assert _buckets(s=pa.array(text, pa.large_string())) == plain
    assert _buckets(s=pa.array(text).dictionary_encode()) == plain
    assert _buckets(s=pa.array(["x", *text, "y"]).slice(1, len(text))) == plain
    chunked = pa.table({"s": pa.chunked_array([text[:2], text[2:]])})
    assert list(row_buckets(chunked, ["s"])) == plain


def test_different_values_hash_apart() -> None:
    values = _buckets(s=pa.array(["", None, "a", "b", "ab", "ba", "\x00a", "a\x00"]))
    assert len(set(values)) == len(values)
    numbers = _buckets(x=pa.array([0, None, 1, -1, 2**62, 2**62 + 1]))
    assert len(set(numbers)) == len(numbers)
    assert len(set(_buckets(x=pa.array([0.5, 0.25, None, float("inf"), float("nan")])))) == 5
    huge = _buckets(x=pa.array([1e308, 1e308, -float("inf"), float("inf")]))  # no warnings
    assert huge[0] == huge[1] and len(set(huge)) == 3
    # columns are combined in order: (a, b) is not (b, a)
    swapped = row_buckets(pa.table({"a": [1, 2], "b": [2, 1]}), ["a", "b"])
    assert swapped[0] != swapped[1]
    buckets = row_buckets(pa.table({"i": list(range(20000))}), ["i"])
    assert 0.0 <= buckets.min() and buckets.max() < 1.0
    assert abs(float((buckets < 0.2).mean()) - 0.2) < 0.02  # uniform enough to split by


def test_a_later_float_widens_the_column_and_every_row_is_kept(tmp_path: Path) -> None:
    lines = b"".join(b"%d,%d\n" % (i, i) for i in range(300)) + b"300,0.5\n"
    src = _write(tmp_path / "w.csv", b"id,x\n" + lines)
    result = ingest(str(src), str(tmp_path / "ex"), block_size=256)
    assert sum(result.rows.values()) == 301
    rows = [r for s in result.splits for r in _rows(tmp_path / "ex", s)]
    schema = pq.read_schema(tmp_path / "ex" / "train" / "part-00000.parquet")
    assert schema.field("x").type == "double"
    assert sorted(r["x"] for r in rows)[:2] == [0.0, 0.5]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_an_empty_split_is_written_with_the_schema(tmp_path: Path) -> None:
    src = _write(tmp_path / "k.csv", b"user,x\n" + b"".join(b"u1,%d\n" % i for i in range(30)))
    result = ingest(str(src), str(tmp_path / "ex"), key_column="user", test_ratio=0.1)
    assert sorted(result.rows.values()) == [0, 0, 30]  # one key: one split holds every row
    for split in result.splits:
        table = pq.read_table(tmp_path / "ex" / split / "part-00000.parquet")
        assert table.column_names == ["user", "x"] and table.num_rows == result.rows[split]


def test_text_columns_are_dictionary_encoded(penguins_csv: Path, tmp_path: Path) -> None:
    ingest(str(penguins_csv), str(tmp_path / "ex"))
    meta = pq.ParquetFile(tmp_path / "ex" / "train" / "part-00000.parquet").metadata
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    encodings = meta.row_group(0).column(names.index("species")).encodings
    assert "RLE_DICTIONARY" in encodings or "PLAIN_DICTIONARY" in encodings
    schema = pq.read_schema(tmp_path / "ex" / "train" / "part-00000.parquet")
    assert schema.field("species").type == "string"


def test_a_missing_or_unhashable_key_column_is_refused(tmp_path: Path) -> None:
    src = _write(tmp_path / "d.csv", b"a,b\n1,2\n")
    with pytest.raises(DataError, match=r"key column 'c' is not in the data \(columns: 'a', 'b'\)"):
        ingest(str(src), str(tmp_path / "ex"), key_column="c")
    lists = _write(tmp_path / "l.jsonl", b'{"id": 1, "tags": [1, 2]}\n{"id": 2, "tags": []}\n')
    with pytest.raises(DataError, match=r"l.jsonl: key column 'tags' has type list<item: int64>"):
        ingest(str(lists), str(tmp_path / "ex"), key_column="tags")
    only = _write(tmp_path / "o.jsonl", b'{"tags": [1, 2]}\n{"tags": []}\n')
    with pytest.raises(DataError, match=r"no column the split hash can read.*'tags' \(list"):
        ingest(str(only), str(tmp_path / "ex"))


def test_columns_the_hash_cannot_read_are_carried_through(tmp_path: Path) -> None:
    lines = "".join(json.dumps({"id": i, "tags": [i, i], "pt": {"x": i}}) + "\n" for i in range(40))
    result = ingest(str(_write(tmp_path / "l.jsonl", lines.encode())), str(tmp_path / "ex"))
    rows = [r for s in result.splits for r in _rows(tmp_path / "ex", s)]
    assert sorted(r["id"] for r in rows) == list(range(40))
    assert all(r["tags"] == [r["id"]] * 2 and r["pt"] == {"x": r["id"]} for r in rows)
    # the split is the one of the hashable columns alone
    alone = _write(tmp_path / "i.jsonl", "".join(f'{{"id": {i}}}\n' for i in range(40)).encode())
    ingest(str(alone), str(tmp_path / "ei"))
    assert _split_ids(tmp_path / "ei") == _split_ids(tmp_path / "ex")


def test_dates_split_alike_in_every_format_unit_and_type(tmp_path: Path) -> None:
    days = [dt.date(2011, 1, 1) + dt.timedelta(days=3 * i) for i in range(200)]
    csv_rows = "".join(f"{i},{d.isoformat()}\n" for i, d in enumerate(days))
    ingest(str(_write(tmp_path / "d.csv", f"id,day\n{csv_rows}".encode())), str(tmp_path / "c"))
    expected = _split_ids(tmp_path / "c")
    assert pq.read_schema(tmp_path / "c" / "train" / part_name(0)).field("day").type == pa.date32()
    assert all(len(ids) > 10 for ids in expected.values())
    midnights = [dt.datetime(d.year, d.month, d.day) for d in days]
    for name, column in {
        "date32": pa.array(days, pa.date32()),
        "date64": pa.array(days, pa.date64()),
        "ns": pa.array(midnights, pa.timestamp("ns")),
        "ms_utc": pa.array(midnights, pa.timestamp("ms", "UTC")),
    }.items():
        pq.write_table(pa.table({"id": range(200), "day": column}), tmp_path / f"{name}.parquet")
        ingest(str(tmp_path / f"{name}.parquet"), str(tmp_path / name))
        assert _split_ids(tmp_path / name) == expected, name
    lines = "".join(json.dumps({"id": i, "day": d.isoformat()}) + "\n" for i, d in enumerate(days))
    ingest(str(_write(tmp_path / "d.jsonl", lines.encode())), str(tmp_path / "j"))
    assert _split_ids(tmp_path / "j") == expected  # JSON: pyarrow reads them as timestamps


def test_numbers_of_every_width_and_decimals_split_as_their_values() -> None:
    values = [0, 1, 2, 100, None, 7]
    plain = _buckets(x=pa.array(values, pa.int64()))
    for t in (pa.int8(), pa.uint8(), pa.int16(), pa.uint32(), pa.uint64(), pa.float32()):
        assert _buckets(x=pa.array(values, t)) == plain, t
    as_decimals = [None if v is None else decimal.Decimal(v) for v in values]
    assert _buckets(x=pa.array(as_decimals, pa.decimal128(10, 2))) == plain
    assert _buckets(x=pa.array(as_decimals, pa.decimal256(50, 0))) == plain
    assert _buckets(x=pa.array(values).dictionary_encode()) == plain
    assert _buckets(x=pa.array([None, True, False])) == _buckets(x=pa.array([None, 1, 0]))
    big = _buckets(x=pa.array([2**64 - 1, 2**63, 2**53], pa.uint64()))
    assert len(set(big)) == 3 and big[2] == _buckets(x=pa.array([2**53]))[0]
    text = ["a", None, "ü"]
    assert _buckets(s=pa.array(text, pa.string_view())) == _buckets(s=pa.array(text))
    assert _buckets(b=pa.array([b"a", None], pa.large_binary())) == _buckets(
        b=pa.array([b"a", None])
    )


def test_column_names_of_any_kind_are_kept_and_types_written_as_read(tmp_path: Path) -> None:
    names = ["", "Name", "a.b/c", "Churned?", "1st", "Größe", "Age", "age", "n" * 200]
    header = ",".join(f'"{n}"' for n in names)
    rows = "".join(",".join(str(i + k) for k in range(len(names))) + "\n" for i in range(30))
    result = ingest(
        str(_write(tmp_path / "n.csv", f"{header}\n{rows}".encode())), str(tmp_path / "e")
    )
    assert sum(result.rows.values()) == 30
    assert pq.read_schema(tmp_path / "e" / "train" / part_name(0)).names == names
    table = pa.table(
        {
            "took": pa.array(range(30), pa.duration("ms")),
            "at": pa.array(range(30), pa.timestamp("ms", "Europe/Paris")),
            "big": pa.array([2**64 - 1 - i for i in range(30)], pa.uint64()),
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    ingest(str(tmp_path / "t.parquet"), str(tmp_path / "t"))
    assert pq.read_schema(tmp_path / "t" / "train" / part_name(0)).types == table.schema.types


def test_a_text_block_of_nulls_only_hashes_as_missing_values() -> None:
    nulls = pa.array([None, None], pa.string())
    assert _buckets(s=nulls) == _buckets(s=pa.array([None, None], pa.int64()))
    assert _buckets(s=nulls.dictionary_encode()) == _buckets(s=nulls)
