"""Where the receiver's records go: the payload log layout, in a folder or in an object store.

Both write ``<root>/<model>/<YYYY-MM-DD>/<HH>/part-<time>-<host>-<pid>-<seq>.jsonl`` (the layout
of :mod:`mlrail.serving.payload_log.partitioned`; the hour is each record's timestamp's, in UTC):

- a folder (a path): :class:`~mlrail.serving.payload_log.partitioned.PartitionedWriter`, the
  writer ``mlrail serve`` uses, appending as records arrive;
- an object store (a URI pyarrow's filesystems open: ``s3://bucket/prefix``, with the endpoint
  from ``AWS_ENDPOINT_URL`` for MinIO or SeaweedFS): objects cannot be appended to, so records
  are buffered per model and hour and each flush writes **new, immutable** part objects, never
  rewriting one. A flush happens every ``flush_seconds``, once ``flush_bytes`` are buffered, and
  on close. A reader listing an hour folder sees whole objects only.

Nothing here raises into the server: a write that fails drops its records, counts them
(``dropped["store_failed"]``), logs a warning (the first and every hundredth), and the next
flush tries again with new records. Records beyond ``max_buffer_bytes`` (a store slower than
the traffic) are dropped and counted (``dropped["buffer_full"]``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from mlrail.serving.payload_log.partitioned import PartitionedWriter, partition_of

__all__ = [
    "DEFAULT_FLUSH_BYTES",
    "DEFAULT_FLUSH_SECONDS",
    "DEFAULT_MAX_BUFFER_BYTES",
    "FolderStore",
    "ObjectStore",
    "Store",
    "open_store",
]

logger = logging.getLogger("mlrail.serving")

DEFAULT_FLUSH_SECONDS = 60.0
DEFAULT_FLUSH_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_BUFFER_BYTES = 128 * 1024 * 1024


class Store(Protocol):
    """Takes records; writes them now or at its next flush."""

    written: int
    dropped: dict[str, int]

    def add(self, records: Sequence[dict[str, Any]]) -> None: ...

    def flush(self, force: bool = False) -> None: ...

    def close(self) -> None: ...


def _warn(count: int, what: str, error: BaseException) -> None:
    if count == 1 or count % 100 == 0:
        logger.warning(
            "payload receiver: %s (%d failure(s) so far): %s: %s",
            what,
            count,
            type(error).__name__,
            error,
        )


class FolderStore:
    """Records appended to a folder by the shared partitioned writer."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.written = 0
        self.dropped = {"store_failed": 0, "buffer_full": 0}
        self._failures = 0
        self._writer = PartitionedWriter(root)

    def add(self, records: Sequence[dict[str, Any]]) -> None:
        try:
            self.written += self._writer.write(records)
        except OSError as e:
            got = getattr(e, "written", 0)
            self.written += got
            self.dropped["store_failed"] += len(records) - got
            self._failures += 1
            _warn(self._failures, f"dropped records writing to {self.root}", e)

    def flush(self, force: bool = False) -> None:
        """Nothing to do: records are written as they arrive."""

    def close(self) -> None:
        self._writer.close()


class ObjectStore:
    """Records buffered per model and hour, flushed as new part objects (see the module doc).

    Args:
        uri: The log root, e.g. ``s3://mlpipeline/payload-logs``.
        flush_seconds: The oldest buffered record waits at most this long (plus the flush
            loop's tick).
        flush_bytes: A flush starts once this much is buffered.
        max_buffer_bytes: Records beyond this much buffered are dropped.
        filesystem: The pyarrow filesystem and the path of the root in it (default: opened from
            ``uri``).
        host: The host in part names (default: this machine's name).
        clock: ``time.time`` (the part names' time).
    """

    def __init__(
        self,
        uri: str,
        *,
        flush_seconds: float = DEFAULT_FLUSH_SECONDS,
        flush_bytes: int = DEFAULT_FLUSH_BYTES,
        max_buffer_bytes: int = DEFAULT_MAX_BUFFER_BYTES,
        filesystem: tuple[Any, str] | None = None,
        host: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not flush_seconds > 0 or flush_bytes < 1 or max_buffer_bytes < flush_bytes:
            raise ValueError(
                "the object store needs flush_seconds > 0, flush_bytes >= 1 and "
                f"max_buffer_bytes >= flush_bytes, got {flush_seconds}, {flush_bytes}, "
                f"{max_buffer_bytes}"
            )
        from mlrail.io import filesystem as open_filesystem

        self.uri = uri.rstrip("/")
        self.flush_seconds = flush_seconds
        self.flush_bytes = flush_bytes
        self.max_buffer_bytes = max_buffer_bytes
        self.written = 0
        self.objects = 0
        self.dropped = {"store_failed": 0, "buffer_full": 0}
        self._fs, root = filesystem or open_filesystem(self.uri)
        self._root = root.rstrip("/")
        self._host = "".join(c if c.isalnum() or c == "." else "_" for c in host or "") or (
            "".join(c if c.isalnum() or c == "." else "_" for c in socket.gethostname())
        )
        self._clock = clock
        self._seq = 0
        self._failures = 0
        # (model, (day, hour)) -> the lines buffered
        self._buffer: dict[tuple[str, tuple[str, str]], list[bytes]] = {}
        self._buffered_bytes = 0
        self._oldest = 0.0  # time.monotonic() of the oldest buffered record
        self._lock = threading.Lock()  # the buffer
        self._flushing = threading.Lock()  # one flush at a time

    @property
    def buffered_bytes(self) -> int:
        return self._buffered_bytes

    def add(self, records: Sequence[dict[str, Any]]) -> None:
        lines = []
        for r in records:
            key = (str(r["model"]), partition_of(str(r["timestamp"])))
            lines.append((key, orjson.dumps(r, option=orjson.OPT_APPEND_NEWLINE)))
        with self._lock:
            for key, line in lines:
                if self._buffered_bytes + len(line) > self.max_buffer_bytes:
                    self.dropped["buffer_full"] += 1
                    continue
                if not self._buffer:
                    self._oldest = time.monotonic()
                self._buffer.setdefault(key, []).append(line)
                self._buffered_bytes += len(line)

    def due(self) -> bool:
        """True when the buffer should be written now (by size or by the oldest record's age)."""
        return bool(self._buffer) and (
            self._buffered_bytes >= self.flush_bytes
            or time.monotonic() - self._oldest >= self.flush_seconds
        )

    def flush(self, force: bool = False) -> None:
        """Write the buffer as new part objects if due (or ``force``); never raises."""
        with self._flushing:
            with self._lock:
                if not (force or self.due()) or not self._buffer:
                    return
                buffer, self._buffer, self._buffered_bytes = self._buffer, {}, 0
            for (model, (day, hour)), lines in buffer.items():
                self._put(model, day, hour, lines)

    def _put(self, model: str, day: str, hour: str, lines: list[bytes]) -> None:
        self._seq += 1
        moment = datetime.fromtimestamp(self._clock(), UTC).strftime("%Y%m%dT%H%M%S%fZ")
        name = f"part-{moment}-{self._host}-{os.getpid()}-{self._seq}.jsonl"
        folder = f"{self._root}/{model}/{day}/{hour}"
        try:
            self._fs.create_dir(folder, recursive=True)  # a no-op on S3; a real folder locally
            with self._fs.open_output_stream(f"{folder}/{name}") as out:
                out.write(b"".join(lines))
        except Exception as e:  # any store failure (pyarrow raises OSError and ArrowException)
            self.dropped["store_failed"] += len(lines)
            self._failures += 1
            _warn(self._failures, f"dropped {len(lines)} record(s) writing to {self.uri}", e)
            return
        self.written += len(lines)
        self.objects += 1

    def close(self) -> None:
        self.flush(force=True)


def open_store(
    root: str,
    *,
    flush_seconds: float = DEFAULT_FLUSH_SECONDS,
    flush_bytes: int = DEFAULT_FLUSH_BYTES,
    max_buffer_bytes: int = DEFAULT_MAX_BUFFER_BYTES,
) -> Store:
    """A :class:`FolderStore` for a path, an :class:`ObjectStore` for a URI (``scheme://``).

    Raises:
        DataError: No pyarrow filesystem opens the URI.
        ValueError: A flush setting is out of range.
    """
    if "://" in root:
        return ObjectStore(
            root,
            flush_seconds=flush_seconds,
            flush_bytes=flush_bytes,
            max_buffer_bytes=max_buffer_bytes,
        )
    return FolderStore(root)
