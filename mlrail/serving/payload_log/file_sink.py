"""The payload log's JSON Lines sink: one record per inference appended to a file shared by the
server's workers, created owner-only, never through a symbolic link, rotated by size and age
under an advisory lock, the oldest rotated files removed."""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

from mlrail.serving.payload_log.documents import document, utc_time
from mlrail.serving.payload_log.writer import Entry

__all__ = ["DEFAULT_KEEP_FILES", "DEFAULT_ROTATE_BYTES", "DEFAULT_ROTATE_SECONDS", "FileSink"]

DEFAULT_ROTATE_BYTES = 64 * 1024 * 1024
DEFAULT_ROTATE_SECONDS = 3600.0
DEFAULT_KEEP_FILES = 8  # with the live file, at most ~9 x 64 MiB on disk


def _open_log(path: Path) -> int:
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)  # payloads are user data: owner only
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise ValueError(
                f"payload log {path} is a symbolic link; refusing to follow it (give the "
                "link's target instead)"
            ) from None
        raise ValueError(f"cannot open payload log {path} for appending: {e}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ValueError(f"payload log {path} is not a regular file")
    return fd


class FileSink:
    """JSON Lines appended to a file, rotated by size and age."""

    def __init__(
        self,
        path: Path,
        *,
        rotate_bytes: int = DEFAULT_ROTATE_BYTES,
        rotate_seconds: float = DEFAULT_ROTATE_SECONDS,
        keep_files: int = DEFAULT_KEEP_FILES,
    ) -> None:
        if rotate_bytes < 1 or not rotate_seconds > 0 or keep_files < 0:
            raise ValueError(
                "payload log rotation needs a positive size and age and keep_files >= 0, got "
                f"{rotate_bytes}, {rotate_seconds}, {keep_files}"
            )
        self.path = path
        self.rotate_bytes = rotate_bytes
        self.rotate_seconds = rotate_seconds
        self.keep_files = keep_files
        self._fd = _open_log(path)
        self._opened = time.monotonic()

    def write(self, entries: list[Entry]) -> None:
        lines = []
        for e in entries:
            record = {
                "id": e.request_id,
                "model": e.model,
                "version": e.version,
                "timestamp": utc_time(e.timestamp),
                "latency_ms": round(e.latency * 1000.0, 3),
                "inputs": document(e.request, e.request_header_length).get("inputs"),
                "outputs": document(e.response, e.response_header_length).get("outputs"),
            }
            lines.append(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
        data = b"".join(lines)
        self._follow()
        self._maybe_rotate(len(data))
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def _follow(self) -> None:
        """Reopen the path if another process rotated the file this one has open."""
        try:
            current = os.stat(self.path, follow_symlinks=False)
        except FileNotFoundError:
            current = None
        mine = os.fstat(self._fd)
        if current is None or (current.st_ino, current.st_dev) != (mine.st_ino, mine.st_dev):
            self._reopen()

    def _reopen(self) -> None:
        fd = _open_log(self.path)
        os.close(self._fd)
        self._fd = fd
        self._opened = time.monotonic()

    def _maybe_rotate(self, incoming: int) -> None:
        size = os.fstat(self._fd).st_size
        if size == 0:
            return
        too_big = size + incoming > self.rotate_bytes
        too_old = time.monotonic() - self._opened >= self.rotate_seconds
        if not (too_big or too_old):
            return
        # An advisory lock on the file itself: every worker has this inode open, so only one
        # renames it; the others find the path renamed and reopen it (_follow).
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            current = os.stat(self.path, follow_symlinks=False)
            mine = os.fstat(self._fd)
            if (current.st_ino, current.st_dev) == (mine.st_ino, mine.st_dev):
                os.rename(self.path, self._rotated_name())
        except FileNotFoundError:
            pass  # renamed by another worker between our checks
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._reopen()
        self._prune()

    def _rotated_name(self) -> Path:
        moment = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        stem, suffix = self.path.stem, self.path.suffix
        name = self.path.with_name(f"{stem}-{moment}{suffix}")
        n = 1
        while name.exists():
            name = self.path.with_name(f"{stem}-{moment}-{n}{suffix}")
            n += 1
        return name

    def _prune(self) -> None:
        stem, suffix = self.path.stem, self.path.suffix
        # The UTC time in the name sorts as text in the order the files were rotated.
        rotated = sorted(self.path.parent.glob(f"{stem}-[0-9]*T*Z*{suffix}"))
        for old in rotated[: max(0, len(rotated) - self.keep_files)]:
            try:
                old.unlink()
            except FileNotFoundError:
                pass  # removed by another worker

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
