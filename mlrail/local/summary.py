"""Each step's one-line summary and the run's figures, read from what the steps wrote.

A step's outputs are read from its ``executor_output.json`` (in its task folder): the metadata
its adapter put on each output artifact, and each artifact's location. No artifact's files are
opened: the adapters put the headline figures in the metadata (which the Kubeflow UI shows
too). Only the steps the runner knows a headline for get a summary; another pipeline's steps
still get their status and time (:mod:`mlrail.local.steps`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Outputs", "read_outputs", "summarise"]

#: The evaluation figures a run's summary shows (the report has them all).
_HEADLINE = ("accuracy", "balanced_accuracy", "roc_auc", "log_loss", "rmse", "mae", "r2")
#: Indent of a summary's continuation lines (under the "figures" column).
_MORE = "\n" + " " * 33


@dataclass
class Outputs:
    """What one step's executor wrote: each output artifact's metadata and local path, and its
    output parameters (a return value is ``Output``)."""

    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.metadata or self.parameters)


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_outputs(task_dir: Path) -> Outputs:
    """The outputs a step recorded in ``task_dir/executor_output.json`` (empty if none)."""
    out = _read(task_dir / "executor_output.json") or {}
    outputs = Outputs(parameters=dict(out.get("parameterValues", {})))
    for name, listed in out.get("artifacts", {}).items():
        (artifact, *_) = listed.get("artifacts") or [{}]
        outputs.metadata[name] = dict(artifact.get("metadata", {}))
        if uri := artifact.get("uri"):
            # kfp.local's artifact URIs are local paths (the run folder under pipeline_root)
            outputs.paths[name] = Path(uri)
    return outputs


def _ingest(out: Outputs, figures: dict[str, Any]) -> str:
    examples = out.metadata.get("examples", {})
    rows = {k.removeprefix("rows_"): v for k, v in examples.items() if k.startswith("rows_")}
    figures["rows"] = rows
    return "rows: " + ", ".join(f"{k} {int(v)}" for k, v in rows.items())


def _plan(out: Outputs, figures: dict[str, Any]) -> str:
    shards = out.parameters.get("Output")
    if not isinstance(shards, list):
        return ""
    total = sum(int(s.get("bytes", 0)) for s in shards if isinstance(s, dict))
    return f"{len(shards)} shard(s), {total:,} bytes"


def _merge(out: Outputs, figures: dict[str, Any]) -> str:
    examples = out.metadata.get("examples", {})
    if "num_shards" not in examples:
        return ""
    return f"{int(examples['num_shards'])} shard(s); " + _ingest(out, figures)


def _validate(out: Outputs, figures: dict[str, Any]) -> str:
    anomalies = out.metadata.get("anomalies", {})
    if "num_anomalies" not in anomalies:
        return ""
    count = figures["anomalies"] = anomalies["num_anomalies"]
    return f"anomalies: {count}" + "".join(_MORE + a for a in anomalies.get("anomalies", []))


def _train(out: Outputs, figures: dict[str, Any]) -> str:
    model = out.metadata.get("model", {})
    workers = int(model.get("workers", 1))
    return f"task: {model.get('task')}, {int(model.get('rows', 0))} rows" + (
        f", {workers} workers" if workers > 1 else ""
    )


def _evaluate(out: Outputs, figures: dict[str, Any]) -> str:
    metrics = out.metadata.get("metrics", {})
    figures["metrics"] = metrics
    shown = ", ".join(f"{k} {metrics[k]:.4f}" for k in _HEADLINE if k in metrics)
    blessing = out.metadata.get("blessing", {})
    if "blessed" not in blessing:
        return shown
    figures["blessed"] = blessing["blessed"]
    if blessing["blessed"]:
        return f"{shown}; blessed"
    failed = [f"{c['metric']}: {c['reason'] or 'failed'}" for c in blessing["failed_checks"]]
    return f"{shown}; NOT blessed: " + ", ".join(failed)


def _export_onnx(out: Outputs, figures: dict[str, Any]) -> str:
    onnx = out.metadata.get("onnx_model", {})
    if "max_abs_diff" not in onnx:
        return ""
    figures["onnx_model"] = out.paths["onnx_model"] / "model.onnx"
    figures["parity_max_abs_diff"] = onnx["max_abs_diff"]
    summary = (
        f"parity: max |diff| {onnx['max_abs_diff']:.2g} over {onnx['rows']} eval rows "
        f"(bound {onnx['tolerance']:g} + {onnx['rtol']:g} x max(|value|, {onnx['scale']:.4g}))"
    )
    if variants := onnx["variants"]:
        figures["variants"] = variants
    return summary + "".join(
        f"{_MORE}{v['name']}: {'kept' if v['accepted'] else 'rejected'}, {v['bytes']:,} bytes"
        + ("" if v["accepted"] else f" ({v['reason']})")
        for v in variants
    )


def _deploy(out: Outputs, figures: dict[str, Any]) -> str:
    dep = out.metadata.get("deployment", {})
    if not dep:
        return ""
    figures["deployment"] = dep
    if number := out.metadata.get("release", {}).get("number"):
        figures["release_number"] = number
    if dep["target"] == "local":
        figures["onnx_model"] = Path(dep["location"]) / "model.onnx"
        what = f"version {dep['version']} in {Path(dep['location']).parent}"
        if dep.get("decision") == "unchanged":
            what += " (unchanged: the same model)"
        if dep.get("registry_version"):
            what += f"; champion: registry version {dep['registry_version']}"
        return what
    if dep["target"] == "render":
        return f"rendered InferenceService {dep['location']}"
    url = f" at {dep['url']}" if dep.get("url") else ""
    return f"{dep.get('decision', '?')}: {dep['location']}{url}"


def _register(out: Outputs, figures: dict[str, Any]) -> str:
    reg = out.metadata.get("registered_model", {})
    if "version" not in reg:
        return ""
    figures["registered_model"] = reg
    how = "created" if reg.get("created") else "reused: that model was registered already"
    return f"{reg['name']} version {reg['version']} ({how})"


def _notify(out: Outputs, figures: dict[str, Any]) -> str:
    sent = out.metadata.get("delivery", {})
    if "event_type" not in sent:
        return ""
    kind = sent["event_type"].removeprefix("io.mlrail.")
    if not sent.get("event_sink"):
        return f"{kind}: not sent (no events sink)"
    if sent.get("event_delivered"):
        return f"{kind} -> {sent['event_sink']}"
    return f"{kind} NOT delivered to {sent['event_sink']}: {sent.get('event_error', '')}"


#: Each known component's headline, by the component function's name (a step's name).
_SUMMARIES: dict[str, Callable[[Outputs, dict[str, Any]], str]] = {
    "plan": _plan,
    "ingest": _ingest,
    "merge": _merge,
    "validate": _validate,
    "train": _train,
    "evaluate": _evaluate,
    "export_onnx": _export_onnx,
    "register": _register,
    "deploy": _deploy,
    "notify": _notify,
}


def summarise(step: str, task_dir: Path, figures: dict[str, Any]) -> str:
    """The summary of ``step`` from its task folder; adds its figures to ``figures``.

    ``figures["onnx_model"]`` is the model file to serve: export's, then deploy's copy.
    """
    out = read_outputs(task_dir)
    if not out or step not in _SUMMARIES:
        return ""
    return _SUMMARIES[step](out, figures)
