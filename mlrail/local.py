"""The embedded default: run a pipeline on this machine through ``kfp.local``, no cluster.

Tasks run as subprocesses of this Python (``SubprocessRunner(use_venv=False)``: the installed
mlrail is the component image's library, and nothing is pip-installed at run time). Everything
KFP prints goes to a log file; the terminal gets one line per step and a summary read from the
artifacts the steps wrote.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import re
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = ["STEPS", "LocalRun", "StepResult", "format_summary", "model_name_for", "run_training"]

#: Steps of the training pipeline in order, and the task folder kfp.local writes for each.
STEPS = {
    "ingest": "ingest",
    "validate": "validate",
    "train": "train",
    "evaluate": "evaluate",
    "export_onnx": "export-onnx",
    "deploy": "deploy",
}
_TASK_EVENT = re.compile(
    r"(Executing task|Task) \W*'([\w-]+)'\W*(?:finished with status \W*(\w+))?"
)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_ERROR_LINE = re.compile(r"^\s*((?:mlrail\.errors\.)?\w*(?:Error|Exception)): (.+)$")


@dataclass
class StepResult:
    name: str
    status: str = "NOT RUN"  # SUCCESS | FAILURE | SKIPPED | NOT RUN
    seconds: float | None = None
    summary: str = ""
    attempts: int = 0


@dataclass
class LocalRun:
    status: str
    steps: list[StepResult]
    run_dir: Path | None
    log_file: Path
    model_repository: Path
    figures: dict[str, Any] = field(default_factory=dict)
    onnx_model: Path | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "SUCCESS"


class _TaskClock(logging.Filter):
    """Times each task from kfp.local's own log records and reports each as it finishes.

    kfp.local swaps the root logger's handlers per task, so this is a filter on the root logger
    (filters stay) that only reads records and lets every one through.
    """

    def __init__(self, steps: dict[str, StepResult], echo: IO[str] | None) -> None:
        super().__init__()
        self.steps = {task: steps[name] for name, task in STEPS.items()}
        self.started: dict[str, float] = {}
        self.echo = echo

    def filter(self, record: logging.LogRecord) -> bool:
        m = _TASK_EVENT.search(_ANSI.sub("", str(record.getMessage())))
        if m and m.group(2) in self.steps:
            step = self.steps[m.group(2)]
            if m.group(1) == "Executing task":
                self.started[m.group(2)] = record.created
                step.attempts += 1
            elif m.group(3):
                step.seconds = record.created - self.started.get(m.group(2), record.created)
                step.status = m.group(3)
                if self.echo:
                    retry = f" (attempt {step.attempts})" if step.attempts > 1 else ""
                    print(
                        f"  {step.name:<12} {step.status:<8} {step.seconds:6.1f} s{retry}",
                        file=self.echo,
                        flush=True,
                    )
        return True


def model_name_for(source: str) -> str:
    """A DNS-1123 model name from a data file's name (``data/My Churn.csv`` → ``my-churn``)."""
    stem = re.split(r"[/:]", source.rstrip("/"))[-1].split(".")[0]
    name = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")[:45].strip("-")
    return name or "model"


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _metadata(run_dir: Path, task: str, artifact: str) -> dict[str, Any]:
    out = _read(run_dir / task / "executor_output.json") or {}
    arts = out.get("artifacts", {}).get(artifact, {}).get("artifacts", [{}])
    return dict(arts[0].get("metadata", {}))


def _summaries(run: LocalRun) -> None:
    """Fill each step's one-line summary and the run's figures from the artifacts written."""
    d = run.run_dir
    if d is None:
        return
    steps = {s.name: s for s in run.steps}
    ex = _metadata(d, "ingest", "examples")
    if ex:
        rows = {k.removeprefix("rows_"): v for k, v in ex.items() if k.startswith("rows_")}
        run.figures["rows"] = rows
        steps["ingest"].summary = "rows: " + ", ".join(f"{k} {int(v)}" for k, v in rows.items())
    an = _read(d / "validate" / "anomalies" / "anomalies.json")
    if an:
        run.figures["anomalies"] = an["num_anomalies"]
        lines = [f"[{a['split']}] {a['description']}" for a in an["anomalies"][:5]]
        steps["validate"].summary = f"anomalies: {an['num_anomalies']}" + "".join(
            f"\n{'':33}{line}" for line in lines
        )
    model = _metadata(d, "train", "model")
    if model:
        steps["train"].summary = f"task: {model.get('task')}, {int(model.get('rows', 0))} rows"
    metrics = _read(d / "evaluate" / "metrics")
    blessing = _read(d / "evaluate" / "blessing" / "blessing.json")
    if metrics:
        run.figures["metrics"] = metrics["metrics"]
        figures = metrics["metrics"]
        shown = ", ".join(f"{k} {figures[k]:.4f}" for k in _HEADLINE if k in figures)
        verdict = ""
        if blessing:
            run.figures["blessed"] = blessing["blessed"]
            failed = [
                f"{c['metric']}: {c.get('reason') or 'failed'}"
                for c in blessing["checks"]
                if not c["passed"]
            ]
            verdict = "; blessed" if blessing["blessed"] else "; NOT blessed: " + ", ".join(failed)
        steps["evaluate"].summary = f"{shown}{verdict}"
    parity = _read(d / "export-onnx" / "onnx_model" / "parity.json")
    if parity:
        run.figures["parity_max_abs_diff"] = parity["max_abs_diff"]
        run.onnx_model = d / "export-onnx" / "onnx_model" / "model.onnx"
        steps["export_onnx"].summary = (
            f"parity: max |diff| {parity['max_abs_diff']:.2g} over {parity['rows']} eval rows "
            f"(bound {parity['tolerance']:g} + {parity['rtol']:g} x |value|)"
        )
    variants = (_read(d / "export-onnx" / "onnx_model" / "variants.json") or {}).get("variants", [])
    if variants:
        run.figures["variants"] = variants
        steps["export_onnx"].summary += "".join(
            f"\n{'':33}{v['name']}: {'kept' if v['accepted'] else 'rejected'}, {v['bytes']:,} bytes"
            + ("" if v["accepted"] else f" ({v['reason']})")
            for v in variants
        )
    dep = _read(d / "deploy" / "deployment" / "deployment.json")
    if dep:
        run.figures["deployment"] = dep
        if dep["target"] == "local":
            run.onnx_model = Path(dep["location"]) / "model.onnx"
            steps["deploy"].summary = f"version {dep['version']} in {Path(dep['location']).parent}"
        elif dep["target"] == "render":
            steps["deploy"].summary = f"rendered InferenceService {dep['location']}"
        else:
            url = f" at {dep['url']}" if dep.get("url") else ""
            steps["deploy"].summary = f"{dep.get('decision', '?')}: {dep['location']}{url}"


def _last_error(log_file: Path) -> str:
    """The last exception a failed task printed: its own error, not kfp's wrapper around it."""
    found = ""
    with contextlib.suppress(OSError):
        for line in log_file.read_text(encoding="utf-8", errors="replace").splitlines():
            m = _ERROR_LINE.match(_ANSI.sub("", line))
            if m and "finished with status" not in line:
                found = f"{m.group(1)}: {m.group(2)}"
    return found


#: The evaluation figures a run's summary shows (the report has them all).
_HEADLINE = ("accuracy", "balanced_accuracy", "roc_auc", "log_loss", "rmse", "mae", "r2")


def _for_local(pipeline: Any) -> Any:
    """The compiled pipeline, adapted to a laptop, loaded back as a component.

    - Retry policies are dropped: retries with backoff are for transient failures on the cluster
      (an object store hiccup); locally a step that failed fails again, so it fails at once.
    - The Kubernetes platform settings (second YAML document) are dropped: they mean nothing here.
    - KFP's scheduled-time placeholder becomes "": kfp.local cannot resolve it, and a local run
      has no schedule (a span pattern in the source then needs ``span_date``).

    Loading the compiled IR also means the local run executes what ``mlrail compile`` ships.
    """
    import yaml
    from kfp import compiler, components, dsl

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pipeline.yaml"
        compiler.Compiler().compile(pipeline, str(path))
        spec = next(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    for comp in [spec["root"], *spec["components"].values()]:
        for task in comp.get("dag", {}).get("tasks", {}).values():
            task.pop("retryPolicy", None)
            for value in task.get("inputs", {}).get("parameters", {}).values():
                constant = value.get("runtimeValue", {})
                if constant.get("constant") == dsl.PIPELINE_JOB_SCHEDULE_TIME_UTC_PLACEHOLDER:
                    constant["constant"] = ""
    return components.load_component_from_text(yaml.safe_dump(spec))


def run_training(
    *,
    workdir: str | Path,
    arguments: dict[str, Any],
    echo: IO[str] | None = None,
    runner: Any = None,
) -> LocalRun:
    """Run the ``training`` pipeline through kfp.local.

    Args:
        workdir: Holds ``pipeline_root/`` (every artifact), ``models/`` (the local model
            repository deploy pushes to) and ``logs/``.
        arguments: Pipeline parameters; ``deploy_target`` defaults to ``local``,
            ``model_repository`` to ``<workdir>/models`` and, when deploying locally,
            ``baseline_model`` to the model's folder there (its newest version is the baseline).
        echo: Where to print one line per finished step (None: nowhere).
        runner: A kfp.local runner; default ``SubprocessRunner(use_venv=False)`` (this Python).
            A ``DockerRunner`` runs each step in the component image instead.
    """
    from kfp import local

    from mlrail.pipelines.training import training

    root = Path(workdir).expanduser().resolve()
    models = Path(arguments.get("model_repository") or root / "models").expanduser().resolve()
    args = {"deploy_target": "local", **arguments, "model_repository": str(models)}
    if args["deploy_target"] == "local" and "baseline_model" not in args:
        # the model in production is the newest version in the local repository (none at first)
        args["baseline_model"] = str(models / str(args.get("model_name", "penguins")))
    for key in ("source", "curated_schema", "baseline_statistics", "module_file", "baseline_model"):
        value = str(args.get(key, ""))
        if value and "://" not in value and not value.startswith("bundled:"):
            args[key] = str(Path(value).expanduser().resolve())  # tasks run in the work folder
    (root / "logs").mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    log_file = root / "logs" / f"training-{stamp}.log"
    pipeline_root = root / "pipeline_root"
    before = set(pipeline_root.glob("training-*")) if pipeline_root.is_dir() else set()

    steps = [StepResult(name) for name in STEPS]
    clock = _TaskClock({s.name: s for s in steps}, echo)
    root_logger = logging.getLogger()
    status, error = "SUCCESS", ""
    # Tasks run ``python -m`` in the current folder, where a source checkout's ``mlrail/`` would
    # shadow the installed package (which maps mlrail.components from ``components/``): run them
    # from the work folder instead.
    with (
        contextlib.chdir(root),
        open(log_file, "w", encoding="utf-8") as log,
        contextlib.redirect_stdout(log),
        contextlib.redirect_stderr(log),
        warnings.catch_warnings(),
    ):
        # Both are expected here: the component image *is* this environment, and resources are
        # settings for the cluster.
        warnings.filterwarnings("ignore", message=".*non-Python base image.*")
        warnings.filterwarnings("ignore", message=".*have no effect in the current local runner.*")
        warnings.filterwarnings("ignore", message=".*use_venv=False.*")
        root_logger.addFilter(clock)
        start = time.monotonic()
        try:
            local.init(
                runner=runner or local.SubprocessRunner(use_venv=False),
                pipeline_root=str(pipeline_root),
            )
            _for_local(training)(**args)
        except RuntimeError as e:
            status, error = "FAILURE", _ANSI.sub("", str(e))
        finally:
            root_logger.removeFilter(clock)
            print(f"total {time.monotonic() - start:.1f} s", file=log)
    new = sorted(set(pipeline_root.glob("training-*")) - before)
    run = LocalRun(status, steps, new[-1] if new else None, log_file, models)
    gate_closed = False
    for s in steps:
        if s.status == "NOT RUN" and status == "SUCCESS":
            s.status, gate_closed = "SKIPPED", True
    if gate_closed:
        run.status = "STOPPED"
    if status == "FAILURE":
        run.error = _last_error(log_file) or error
    _summaries(run)
    return run


def format_summary(run: LocalRun, *, serve_hint: bool = True) -> str:
    """The summary printed by ``mlrail run``."""
    lines = ["", f"  {'step':<12} {'status':<8} {'time':>8}   figures"]
    for s in run.steps:
        t = f"{s.seconds:6.1f} s" if s.seconds is not None else "       -"
        lines.append(f"  {s.name:<12} {s.status:<8} {t}   {s.summary}".rstrip())
    lines.append("")
    if run.status == "SUCCESS":
        lines.append(f"ONNX model:  {run.onnx_model}")
        if serve_hint:
            lines.append(f"Serve it:    mlrail serve --model-repository {run.model_repository}")
    elif run.status == "STOPPED":
        skipped = next(s.name for s in run.steps if s.status == "SKIPPED")
        why = "the data has anomalies" if skipped == "train" else "the model was not blessed"
        lines.append(f"Stopped before {skipped}: {why} (the pipeline's gate).")
    else:
        failed = [s.name for s in run.steps if s.status == "FAILURE"]
        lines.append(f"FAILED at {', '.join(failed) or 'start'}: {run.error}")
    lines.append(f"Full log:    {run.log_file}")
    return "\n".join(lines)
