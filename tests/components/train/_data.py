"""Small real inputs for the train tests: a table through ingest and validate, or splits by hand."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from mlrail.components.ingest.core import ingest
from mlrail.components.validate.core import validate


def prepared(tmp_path: Path, table: pa.Table) -> dict[str, Path]:
    """``table`` through ingest and validate; the artifacts' folders by name."""
    pq.write_table(table, tmp_path / "data.parquet")
    p = {n: tmp_path / n for n in ("examples", "statistics", "schema", "anomalies", "model")}
    ingest(str(tmp_path / "data.parquet"), str(p["examples"]))
    validate(p["examples"], p["statistics"], p["schema"], p["anomalies"])
    return p


def splits(
    tmp_path: Path, train: pa.Table | list[pa.Table], eval: pa.Table, row_group_size: int = 0
) -> dict[str, Path]:
    """Splits written by hand (one part per table), then validated: rows land where we say."""
    p = {n: tmp_path / n for n in ("examples", "statistics", "schema", "anomalies", "model")}
    parts = {"train": train if isinstance(train, list) else [train], "eval": [eval]}
    for split, tables in parts.items():
        (p["examples"] / split).mkdir(parents=True)
        for k, t in enumerate(tables):
            pq.write_table(
                t,
                p["examples"] / split / f"part-{k:05d}.parquet",
                row_group_size=row_group_size or None,
            )
    validate(p["examples"], p["statistics"], p["schema"], p["anomalies"])
    return p
