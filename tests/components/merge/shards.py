"""The bundled penguins split into CSV files: a source with shards, for the sharded tests."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import PENGUINS

__all__ = ["penguin_shards"]


def penguin_shards(folder: Path, count: int = 3) -> list[Path]:
    """Write the penguins' rows into ``count`` CSV files in ``folder`` (each with the header).

    Returns:
        The files, in name order; their rows, in order, are the bundled file's.
    """
    header, *rows = PENGUINS.read_text(encoding="utf-8").splitlines(keepends=True)
    folder.mkdir(parents=True, exist_ok=True)
    size = -(-len(rows) // count)
    files = []
    for i in range(count):
        path = folder / f"penguins-{i}.csv"
        path.write_text(header + "".join(rows[i * size : (i + 1) * size]), encoding="utf-8")
        files.append(path)
    return files
