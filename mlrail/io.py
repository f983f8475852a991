"""Files: atomic writes and reading inputs from local paths or pyarrow-supported URIs.

Every artifact mlrail writes goes through here, so a failed or killed step never leaves a
half-written file or folder where a later step (or a cache hit) could read it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
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
    "read_json",
    "read_uri_bytes",
    "replace_dir",
    "staging_dir",
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


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, dest)
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
        return pafs.FileSystem.from_uri(source)
    except (OSError, pa.ArrowException) as e:
        raise DataError(f"{source}: cannot open: {e}") from e


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
    """A new hidden folder in ``parent`` to build an artifact in, with ordinary permissions."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=parent))
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
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        os.replace(dest, old)
        os.replace(src, dest)
        shutil.rmtree(old, ignore_errors=True)
        return
    if dest.is_dir():
        dest.rmdir()
    os.replace(src, dest)


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
        replace_dir(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
