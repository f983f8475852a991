"""mlrail.io: a failed write leaves what was there before, and no debris."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlrail.errors import DataError
from mlrail.io import (
    atomic_dir,
    atomic_write_bytes,
    atomic_write_json,
    fsync_tree,
    read_json,
    read_uri_bytes,
    replace_dir,
    staging_dir,
    sweep_stale,
)


class Boom(Exception):
    pass


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_atomic_dir_publishes_only_on_success(tmp_path: Path) -> None:
    dest = tmp_path / "artifact"
    with pytest.raises(Boom), atomic_dir(dest) as tmp:
        (tmp / "half.parquet").write_bytes(b"half")
        assert not dest.exists()  # nothing is visible while the step writes
        raise Boom
    assert _listing(tmp_path) == []


def test_atomic_dir_keeps_the_old_folder_when_the_new_one_fails(tmp_path: Path) -> None:
    dest = tmp_path / "artifact"
    with atomic_dir(dest) as tmp:
        (tmp / "old.txt").write_text("old")
    with pytest.raises(Boom), atomic_dir(dest) as tmp:
        (tmp / "new.txt").write_text("new")
        raise Boom
    assert _listing(tmp_path) == ["artifact", "artifact/old.txt"]


def test_atomic_dir_replaces_a_folder_whole(tmp_path: Path) -> None:
    dest = tmp_path / "artifact"
    dest.mkdir()
    (dest / "stale.txt").write_text("stale")
    with atomic_dir(dest) as tmp:
        (tmp / "fresh.txt").write_text("fresh")
    assert _listing(tmp_path) == ["artifact", "artifact/fresh.txt"]


def test_replace_dir_onto_an_empty_folder_kfp_created(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    (src / "f").write_text("x")
    dest.mkdir()
    replace_dir(src, dest)
    assert _listing(tmp_path) == ["dest", "dest/f"]


def test_atomic_write_bytes_never_truncates_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    atomic_write_bytes(path, b"version one")
    # the write itself fails half-way (here: text handed to a binary file)
    with pytest.raises(TypeError):
        atomic_write_bytes(path, "version two")  # type: ignore[arg-type]
    assert path.read_bytes() == b"version one"
    assert _listing(tmp_path) == ["model.onnx"]


def test_json_refuses_nan_instead_of_writing_invalid_json(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Out of range float"):
        atomic_write_json(tmp_path / "m.json", {"x": float("nan")})
    assert _listing(tmp_path) == []
    (tmp_path / "bad.json").write_text('{"a": 1,,}')
    with pytest.raises(ValueError, match=r"bad.json: not valid JSON \(line 1, column 9\)"):
        read_json(tmp_path / "bad.json")


def test_read_uri_bytes(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_bytes(b"abc")
    assert read_uri_bytes(str(tmp_path / "f.txt")) == b"abc"
    assert read_uri_bytes(f"file://{tmp_path / 'f.txt'}") == b"abc"
    with pytest.raises(DataError, match="no such file"):
        read_uri_bytes(str(tmp_path / "nope.txt"))


def test_published_artifacts_are_readable_by_another_user(tmp_path: Path) -> None:
    """A model server or storage initializer may run as another uid: 0600/0700 would lock it out.

    (Under the usual umask 022; the modes follow the process's umask as a plain write's would.)
    """
    import stat

    with atomic_dir(tmp_path / "artifact") as tmp:
        atomic_write_bytes(tmp / "model.onnx", b"x")
    folder = stat.S_IMODE((tmp_path / "artifact").stat().st_mode)
    file = stat.S_IMODE((tmp_path / "artifact" / "model.onnx").stat().st_mode)
    assert folder & 0o055 == 0o055 and file & 0o044 == 0o044


_HALF_WRITE = """
import sys, time
from pathlib import Path
from mlrail.io import atomic_dir
with atomic_dir(Path(sys.argv[1]) / "examples") as tmp:
    (tmp / "part-00000.parquet").write_bytes(b"half")
    print(tmp, flush=True)
    time.sleep(3600)  # killed here, half-way through the artifact
"""


def _half_writer(folder: Path) -> tuple[subprocess.Popen[str], Path]:
    """A process writing an artifact in ``folder``, stopped half-way; and its temporary."""
    child = subprocess.Popen(
        [sys.executable, "-c", _HALF_WRITE, str(folder)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    return child, Path(child.stdout.readline().strip())


def test_sweep_removes_a_killed_writers_temporaries_and_not_a_live_ones(tmp_path: Path) -> None:
    killed, killed_tmp = _half_writer(tmp_path / "run-a" / "ingest")
    live, live_tmp = _half_writer(tmp_path / "run-b" / "ingest")
    try:
        killed.kill()
        killed.communicate()
        mine = tmp_path / "notes.tmp"  # a temporary-looking file mlrail did not make
        mine.write_text("keep")
        assert f".pid{killed.pid}-" in killed_tmp.name and killed_tmp.is_dir()

        assert sweep_stale(tmp_path) == [killed_tmp]
        assert not killed_tmp.exists()
        assert (live_tmp / "part-00000.parquet").read_bytes() == b"half"  # a live run's
        assert mine.read_text() == "keep"
        assert not (tmp_path / "run-a" / "ingest" / "examples").exists()
    finally:
        live.kill()
        live.communicate()


def test_temporary_names_carry_the_writers_pid(tmp_path: Path) -> None:
    staged = staging_dir(tmp_path, prefix=".examples.")
    assert staged.name.startswith(f".examples.pid{os.getpid()}-") and staged.name.endswith(".tmp")
    assert sweep_stale(tmp_path) == []  # this process is alive
    with pytest.raises(TypeError):
        atomic_write_bytes(tmp_path / "model.onnx", "not bytes")  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == [staged.name]


def test_atomic_dir_flushes_its_files_before_the_rename(tmp_path: Path) -> None:
    """fsync_tree reads every regular file back from disk; a FIFO (which would block an open)
    or a link is left alone."""
    with atomic_dir(tmp_path / "artifact") as tmp:
        (tmp / "sub").mkdir()
        (tmp / "sub" / "model.onnx").write_bytes(b"x" * 10)
        os.mkfifo(tmp / "pipe")
        (tmp / "link").symlink_to(tmp_path / "nowhere")
    fsync_tree(tmp_path / "artifact")  # again, on the published folder: no error, no block
    assert sorted(p.name for p in (tmp_path / "artifact").iterdir()) == ["link", "pipe", "sub"]
