"""What tests share besides fixtures: the bundled data's path and the trained-artifacts record.

Fixtures live in conftest.py (pytest finds them there); anything a test imports comes from here,
so no test imports a conftest module.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlrail.sources import resolve_source

__all__ = ["PENGUINS", "Trained"]

#: The bundled penguins CSV (read-only: tests copy it before changing it).
PENGUINS = Path(resolve_source("bundled:penguins"))


@dataclass(frozen=True)
class Trained:
    """Artifacts of ingest → validate → train on penguins, made once per test session."""

    examples: Path
    statistics: Path
    schema: Path
    anomalies: Path
    model: Path
