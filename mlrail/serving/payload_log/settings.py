"""Per-model payload logging in a local model repository: ``<repository>/<model>/logging.json``.

deploy's ``local`` target switches a model's logging on by writing ``{"sample_rate": 0.1}``
there (atomically) and off by removing the file; ``mlrail serve --model-repository R`` (without
``--log-payloads``) logs each model that has one, at its rate, under ``R/_logs``
(:data:`LOGS_FOLDER`, the layout of :mod:`mlrail.serving.payload_log.partitioned`). The server
re-reads the file when it re-scans the repository, so a change applies without a restart.

Neither name can be taken for a model or a version: ``logging.json`` is a file (models and
versions are folders) and the server's scan skips :data:`LOGS_FOLDER`.
"""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path

from mlrail.io import atomic_write_json, read_json

__all__ = ["LOGGING_FILE", "LOGS_FOLDER", "read_sample_rate", "write_sample_rate"]

LOGGING_FILE = "logging.json"
LOGS_FOLDER = "_logs"


def _check(rate: object, where: Path) -> float:
    if (
        isinstance(rate, bool)
        or not isinstance(rate, int | float)
        or not math.isfinite(rate)
        or not 0.0 <= rate <= 1.0
    ):
        raise ValueError(f"{where}: sample_rate must be a number from 0 to 1, got {rate!r}")
    return float(rate)


def read_sample_rate(model_folder: str | os.PathLike[str]) -> float:
    """The model's payload-log sample rate: its ``logging.json``'s, or 0 without one.

    Raises:
        ValueError: The file is not JSON, or its ``sample_rate`` is missing or not in 0..1
            (the message names the file).
    """
    path = Path(model_folder) / LOGGING_FILE
    try:
        doc = read_json(path)
    except FileNotFoundError:
        return 0.0
    if not isinstance(doc, dict) or "sample_rate" not in doc:
        raise ValueError(f'{path}: expected {{"sample_rate": <0..1>}}')
    return _check(doc["sample_rate"], path)


def write_sample_rate(model_folder: str | os.PathLike[str], rate: float) -> Path | None:
    """Switch the model's payload logging on at ``rate`` (atomically), or off when it is 0.

    Returns:
        The ``logging.json`` written, or None when ``rate`` is 0 (the file is removed).

    Raises:
        ValueError: ``rate`` is not a number from 0 to 1.
    """
    path = Path(model_folder) / LOGGING_FILE
    rate = _check(rate, path)
    if rate == 0.0:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return None
    atomic_write_json(path, {"sample_rate": rate})
    return path
