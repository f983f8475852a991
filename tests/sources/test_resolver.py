"""mlrail.sources.resolver and spans: a source resolved to its files (folders, globs, URIs,
bundled data, span windows), and what is refused with credentials masked."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlrail import sources
from mlrail.errors import DataError
from mlrail.sources import read_table, resolve
from mlrail.sources.resolver import _file

from .helpers import ROWS, csv_rows, read_error, write


def test_a_folder_reads_its_data_files_sorted_and_skips_the_rest(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    write(folder / "b.csv", csv_rows(ROWS[30:]))
    write(folder / "a.csv", csv_rows(ROWS[:30]))
    write(folder / "_SUCCESS", b"")
    write(folder / ".a.csv.crc", b"junk")
    write(folder / "README.md", b"# notes")
    write(folder / "sub" / "c.csv", csv_rows(ROWS))  # sub-folders are not read
    resolved = resolve(str(folder))
    assert [f.relpath for f in resolved.files] == ["a.csv", "b.csv"]
    assert read_table(resolved)[0].to_pylist() == ROWS


def test_globs_match_files_and_folders_at_any_level(tmp_path: Path) -> None:
    for day, rows in (("2024-01", ROWS[:20]), ("2024-02", ROWS[20:40]), ("2023-12", ROWS[40:])):
        pq.write_table(pa.Table.from_pylist(rows), write(tmp_path / day / "part-0.parquet", b""))
    write(tmp_path / "2024-02" / "notes.md", b"not a data file")
    resolved = resolve(str(tmp_path / "2024-*" / "part-*.parquet"))
    expected = ["2024-01/part-0.parquet", "2024-02/part-0.parquet"]
    assert [f.relpath for f in resolved.files] == expected
    assert read_table(resolved)[0].to_pylist() == ROWS[:40]
    flat = resolve(str(tmp_path / "2024-0[12]"))  # a glob naming folders reads their files
    assert [f.relpath for f in flat.files] == expected


def test_file_uris_work_for_files_and_globs(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", csv_rows(ROWS[:10]))
    write(tmp_path / "b.csv", csv_rows(ROWS[10:20]))
    assert read_table(f"file://{tmp_path / 'a.csv'}")[0].num_rows == 10
    resolved = resolve(f"file://{tmp_path}/*.csv")
    assert [f.name for f in resolved.files] == [
        f"file://{tmp_path}/a.csv",
        f"file://{tmp_path}/b.csv",
    ]
    assert read_table(resolved)[0].to_pylist() == ROWS[:20]


def test_s3_uris_take_an_endpoint_for_minio() -> None:
    from mlrail.io import filesystem

    fs, path = filesystem(
        "s3://bucket/data/x.csv?endpoint_override=minio:9000&scheme=http&region=r"
    )
    assert path == "bucket/data/x.csv"
    assert type(fs).__name__ == "S3FileSystem"
    assert "minio:9000" in str(fs.__reduce__())


def test_the_bundled_data_set_resolves(tmp_path: Path) -> None:
    resolved = resolve("bundled:penguins")
    assert resolved.format == "csv" and resolved.files[0].relpath == ""
    assert read_table(resolved)[0].num_rows == 344


def _days(tmp_path: Path, days: list[str]) -> None:
    for i, day in enumerate(days):
        write(tmp_path / day / "events.csv", csv_rows(ROWS[i * 10 : i * 10 + 10]))


def test_a_span_window_reads_the_last_days_and_lists_the_missing_ones(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _days(tmp_path, ["2026-03-01", "2026-03-02", "2026-03-04"])
    resolved = resolve(
        str(tmp_path / "{YYYY}-{MM}-{DD}" / "events.csv"), span_date="2026-03-04", span_window=3
    )
    assert "no files for span(s) 2026-03-03" in caplog.text
    assert resolved.span == "2026-03-04"
    assert resolved.spans == ("2026-03-02", "2026-03-04")
    assert resolved.missing_spans == ("2026-03-03",)
    assert [f.relpath for f in resolved.files] == [
        "2026-03-02/events.csv",
        "2026-03-04/events.csv",
    ]
    assert read_table(resolved)[0].column("id").to_pylist() == list(range(10, 30))


def test_each_span_may_be_a_folder_or_a_glob(tmp_path: Path) -> None:
    _days(tmp_path, ["2026-03-03", "2026-03-04"])
    folder = resolve(str(tmp_path / "{YYYY}-{MM}-{DD}"), span_date="2026-03-04", span_window=2)
    glob = resolve(
        str(tmp_path / "{YYYY}-{MM}-{DD}" / "*.csv"),
        scheduled_time="2026-03-04T02:00:00Z",
        span_window=2,
    )
    assert folder.files == glob.files and len(glob.files) == 2


def test_a_window_with_no_file_names_every_pattern_tried(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        resolve(str(tmp_path / "{YYYY}{MM}{DD}.csv"), span_date="2026-03-04", span_window=2)
    assert "no files for its span(s)" in str(err.value)
    assert str(tmp_path / "20260303.csv") in str(err.value)
    assert str(tmp_path / "20260304.csv") in str(err.value)


def test_span_window_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="span_window=0"):
        resolve(str(tmp_path / "x.csv"), span_window=0)


def test_missing_files_globs_and_formats(tmp_path: Path) -> None:
    assert f"{tmp_path / 'nope.csv'}: no such file" in read_error(tmp_path / "nope.csv")
    assert "matches no file" in read_error(tmp_path / "*.csv")
    write(tmp_path / "d" / "notes.md", b"")
    assert "a folder with no data files" in read_error(tmp_path / "d")
    write(tmp_path / "m" / "a.csv", b"x\n1\n")
    pq.write_table(pa.table({"x": [1]}), write(tmp_path / "m" / "b.parquet", b""))
    assert "mixes file formats: csv" in read_error(tmp_path / "m")
    assert "no bundled data set 'iris'" in read_error("bundled:iris")


@pytest.mark.parametrize(
    "uri",
    [
        "s3://bucket/x.csv?endpoint_override=127.0.0.1:1&scheme=http&access_key=AKIAKEY"
        "&secret_key=SECRETKEY",
        "s3://AKIAKEY:SECRETKEY@bucket/{YYYY}/x.csv?endpoint_override=127.0.0.1:1&scheme=http",
    ],
)
def test_credentials_in_a_uri_never_reach_an_error(uri: str) -> None:
    with pytest.raises((DataError, ValueError)) as err:  # before any connection is tried
        sources.resolve(uri)
    assert "bucket" in str(err.value)
    assert "SECRETKEY" not in str(err.value) and "AKIAKEY" not in str(err.value)


def test_a_file_name_is_shown_without_credentials(tmp_path: Path) -> None:
    fs = pa.fs.LocalFileSystem()
    info = fs.get_file_info(str(write(tmp_path / "a.csv", b"a\n1\n")))
    f = _file(fs, info, "s3://KEY:SECRET@bucket/data/a.csv", "s3://KEY:SECRET@bucket/data")
    assert f.name == "s3://***@bucket/data/a.csv" and f.relpath == "a.csv"
