"""The payload log's partitioned writer: layout and names, rotation by size and by hour (clock and
size injected), retention, refused records, and failures that leave every whole line readable.
Real files in tmp_path; the full file system is a real one (RLIMIT_FSIZE in a subprocess)."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from mlrail.serving.payload_log.partitioned import (
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_RETENTION_HOURS,
    PartialWriteError,
    PartitionedWriter,
    partition_of,
)

HOUR = 3600.0
T0 = 1_700_000_000.0 - 1_700_000_000.0 % HOUR  # 2023-11-14T22:00:00Z


def record(i: int, model: str = "penguins", timestamp: str = "2023-11-14T22:13:20.000001Z"):
    return {"id": str(i), "model": model, "timestamp": timestamp, "inputs": [], "outputs": []}


def stamp(seconds: float) -> str:
    from mlrail.serving.payload_log.documents import utc_time

    return utc_time(seconds)


def parts(root: Path) -> list[Path]:
    return sorted(root.glob("*/*/*/part-*.jsonl"))


def lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(x) for x in path.read_bytes().splitlines()]


def test_defaults_are_64_mib_files_and_seven_days() -> None:
    assert DEFAULT_MAX_FILE_BYTES == 64 * 1024 * 1024
    assert DEFAULT_RETENTION_HOURS == 168.0


def test_the_layout_and_the_file_name(tmp_path: Path) -> None:
    root = tmp_path / "logs"
    with PartitionedWriter(root, host="node-1.example", clock=lambda: T0 + 5.25) as w:
        assert w.write([record(0), record(1)]) == 2

    (path,) = parts(root)
    assert path.parent == root / "penguins" / "2023-11-14" / "22"
    # part-<UTC time the file was opened>-<host, reduced to [A-Za-z0-9.]>-<pid>-<seq>
    assert path.name == f"part-20231114T220005250000Z-node_1.example-{os.getpid()}-1.jsonl"
    assert [r["id"] for r in lines(path)] == ["0", "1"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_default_host_is_this_machines(tmp_path: Path) -> None:
    with PartitionedWriter(tmp_path) as w:
        w.write([record(0)])
    expected = "".join(c if c.isalnum() or c == "." else "_" for c in socket.gethostname())
    assert f"-{expected.strip('_')}-{os.getpid()}-" in parts(tmp_path)[0].name


@pytest.mark.parametrize(
    ("timestamp", "folders"),
    [
        ("2026-12-03T07:45:00.000123Z", ("2026-12-03", "07")),
        ("2026-12-03T07:45:00Z", ("2026-12-03", "07")),
        ("2026-12-03T00:30:00+01:00", ("2026-12-02", "23")),  # converted to UTC
    ],
)
def test_the_hour_folder_is_the_records_utc_hour(timestamp: str, folders: tuple[str, str]) -> None:
    assert partition_of(timestamp) == folders


def test_a_file_is_closed_before_it_would_pass_max_file_bytes(tmp_path: Path) -> None:
    one = len(orjson.dumps(record(0))) + 1
    root = tmp_path / "logs"
    with PartitionedWriter(root, max_file_bytes=3 * one + 1, clock=lambda: T0) as w:
        w.write([record(i) for i in range(5)])  # one call: split across files
        for i in range(5, 10):
            w.write([record(i)])

    files = parts(root)
    assert [len(lines(f)) for f in files] == [3, 3, 3, 1]
    assert all(f.stat().st_size <= 3 * one + 1 for f in files)
    assert [r["id"] for f in files for r in lines(f)] == [str(i) for i in range(10)]
    assert [f.name.rsplit("-", 1)[1] for f in files] == ["1.jsonl", "2.jsonl", "3.jsonl", "4.jsonl"]


def test_a_record_larger_than_max_file_bytes_gets_a_file_of_its_own(tmp_path: Path) -> None:
    big = {**record(1), "inputs": ["x" * 500]}
    with PartitionedWriter(tmp_path, max_file_bytes=100, clock=lambda: T0) as w:
        w.write([record(0), big, record(2)])

    assert [[r["id"] for r in lines(f)] for f in parts(tmp_path)] == [["0"], ["1"], ["2"]]


def test_the_hour_changing_starts_a_file_in_the_next_hour_folder(tmp_path: Path) -> None:
    now = [T0]
    with PartitionedWriter(tmp_path, clock=lambda: now[0]) as w:
        w.write([record(0, timestamp=stamp(T0 + 10)), record(1, timestamp=stamp(T0 + HOUR - 1))])
        now[0] = T0 + HOUR
        w.write([record(2, timestamp=stamp(T0 + HOUR)), record(3, timestamp=stamp(T0 + HOUR))])
        # a late record of the hour before: its own hour's folder, in a file of its own
        w.write([record(4, timestamp=stamp(T0 + HOUR - 2))])
        w.write([record(5, timestamp=stamp(T0 + HOUR + 7))])

    got = {
        f"{f.parent.name}/{f.name.rsplit('-', 1)[1]}": [r["id"] for r in lines(f)]
        for f in parts(tmp_path)
    }
    assert got == {"22/1.jsonl": ["0", "1"], "23/2.jsonl": ["2", "3", "5"], "22/3.jsonl": ["4"]}


def test_each_model_has_its_own_files(tmp_path: Path) -> None:
    with PartitionedWriter(tmp_path, clock=lambda: T0) as w:
        w.write([record(0, "a"), record(1, "b"), record(2, "a")])

    by_model = {
        f.relative_to(tmp_path).parts[0]: [r["id"] for r in lines(f)] for f in parts(tmp_path)
    }
    assert by_model == {"a": ["0", "2"], "b": ["1"]}


def test_two_writers_never_share_a_file(tmp_path: Path) -> None:
    # Two processes (here, two hosts' names) writing the same model and hour.
    writers = [PartitionedWriter(tmp_path, host=h, clock=lambda: T0) for h in ("a", "b")]
    for i in range(20):
        writers[i % 2].write([record(i)])
    for w in writers:
        w.close()

    files = parts(tmp_path)
    assert len(files) == 2
    for f in files:
        host = f.name.split("-")[2]
        assert {int(r["id"]) % 2 for r in lines(f)} == {0 if host == "a" else 1}


def test_hour_folders_older_than_the_retention_are_removed(tmp_path: Path) -> None:
    old = tmp_path / "penguins" / "2023-11-06" / "21"  # ended more than 168 h before the clock
    kept = tmp_path / "penguins" / "2023-11-07" / "23"  # ended less than 168 h before
    other = tmp_path / "penguins" / "notes"
    for folder in (old, kept, other):
        folder.mkdir(parents=True)
        (folder / "part-x.jsonl").write_bytes(b"{}\n")
    with PartitionedWriter(tmp_path, retention_hours=168, clock=lambda: T0 + 10) as w:
        w.write([record(0)])

    assert not old.parent.exists()  # the day folder left empty goes too
    assert (kept / "part-x.jsonl").exists() and (other / "part-x.jsonl").exists()
    assert len(parts(tmp_path)) == 2  # kept + the new one


def test_an_empty_day_folder_within_the_retention_is_kept(tmp_path: Path) -> None:
    """Another writer's day folder between its mkdir and its hour's: pruning must leave it (a
    second worker's open of it failed when it went)."""
    fresh = tmp_path / "penguins" / "2023-11-14"  # the clock's own day, no hour in it yet
    fresh.mkdir(parents=True)
    with PartitionedWriter(tmp_path, retention_hours=1, clock=lambda: T0 + 10) as w:
        w._prune()
        assert fresh.is_dir()
        w.write([record(0)])
    assert fresh.is_dir()


def test_without_retention_nothing_is_removed(tmp_path: Path) -> None:
    old = tmp_path / "penguins" / "2001-01-01" / "00"
    old.mkdir(parents=True)
    with PartitionedWriter(tmp_path, retention_hours=None, clock=lambda: T0) as w:
        w.write([record(0)])
    assert old.is_dir()


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"model": "../escape"}, "cannot name a folder"),
        ({"model": ".hidden"}, "cannot name a folder"),
        ({"model": ""}, "cannot name a folder"),
        ({"model": None}, "cannot name a folder"),
        ({"timestamp": "yesterday"}, "not an RFC 3339 time"),
        ({"timestamp": "2026-12-03T07:45:00"}, "has no time zone"),
        ({"timestamp": 1.7e9}, "is not a string"),
    ],
)
def test_a_bad_record_is_refused_and_nothing_is_written(
    tmp_path: Path, bad: dict[str, Any], message: str
) -> None:
    with (
        PartitionedWriter(tmp_path, clock=lambda: T0) as w,
        pytest.raises(ValueError, match=f"payload log record 1: .*{message}"),
    ):
        w.write([record(0), {**record(1), **bad}])
    assert list(tmp_path.rglob("*")) == []


def test_a_failure_says_how_many_records_were_written_and_the_next_write_recovers(
    tmp_path: Path,
) -> None:
    (tmp_path / "b").write_text("a file where model b's folder would be")
    with PartitionedWriter(tmp_path, clock=lambda: T0) as w:
        with pytest.raises(PartialWriteError) as failed:
            w.write([record(0, "a"), record(1, "a"), record(2, "b")])
        assert failed.value.written == 2 and isinstance(failed.value, OSError)
        assert "'b' in the payload log" in str(failed.value) and "not a folder" in str(failed.value)
        (tmp_path / "b").unlink()
        assert w.write([record(3, "b")]) == 1

    assert [r["id"] for f in parts(tmp_path) for r in lines(f)] == ["0", "1", "3"]


FILL = """
import json, resource, sys
from mlrail.serving.payload_log.partitioned import PartialWriteError, PartitionedWriter

resource.setrlimit(resource.RLIMIT_FSIZE, (1000, resource.RLIM_INFINITY))  # files stop at 1000 B
w = PartitionedWriter(sys.argv[1], clock=lambda: 1.7e9)
rec = lambda i: {"id": str(i), "model": "m", "timestamp": "2023-11-14T22:13:20Z", "pad": "x" * 60}
result = {"written": 0, "failed": []}
for i in range(40):
    try:
        result["written"] += w.write([rec(i)])
    except PartialWriteError as e:
        result["failed"].append([i, e.errno, e.written])
print(json.dumps(result))
"""


def test_a_full_file_system_fails_writes_and_never_leaves_a_line_joined_to_a_partial_one(
    tmp_path: Path,
) -> None:
    # RLIMIT_FSIZE makes write() fail part-way (EFBIG), as a full disk does (ENOSPC); the
    # server-level test with a real full tmpfs is in test_payload_log_server.py.
    out = subprocess.run(
        [sys.executable, "-c", FILL, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = orjson.loads(out)

    assert result["failed"] and all(f[2] == 0 for f in result["failed"])
    files = parts(tmp_path)
    assert len(files) > 1  # after a failure the next record starts a new file
    whole, partial = [], 0
    for f in files:
        body = f.read_bytes()
        *complete, last = body.split(b"\n")
        whole += [orjson.loads(x)["id"] for x in complete]
        partial += bool(last)  # a line cut by the failure: only ever a file's last
    assert len(whole) == result["written"]
    assert len(set(whole)) == len(whole)
    assert partial >= 1
