"""plan's core: the shards of a source (files, span days), their sizes, and bad sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlrail.components.plan.core import _file_source, plan
from mlrail.errors import DataError
from mlrail.sources import resolve


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _csv(n: int) -> bytes:
    return b"x,y\n" + b"".join(b"%d,%d\n" % (i, i * n) for i in range(n))


def test_a_folder_is_one_shard_per_data_file_with_its_size(tmp_path: Path) -> None:
    for i, n in enumerate((3, 10, 5)):
        _write(tmp_path / "data" / f"part-{i}.csv", _csv(n))
    _write(tmp_path / "data" / "_SUCCESS", b"")  # not data: skipped as a whole-source read does
    shards = plan(str(tmp_path / "data"))
    assert [s.name for s in shards] == [str(tmp_path / "data" / f"part-{i}.csv") for i in range(3)]
    assert [s.bytes for s in shards] == [len(_csv(n)) for n in (3, 10, 5)]
    assert [(s.files, s.span) for s in shards] == [(1, "")] * 3
    assert [s.source for s in shards] == [s.name for s in shards]
    assert shards[0].item() == {
        "source": str(tmp_path / "data" / "part-0.csv"),
        "name": str(tmp_path / "data" / "part-0.csv"),
        "span": "",
        "files": 1,
        "bytes": len(_csv(3)),
    }


def test_each_shard_reads_exactly_its_file(tmp_path: Path) -> None:
    # glob characters in a file's name must not make its shard a glob of other files
    names = ["a1.csv", "a[1].csv", "b*.csv", "b.csv"]
    for name in names:
        _write(tmp_path / "d" / name, _csv(2))
        _write(tmp_path / "g" / "2026" / name, _csv(2))
    for source in (str(tmp_path / "d"), str(tmp_path / "g" / "*" / "*.csv")):
        shards = plan(source)
        assert sorted(Path(s.name).name for s in shards) == sorted(names)
        for shard in shards:
            (only,) = resolve(shard.source).files
            assert only.name == shard.name


def test_a_single_file_and_bundled_data_are_one_shard(tmp_path: Path) -> None:
    f = _write(tmp_path / "one.csv", _csv(4))
    (shard,) = plan(str(f))
    assert shard.source == str(f) and shard.bytes == f.stat().st_size
    (bundled,) = plan("bundled:penguins")
    assert bundled.source.endswith("penguins.csv") and bundled.bytes > 10_000


def test_a_uri_source_keeps_its_scheme(tmp_path: Path) -> None:
    for i in range(2):
        _write(tmp_path / "u" / f"{i}.parquet", b"PAR1")
    shards = plan((tmp_path / "u").as_uri())
    assert [s.source for s in shards] == [
        f"{(tmp_path / 'u').as_uri()}/{i}.parquet" for i in (0, 1)
    ]
    assert [s.bytes for s in shards] == [4, 4]


def test_an_object_store_shard_keeps_the_query_and_escapes_glob_characters() -> None:
    uri = "s3://bucket/data/*.csv?endpoint_override=minio:9000&scheme=http"
    assert (
        _file_source(uri, "x.csv")
        == "s3://bucket/data/x.csv?endpoint_override=minio:9000&scheme=http"
    )
    # a URI's "?" is its query, never a glob; "*" and "[" in a key are escaped
    assert _file_source("s3://b/k/", "a[1]*.csv") == "s3://b/k/a[[]1][*].csv"
    assert _file_source("data/2026-*/p-*.parquet", "2026-01/p-0.parquet") == (
        "data/2026-01/p-0.parquet"
    )
    assert _file_source("*.csv", "a.csv") == "a.csv"
    assert _file_source("data/x.csv", "") == "data/x.csv"
    # a URI's credentials stay in what the shard reads (they are masked in its name)
    assert _file_source("s3://KEY:SECRET@b/d/", "a.csv") == "s3://KEY:SECRET@b/d/a.csv"


def test_a_span_window_is_one_shard_per_day_present(tmp_path: Path) -> None:
    _write(tmp_path / "2026-03-02" / "a.csv", _csv(3))
    _write(tmp_path / "2026-03-02" / "b.csv", _csv(4))
    _write(tmp_path / "2026-03-04" / "a.csv", _csv(5))
    source = str(tmp_path / "{YYYY}-{MM}-{DD}")
    shards = plan(source, span_date="2026-03-04", span_window=4)  # 03-01 and 03-03 are missing
    assert [s.span for s in shards] == ["2026-03-02", "2026-03-04"]
    assert [s.source for s in shards] == [str(tmp_path / d) for d in ("2026-03-02", "2026-03-04")]
    assert [(s.files, s.bytes) for s in shards] == [
        (2, len(_csv(3)) + len(_csv(4))),
        (1, len(_csv(5))),
    ]
    # the scheduled time fills the pattern when no date is given
    (today,) = plan(source, scheduled_time="2026-03-04T02:00:00Z")
    assert today.span == "2026-03-04"


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda t: (t / "empty").mkdir() or str(t / "empty"), "a folder with no data files"),
        (lambda t: str(t / "nothing" / "*.csv"), "matches no file"),
        (lambda t: str(t / "missing.csv"), "no such file"),
    ],
)
def test_a_source_with_no_data_file_is_one_line_naming_it(
    tmp_path: Path, make: object, expected: str
) -> None:
    source = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(DataError) as err:
        plan(source)
    message = str(err.value)
    assert expected in message and "\n" not in message
    assert str(tmp_path) in message


def test_a_window_with_no_day_present_names_the_source_and_the_days(tmp_path: Path) -> None:
    _write(tmp_path / "2026-01-01" / "a.csv", _csv(2))
    source = str(tmp_path / "{YYYY}-{MM}-{DD}")
    with pytest.raises(DataError) as err:
        plan(source, span_date="2026-03-04", span_window=2)
    message = str(err.value)
    assert message.startswith(f"{source}: no files for its span(s)") and "\n" not in message
    assert "2026-03-03" in message and "2026-03-04" in message
    with pytest.raises(ValueError, match="no date to fill it"):
        plan(source)
