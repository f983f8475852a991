"""The payload log window: its bounds, its files, its records (real files in the spec's layout)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import orjson
import pytest

from mlrail.components.monitor.logs import (
    ReadStats,
    iter_records,
    list_files,
    log_window,
    parse_duration,
    read_window,
    resolve_end,
)
from mlrail.errors import DataError
from tests.components.monitor.payloads import (
    MODEL,
    hour_folder,
    record,
    write_lines,
    write_records,
)

UTC = dt.UTC
END = dt.datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def _line(r: dict[str, object]) -> bytes:
    return orjson.dumps(r, option=orjson.OPT_APPEND_NEWLINE)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1h", dt.timedelta(hours=1)),
        ("24h", dt.timedelta(hours=24)),
        ("7d", dt.timedelta(days=7)),
        ("30m", dt.timedelta(minutes=30)),
        ("2w", dt.timedelta(weeks=2)),
    ],
)
def test_durations_are_a_whole_number_and_a_unit(text: str, expected: dt.timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "h", "1", "0h", "-1h", "1.5h", "1 h", " 1h", "1H", "1y", "1h30m"]
)
def test_a_bad_duration_is_a_clear_error_naming_the_parameter(text: str) -> None:
    with pytest.raises(ValueError, match=r"^window="):
        log_window("/logs", MODEL, window=text, window_end="2026-12-03T08:00:00Z")
    with pytest.raises(ValueError, match=r"^lookback="):
        parse_duration(text, "lookback")


def test_the_end_is_window_end_else_the_scheduled_time_else_now() -> None:
    now = dt.datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert resolve_end("2026-12-03T08:00:00Z", "2026-11-01T00:00:00Z", now) == END
    assert resolve_end("", "2026-12-03T08:00:00Z", now) == END
    assert resolve_end("", "2026-12-03T09:00:00+01:00", now) == END  # converted to UTC
    assert resolve_end("", "{{$.pipeline_job_schedule_time_utc}}", now) == now
    assert resolve_end("", "", now) == now
    with pytest.raises(ValueError, match=r"^window_end='yesterday' is not an RFC 3339"):
        resolve_end("yesterday", "", now)
    with pytest.raises(ValueError, match=r"^scheduled_time='soon'"):
        resolve_end("", "soon", now)


def test_the_window_ends_at_its_end_and_spans_its_length() -> None:
    w = log_window("/logs", MODEL, window="2h", window_end="2026-12-03T08:30:00Z")
    assert (w.start, w.end) == (END - dt.timedelta(minutes=90), END + dt.timedelta(minutes=30))
    # hours overlapping [06:30, 08:30): 06, 07 and 08
    assert [h.hour for h in w.hours()] == [6, 7, 8]
    exact = log_window("/logs", MODEL, window="1h", window_end="2026-12-03T08:00:00Z")
    assert [h.hour for h in exact.hours()] == [7]  # the 08 folder starts at the end: not read


def test_records_at_the_start_are_in_and_at_the_end_are_out(tmp_path: Path) -> None:
    w = log_window(str(tmp_path), MODEL, window="1h", window_end="2026-12-03T08:00:00Z")
    micro = dt.timedelta(microseconds=1)
    at = {
        "before": w.start - micro,
        "start": w.start,
        "middle": w.start + dt.timedelta(minutes=30),
        "last": w.end - micro,
        "end": w.end,
    }
    write_records(tmp_path, [record(t, rid=name) for name, t in at.items()])
    got = read_window(w)
    ids = [r.id for rs in got.groups.values() for r in rs]
    assert ids == ["start", "middle", "last"]
    # "before" is in the 06 folder (not read); "end" in the 08 folder (not read)
    assert got.stats.records == 3 and got.stats.outside == 0
    # an hour folder that straddles the start: its early records are outside, counted as such
    w2 = log_window(str(tmp_path), MODEL, window="30m", window_end="2026-12-03T07:59:59.999999Z")
    got2 = read_window(w2)
    assert [r.id for rs in got2.groups.values() for r in rs] == ["middle"]
    # "start" (07:00) is before 07:29:59.999999, "last" (07:59:59.999999) is the end
    assert got2.stats.outside == 2


def test_hour_folders_across_a_day_boundary(tmp_path: Path) -> None:
    times = [
        dt.datetime(2026, 12, 2, 21, 59, tzinfo=UTC),  # outside (before)
        dt.datetime(2026, 12, 2, 22, 15, tzinfo=UTC),
        dt.datetime(2026, 12, 2, 23, 59, 59, 999999, tzinfo=UTC),
        dt.datetime(2026, 12, 3, 0, 0, tzinfo=UTC),
        dt.datetime(2026, 12, 3, 1, 29, tzinfo=UTC),
        dt.datetime(2026, 12, 3, 1, 30, tzinfo=UTC),  # outside (the end)
    ]
    write_records(tmp_path, [record(t, rid=f"r{i}") for i, t in enumerate(times)])
    w = log_window(str(tmp_path), MODEL, window="210m", window_end="2026-12-03T01:30:00Z")
    assert w.start == dt.datetime(2026, 12, 2, 22, 0, tzinfo=UTC)
    files = list_files(w)
    assert [(f.hour.day, f.hour.hour) for f in files] == [(2, 22), (2, 23), (3, 0), (3, 1)]
    assert all(f.name.startswith(str(tmp_path)) and f.size > 0 for f in files)
    got = read_window(w)
    assert [r.id for r in got.groups[("1", "sha256:ab")]] == ["r1", "r2", "r3", "r4"]
    assert got.stats.outside == 1  # r5: in the 01 folder, at the end


def test_reads_a_uri_root(tmp_path: Path) -> None:
    write_records(tmp_path, [record(END - dt.timedelta(minutes=5))])
    w = log_window(tmp_path.as_uri(), MODEL, window="1h", window_end=END.isoformat())
    got = read_window(w)
    assert got.stats.records == 1 and got.stats.files == 1


def test_corrupt_lines_are_skipped_and_counted_by_reason(tmp_path: Path) -> None:
    t = END - dt.timedelta(minutes=10)
    good = record(t, rid="good")

    def without(field: str) -> bytes:
        return _line({k: v for k, v in good.items() if k != field})

    def changed(**fields: object) -> bytes:
        return _line({**good, **fields})

    lines = [
        _line(good),
        b"this is not json\n",
        b'{"id": "cut", "model": "pen\n',  # a torn line in the middle: not JSON
        b"[1, 2, 3]\n",
        b"42\n",
        b"\n",
        without("id"),
        without("model"),
        without("version"),
        without("timestamp"),
        without("inputs"),
        without("outputs"),
        changed(id=7),
        changed(version=None),
        changed(version=2),  # an integer version is read as "2"
        changed(identity=5),
        changed(timestamp="yesterday"),
        changed(timestamp=1733212800),
        changed(latency_ms="fast"),
        changed(inputs={"a": 1}),
        changed(outputs="none"),
        changed(model="another"),
        _line({**good, "latency_ms": None, "identity": None}),  # both may be unknown
        _line(good)[:-1].replace(b'"good"', b'"last"'),  # complete, without its newline: kept
    ]
    write_lines(tmp_path, MODEL, t, lines)
    write_lines(tmp_path, MODEL, t, [_line(good), _line(good)[:37]], seq=1)  # being written
    w = log_window(str(tmp_path), MODEL, window="1h", window_end=END.isoformat())
    stats = ReadStats()
    records = list(iter_records(w, stats=stats))
    assert [r.id for r in records] == ["good", "good", "good", "last", "good"]
    assert [r.version for r in records] == ["1", "2", "1", "1", "1"]
    assert dict(stats.skipped) == {
        "not_json": 2,
        "not_object": 2,
        "empty_line": 1,
        "missing_id": 1,
        "missing_model": 1,
        "missing_version": 1,
        "missing_timestamp": 1,
        "missing_inputs": 1,
        "missing_outputs": 1,
        "bad_id": 1,
        "bad_version": 1,
        "bad_identity": 1,
        "bad_timestamp": 2,
        "bad_latency_ms": 1,
        "bad_inputs": 1,
        "bad_outputs": 1,
        "other_model": 1,
        "truncated": 1,
    }
    assert stats.files == 2 and stats.records == 5
    assert stats.lines == len(lines) + 2
    assert stats.bytes == sum(len(x) for x in lines) + len(_line(good)) + 37
    assert stats.first["truncated"].endswith("-1.jsonl:2")
    assert stats.first["not_json"].endswith("-0.jsonl:2")
    assert stats.as_dict()["skipped"] == 21 == stats.num_skipped


def test_nan_literals_are_read_as_the_server_reads_them(tmp_path: Path) -> None:
    t = END - dt.timedelta(minutes=1)
    body = orjson.dumps(record(t)).replace(b'"inputs":[]', b'"inputs":[{"data":[NaN]}]')
    write_lines(tmp_path, MODEL, t, [body + b"\n"])
    w = log_window(str(tmp_path), MODEL, window="1h", window_end=END.isoformat())
    (got,) = iter_records(w)
    assert got.inputs[0]["data"][0] != got.inputs[0]["data"][0]  # NaN


def test_a_file_larger_than_a_read_block_loses_no_line(tmp_path: Path) -> None:
    t = END - dt.timedelta(minutes=20)
    pad = "x" * 700
    lines = [_line({**record(t, rid=f"r{i}"), "pad": pad}) for i in range(8000)]  # ~6.5 MB
    write_lines(tmp_path, MODEL, t, lines)
    w = log_window(str(tmp_path), MODEL, window="1h", window_end=END.isoformat())
    stats = ReadStats()
    ids = [r.id for r in iter_records(w, stats=stats)]
    assert ids == [f"r{i}" for i in range(8000)]
    assert stats.num_skipped == 0 and stats.bytes == sum(map(len, lines))


def test_no_files_or_no_records_is_no_traffic_not_an_error(tmp_path: Path) -> None:
    w = log_window(str(tmp_path), MODEL, window="1h", window_end=END.isoformat())
    got = read_window(w)  # no model folder at all
    assert got.no_traffic and got.files == [] and got.stats.files == 0
    hour_folder(tmp_path, MODEL, END - dt.timedelta(minutes=30)).mkdir(parents=True)
    assert read_window(w).no_traffic  # an empty hour folder
    write_records(tmp_path, [record(END - dt.timedelta(hours=3))])  # traffic, another hour
    got = read_window(w)
    assert got.no_traffic and got.stats.records == 0


def test_other_files_in_the_hour_folders_are_not_read(tmp_path: Path) -> None:
    t = END - dt.timedelta(minutes=30)
    (path,) = write_records(tmp_path, [record(t)])
    (path.parent / "notes.txt").write_text("hello")
    (path.parent / ".part-hidden.jsonl").write_bytes(_line(record(t)))
    (path.parent / "part-x.jsonl.tmp").write_bytes(_line(record(t)))
    w = log_window(str(tmp_path), MODEL, window="1h", window_end=END.isoformat())
    assert [f.path for f in list_files(w)] == [str(path)]


def test_a_missing_log_root_is_an_error_naming_it(tmp_path: Path) -> None:
    root = tmp_path / "nowhere"
    w = log_window(str(root), MODEL, window="1h", window_end=END.isoformat())
    with pytest.raises(DataError, match=rf"^{root}: the payload log root does not exist"):
        read_window(w)
    (tmp_path / "file").write_text("x")
    w = log_window(str(tmp_path / "file"), MODEL, window="1h", window_end=END.isoformat())
    with pytest.raises(DataError, match="is not a folder"):
        list_files(w)


def test_a_file_removed_after_listing_is_counted_not_raised(tmp_path: Path) -> None:
    t = END - dt.timedelta(minutes=30)
    write_records(tmp_path, [record(t, rid="a")])
    (gone,) = write_records(tmp_path, [record(t, rid="b")], seq=1)
    w = log_window(str(tmp_path), MODEL, window="1h", window_end=END.isoformat())
    files = list_files(w)
    os.unlink(gone)
    stats = ReadStats()
    assert [r.id for r in iter_records(w, files, stats)] == ["a"]
    assert stats.vanished == [files[1].name] and stats.files == 1


def test_two_versions_and_identities_are_kept_apart(tmp_path: Path) -> None:
    t = END - dt.timedelta(minutes=30)
    records = [
        record(t, rid="a", version="1", identity="sha256:11"),
        record(t, rid="b", version="2", identity="sha256:22"),
        record(t, rid="c", version="1", identity="sha256:11"),
        record(t, rid="d", version="10", identity="sha256:aa"),
        record(t, rid="e", version="1", identity=None),  # same version, identity unknown
    ]
    write_records(tmp_path, records)
    w = log_window(str(tmp_path), MODEL, window="1h", window_end=END.isoformat())
    got = read_window(w)
    assert {k: [r.id for r in v] for k, v in got.groups.items()} == {
        ("1", None): ["e"],
        ("1", "sha256:11"): ["a", "c"],
        ("2", "sha256:22"): ["b"],
        ("10", "sha256:aa"): ["d"],
    }
    assert list(got.groups) == [
        ("1", None),
        ("1", "sha256:11"),
        ("2", "sha256:22"),
        ("10", "sha256:aa"),
    ]


def test_record_fields_are_read(tmp_path: Path) -> None:
    t = dt.datetime(2026, 12, 3, 7, 45, 0, 123, tzinfo=UTC)
    inputs = [{"name": "x", "datatype": "FP32", "shape": [1, 1], "data": [1.5]}]
    outputs = [{"name": "predictions", "datatype": "FP32", "shape": [1, 1], "data": [2.5]}]
    write_records(tmp_path, [record(t, rid="q", inputs=inputs, outputs=outputs, latency_ms=3)])
    w = log_window(str(tmp_path), MODEL, window="1h", window_end=END.isoformat())
    (r,) = iter_records(w)
    assert (r.id, r.model, r.version, r.identity) == ("q", MODEL, "1", "sha256:ab")
    assert r.timestamp == t and r.latency_ms == 3.0 and isinstance(r.latency_ms, float)
    assert r.inputs == inputs and r.outputs == outputs
