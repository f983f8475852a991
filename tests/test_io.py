"""mlrail.io: a failed write leaves what was there before, and no debris."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlrail.errors import DataError
from mlrail.io import (
    atomic_dir,
    atomic_write_bytes,
    atomic_write_json,
    read_json,
    read_uri_bytes,
    replace_dir,
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
