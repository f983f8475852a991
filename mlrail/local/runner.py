"""The local run itself: run the training pipeline (or its sharded variant) through ``kfp.local``,
no cluster.

Tasks run as subprocesses of this Python (``SubprocessRunner(use_venv=False)``: the installed
mlrail is the component image's library, and nothing is pip-installed at run time). Everything
KFP prints goes to a log file, with credentials in URIs masked; the terminal gets each step's
progress lines as they are written (:mod:`mlrail.local.progress`), one line per step as it ends,
and a summary. The step lines and the summary are read from what the steps wrote down, never
from log text (progress lines are for the eye only): the steps and their task folders from the
compiled pipeline (:mod:`mlrail.local.ir`), each step's status, time and error from its record
(:mod:`mlrail.local.steps`), its headline figures from the metadata its adapter put on its
outputs (:mod:`mlrail.local.summary`).

The working folder (``--workdir``) may be shared by runs at the same time. Each run has its own
id (``<UTC time>-<random>``), its own log (``logs/<pipeline>-<id>.log``, e.g.
``logs/training-<id>.log``, created exclusively), its own run folder
(``pipeline_root/<pipeline>-<id>-<kfp's time stamp>/``, the only one the summary
reads) and its own temporary folder (``tmp/.run.pid<PID>-*.tmp``: kfp.local's workspace and
each task's program folder, removed when the run ends). Each run, as it starts, removes what
killed runs left behind (:func:`mlrail.io.sweep_stale`: only temporaries whose process is gone).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
import os
import re
import secrets
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mlrail.errors import MlrailError
from mlrail.local.ir import Step, compile_ir, compile_versioned, for_local, steps_of
from mlrail.local.progress import parse as parse_progress
from mlrail.local.steps import read_record
from mlrail.local.summary import read_outputs, summarise
from mlrail.redact import redact
from mlrail.registry import ENV_URI, embedded_uri

__all__ = [
    "LocalRun",
    "StepResult",
    "check_columns",
    "model_name_for",
    "new_run_id",
    "pipeline_steps",
    "run_training",
]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class StepResult:
    """One step of a local run, as its record and outputs tell (:mod:`mlrail.local.steps`).

    Attributes:
        name: The component function the step runs (``export_onnx``).
        status: ``SUCCESS``, ``FAILURE``, ``SKIPPED`` (behind a closed gate) or ``NOT RUN``.
        seconds: How long its last attempt took (None: it did not run, or never ended).
        summary: Its headline figures, from its outputs' metadata.
        attempts: How many attempts it started.
        task: Its task folder in the run folder (``export-onnx``).
        error: Its recorded error, one line ("" if none).
        artifacts: Its output artifacts' local paths, by output name.
        loop: The ``dsl.ParallelFor`` task it runs in ("" for none): it then runs once per
            shard, each run in ``shards``, and its status, time and error are theirs together
            (FAILURE if one failed; the sum of their times; the first failure's error).
        shards: Each run of a step in a loop, by iteration (``ingest[0]``, ...).
    """

    name: str
    status: str = "NOT RUN"
    seconds: float | None = None
    summary: str = ""
    attempts: int = 0
    task: str = ""
    error: str = ""
    artifacts: dict[str, Path] = field(default_factory=dict)
    loop: str = ""
    shards: list[StepResult] = field(default_factory=list)

    def folder(self, iteration: int | None = None) -> str:
        """Its task folder in the run folder (in a loop: of iteration ``iteration``)."""
        return Step(self.name, self.task, self.loop).folder(iteration)


@dataclass
class LocalRun:
    """A local run as its summary tells it.

    Attributes:
        status: ``SUCCESS``, ``STOPPED`` (a gate closed) or ``FAILURE``.
        steps: Each step, in the pipeline's order.
        run_dir: kfp.local's run folder (None: no step started).
        log_file: The run's log.
        model_repository: The local model repository deploy pushes to.
        figures: The headline figures the steps' outputs carry (rows, metrics, verdicts).
        onnx_model: The model file to serve (None: none was exported).
        error: Why the run failed, one line ("" if it did not).
        run_id: The run's id.
        seconds: How long the run took, from kfp.local's start to its end.
    """

    status: str
    steps: list[StepResult]
    run_dir: Path | None
    log_file: Path
    model_repository: Path
    figures: dict[str, Any] = field(default_factory=dict)
    onnx_model: Path | None = None
    error: str = ""
    run_id: str = ""
    seconds: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == "SUCCESS"


def pipeline_steps(pipeline: Any) -> list[Step]:
    """The steps of ``pipeline`` (a ``@dsl.pipeline``), from its compiled IR, in order."""
    return steps_of(compile_ir(pipeline))


def _seconds(seconds: float | None) -> str:
    return f"{seconds:6.1f} s" if seconds is not None else "       -"


class _Progress(logging.Filter):
    """Reads the steps' records as the run goes and prints each step's line as it ends.

    A step's record (:mod:`mlrail.local.steps`) is the only source: kfp.local's log records
    serve as a clock tick (kfp.local logs as each task ends, after the task wrote its record),
    never read. kfp.local swaps the root logger's handlers per task, so this is a filter on the
    root logger (filters stay) that lets every record through.
    """

    def __init__(
        self, steps: list[StepResult], runs: Path, pipeline_name: str, echo: IO[str] | None
    ) -> None:
        super().__init__()
        self.steps = steps
        self.runs, self.pipeline_name = runs, pipeline_name
        self.run_dir: Path | None = None
        self.echo = echo
        self.shown: dict[str, int] = {}  # step: the attempts it had when its line was printed

    def find_run_dir(self) -> Path | None:
        """This run's own folder: its name carries the run id (another run may share the root)."""
        if self.run_dir is None:
            mine = sorted(self.runs.glob(f"{self.pipeline_name}-*"))
            self.run_dir = mine[-1] if mine else None
        return self.run_dir

    def poll(self, *, final: bool = False) -> None:
        """Take in each step whose latest attempt ended (``final``: or never will: it was killed).

        A step retried gets a line per attempt that ended, as it ends.
        """
        run_dir = self.find_run_dir()
        if run_dir is None:
            return
        for step in self.steps:
            if step.loop:
                self._poll_loop(run_dir, step, final)
            else:
                self._poll_step(run_dir, step, final)

    def _poll_step(self, run_dir: Path, step: StepResult, final: bool) -> None:
        record = read_record(run_dir / step.task)
        if record is None or self.shown.get(step.name) == record.attempts:
            return
        if not (record.ended or final):
            return
        step.attempts, step.seconds = record.attempts, record.seconds
        if record.ended:
            step.status, step.error = record.status, record.error
        else:  # started and never ended: killed hard (the kernel, a timeout, a user)
            step.status = "FAILURE"
            step.error = "killed: the step's record has its start and no end"
        self.shown[step.name] = record.attempts
        if self.echo:
            retry = f" (attempt {step.attempts})" if step.attempts > 1 else ""
            print(
                f"  {step.name:<12} {step.status:<8} {_seconds(step.seconds)}{retry}",
                file=self.echo,
                flush=True,
            )

    def _poll_loop(self, run_dir: Path, step: StepResult, final: bool) -> None:
        """Each shard's run of a step in a loop gets its line as it ends (``ingest[2]``); the
        step is their sum."""
        runs = run_dir.glob(f"{step.loop}-iteration-*")
        found = (p.name.rpartition("-iteration-")[2] for p in runs)
        for i in sorted(int(n) for n in found if n.isdigit()):
            while len(step.shards) <= i:
                n = len(step.shards)
                step.shards.append(StepResult(f"{step.name}[{n}]", task=step.folder(n)))
            self._poll_step(run_dir, step.shards[i], final)
        ran = [s for s in step.shards if s.status != "NOT RUN"]
        if not ran:
            return
        failed = [s for s in ran if s.status == "FAILURE"]
        step.status = "FAILURE" if failed else "SUCCESS"
        step.error = f"{failed[0].name}: {failed[0].error}" if failed else ""
        step.seconds = sum(s.seconds or 0.0 for s in ran)
        step.attempts = max(s.attempts for s in ran)

    def filter(self, record: logging.LogRecord) -> bool:
        self.poll()
        return True

    def line(self, text: str) -> None:
        """One line of the run's log (redacted): a step's progress line is shown at once."""
        found = parse_progress(text)
        if found is not None and self.echo:
            step, message = found
            print(f"  {step:<12} {message}", file=self.echo, flush=True)


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


def new_run_id() -> str:
    """A run id unique on this working folder: UTC time to the second and 24 random bits."""
    return f"{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


class _Redacting(io.TextIOBase):
    """A text stream that masks credentials (:func:`mlrail.redact.redact`) line by line.

    Whole lines are redacted, so a URI split across two writes is still caught. ``on_line``
    (if given) is handed each whole line, redacted, as it is written.
    """

    def __init__(self, out: IO[str], on_line: Callable[[str], None] | None = None) -> None:
        super().__init__()
        self._out = out
        self._on_line = on_line
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        lines = (self._pending + text).split("\n")
        self._pending = lines.pop()
        if lines:
            shown = [redact(line) for line in lines]
            self._out.write("".join(line + "\n" for line in shown))
            if self._on_line is not None:
                for line in shown:
                    self._on_line(line)
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._out.write(redact(self._pending))
            self._pending = ""
        self._out.flush()


@contextlib.contextmanager
def _kfp_local_globals() -> Iterator[None]:
    """``builtins.print`` and the root logger as they were before the run, whatever it did.

    kfp.local swaps both per task (its ``indented_print`` and ``local_logger_context``), and
    runs a ParallelFor's tasks in threads: two tasks swapping at once can leave its indenting
    print, and a handler on the then-current stdout, behind after the run.
    """
    import builtins

    root = logging.getLogger()
    saved_print, handlers, level = builtins.print, root.handlers[:], root.level
    try:
        yield
    finally:
        builtins.print = saved_print
        root.handlers[:] = handlers
        root.setLevel(level)


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
    pipeline: Any = None,
) -> LocalRun:
    """Run the ``training`` pipeline (or another with its parameters) through kfp.local.

    Args:
        workdir: Holds ``pipeline_root/`` (every artifact), ``models/`` (the local model
            repository deploy pushes to), ``logs/`` and ``tmp/`` (see the module doc).
        arguments: Pipeline parameters; ``deploy_target`` defaults to ``local``,
            ``model_repository`` to ``<workdir>/models``, ``release_store`` to
            ``<workdir>/releases``, ``registry_uri`` to the embedded registry
            ``<workdir>/registry`` (unless ``MLFLOW_TRACKING_URI`` is set), ``events_sink`` to
            ``<workdir>/events.jsonl`` (unless ``K_SINK`` is set) and ``pipeline_version`` to
            the compiled IR's SHA-256. ``baseline_model`` is the pipeline's: the registry's
            champion, which deploy moves.
        echo: Where to print each step's progress as it runs (its ``started`` line, rows,
            epochs: :mod:`mlrail.local.progress`) and one line per finished step (None:
            nowhere).
        runner: A kfp.local runner; default ``SubprocessRunner(use_venv=False)`` (this Python).
            A ``DockerRunner`` runs each step in the component image instead.
        run_id: The run's id (default: :func:`new_run_id`); names its log and run folder.
        pipeline: The pipeline (a ``@dsl.pipeline`` taking the training pipeline's parameters,
            e.g. :func:`mlrail.pipelines.training_sharded.sharded_pipeline`); default
            :data:`mlrail.pipelines.training.training`. Its name names the log and run folder.

    Raises:
        MlrailError: the working folder cannot be written (naming it); nothing ran.
    """
    from kfp import local

    from mlrail.io import sweep_stale

    if pipeline is None:
        from mlrail.pipelines.training import training as pipeline

    spec, version = compile_versioned(pipeline)
    name = spec["pipelineInfo"]["name"]
    run_id = run_id or new_run_id()
    root = Path(workdir).expanduser().resolve()
    models = Path(arguments.get("model_repository") or root / "models").expanduser().resolve()
    args = {"deploy_target": "local", **arguments, "model_repository": str(models)}
    if not args.get("events_sink") and not os.environ.get("K_SINK"):
        # a local run keeps its lifecycle events beside its logs (K_SINK, when set, wins)
        args["events_sink"] = str(root / "events.jsonl")
    # every release of the run's models is kept beside them (mlrail releases reads it)
    args.setdefault("release_store", str(root / "releases"))
    paths = ("source", "curated_schema", "baseline_statistics", "module_file", "baseline_model")
    for key in (*paths, "events_sink", "release_store"):
        value = str(args.get(key, ""))
        # not paths: URIs, bundled data, registry references, and baseline_model's "none"
        if value in ("", "none") or "://" in value or value.startswith(("bundled:", "models:/")):
            continue
        args[key] = str(Path(value).expanduser().resolve())  # tasks run in the work folder
    try:
        (root / "logs").mkdir(parents=True, exist_ok=True)
        log_file = root / "logs" / f"{name}-{run_id}.log"
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

    if not args.get("registry_uri") and not os.environ.get(ENV_URI):
        # the registry of a local run is a SQLite file beside its models (no server)
        args["registry_uri"] = embedded_uri(root)  # created by the first step to open it
    args.setdefault("pipeline_version", version)
    steps = [StepResult(step.name, task=step.task, loop=step.loop) for step in steps_of(spec)]
    pipeline_name = f"{name}-{run_id}"
    progress = _Progress(steps, pipeline_root, pipeline_name, echo)
    root_logger = logging.getLogger()
    status, error = "SUCCESS", ""
    # Tasks run ``python -m`` in the current folder, where a source checkout's ``mlrail/`` would
    # shadow the installed package (which maps mlrail.components from ``components/``): run them
    # from the work folder instead.
    with (
        log_stream as raw_log,
        _Redacting(raw_log, progress.line) as log,
        contextlib.chdir(root),
        contextlib.redirect_stdout(log),
        contextlib.redirect_stderr(log),
        warnings.catch_warnings(),
        _kfp_local_globals(),
        _run_tmp(root) as tmp,
    ):
        # Both are expected here: the component image *is* this environment, and resources are
        # settings for the cluster.
        warnings.filterwarnings("ignore", message=".*non-Python base image.*")
        warnings.filterwarnings("ignore", message=".*have no effect in the current local runner.*")
        warnings.filterwarnings("ignore", message=".*use_venv=False.*")
        root_logger.addFilter(progress)
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
            for_local(spec, pipeline_name)(**args)
        except RuntimeError as e:
            # kfp.local's own words (colour codes removed), shown only when no step recorded
            # its failure: a step killed before it could write its record
            status, error = "FAILURE", redact(_ANSI.sub("", str(e)))
        finally:
            root_logger.removeFilter(progress)
            progress.poll(final=True)
            total = time.monotonic() - start
            print(f"total {total:.1f} s", file=log)
    run = LocalRun(
        status, steps, progress.find_run_dir(), log_file, models, run_id=run_id, seconds=total
    )
    gate_closed = False
    for s in steps:
        if s.status == "NOT RUN" and status == "SUCCESS":
            s.status, gate_closed = "SKIPPED", True
    if gate_closed:
        run.status = "STOPPED"
    if status == "FAILURE":
        failed = [s.error for s in steps if s.status == "FAILURE"]
        run.error = failed[-1] if failed else f"no step recorded a failure ({error})"
    if run.run_dir is not None:
        for s in steps:
            if s.loop:
                s.summary = _shards_summary(s)
                for shard in s.shards:
                    shard.summary = summarise(s.name, run.run_dir / shard.task, {})
                    shard.artifacts = read_outputs(run.run_dir / shard.task).paths
                continue
            s.summary = summarise(s.name, run.run_dir / s.task, run.figures)
            s.artifacts = read_outputs(run.run_dir / s.task).paths
    run.onnx_model = run.figures.pop("onnx_model", None)
    return run


def _shards_summary(step: StepResult) -> str:
    """A step in a loop, in a few words: its runs and the slowest (the summary's time is their
    sum)."""
    ran = [s for s in step.shards if s.seconds is not None]
    if not step.shards:
        return ""
    text = f"{len(step.shards)} shard(s)"
    if ran:
        slowest = max(ran, key=lambda s: s.seconds or 0.0)
        text += f", slowest {slowest.name} {slowest.seconds:.1f} s"
    failed = [s.name for s in step.shards if s.status == "FAILURE"]
    return text + (f"; failed: {', '.join(failed)}" if failed else "")
