"""What the register tests share besides fixtures (fixtures are in conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["Evaluated"]


@dataclass(frozen=True)
class Evaluated:
    """evaluate's metrics.json and blessing folder for the session's ONNX model."""

    metrics: Path
    blessing: Path
