"""Payload log files written exactly as the monitor spec (section 1) lays them out, and V2 bodies
encoded the way standard clients send them (``tritonclient.http``), passed through the server's
own logger conversion (:func:`mlrail.serving.payload_log.documents.document`)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import tritonclient.http as triton

from mlrail.serving.payload_log.documents import document, utc_time

MODEL = "penguins"


def stamp(when: dt.datetime) -> str:
    """A record's timestamp as the writer formats it (``...T07:45:00.000123Z``)."""
    return utc_time(when.timestamp())


def record(
    when: dt.datetime,
    *,
    rid: str = "r",
    version: str = "1",
    identity: str | None = "sha256:ab",
    model: str = MODEL,
    inputs: list[Any] | None = None,
    outputs: list[Any] | None = None,
    latency_ms: float = 0.5,
) -> dict[str, Any]:
    """One log record (every field of the layout)."""
    return {
        "id": rid,
        "model": model,
        "version": version,
        "identity": identity,
        "timestamp": stamp(when),
        "latency_ms": latency_ms,
        "inputs": inputs if inputs is not None else [],
        "outputs": outputs if outputs is not None else [],
    }


def hour_folder(root: Path, model: str, when: dt.datetime) -> Path:
    when = when.astimezone(dt.UTC)
    return root / model / when.strftime("%Y-%m-%d") / when.strftime("%H")


def part_name(first: dt.datetime, host: str = "testhost", pid: int = 4242, seq: int = 0) -> str:
    return f"part-{first.astimezone(dt.UTC).strftime('%Y%m%dT%H%M%S%fZ')}-{host}-{pid}-{seq}.jsonl"


def write_lines(
    root: Path, model: str, hour: dt.datetime, lines: Iterable[bytes], *, seq: int = 0
) -> Path:
    """Raw lines (each given with or without its newline) as one part file of ``hour``."""
    folder = hour_folder(root, model, hour)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / part_name(hour, seq=seq)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        for line in lines:
            f.write(line)
    return path


def write_records(
    root: Path, records: Sequence[dict[str, Any]], *, model: str = MODEL, seq: int = 0
) -> list[Path]:
    """``records`` into their hour folders (by each record's timestamp), one part file per hour."""
    by_hour: dict[dt.datetime, list[bytes]] = {}
    for r in records:
        when = dt.datetime.fromisoformat(r["timestamp"])
        hour = when.replace(minute=0, second=0, microsecond=0)
        by_hour.setdefault(hour, []).append(orjson.dumps(r, option=orjson.OPT_APPEND_NEWLINE))
    return [write_lines(root, model, h, lines, seq=seq) for h, lines in sorted(by_hour.items())]


def v2_inputs(
    columns: dict[str, tuple[str, np.ndarray]], *, binary: bool = False, flat: bool = False
) -> list[Any]:
    """A request's inputs as a ``tritonclient.http`` client encodes them, then as the server's
    logger writes them (JSON; binary tensors decoded).

    Args:
        columns: Each input's V2 datatype and values (one per row).
        binary: Send with the binary tensor data extension (tritonclient's default).
        flat: Shape ``[n]`` instead of ``[n, 1]``.
    """
    tensors = []
    for name, (datatype, values) in columns.items():
        array = values if flat else values.reshape(-1, 1)
        tensor = triton.InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array, binary_data=binary)
        tensors.append(tensor)
    body, header = triton.InferenceServerClient.generate_request_body(tensors, request_id="x")
    logged = document(body, header)["inputs"]
    # the log line is written by orjson (NaN as null) and read back as JSON
    return list(orjson.loads(orjson.dumps(logged)))


def v2_output(values: np.ndarray, name: str = "probabilities") -> dict[str, Any]:
    """A V2 JSON output as the server answers it."""
    return {
        "name": name,
        "datatype": "FP32",
        "shape": list(values.shape),
        "data": values.astype(np.float32).ravel().tolist(),
    }
