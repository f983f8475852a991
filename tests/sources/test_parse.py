"""mlrail.sources.parse: what is missing and what is a value (NaN is), and bad input named by
file, column and line, in the first block or a later one."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow as pa
import pytest

from mlrail import sources
from mlrail.errors import DataError
from mlrail.sources import read_table

from .helpers import read_error, write


def test_nan_and_infinities_are_values(tmp_path: Path) -> None:
    src = write(tmp_path / "f.csv", b"x\n1.5\ninf\n-inf\nnan\nNaN\n-nan\n-Infinity\nNA\n")
    x = read_table(str(src))[0].column("x")
    assert x.to_pylist()[:3] == [1.5, float("inf"), float("-inf")]
    # NaN is a value, as in TFDV (pyarrow's default null spellings would make these missing)
    assert all(math.isnan(v) for v in x.to_pylist()[3:6]) and x.to_pylist()[6] == float("-inf")
    assert x.null_count == 1  # "NA" only


def test_missing_values_are_exactly_the_documented_tokens(tmp_path: Path) -> None:
    tokens = list(sources.NULL_VALUES)
    assert "NA" in tokens and "" in tokens and not {"nan", "NaN", "-nan", "1.#QNAN"} & set(tokens)
    rows = "".join(f'1.5,"{t}",w{i}\n{t},x,"{t}"\n' for i, t in enumerate(tokens))
    table = read_table(str(write(tmp_path / "n.csv", f"num,text,other\n{rows}".encode())))[0]
    assert table.column("num").type == pa.float64()
    assert table.column("num").null_count == len(tokens)
    assert table.column("text").null_count == len(tokens)  # text columns too
    assert table.column("other").null_count == len(tokens)
    # in a text column the NaN spellings (and anything else) are text
    words = write(tmp_path / "w.csv", b"w\nred\nnan\nNaN\n1.#QNAN\nnone\nNone\n-\n")
    assert read_table(str(words))[0].column("w").to_pylist() == [
        "red", "nan", "NaN", "1.#QNAN", "none", "None", "-"
    ]  # fmt: skip


def test_json_null_and_a_missing_key_are_missing_and_nan_text_is_text(tmp_path: Path) -> None:
    lines = b'{"a": 1.5, "s": "nan"}\n{"a": null, "s": null}\n{"s": "NA"}\n'
    table = read_table(str(write(tmp_path / "j.jsonl", lines)))[0]
    assert table.column("a").to_pylist() == [1.5, None, None]
    assert table.column("s").to_pylist() == ["nan", None, "NA"]  # JSON text is never missing


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.csv", b"", "the file is empty (0 bytes)"),
        ("blank.csv", b"\n\n", "the file is empty"),
        ("header.csv", b"a,b,c\n", "has a header but no data rows"),
        ("ragged.csv", b"a,b\n1,2\n3,4,5\n", "malformed CSV: line 3: expected 2 fields, found 3"),
        ("multi.csv", b'a,b\n1,"x\ny"\n3,4,5\n', "line 4: expected 2 fields, found 3: '3,4,5'"),
        ("latin1.csv", b"a,b\n1,caf\xe9\n", "not UTF-8 text: byte 0xe9 at offset 9 (line 2)"),
        ("latin1h.csv", b"caf\xe9,b\n1,2\n", "not UTF-8 text: byte 0xe9 at offset 3 (line 1)"),
        (
            "dupe.csv",
            b"b,a,a\n1,2,3\n",
            "duplicate column name 'a' in the header (columns 2 and 3)",
        ),
        ("corrupt.parquet", b"PAR1 not really", "not a readable Parquet file"),
        ("empty.parquet", b"", "the file is empty"),
        ("empty.jsonl", b"", "the file is empty"),
        ("blank.jsonl", b"\n\n", "has no rows"),
        ("empty.ndjson", b"\n{}\n", "has no rows"),
        ("bad.jsonl", b'{"a": 1}\n{"a": \n', "line 2: not valid JSON"),
        ("list.jsonl", b'{"a": 1}\n[1, 2]\n', "line 2: expected a JSON object, found list"),
        ("kind.jsonl", b'{"a": 1}\n{"a": "x"}\n', "column 'a' changes type at line 2: 'x'"),
        ("data.xlsx", b"a,b\n1,2\n", "unknown file type"),
    ],
)
def test_bad_input_is_named_by_file_and_place(
    tmp_path: Path, name: str, data: bytes, message: str
) -> None:
    src = write(tmp_path / name, data)
    error = read_error(src)
    assert str(src) in error and message in error


def test_errors_in_later_blocks_name_the_line_in_the_file(tmp_path: Path) -> None:
    rows = "".join(f"{i},w{i}\n" for i in range(300))
    ragged = write(tmp_path / "r.csv", f"n,s\n{rows}1,2,3\n".encode())
    message = "malformed CSV: line 302: expected 2 fields, found 3"
    assert message in read_error(ragged, block_size=128)
    latin = write(tmp_path / "l.csv", f"n,s\n{rows}".encode() + b"7,caf\xe9\n")
    offset = len(f"n,s\n{rows}7,caf".encode())
    assert f"byte 0xe9 at offset {offset} (line 302)" in read_error(latin, block_size=128)
    word = write(tmp_path / "t.csv", f"n,s\n{rows}oops,x\n".encode())
    assert (
        f"{word}: column 'n' changes type at line 302: 'oops' is not a number like the rows "
        "before it" in read_error(word, block_size=128)
    )
    lines = "".join(json.dumps({"n": i}) + "\n" for i in range(300))
    bad_json = write(tmp_path / "j.jsonl", (lines + "{nope}\n").encode())
    assert "line 301: not valid JSON" in read_error(bad_json, block_size=128)


def test_inputs_with_no_rows_at_all_are_refused(tmp_path: Path) -> None:
    write(tmp_path / "d" / "a.csv", b"x,y\n")
    write(tmp_path / "d" / "b.csv", b"x,y\n")
    assert "no data rows in any of its 2 files" in read_error(tmp_path / "d")


def test_a_data_error_naming_a_source_with_credentials_is_masked(tmp_path: Path) -> None:
    """The path every reading error takes, shown with a local file standing in for s3."""
    fs = pa.fs.LocalFileSystem()
    path = str(write(tmp_path / "bad.csv", b"a,b\n1,2\n3,4,5\n"))
    uri = "s3://AKIAKEY:SECRETKEY@bucket/bad.csv"
    f = sources.SourceFile(uri, path, "", fs.get_file_info(path).size, fs)
    with pytest.raises(DataError) as err:
        read_table(sources.Resolved(uri, (f,), "csv"))
    assert str(err.value).startswith("s3://***@bucket/bad.csv: malformed CSV: line 3")
