"""The payload log's file sink: each sampled inference as one JSON Lines record in the
partitioned layout of :mod:`mlrail.serving.payload_log.partitioned` (hour folders, files of
bounded size per process, ``0600``, no symbolic link followed, old hours removed)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlrail.serving.payload_log.documents import document, utc_time
from mlrail.serving.payload_log.partitioned import (
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_RETENTION_HOURS,
    PartitionedWriter,
)
from mlrail.serving.payload_log.writer import Entry

__all__ = ["DEFAULT_MAX_FILE_BYTES", "DEFAULT_RETENTION_HOURS", "FileSink", "record"]


def record(e: Entry) -> dict[str, Any]:
    """One logged inference as its payload-log record (the layout's module doc)."""
    return {
        "id": e.request_id,
        "model": e.model,
        "version": e.version,
        "identity": e.identity,
        "timestamp": utc_time(e.timestamp),
        "latency_ms": round(e.latency * 1000.0, 3),
        "inputs": document(e.request, e.request_header_length).get("inputs"),
        "outputs": document(e.response, e.response_header_length).get("outputs"),
    }


class FileSink:
    """Records written under a log root, partitioned by model and hour.

    Args:
        root: The log root (created on the first write if missing; its parent must exist).
        max_file_bytes: A file is closed before it would pass this size.
        retention_hours: Hour folders older than this are removed (None: kept).
        clock: ``time.time`` or a test's replacement (file names, retention).
    """

    def __init__(
        self,
        root: Path,
        *,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        retention_hours: float | None = DEFAULT_RETENTION_HOURS,
        clock: Callable[[], float] | None = None,
    ) -> None:
        options: dict[str, Any] = {} if clock is None else {"clock": clock}
        self.root = root
        self._writer = PartitionedWriter(
            root, max_file_bytes=max_file_bytes, retention_hours=retention_hours, **options
        )

    def write(self, entries: list[Entry]) -> None:
        self._writer.write([record(e) for e in entries])

    def close(self) -> None:
        self._writer.close()
