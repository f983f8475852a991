"""The payload log's one layout on disk: JSON Lines in hour folders, one set of files per process.

Written by ``mlrail serve`` (:class:`~mlrail.serving.payload_log.file_sink.FileSink`) and by the
cluster's payload receiver, read by the monitor::

    <root>/<model>/<YYYY-MM-DD>/<HH>/part-<YYYYMMDDTHHMMSSffffffZ>-<host>-<pid>-<seq>.jsonl

- ``<YYYY-MM-DD>/<HH>``: the UTC hour of each record's ``timestamp`` (not of the write), so a
  window of hours reads like an ingest span;
- ``part-<time>-<host>-<pid>-<seq>``: the UTC time the file was opened, the writing host and
  process, and a counter per process: no file is ever shared between processes (no locks, no
  interleaved lines), and names sort by time within a folder;
- a file is closed, and the next one started, before it would pass ``max_file_bytes`` (default
  64 MiB) or when the records' hour changes; a file being written may end with a partial line
  (a full disk mid-write): readers skip and count it, and the writer never appends after one
  (a failed write closes the file);
- files are created ``0600`` and folders ``0700`` (payloads are user data); below the root no
  symbolic link is followed (each folder and file is opened ``O_NOFOLLOW`` relative to its
  parent), so a link planted in the log tree cannot send records elsewhere. The root itself is
  the operator's choice and may be a link;
- retention: hour folders older than ``retention_hours`` (default 168: seven days, by the
  folder's name against the clock) are removed, with day folders left empty, whenever a file is
  opened in an hour the writer had not opened before.

API (``from mlrail.serving.payload_log.partitioned import PartitionedWriter``)::

    writer = PartitionedWriter(root, max_file_bytes=64 * 2**20, retention_hours=168.0)
    writer.write(records)   # dicts, each with "model" and "timestamp"; returns the count written
    writer.close()          # closes the open files (also a context manager)

Each record is one JSON object (``orjson``; any key order) with at least ``model`` (a name
usable as one folder: not empty, no ``/``, not starting with ``.``) and ``timestamp`` (RFC 3339,
``2026-12-03T07:45:00.000123Z``, or with an offset, converted to UTC); the payload log's records
also carry ``id``, ``version``, ``identity``, ``latency_ms``, ``inputs`` and ``outputs``.
:meth:`PartitionedWriter.write` checks every record before writing any (``ValueError`` naming
the bad one), and on an ``OSError`` (full disk, unwritable folder) raises
:class:`PartialWriteError`, an ``OSError`` whose ``written`` says how many records of the call
reached a file before it. A writer is safe to share between threads (one lock).
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import re
import shutil
import socket
import stat
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

__all__ = [
    "DEFAULT_MAX_FILE_BYTES",
    "DEFAULT_RETENTION_HOURS",
    "PartialWriteError",
    "PartitionedWriter",
    "partition_of",
]

DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024
DEFAULT_RETENTION_HOURS = 7 * 24.0
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HOUR = re.compile(r"^\d{2}$")
# The fast path: "YYYY-MM-DDTHH..." in UTC ("Z"), as the payload log writes it.
_UTC_STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}):\d{2}:\d{2}(\.\d+)?Z$")
_HOST_UNSAFE = re.compile(r"[^A-Za-z0-9.]+")


class PartialWriteError(OSError):
    """A write that failed part-way: ``written`` records of the call had reached a file."""

    def __init__(self, error: OSError, written: int) -> None:
        super().__init__(error.errno, error.strerror, error.filename)
        self.written = written
        self.__cause__ = error


def partition_of(timestamp: str) -> tuple[str, str]:
    """The ``(YYYY-MM-DD, HH)`` folders, in UTC, of an RFC 3339 timestamp.

    Raises:
        ValueError: ``timestamp`` is not an RFC 3339 time with a zone.
    """
    m = _UTC_STAMP.match(timestamp)
    if m:
        return m.group(1), m.group(2)
    try:
        moment = datetime.fromisoformat(timestamp)
    except (TypeError, ValueError):
        raise ValueError(f"timestamp {timestamp!r} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {timestamp!r} has no time zone (expected ...Z)")
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d"), moment.strftime("%H")


def _check_model(model: object) -> str:
    if (
        not isinstance(model, str)
        or not model
        or model.startswith(".")
        or "/" in model
        or "\0" in model
    ):
        raise ValueError(
            f"model {model!r} cannot name a folder of the payload log (empty, hidden, or with '/')"
        )
    return model


@dataclass
class _Part:
    """A file this writer has open, and the partition it belongs to."""

    fd: int
    size: int
    partition: tuple[str, str]
    path: Path


class PartitionedWriter:
    """Write payload-log records into ``<root>/<model>/<day>/<hour>/part-*.jsonl`` (module doc).

    Args:
        root: The log root; created (``0700``, its parent must exist) on the first write.
        max_file_bytes: A file is closed before it would pass this size (a single record larger
            than it gets a file of its own).
        retention_hours: Hour folders older than this are removed (None: kept for ever).
        host: The host name in file names (default: this machine's, reduced to ``[A-Za-z0-9.]``).
        clock: ``time.time``, or a replacement for tests: the time in file names and the
            retention's "now".

    Raises:
        ValueError: ``max_file_bytes`` is below 1 or ``retention_hours`` is not positive.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        retention_hours: float | None = DEFAULT_RETENTION_HOURS,
        host: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_file_bytes < 1:
            raise ValueError(f"max_file_bytes must be positive, got {max_file_bytes}")
        if retention_hours is not None and not retention_hours > 0:
            raise ValueError(f"retention_hours must be positive or None, got {retention_hours}")
        self.root = Path(root)
        self.max_file_bytes = max_file_bytes
        self.retention_hours = retention_hours
        self.host = _HOST_UNSAFE.sub("_", host or socket.gethostname()).strip("_") or "host"
        self._clock = clock
        self._parts: dict[tuple[str, tuple[str, str]], _Part] = {}  # (model, partition) -> file
        self._newest: dict[str, tuple[str, str]] = {}  # model -> the newest partition written
        self._seq = 0
        self._hours_seen: set[tuple[str, str]] = set()
        self._error: OSError = OSError()  # the last failure of _append
        self._lock = threading.Lock()

    def __enter__(self) -> PartitionedWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, records: Sequence[dict[str, Any]]) -> int:
        """Append ``records`` to their models' files of their hours, in order.

        Returns:
            The number of records written (all of them).

        Raises:
            ValueError: A record has no usable ``model`` or ``timestamp``, or is not JSON
                (nothing of the call is written).
            PartialWriteError: The file system refused (``written`` records got through).
        """
        groups: dict[tuple[str, tuple[str, str]], list[bytes]] = {}
        for i, record in enumerate(records):
            try:
                model = _check_model(record.get("model"))
                stamp = record.get("timestamp")
                if not isinstance(stamp, str):
                    raise ValueError(f"timestamp {stamp!r} is not a string")
                key = (model, partition_of(stamp))
                line = orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
            except (ValueError, TypeError, AttributeError) as e:
                raise ValueError(f"payload log record {i}: {e}") from None
            groups.setdefault(key, []).append(line)
        written = 0
        with self._lock:
            for key, lines in groups.items():
                for chunk in self._chunks(lines):
                    done = self._append(key, chunk)
                    if done < len(chunk):
                        # the lines before the failure are whole and readable: they count
                        error = self._error
                        raise PartialWriteError(error, written + chunk.count(b"\n", 0, done))
                    written += chunk.count(b"\n")
        return written

    def close(self) -> None:
        """Close every open file (the next write opens new ones)."""
        with self._lock:
            for part in self._parts.values():
                with contextlib.suppress(OSError):
                    os.close(part.fd)
            self._parts.clear()

    # -- files -------------------------------------------------------------------------------------

    def _chunks(self, lines: list[bytes]) -> list[bytes]:
        """The lines joined into pieces of at most ``max_file_bytes`` (a longer line alone)."""
        chunks: list[bytes] = []
        current: list[bytes] = []
        size = 0
        for line in lines:
            if current and size + len(line) > self.max_file_bytes:
                chunks.append(b"".join(current))
                current, size = [], 0
            current.append(line)
            size += len(line)
        if current:
            chunks.append(b"".join(current))
        return chunks

    def _append(self, key: tuple[str, tuple[str, str]], data: bytes) -> int:
        """Write ``data`` to the key's file; the bytes written (fewer: see ``_error``)."""
        model, partition = key
        part = self._parts.get(key)
        if part is not None and part.size > 0 and part.size + len(data) > self.max_file_bytes:
            self._close(key)  # full: the next file
            part = None
        done = 0
        try:
            if part is None:
                part = self._open(model, partition)
                self._parts[key] = part
            view = memoryview(data)
            while view:
                n = os.write(part.fd, view)
                part.size += n
                done += n
                view = view[n:]
        except OSError as e:
            # Never append after a partial line: the next write starts a new file.
            self._close(key)
            self._error = e
        return done

    def _close(self, key: tuple[str, tuple[str, str]]) -> None:
        part = self._parts.pop(key, None)
        if part is not None:
            with contextlib.suppress(OSError):
                os.close(part.fd)

    def _open(self, model: str, partition: tuple[str, str]) -> _Part:
        newest = self._newest.get(model)
        if newest is None or partition > newest:
            # The hour changed: the files of this model's older hours are done. (A late record
            # of the hour before gets a file of its own there.)
            for key in [k for k in self._parts if k[0] == model and k[1] < partition]:
                self._close(key)
            self._newest[model] = partition
        if partition not in self._hours_seen:
            self._hours_seen.add(partition)
            self._prune()
        day, hour = partition
        fds: list[int] = []
        try:
            parent = self._open_root()
            fds.append(parent)
            for name in (model, day, hour):
                parent = _subfolder(parent, name, self.root)
                fds.append(parent)
            while True:
                self._seq += 1
                moment = datetime.fromtimestamp(self._clock(), UTC).strftime("%Y%m%dT%H%M%S%fZ")
                name = f"part-{moment}-{self.host}-{os.getpid()}-{self._seq}.jsonl"
                try:
                    fd = os.open(name, _FILE_FLAGS, 0o600, dir_fd=parent)
                    break
                except FileExistsError:
                    continue  # another writer of this process, the same microsecond: next seq
        finally:
            for f in fds:
                os.close(f)
        return _Part(fd, 0, partition, self.root / model / day / hour / name)

    def _open_root(self) -> int:
        try:
            return os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            with contextlib.suppress(FileExistsError):
                os.mkdir(self.root, 0o700)
            return os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    # -- retention ---------------------------------------------------------------------------------

    def _prune(self) -> None:
        """Remove the hour folders older than the retention (best effort: never raises)."""
        if self.retention_hours is None:
            return
        cutoff = self._clock() - self.retention_hours * 3600.0
        try:
            models = [e for e in os.scandir(self.root) if e.is_dir(follow_symlinks=False)]
        except OSError:
            return
        for m in models:
            try:
                days = [
                    e
                    for e in os.scandir(m.path)
                    if e.is_dir(follow_symlinks=False) and _DAY.match(e.name)
                ]
            except OSError:
                continue
            for d in days:
                try:
                    hours = [e for e in os.scandir(d.path) if _HOUR.match(e.name)]
                except OSError:
                    continue
                left = len(hours)
                for h in hours:
                    try:
                        start = datetime.strptime(f"{d.name} {h.name}", "%Y-%m-%d %H")
                    except ValueError:
                        continue
                    if start.replace(tzinfo=UTC).timestamp() + 3600.0 <= cutoff:
                        shutil.rmtree(h.path, ignore_errors=True)  # fd-based: links not followed
                        left -= 1
                # Only a day wholly past the retention: today's folder is empty for a moment
                # between another writer's mkdir of the day and of its hour, and removing it
                # then fails that writer's open (seen with two workers on one root).
                if left == 0 and _day_end(d.name) <= cutoff:
                    with contextlib.suppress(OSError):
                        os.rmdir(d.path)  # only if nothing else arrived meanwhile


def _day_end(day: str) -> float:
    """The end of the UTC day ``YYYY-MM-DD`` as a timestamp (+inf for a name that is no date)."""
    try:
        start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return math.inf
    return start.timestamp() + 86400.0


def _subfolder(parent: int, name: str, root: Path) -> int:
    """Open (creating it ``0700``) the folder ``name`` in ``parent``, never through a link."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except FileNotFoundError:
        pass
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR):
            _refuse(parent, name, root, e)
        raise
    with contextlib.suppress(FileExistsError):
        os.mkdir(name, 0o700, dir_fd=parent)
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR):
            _refuse(parent, name, root, e)
        raise


def _refuse(parent: int, name: str, root: Path, error: OSError) -> None:
    try:
        mode = os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode
    except OSError:
        mode = 0
    what = "a symbolic link" if stat.S_ISLNK(mode) else "not a folder"
    raise OSError(
        error.errno, f"{name!r} in the payload log under {root} is {what}; refusing to use it"
    ) from None
