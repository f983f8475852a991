"""What a local run tells when it ends: the summary ``mlrail run`` prints, and its facts as JSON.

Both are read from the :class:`~mlrail.local.runner.LocalRun` the run returns (its steps'
records and outputs, :mod:`mlrail.local.runner`), never from log text.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from mlrail.local.runner import LocalRun, StepResult
from mlrail.redact import redact

__all__ = ["format_summary", "summary_record", "write_summary_json"]


def format_summary(run: LocalRun, *, serve_hint: bool = True) -> str:
    """The summary printed by ``mlrail run``."""
    lines = ["", f"  {'step':<12} {'status':<8} {'time':>8}   figures"]
    for s in run.steps:
        t = f"{s.seconds:6.1f} s" if s.seconds is not None else "       -"
        lines.append(f"  {s.name:<12} {s.status:<8} {t}   {s.summary}".rstrip())
    lines.append("")
    if run.status == "SUCCESS":
        lines.append(f"ONNX model:  {run.onnx_model}")
        if number := run.figures.get("release_number"):
            name = run.figures["deployment"]["model_name"]
            lines.append(f"Release:     #{number} of {name} (mlrail releases show {name})")
        if serve_hint:
            lines.append(f"Serve it:    mlrail serve --model-repository {run.model_repository}")
    elif run.status == "STOPPED":
        skipped = next(s.name for s in run.steps if s.status == "SKIPPED")
        why = "the data has anomalies" if skipped == "train" else "the model was not blessed"
        lines.append(f"Stopped before {skipped}: {why} (the pipeline's gate).")
        if run.onnx_model is not None:  # exported and measured, not deployed
            lines.append(f"Not deployed: {run.onnx_model}")
    else:
        failed = [s.name for s in run.steps if s.status == "FAILURE"]
        lines.append(f"FAILED at {', '.join(failed) or 'start'}: {run.error}")
    lines.append(f"Full log:    {run.log_file}")
    return redact("\n".join(lines))


def _plain(value: Any) -> Any:
    """``value`` as JSON can hold it: paths as strings, a non-finite number as null; strings
    with credentials masked."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str):
        return redact(value)
    return value


def _step_record(s: StepResult) -> dict[str, Any]:
    record: dict[str, Any] = {
        "name": s.name,
        "status": s.status,
        "seconds": s.seconds,
        "attempts": s.attempts,
        "summary": redact(s.summary),
        "error": redact(s.error),
        "artifacts": s.artifacts,
    }
    if s.loop:
        record["shards"] = [_step_record(shard) for shard in s.shards]
    return record


def summary_record(run: LocalRun) -> dict[str, Any]:
    """The facts of :func:`format_summary` as data (``mlrail run --summary-json``).

    ``{"run_id", "status", "ok", "error", "seconds", "steps": [{"name", "status", "seconds",
    "attempts", "summary", "error", "artifacts": {output: path}, and for a step in a loop
    "shards": [the same for each of its runs]}], "figures": {"rows",
    "anomalies", "metrics", "blessed", "parity_max_abs_diff", "variants", "deployment",
    "registered_model", "release_number"} (those the steps reported), "onnx_model",
    "model_repository", "run_dir", "log_file"}``; credentials in URIs masked.
    """
    record = {
        "run_id": run.run_id,
        "status": run.status,
        "ok": run.ok,
        "error": redact(run.error),
        "seconds": run.seconds,
        "steps": [_step_record(s) for s in run.steps],
        "figures": run.figures,
        "onnx_model": run.onnx_model,
        "model_repository": run.model_repository,
        "run_dir": run.run_dir,
        "log_file": run.log_file,
    }
    plain: dict[str, Any] = _plain(record)
    return plain


def write_summary_json(run: LocalRun, path: str | Path) -> None:
    """Write :func:`summary_record` to ``path`` atomically (a reader never sees half a file)."""
    from mlrail.io import atomic_write_json

    atomic_write_json(Path(path).expanduser(), summary_record(run))
