"""Step records: what each task of a local run writes down about itself, and how it is read.

A local run's task runs ``python -m mlrail.local.steps kfp.dsl.executor_main ...`` (see
:mod:`mlrail.local.ir`): this runs KFP's own entry point as ``python -m`` would, and around it
keeps a record in the task's folder (the folder of its ``executor_output.json``)::

    <task folder>/mlrail_step.json
        {"attempts": [{"started": ISO 8601 UTC, "ended": ISO 8601 UTC, "seconds": float,
                       "status": "SUCCESS" | "FAILURE", "error": "<one line>"}, ...]}

An attempt is written when it starts (status ``RUNNING``, no ``ended``) and again when it ends,
atomically each time (:func:`mlrail.io.atomic_write_json`). A retry appends an attempt. So the
record tells the runner, without reading any log text, whether a step ran, how long it took,
how it ended and why it failed; a step killed hard leaves its attempt ``RUNNING`` (it started
and never ended), and one killed before it started leaves no record at all.

The record lives beside the artifacts, not in one: artifacts are what steps pass each other
(and their layouts are documented by their cores); this is the runner's bookkeeping.

Each task also learns from these records which step of its run failed before it started, if
any: :data:`FAILED_STEP_ENV` (the step's task name, e.g. ``train``) and
:data:`STEP_ERROR_ENV` (its error line) are set in its environment (:func:`first_failure`).
Only the exit handler's task runs after a failure; its notify step puts the step in its
``io.mlrail.run.failed`` event, which KFP's final status cannot (it names the exit handler's
group). A step killed before its record ended (``RUNNING``) is not named: how it ended is not
known.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlrail.io import atomic_write_json, read_json
from mlrail.redact import redact

__all__ = [
    "FAILED_STEP_ENV",
    "RECORD_FILE",
    "STEP_ERROR_ENV",
    "StepRecord",
    "first_failure",
    "main",
    "read_record",
    "recording",
]

#: The record's name in the task folder (a name no output can take: outputs are identifiers).
RECORD_FILE = "mlrail_step.json"
#: Set in each task's environment: the task name of the step of its run that failed, if any
#: (read by notify: mlrail.components.notify.core).
FAILED_STEP_ENV = "MLRAIL_FAILED_STEP"
#: Set with :data:`FAILED_STEP_ENV`: that step's error, one line, credentials masked.
STEP_ERROR_ENV = "MLRAIL_FAILED_STEP_ERROR"


@dataclass(frozen=True)
class StepRecord:
    """A step's record as the runner reads it: its last attempt, and how many there were.

    Attributes:
        status: ``SUCCESS``, ``FAILURE`` or ``RUNNING`` (started, never ended: killed).
        seconds: The last attempt's duration (None while or if it never ended).
        attempts: How many attempts the step started.
        error: The last attempt's error, one line with credentials masked ("" if none).
        ended_at: When the last attempt ended (ISO 8601 UTC; "" while or if it never ended).
    """

    status: str
    seconds: float | None
    attempts: int
    error: str = ""
    ended_at: str = ""

    @property
    def ended(self) -> bool:
        return self.status != "RUNNING"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def error_line(exc: BaseException) -> str:
    """An exception as the last line of its traceback would name it, its message cut to one line.

    ``mlrail.errors.DataError: data.csv: the file is empty``: mlrail's errors are written to be
    read by a user (they name the file, the column, the line), so this is what a run shows.
    """
    kind = type(exc)
    name = kind.__qualname__
    if kind.__module__ not in ("builtins", "__main__"):
        name = f"{kind.__module__}.{name}"
    message = next((line for line in str(exc).splitlines() if line.strip()), "")
    return redact(f"{name}: {message}" if message else name)


def _attempts(path: Path) -> list[dict[str, Any]]:
    record = read_json(path) if path.is_file() else None
    attempts = record.get("attempts") if isinstance(record, dict) else None
    return list(attempts) if isinstance(attempts, list) else []


@contextlib.contextmanager
def recording(folder: str | Path) -> Iterator[None]:
    """Record one attempt of a step in ``folder`` (see the module doc) around the block.

    The exception that ends the block is recorded and raised again: the step still fails, with
    its traceback in the log, exactly as without a record.
    """
    path = Path(folder) / RECORD_FILE
    attempts = _attempts(path)  # earlier attempts of this task: a retry appends
    attempt: dict[str, Any] = {"started": _now(), "status": "RUNNING"}
    attempts.append(attempt)
    atomic_write_json(path, {"attempts": attempts})
    start = time.monotonic()
    try:
        yield
    except BaseException as e:
        attempt.update(status="FAILURE", error=error_line(e))
        raise
    else:
        attempt["status"] = "SUCCESS"
    finally:
        attempt.update(ended=_now(), seconds=time.monotonic() - start)
        atomic_write_json(path, {"attempts": attempts})


def read_record(folder: str | Path) -> StepRecord | None:
    """The record of the step whose task folder is ``folder``; None if it wrote none."""
    attempts = _attempts(Path(folder) / RECORD_FILE)
    if not attempts:
        return None
    last = attempts[-1]
    seconds = last.get("seconds")
    return StepRecord(
        status=str(last.get("status", "RUNNING")),
        seconds=float(seconds) if isinstance(seconds, int | float) else None,
        attempts=len(attempts),
        error=redact(str(last.get("error", ""))),
        ended_at=str(last.get("ended", "")),
    )


def first_failure(run_dir: str | Path, *, exclude: str = "") -> tuple[str, StepRecord] | None:
    """The step of a run that failed first, by its task folder's name (relative to the run
    folder: ``for-loop-2-iteration-1/ingest`` for a shard's step), and its record.

    Args:
        run_dir: The run's folder in the pipeline root (kfp.local's ``<name>-<time stamp>``),
            whose sub-folders are its tasks' folders.
        exclude: A task folder not to look at (the asking task's own).

    Returns:
        None when no step's last attempt ended in ``FAILURE`` (a record that cannot be read
        names no step: asking must never fail the task that asks).
    """
    failed = []
    folder = Path(run_dir)
    tasks = sorted(folder.iterdir()) if folder.is_dir() else []
    # a step in a dsl.ParallelFor runs in its iteration's folder: <loop>-iteration-<i>/<task>
    for loop in [t for t in tasks if "-iteration-" in t.name and t.is_dir()]:
        try:
            tasks += sorted(loop.iterdir())
        except OSError:
            continue
    for task in tasks:
        try:
            record = read_record(task) if task.name != exclude and task.is_dir() else None
        except (OSError, ValueError):
            continue
        if record is not None and record.status == "FAILURE":
            failed.append((record.ended_at, task.relative_to(folder).as_posix(), record))
    if not failed:
        return None
    _, name, record = min(failed, key=lambda f: (f[0], f[1]))
    return name, record


def _tell_failure(folder: Path) -> None:
    """Set :data:`FAILED_STEP_ENV` and :data:`STEP_ERROR_ENV` for the task in ``folder``."""
    import os

    os.environ.pop(FAILED_STEP_ENV, None)  # never an outer process's
    os.environ.pop(STEP_ERROR_ENV, None)
    found = first_failure(folder.parent, exclude=folder.name)
    if found is not None:
        os.environ[FAILED_STEP_ENV] = found[0]
        os.environ[STEP_ERROR_ENV] = found[1].error


def _function(args: list[str]) -> str:
    """The component function KFP's executor is told to run (``--function_to_execute``)."""
    if "--function_to_execute" in args[:-1]:
        return args[args.index("--function_to_execute") + 1]
    return ""


def main() -> None:
    """``python -m mlrail.local.steps MODULE ARGS...``: run ``python -m MODULE ARGS...``, recording.

    MODULE is KFP's executor entry point (``kfp.dsl.executor_main``; kfp.local looks for its name
    in a task's command), ARGS its arguments (``--executor_input JSON ...``). The record goes in
    the folder of the executor input's ``outputs.outputFile``, which kfp.local puts in the
    task's own folder. The step's progress (:mod:`mlrail.local.progress`) goes to standard
    output, starting with its ``started`` line.
    """
    import logging
    import os
    import runpy

    from mlrail.local.progress import report_to_stdout

    module, *args = sys.argv[1:]
    executor_input = json.loads(args[args.index("--executor_input") + 1])
    folder = Path(executor_input["outputs"]["outputFile"]).parent
    sys.argv = [module, *args]
    _tell_failure(folder)
    # the step's progress lines (mlrail.local.progress), named as the summary names the step
    # (a shard's run of a step in a dsl.ParallelFor: ingest[2], in its iteration's folder)
    name = _function(args) or folder.name
    loop, _, iteration = folder.parent.name.rpartition("-iteration-")
    report_to_stdout(f"{name}[{iteration}]" if loop and iteration.isdigit() else name)
    with recording(folder):
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    # The step's outputs and record are written: end here. An interpreter that imported
    # TensorFlow takes 1.4 s more to tear itself down (measured: bench/bench_local_run.py), on
    # the run's critical path between two steps. What an exit flushes is flushed first; a step
    # that failed raised above and exits the ordinary way.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
