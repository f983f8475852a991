"""Small data files for mlrail.sources' tests, and the error reading one raises."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlrail.errors import DataError
from mlrail.sources import read_table

__all__ = ["ROWS", "csv_rows", "read_error", "write"]

ROWS = [{"id": i, "x": i * 0.5, "cat": f"c{i % 7}"} for i in range(60)]


def csv_rows(rows: list[dict[str, Any]]) -> bytes:
    """``rows`` as CSV bytes, with a header of their keys."""
    lines = [",".join(rows[0])] + [",".join(str(v) for v in r.values()) for r in rows]
    return "".join(line + "\n" for line in lines).encode()


def write(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path``, making its folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def read_error(source: str | Path, **kw: Any) -> str:
    """The message of the DataError reading ``source`` raises (failing if none is raised)."""
    with pytest.raises(DataError) as err:
        read_table(str(source), **kw)
    return str(err.value)
