"""Where the manifests are, and how kubectl is found."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["MANIFESTS", "OVERLAYS", "REPO", "Render", "find_tool"]

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
OVERLAYS = ("local", "dev", "prod")

# render(overlay) -> the overlay's objects, as the `render` fixture provides it.
Render = Callable[[str], list[dict[str, Any]]]


def find_tool(name: str) -> str | None:
    """A tool installed next to this interpreter (the project venv) first, then on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else shutil.which(name)
