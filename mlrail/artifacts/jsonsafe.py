"""JSON-safe floats: JSON has no NaN or infinity, so an artifact writes them as ``null``."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["finite"]


def finite(obj: Any) -> Any:
    """``obj`` with every NaN/±inf float, however deep in dicts, lists and tuples, as ``None``
    (tuples become lists, as JSON writes them)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    return obj
