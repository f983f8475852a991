"""mlrail.sources' reading: every format read the same, in bounded blocks cut at record ends,
fingerprinted, stopped cleanly; the public API; column names read cheaply."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import pkgutil
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlrail import sources
from mlrail.sources import columns, read_blocks, read_table, resolve

from .helpers import ROWS, csv_rows, read_error, write


def test_csv_parquet_and_json_lines_read_the_same_rows(tmp_path: Path) -> None:
    csv_file = write(tmp_path / "d.csv", csv_rows(ROWS))
    pq.write_table(pa.Table.from_pylist(ROWS), tmp_path / "d.parquet")
    jsonl = write(tmp_path / "d.jsonl", "".join(json.dumps(r) + "\n" for r in ROWS).encode())
    ndjson = write(tmp_path / "d.ndjson", jsonl.read_bytes())
    tables = [read_table(str(p))[0] for p in (csv_file, tmp_path / "d.parquet", jsonl, ndjson)]
    for table in tables:
        assert table.to_pylist() == ROWS
        assert table.schema.types == [pa.int64(), pa.float64(), pa.string()]
    assert [resolve(str(p)).format for p in (csv_file, jsonl)] == ["csv", "jsonl"]


def test_the_fingerprint_hashes_bytes_names_and_sizes(tmp_path: Path) -> None:
    a = write(tmp_path / "one" / "a.csv", csv_rows(ROWS))
    copy = write(tmp_path / "copy.csv", a.read_bytes())
    expected = hashlib.sha256(f"\0{len(a.read_bytes())}\0".encode() + a.read_bytes()).hexdigest()
    assert read_table(str(a))[1] == expected  # a single file: its name relative to itself is ""
    assert read_table(str(copy))[1] == expected
    renamed = write(tmp_path / "two" / "b.csv", a.read_bytes())
    # in a folder, the file's name counts: two data sets at one URI differ
    assert read_table(str(renamed.parent))[1] != read_table(str(a.parent))[1]
    changed = write(tmp_path / "changed.csv", a.read_bytes().replace(b"c6", b"c7"))
    assert read_table(str(changed))[1] != expected


def test_the_fingerprint_does_not_depend_on_the_block_size(tmp_path: Path) -> None:
    src = write(tmp_path / "d.csv", csv_rows(ROWS))
    assert read_table(str(src), block_size=64)[1] == read_table(str(src))[1]
    pq.write_table(pa.Table.from_pylist(ROWS), tmp_path / "d.parquet")
    blocks = read_blocks(str(tmp_path / "d.parquet"))
    with pytest.raises(RuntimeError, match="once every block"):
        _ = blocks.fingerprint
    list(blocks)
    data = (tmp_path / "d.parquet").read_bytes()
    assert blocks.fingerprint == hashlib.sha256(f"\0{len(data)}\0".encode() + data).hexdigest()


def test_without_a_fingerprint_the_same_tables_and_no_hash(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("a,b\n" + "".join(f"{i},x{i % 3}\n" for i in range(50)))
    with read_blocks(str(data)) as hashed:
        want = pa.concat_tables(list(hashed))
    with read_blocks(str(data), fingerprint=False) as plain:
        got = pa.concat_tables(list(plain))
        with pytest.raises(RuntimeError, match="fingerprint=False"):
            _ = plain.fingerprint
    assert got.equals(want) and len(hashed.fingerprint) == 64


def test_blocks_are_bounded_by_the_block_size(tmp_path: Path) -> None:
    rows = [f"{i:06d},{i % 3}\n" for i in range(5000)]  # 9 bytes a row
    src = write(tmp_path / "d.csv", b"id,k\n" + "".join(rows).encode())
    tables = list(read_blocks(str(src), block_size=900))
    assert len(tables) > 40
    assert max(t.num_rows for t in tables) <= 100  # no block holds more than 900 bytes of rows
    assert sum(t.num_rows for t in tables) == 5000
    assert {t.schema for t in tables} == {tables[0].schema}


def test_quoted_fields_may_span_lines_and_block_ends(tmp_path: Path) -> None:
    rows = [f'{i},"line one\nline ""two"", {i}",x{i}\n' for i in range(300)]
    src = write(tmp_path / "q.csv", b"id,note,tag\n" + "".join(rows).encode())
    for block_size in (37, 100, 1 << 20):  # cuts land inside the quoted fields
        table = read_table(str(src), block_size=block_size)[0]
        assert table.num_rows == 300
        assert table.column("note").to_pylist()[7] == 'line one\nline "two", 7'
        assert table.column("tag").to_pylist()[-1] == "x299"


def test_quoted_line_ends_survive_pyarrow_splitting_a_large_first_block(tmp_path: Path) -> None:
    # the first block is parsed on pyarrow's threads, which split it at 1 MiB line ends
    # (found by search: split without regard to quotes, these rows come out silently wrong)
    rows = [
        f'{i},"x\ny,{i}",{i}\n' if i % 103 == 0 else f'{i},"p{i}",{i}\n' for i in range(150_000)
    ]
    src = write(tmp_path / "big.csv", b"id,note,n\n" + "".join(rows).encode())
    assert src.stat().st_size > 3 << 20
    for block_size in (8 << 20, 1 << 20):
        table = read_table(str(src), block_size=block_size)[0]
        assert table.schema.field("id").type == pa.int64()
        assert table.column("id").to_pylist() == list(range(150_000))
        assert table.column("note").to_pylist()[206] == "x\ny,206"


def test_a_record_longer_than_a_block_is_read_whole(tmp_path: Path) -> None:
    long = "y" * 5000
    src = write(tmp_path / "l.csv", f'a,b\n1,"{long}"\n2,z\n'.encode())
    assert read_table(str(src), block_size=64)[0].column("b").to_pylist() == [long, "z"]


def test_records_longer_than_pyarrows_own_blocks_are_read(tmp_path: Path) -> None:
    long = "x" * (2 << 20)  # pyarrow's threads refuse a record straddling their 1 MiB blocks
    csv_file = write(tmp_path / "l.csv", f'a,b\n"{long}\n",1\n2,3\n'.encode())
    assert read_table(str(csv_file))[0].column("a").to_pylist() == [long + "\n", "2"]
    jsonl = write(tmp_path / "l.jsonl", (json.dumps({"a": long}) + '\n{"a": "y"}\n').encode())
    assert read_table(str(jsonl))[0].column("a").to_pylist() == [long, "y"]
    ragged = write(tmp_path / "r.csv", f"a,b\n{long},1\n2,3,4\n".encode())
    assert "line 3: expected 2 fields, found 3: '2,3,4'" in read_error(ragged)


def test_blank_lines_are_skipped(tmp_path: Path) -> None:
    csv_file = write(tmp_path / "b.csv", b"\n\r\nx,y\n1,2\n\n3,4\n" + b"\n" * 300)
    assert read_table(str(csv_file), block_size=32)[0].to_pylist() == [
        {"x": 1, "y": 2},
        {"x": 3, "y": 4},
    ]
    jsonl = write(tmp_path / "b.jsonl", b'{"x": 1}\n\n{"x": 2}\n' + b"\n" * 300)
    assert read_table(str(jsonl), block_size=32)[0].column("x").to_pylist() == [1, 2]


def test_a_bom_is_dropped(tmp_path: Path) -> None:
    src = write(tmp_path / "b.csv", '\ufeffid,note\n1,"two\nlines"\n2,plain\n'.encode())
    table = read_table(str(src))[0]
    assert table.column_names == ["id", "note"]
    assert table.column("note").to_pylist() == ["two\nlines", "plain"]


def test_reading_stops_cleanly_when_abandoned(tmp_path: Path) -> None:
    src = write(tmp_path / "d.csv", csv_rows(ROWS * 50))
    blocks = read_blocks(str(src), block_size=256)
    next(blocks)
    blocks.close()  # the reader and parser threads end
    assert not [t for t in threading.enumerate() if t.name.startswith("mlrail-")]


def test_the_public_api_is_documented() -> None:
    assert sources.__doc__ and "read_blocks" in sources.__doc__ and "fingerprint" in sources.__doc__
    for name in sources.__all__:
        assert getattr(sources, name) is not None
    # a package whose every module says what it holds
    assert os.path.basename(sources.__file__) == "__init__.py"
    for module in pkgutil.iter_modules(sources.__path__):
        assert importlib.import_module(f"mlrail.sources.{module.name}").__doc__, module.name


def test_columns_reads_only_the_header_of_each_format(tmp_path: Path) -> None:
    # a BOM, blank lines and a quoted name spanning lines, as the reader takes them; the
    # rows after the header are not valid CSV, and need not be read
    (tmp_path / "a.csv").write_bytes(b'\xef\xbb\xbf\n\n"Gr\xc3\xb6\xc3\x9fe\nx",Age,age\n1,"2\n')
    assert columns(str(tmp_path / "a.csv")) == ["Größe\nx", "Age", "age"]
    # a header longer than the first read
    wide = [f"column_{i}" for i in range(20_000)]
    (tmp_path / "wide.csv").write_text(",".join(wide) + "\n" + ",".join("1" * len(wide)) + "\n")
    assert columns(str(tmp_path / "wide.csv")) == wide
    pq.write_table(pa.table({"x": [1.0], "Churned?": ["no"]}), tmp_path / "t.parquet")
    assert columns(str(tmp_path / "t.parquet")) == ["x", "Churned?"]
    # JSON Lines: a key first seen after the first look (1 MiB) is found when it is wanted
    lines = ['{"a": 1}\n'] * 150_000 + ['{"a": 2, "late": "x"}\n']
    (tmp_path / "t.jsonl").write_text("".join(lines))
    assert columns(str(tmp_path / "t.jsonl")) == ["a"]
    assert columns(str(tmp_path / "t.jsonl"), ["late"]) == ["a", "late"]
