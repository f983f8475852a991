"""The embedded default: run a pipeline on this machine through ``kfp.local``, no cluster.

Tasks run as subprocesses of this Python (``SubprocessRunner(use_venv=False)``: the installed
mlrail is the component image's library, and nothing is pip-installed at run time). Everything
KFP prints goes to a log file, with credentials in URIs masked; the terminal gets one line per
step and a summary read from the artifacts the steps wrote.

The working folder (``--workdir``) may be shared by runs at the same time. Each run has its own
id (``<UTC time>-<random>``), its own log (``logs/training-<id>.log``, created exclusively), its
own run folder (``pipeline_root/training-<id>-<kfp's time stamp>/``, the only one the summary
reads) and its own temporary folder (``tmp/.run.pid<PID>-*.tmp``: kfp.local's workspace and
each task's program folder, removed when the run ends). Each run, as it starts, removes what
killed runs left behind (:func:`mlrail.io.sweep_stale`: only temporaries whose process is gone).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import logging
import os
import re
import secrets
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mlrail.errors import MlrailError
from mlrail.redact import redact

__all__ = [
    "STEPS",
    "LocalRun",
    "StepResult",
    "check_columns",
    "format_summary",
    "model_name_for",
    "new_run_id",
    "run_training",
]

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
    run_id: str = ""

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


def check_columns(source: str, columns: dict[str, list[str]]) -> None:
    """Refuse settings naming columns the data does not have, before any step runs.

    Args:
        source: The data source (as for ingest).
        columns: Setting (e.g. ``--label``) to the column names it gives.

    Raises:
        MlrailError: naming the setting, the column, the source and the columns it has.
    """
    wanted = [c for names in columns.values() for c in names]
    if not wanted:
        return
    from mlrail.sources import columns as source_columns

    have = source_columns(source, wanted)
    for setting, names in columns.items():
        for name in names:
            if name not in have:
                shown = ", ".join(map(repr, have[:20])) + (", ..." if len(have) > 20 else "")
                raise MlrailError(
                    f"{setting} {name!r}: not a column of {source} (its columns: {shown})"
                )


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
            f"(bound {parity['tolerance']:g} + {parity['rtol']:g} x "
            f"max(|value|, {parity.get('scale', 0.0):.4g}))"
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
    return redact(found)


#: The evaluation figures a run's summary shows (the report has them all).
_HEADLINE = ("accuracy", "balanced_accuracy", "roc_auc", "log_loss", "rmse", "mae", "r2")


# Each task's shell script, for kfp.local's SubprocessRunner. kfp.local replaces the text
# "python3" in EVERY element of a task's command line with this Python's path (to run the
# task in it), its executor input (the JSON holding every argument value and artifact path)
# included, so "--data ~/python3-data/x.csv" reached ingest as ".../bin/python-data/x.csv".
# It leaves alone only the element right after the one that holds both
# '"$program_path/ephemeral_component.py"' and '"$@"' (meant for the component's source), so
# here that element is the executor input ($0), the source comes next ($1). The program folder
# is made under $TMPDIR (the run's own temporary folder) and removed when the task ends: kfp's
# own script leaves a /tmp/tmp.* folder per task.
_LOCAL_TASK_SCRIPT = """\
program_path=$(mktemp -d "${TMPDIR:-/tmp}/mlrail-task.XXXXXXXX")
trap 'rm -rf "$program_path"' EXIT
printf "%s" "$1" > "$program_path/ephemeral_component.py"
executor_input=$0
shift
_KFP_RUNTIME=true python3 -m kfp.dsl.executor_main \\
    --component_module_path "$program_path/ephemeral_component.py" \\
    --executor_input "$executor_input" "$@"
"""


def _local_command(name: str, container: dict[str, Any]) -> None:
    """Rewrite one executor's command in place for :data:`_LOCAL_TASK_SCRIPT`."""
    command, args = container.get("command", []), container.get("args", [])
    expected = (
        len(command) == 4
        and command[:2] == ["sh", "-ec"]
        and "ephemeral_component.py" in command[2]
        and args[:2] == ["--executor_input", "{{$}}"]
    )
    if not expected:
        raise MlrailError(
            f"{name}: not the lightweight Python component command this kfp.local "
            "workaround expects (a kfp upgrade?): see _LOCAL_TASK_SCRIPT in mlrail/local.py"
        )
    source = command[3]
    if "python3" in source:
        # the one element kfp.local skips is the executor input now: the source is rewritten
        raise MlrailError(f"{name}: the component's source holds the text 'python3'")
    container["command"] = ["sh", "-ec", _LOCAL_TASK_SCRIPT, "{{$}}", source, *args[2:]]
    container["args"] = []


def _for_local(pipeline: Any, name: str = "") -> Any:
    """The compiled pipeline, adapted to a laptop, loaded back as a component.

    - Retry policies are dropped: retries with backoff are for transient failures on the cluster
      (an object store hiccup); locally a step that failed fails again, so it fails at once.
    - The Kubernetes platform settings (second YAML document) are dropped: they mean nothing here.
    - KFP's scheduled-time placeholder becomes "": kfp.local cannot resolve it, and a local run
      has no schedule (a span pattern in the source then needs ``span_date``).
    - Each task's command passes its arguments where kfp.local does not rewrite "python3" in
      them, and removes its program folder (:data:`_LOCAL_TASK_SCRIPT`).
    - ``name`` (if given) becomes the pipeline's name, so kfp.local's run folder
      (``<name>-<time stamp>``) says which run made it.

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
    for executor, body in spec.get("deploymentSpec", {}).get("executors", {}).items():
        if "container" in body:
            _local_command(executor, body["container"])
    if name:
        spec["pipelineInfo"]["name"] = name
    return components.load_component_from_text(yaml.safe_dump(spec))


def new_run_id() -> str:
    """A run id unique on this working folder: UTC time to the second and 24 random bits."""
    return f"{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


class _Redacting(io.TextIOBase):
    """A text stream that masks credentials (:func:`mlrail.redact.redact`) line by line.

    Whole lines are redacted, so a URI split across two writes is still caught.
    """

    def __init__(self, out: IO[str]) -> None:
        super().__init__()
        self._out = out
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        lines = (self._pending + text).split("\n")
        self._pending = lines.pop()
        if lines:
            self._out.write("".join(redact(line) + "\n" for line in lines))
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._out.write(redact(self._pending))
            self._pending = ""
        self._out.flush()


@contextlib.contextmanager
def _run_tmp(root: Path) -> Iterator[Path]:
    """The run's own temporary folder (``TMPDIR`` for its tasks), removed when the run ends."""
    from mlrail.io import staging_dir

    parent = root / "tmp"
    parent.mkdir(parents=True, exist_ok=True)
    tmp = staging_dir(parent, prefix=".run.")
    # this process's own temporary folder is decided (and cached by tempfile) now: were it
    # first asked for during the run, it would be this folder, gone after the run
    tempfile.gettempdir()
    before = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(tmp)  # tasks inherit this process's environment
    try:
        yield tmp
    finally:
        if before is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = before
        shutil.rmtree(tmp, ignore_errors=True)


def run_training(
    *,
    workdir: str | Path,
    arguments: dict[str, Any],
    echo: IO[str] | None = None,
    runner: Any = None,
    run_id: str | None = None,
) -> LocalRun:
    """Run the ``training`` pipeline through kfp.local.

    Args:
        workdir: Holds ``pipeline_root/`` (every artifact), ``models/`` (the local model
            repository deploy pushes to), ``logs/`` and ``tmp/`` (see the module doc).
        arguments: Pipeline parameters; ``deploy_target`` defaults to ``local``,
            ``model_repository`` to ``<workdir>/models`` and, when deploying locally,
            ``baseline_model`` to the model's folder there (its newest version is the baseline).
        echo: Where to print one line per finished step (None: nowhere).
        runner: A kfp.local runner; default ``SubprocessRunner(use_venv=False)`` (this Python).
            A ``DockerRunner`` runs each step in the component image instead.
        run_id: The run's id (default: :func:`new_run_id`); names its log and run folder.

    Raises:
        MlrailError: the working folder cannot be written (naming it); nothing ran.
    """
    from kfp import local

    from mlrail.io import sweep_stale
    from mlrail.pipelines.training import training

    run_id = run_id or new_run_id()
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
    try:
        (root / "logs").mkdir(parents=True, exist_ok=True)
        log_file = root / "logs" / f"training-{run_id}.log"
        # exclusive: a run never writes into another run's log
        log_stream = open(log_file, "x", encoding="utf-8")  # closed by the with below
    except OSError as e:
        raise MlrailError(f"--workdir {root}: cannot write there: {e.strerror or e}") from e
    pipeline_root = root / "pipeline_root"
    # what killed runs left (a half-written artifact folder, a push, a task's program folder);
    # a concurrent run's temporaries stay, its process being alive. Only mlrail's own folders:
    # a working folder may be one's home.
    for folder in (pipeline_root, models, root / "tmp"):
        sweep_stale(folder)

    steps = [StepResult(name) for name in STEPS]
    clock = _TaskClock({s.name: s for s in steps}, echo)
    root_logger = logging.getLogger()
    status, error = "SUCCESS", ""
    pipeline_name = f"training-{run_id}"
    # Tasks run ``python -m`` in the current folder, where a source checkout's ``mlrail/`` would
    # shadow the installed package (which maps mlrail.components from ``components/``): run them
    # from the work folder instead.
    with (
        log_stream as raw_log,
        _Redacting(raw_log) as log,
        contextlib.chdir(root),
        contextlib.redirect_stdout(log),
        contextlib.redirect_stderr(log),
        warnings.catch_warnings(),
        _run_tmp(root) as tmp,
    ):
        # Both are expected here: the component image *is* this environment, and resources are
        # settings for the cluster.
        warnings.filterwarnings("ignore", message=".*non-Python base image.*")
        warnings.filterwarnings("ignore", message=".*have no effect in the current local runner.*")
        warnings.filterwarnings("ignore", message=".*use_venv=False.*")
        root_logger.addFilter(clock)
        start = time.monotonic()
        print(f"run {run_id}", file=log)
        try:
            workspace = tmp / "workspace"
            workspace.mkdir()
            local.init(
                runner=runner or local.SubprocessRunner(use_venv=False),
                pipeline_root=str(pipeline_root),
                workspace_root=str(workspace),
            )
            _for_local(training, pipeline_name)(**args)
        except RuntimeError as e:
            status, error = "FAILURE", redact(_ANSI.sub("", str(e)))
        finally:
            root_logger.removeFilter(clock)
            print(f"total {time.monotonic() - start:.1f} s", file=log)
    # this run's own folder: its name carries the run id (another run may have started since)
    mine = sorted(pipeline_root.glob(f"{pipeline_name}-*"))
    run = LocalRun(status, steps, mine[-1] if mine else None, log_file, models, run_id=run_id)
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
    return redact("\n".join(lines))
