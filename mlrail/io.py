"""Files: atomic writes and reading inputs from local paths or pyarrow-supported URIs.

Every artifact mlrail writes goes through here, so a failed or killed step never leaves a
half-written file or folder where a later step (or a cache hit) could read it.

Temporary names carry their writer's process id (``.<name>.pid<PID>-<random>.tmp``): a step
killed half-way leaves one behind, and :func:`sweep_stale` removes those whose writer is gone
without touching a live writer's (another run on the same folder).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_dir",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "filesystem",
    "fsync_dir",
    "fsync_tree",
    "read_json",
    "read_uri_bytes",
    "replace_dir",
    "staging_dir",
    "sweep_stale",
    "temp_prefix",
]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp/mkdtemp create 0600 files and 0700 folders; a published artifact gets the modes an
# ordinary write would (another uid, e.g. a model server or a storage initializer, must read it)
_UMASK = _umask()
_FILE_MODE = 0o666 & ~_UMASK
_DIR_MODE = 0o777 & ~_UMASK


#: A temporary name made here: ``.<name>.pid<PID>-<random>.tmp`` (the writer's process id).
_TEMP_NAME = re.compile(r"^\..*pid(?P<pid>\d+)-\w+\.tmp$")


def temp_prefix(name: str) -> str:
    """The start of a temporary name for ``name`` made by this process (see the module doc)."""
    return f".{name}.pid{os.getpid()}-"


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in ``path`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a folder: nothing more can be done there
    finally:
        os.close(fd)


def fsync_tree(path: str | os.PathLike[str]) -> None:
    """Flush every file and folder under ``path`` to disk.

    Called before a finished folder is renamed into place: without it, a crash soon after the
    rename can leave the new name pointing at files whose data never reached the disk.
    """
    root = Path(path)
    for folder, _dirs, files in os.walk(root):
        for name in files:
            file = os.path.join(folder, name)
            if not stat.S_ISREG(os.lstat(file).st_mode):
                continue  # a link's target is not ours to flush; a FIFO would block the open
            fd = os.open(file, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(folder))


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def sweep_stale(folder: str | os.PathLike[str], *, recursive: bool = True) -> list[Path]:
    """Remove the temporaries left in ``folder`` by writers that are no longer running.

    Only names made by this module are touched, and only when the process id in the name is
    not a live process on this machine: a concurrent run's temporaries stay. (A process id
    reused since then keeps a stale temporary until that process ends: never the other way.)
    Meant for a folder one machine writes, such as the local run's working folder; process ids
    from another machine or container mean nothing here.

    Returns:
        What was removed.
    """
    root = Path(folder)
    if not root.is_dir():
        return []
    found = root.rglob("*.tmp") if recursive else root.glob("*.tmp")
    removed = []
    for path in sorted(found):
        m = _TEMP_NAME.match(path.name)
        if m is None or _alive(int(m["pid"])):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        removed.append(path)
    return removed


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(dest.name), suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, dest)
        fsync_dir(dest.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(
            f"{path}: not valid JSON (line {e.lineno}, column {e.colno}): {e.msg}"
        ) from e


def filesystem(source: str) -> tuple[Any, str]:
    """The pyarrow filesystem holding ``source`` and the path inside it.

    ``source`` is a local path or a URI pyarrow's filesystems understand: ``file://``,
    ``s3://bucket/key`` (for MinIO or another S3-compatible store, the endpoint comes from
    ``AWS_ENDPOINT_URL`` or a query such as ``?endpoint_override=minio:9000&scheme=http``),
    ``gs://bucket/key``, ``hdfs://``.

    Raises:
        DataError: naming ``source`` when no filesystem understands it.
    """
    import pyarrow as pa
    import pyarrow.fs as pafs

    from mlrail.errors import DataError

    if "://" not in source:
        return pafs.LocalFileSystem(), str(Path(source).resolve())
    try:
        fs, path = pafs.FileSystem.from_uri(source)
    except (OSError, pa.ArrowException) as e:
        raise DataError(f"{source}: cannot open: {e}") from e
    return fs, str(path)


def read_uri_bytes(source: str) -> bytes:
    """The bytes of a local path or of a URI pyarrow's filesystems understand (s3://, gs://, ...).

    Raises:
        DataError: naming ``source`` when it is missing or unreadable.
    """
    import pyarrow as pa

    from mlrail.errors import DataError

    fs, path = filesystem(source)
    try:
        with fs.open_input_stream(path) as f:
            return bytes(f.read())
    except FileNotFoundError as e:
        raise DataError(f"{source}: no such file") from e
    except (OSError, pa.ArrowException) as e:
        raise DataError(f"{source}: cannot read: {e}") from e


def staging_dir(parent: Path, prefix: str) -> Path:
    """A new hidden folder in ``parent`` to build an artifact in, with ordinary permissions.

    Its name is ``<prefix>pid<PID>-<random>.tmp`` (``prefix`` such as ``.examples.``), so
    :func:`sweep_stale` can tell a dead writer's folder from a live one's.
    """
    tmp = Path(tempfile.mkdtemp(prefix=f"{prefix}pid{os.getpid()}-", suffix=".tmp", dir=parent))
    tmp.chmod(_DIR_MODE)
    return tmp


def replace_dir(src: Path, dest: Path) -> None:
    """Move the finished folder ``src`` to ``dest``, replacing what is there.

    A rename is atomic only onto an absent or empty folder, so an existing non-empty ``dest`` is
    first renamed aside and removed after the new one is in place.
    """
    if dest.exists() and not dest.is_dir():
        dest.unlink()
    if dest.is_dir() and any(dest.iterdir()):
        old = dest.with_name(f"{temp_prefix(dest.name)}old.tmp")
        os.replace(dest, old)
        os.replace(src, dest)
        fsync_dir(dest.parent)
        shutil.rmtree(old, ignore_errors=True)
        return
    if dest.is_dir():
        dest.rmdir()
    os.replace(src, dest)
    fsync_dir(dest.parent)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``: on success it becomes ``path``, on error it goes.

    Example::

        with atomic_dir(examples_path) as tmp:
            write_split(tmp / "train" / "part-00000.parquet", ...)
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = staging_dir(dest.parent, prefix=f".{dest.name}.")
    try:
        yield tmp
        fsync_tree(tmp)
        replace_dir(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
