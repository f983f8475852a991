"""Where an artifact's file is: a path or URI to the file itself, or to the folder holding it."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs

from mlrail.errors import DataError
from mlrail.io import filesystem

__all__ = ["resolve_file"]


def resolve_file(source: str, name: str) -> str:
    """``source`` itself, or ``source/name`` when ``source`` is a folder (local or a URI)."""
    if "://" not in source:
        return str(Path(source) / name) if Path(source).is_dir() else source
    fs, path = filesystem(source)  # a DataError naming source when no filesystem reads it
    try:
        is_dir = fs.get_file_info(path).type == pafs.FileType.Directory
    except (OSError, pa.ArrowException) as e:
        raise DataError(f"{source}: cannot read: {e}") from e
    return source.rstrip("/") + "/" + name if is_dir else source
