"""A local run's run.failed names the step that failed: the runner's step records tell the exit
task (mlrail.local.steps), through kfp.local, and in a real ``mlrail run``."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from kfp import local

from mlrail.local.ir import compile_ir, for_local
from mlrail.local.steps import first_failure, recording
from tests.components.notify.test_component import _notified
from tests.events.receiver import Receiver


def _attempt(folder: Path, error: Exception | None) -> None:
    """One attempt recorded as a step records it: a success, or a failure with ``error``."""
    with contextlib.suppress(Exception), recording(folder):
        if error is not None:
            raise error


def test_first_failure_is_the_step_that_failed_first(tmp_path: Path) -> None:
    run = tmp_path / "training-1"
    for task in ("ingest", "train", "export-onnx", "notify", "no-record", "garbled"):
        (run / task).mkdir(parents=True)
    (run / "garbled" / "mlrail_step.json").write_text("{not json")  # skipped, never raised
    _attempt(run / "ingest", None)
    assert first_failure(run) is None  # nothing failed
    _attempt(run / "train", ValueError("bad module"))
    _attempt(run / "export-onnx", RuntimeError("later"))
    # a task still running (the asker's own record, or one killed hard) is not a failure
    (run / "notify" / "mlrail_step.json").write_text(
        json.dumps({"attempts": [{"started": "2026-01-01T00:00:00+00:00", "status": "RUNNING"}]})
    )
    found = first_failure(run, exclude="notify")
    assert found is not None
    name, record = found
    assert name == "train" and record.error == "ValueError: bad module"
    assert first_failure(run, exclude="train")[0] == "export-onnx"  # type: ignore[index]
    _attempt(run / "train", None)  # a retry that succeeded: train did not fail in the end
    assert first_failure(run)[0] == "export-onnx"  # type: ignore[index]
    assert first_failure(tmp_path / "absent") is None


# kfp.local warns that mlrail's image is not a Python image: the subprocess runner runs the
# installed library instead, which is the point of the embedded default
@pytest.mark.filterwarnings("ignore:.*non-Python base image.*:RuntimeWarning")
@pytest.mark.parametrize("fail", [False, True])
def test_through_kfp_local_the_exit_task_names_the_failed_step(
    tmp_path: Path, fail: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as mlrail run runs a pipeline: its compiled IR, each task through mlrail.local.steps;
    # what the environment the run starts in says is never taken for the run's own records
    monkeypatch.setenv("MLRAIL_FAILED_STEP", "not-this-one")
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(tmp_path / "root"),
        raise_on_error=False,
    )
    run = for_local(compile_ir(_notified), "notified-local")
    with Receiver().running() as r, contextlib.chdir(tmp_path):
        run(events_sink=r.url, fail=fail)
    (got,) = r.events
    data = got.event.get_data()
    if fail:
        assert data["state"] == "FAILED" and data["failed_task"] == "exit-handler-1"
        # the second _step's task (the first is "step"), and its own error
        assert data["failed_step"] == "step-2"
        assert data["step_error"] == "RuntimeError: this step fails"
    else:
        assert data["state"] == "SUCCEEDED"
        assert "failed_step" not in data and "step_error" not in data


@pytest.mark.filterwarnings("ignore:.*non-Python base image.*:RuntimeWarning")
def test_a_run_without_step_records_names_no_step(tmp_path: Path) -> None:
    # kfp.local's own task command keeps no step records (nor does KFP on a cluster): the
    # event names the group KFP names, and no step
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(tmp_path / "root"),
        raise_on_error=False,
    )
    with Receiver().running() as r, contextlib.chdir(tmp_path):
        _notified(events_sink=r.url, fail=True)
    (got,) = r.events
    data = got.event.get_data()
    assert data["failed_task"] == "exit-handler-1" and "failed_step" not in data


_FAILING_MODULE = """
def build_model(schema, statistics, hparams):
    raise ValueError("this module_file fails on purpose")
"""


def test_a_real_mlrail_run_that_fails_in_train_says_so_in_its_events(tmp_path: Path) -> None:
    module = tmp_path / "bad_module.py"
    module.write_text(_FAILING_MODULE)
    work = tmp_path / "work"
    env = {k: v for k, v in os.environ.items() if k not in ("K_SINK", "MLFLOW_TRACKING_URI")}
    env.pop("PYTHONPATH", None)
    argv = ["run", "--workdir", str(work), "--module-file", str(module), "--epochs", "1"]
    done = subprocess.run(
        [sys.executable, "-m", "mlrail.cli", *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAILED at train" in done.stdout
    lines = (work / "events.jsonl").read_text().splitlines()
    (event,) = (json.loads(line) for line in lines)
    assert event["type"] == "io.mlrail.run.failed"
    data = event["data"]
    assert data["state"] == "FAILED" and data["pipeline"] == "training"
    assert data["failed_task"] == "exit-handler-1"  # what KFP's final status names
    assert data["failed_step"] == "train"  # what failed
    assert data["step_error"] == (
        f"mlrail.errors.ModelError: module_file {module}: build_model raised ValueError: "
        "this module_file fails on purpose"
    )
