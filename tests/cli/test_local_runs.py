"""The local runner: two real ``mlrail run``s at once on one working folder, with "python3" in
every path; the steps it reads from the compiled pipeline; the records the steps write."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlrail.local.runner import _Redacting

PENGUINS = Path(__file__).parents[2] / "mlrail" / "data" / "penguins.csv"


def _start(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mlrail.cli", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=cwd,
    )


def _events(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# mlflow 3.17's own code, read here through MLflow's client (as in tests/registry)
@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning")
def test_two_runs_at_once_keep_their_own_log_folder_and_model(tmp_path: Path) -> None:
    # kfp.local rewrote the text "python3" in every argument: data, working folder and model
    # name all hold it here
    data = tmp_path / "python3-data" / "penguins.csv"
    data.parent.mkdir()
    shutil.copy(PENGUINS, data)
    work = tmp_path / "python3-work"
    # a killed run's half-written artifact (its pid is gone), and a live run's (a live pid)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = work / "pipeline_root" / "training-x" / "ingest" / f".examples.pid{dead.pid}-ab.tmp"
    live = work / "pipeline_root" / "training-y" / "ingest" / f".examples.pid{sleeper.pid}-cd.tmp"
    for folder in (stale, live):
        folder.mkdir(parents=True)
        (folder / "part-00000.parquet").write_bytes(b"half")
    # kfp's task script made a /tmp/tmp.* folder per task and never removed it
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(system_tmp)}
    for name in ("PYTHONPATH", "MLFLOW_TRACKING_URI", "K_SINK"):  # the run's own defaults
        env.pop(name, None)
    argv = ["run", "--data", str(data), "--label", "species"]
    argv += ["--workdir", str(work), "--model-name", "python3-penguins", "--no-baseline"]
    argv += ["--requested-by", "ann@example.com", "--reason", "two seeds"]
    # two seeds, two models: the same model twice is one version (deploy: "unchanged")
    seeds = [["--hparams", json.dumps({"epochs": 2, "seed": seed})] for seed in (1, 2)]
    try:
        runs = [_start(argv + seed, env, tmp_path) for seed in seeds]
        outputs = [run.communicate()[0] for run in runs]
    finally:
        sleeper.kill()
        sleeper.wait()

    # each run's last lines, whole (a list's repr is cut to a few hundred characters)
    assert [run.returncode for run in runs] == [0, 0], "\n\n".join(o[-4000:] for o in outputs)
    versions, logs = [], []
    for out in outputs:
        log = Path(re.search(r"Full log: +(\S+)", out)[1])  # type: ignore[index]
        run_id = re.fullmatch(r"training-(.+)\.log", log.name)[1]  # type: ignore[index]
        assert log.read_text().startswith(f"run {run_id}\n")  # its own log, not the other's
        (run_dir,) = (work / "pipeline_root").glob(f"training-{run_id}-*")
        deployed = json.loads((run_dir / "deploy" / "deployment" / "deployment.json").read_text())
        # the summary shows the model this run deployed
        model = work / "models" / "python3-penguins" / str(deployed["version"]) / "model.onnx"
        assert f"ONNX model:  {model}" in out
        versions.append(deployed["version"])
        logs.append(log)
    assert sorted(versions) == [1, 2] and logs[0] != logs[1]
    # both were registered, at once, in the working folder's embedded registry
    from mlflow import MlflowClient

    uri = f"sqlite:///{work / 'registry' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    registered = client.search_model_versions("name='python3-penguins'")
    assert sorted(int(v.version) for v in registered) == [1, 2]
    for v in registered:
        assert v.tags["mlrail.requested_by"] == "ann@example.com", v.tags
        assert v.tags["mlrail.reason"] == "two seeds"
        assert len(v.tags["mlrail.pipeline.version"]) == 64
    for out in outputs:
        assert re.search(r"register +SUCCESS .* python3-penguins version [12] \(created\)", out)
    # each run's events in its order, whole lines although both runs appended at once
    by_run: dict[str, list[str]] = {}
    for e in _events(work / "events.jsonl"):
        by_run.setdefault(e["source"], []).append(e["type"].removeprefix("io.mlrail."))
    assert list(by_run.values()) == [["model.registered", "model.deployed", "run.succeeded"]] * 2
    # both deploys kept a release, numbered 1 and 2 whichever came first
    releases = sorted((work / "releases" / "python3-penguins").iterdir())
    assert [p.name[:6] for p in releases] == ["000001", "000002"]
    assert list(system_tmp.iterdir()) == []  # no task folder left in the system's temp
    assert list((work / "tmp").iterdir()) == []  # nor in the runs' own
    assert not stale.exists()
    assert (live / "part-00000.parquet").read_bytes() == b"half"


def test_run_logs_mask_credentials_even_across_writes() -> None:
    out = io.StringIO()
    log = _Redacting(out)
    log.write("reading s3://AKIA:wJal")
    log.write("r/SECRET@bucket/data.csv\nnext line with no secret\nlast")
    log.flush()
    assert out.getvalue() == ("reading s3://***@bucket/data.csv\nnext line with no secret\nlast")


def test_the_summary_masks_credentials(tmp_path: Path) -> None:
    from mlrail.local import LocalRun, StepResult, format_summary

    run = LocalRun(
        "FAILURE",
        [StepResult("ingest", "FAILURE"), StepResult("validate", "NOT RUN")],
        None,
        tmp_path / "run.log",
        tmp_path / "models",
        error="DataError: s3://KEY:SECRET@bucket/x.csv?secret_key=abc: no such file",
    )
    text = format_summary(run)
    assert "SECRET" not in text and "abc" not in text and "KEY" not in text
    assert "FAILED at ingest: DataError: s3://***@bucket/x.csv?secret_key=***" in text


def test_a_runs_temporary_folder_is_the_tasks_not_this_processs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run_training may be called again in the same process (a notebook): tempfile must not
    have cached the first run's folder, removed when that run ended."""
    import tempfile

    from mlrail.local.runner import _run_tmp

    monkeypatch.setattr(tempfile, "tempdir", None)  # not yet decided, as in a fresh process
    with _run_tmp(tmp_path) as tmp:
        assert os.environ["TMPDIR"] == str(tmp)  # for the tasks
        during = tempfile.gettempdir()  # as _for_local's compile asks during the run
    assert not tmp.exists()
    assert during == tempfile.gettempdir() and Path(during).is_dir()
    assert tmp_path not in Path(during).parents


def test_the_steps_and_their_task_folders_come_from_the_compiled_pipeline() -> None:
    from mlrail.local import pipeline_steps
    from mlrail.pipelines.training import training

    steps = pipeline_steps(training)
    # in dependency order through both gates' sub-DAGs; named by the component's function,
    # found in kfp.local's folder named by its component reference
    assert [(s.name, s.task) for s in steps] == [
        ("ingest", "ingest"),
        ("validate", "validate"),
        ("train", "train"),
        ("export_onnx", "export-onnx"),
        ("evaluate", "evaluate"),
        ("register", "register"),
        ("deploy", "deploy"),
        ("notify", "notify"),  # the exit handler: after everything else
    ]


def test_a_step_records_each_attempt_with_its_time_status_and_error(tmp_path: Path) -> None:
    from mlrail.errors import DataError
    from mlrail.local.steps import RECORD_FILE, read_record, recording

    assert read_record(tmp_path) is None  # never ran
    with pytest.raises(DataError), recording(tmp_path):
        raise DataError("s3://KEY:SECRET@bucket/x.csv: no such file\nsecond line")
    first = read_record(tmp_path)
    assert first is not None and first.status == "FAILURE" and first.attempts == 1
    # one line, as the traceback's last line names it, with the credentials masked
    assert first.error == "mlrail.errors.DataError: s3://***@bucket/x.csv: no such file"
    with recording(tmp_path):  # a retry
        pass
    second = read_record(tmp_path)
    assert second is not None and second.status == "SUCCESS" and second.error == ""
    assert second.attempts == 2 and second.seconds is not None and second.seconds >= 0
    record = json.loads((tmp_path / RECORD_FILE).read_text())
    assert [a["status"] for a in record["attempts"]] == ["FAILURE", "SUCCESS"]
    assert all(a["started"] <= a["ended"] for a in record["attempts"])


def test_a_step_killed_hard_is_a_failure_and_one_never_started_has_no_record(
    tmp_path: Path,
) -> None:
    from mlrail.local.runner import StepResult, _Progress
    from mlrail.local.steps import read_record

    run_dir = tmp_path / "training-x-2026"
    for task in ("ingest", "validate", "train"):
        (run_dir / task).mkdir(parents=True)
    killed = (
        "import os, signal, sys\n"
        "from mlrail.local.steps import recording\n"
        "with recording(sys.argv[1]):\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from mlrail.local.steps import recording\n"
            "import sys\nwith recording(sys.argv[1]): pass",
            str(run_dir / "ingest"),
        ],
        check=True,
    )
    subprocess.run([sys.executable, "-c", killed, str(run_dir / "validate")], check=False)
    record = read_record(run_dir / "validate")
    assert record is not None and not record.ended and record.seconds is None

    steps = [StepResult(n, task=n) for n in ("ingest", "validate", "train")]
    echo = io.StringIO()
    progress = _Progress(steps, tmp_path, "training-x", echo)
    progress.poll()  # while the run goes: only steps that ended
    assert [s.status for s in steps] == ["SUCCESS", "NOT RUN", "NOT RUN"]
    progress.poll(final=True)  # when it is over: a step that never ended was killed
    assert [s.status for s in steps] == ["SUCCESS", "FAILURE", "NOT RUN"]
    assert "killed" in steps[1].error and steps[1].seconds is None
    assert steps[2].attempts == 0  # no record: it never started
    lines = echo.getvalue().splitlines()
    assert lines[0].split()[:2] == ["ingest", "SUCCESS"]
    assert lines[1].split() == ["validate", "FAILURE", "-"]


def test_a_retried_step_gets_a_line_per_attempt_as_each_ends(tmp_path: Path) -> None:
    from mlrail.errors import DataError
    from mlrail.local.runner import StepResult, _Progress
    from mlrail.local.steps import recording

    task = tmp_path / "training-x-2026" / "ingest"
    task.mkdir(parents=True)
    step, echo = StepResult("ingest", task="ingest"), io.StringIO()
    progress = _Progress([step], tmp_path, "training-x", echo)
    with pytest.raises(DataError), recording(task):
        raise DataError("s3://bucket/x.csv: the object store did not answer")
    progress.poll()
    progress.poll()  # once per attempt
    with recording(task):
        progress.poll()  # the retry is running: nothing to say yet
    progress.poll()
    lines = echo.getvalue().splitlines()
    assert [line.split()[:2] for line in lines] == [["ingest", "FAILURE"], ["ingest", "SUCCESS"]]
    assert lines[1].endswith("(attempt 2)") and not lines[0].endswith(")")
    assert (step.status, step.attempts, step.error) == ("SUCCESS", 2, "")


def test_a_step_process_ends_once_its_record_is_written_with_its_output_flushed(
    tmp_path: Path,
) -> None:
    """A task's process skips the interpreter's teardown (TensorFlow's takes over a second) but
    loses nothing: what the step printed and logged is out, its record says SUCCESS; its
    progress records are lines of its standard output, from its start."""
    from mlrail.local.steps import read_record

    (tmp_path / "a_step.py").write_text(
        "import atexit, logging, sys\n"
        "atexit.register(lambda: open(sys.argv[-1], 'w').write('teardown ran'))\n"
        "logging.basicConfig(level=logging.INFO, format='%(message)s')\n"
        "logging.info('logged by the step')\n"
        "logging.getLogger('mlrail.progress.a_step').info('3 rows read')\n"
        "sys.stdout.write('printed by the step, no newline')\n"
    )
    task = tmp_path / "task"
    task.mkdir()
    executor_input = json.dumps({"outputs": {"outputFile": str(task / "executor_output.json")}})
    marker = tmp_path / "teardown.txt"
    done = subprocess.run(
        [sys.executable, "-m", "mlrail.local.steps", "a_step"]
        + ["--executor_input", executor_input, "--function_to_execute", "a_step", str(marker)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    # its progress (mlrail.local.progress) on standard output, named by the function it runs
    assert done.stdout == (
        "[mlrail:a_step] started\n[mlrail:a_step] 3 rows read\nprinted by the step, no newline"
    )
    assert "logged by the step" in done.stderr and "rows read" not in done.stderr
    record = read_record(task)
    assert record is not None and record.status == "SUCCESS"
    assert not marker.exists()  # the interpreter's teardown (atexit and all) was skipped


def test_a_run_leaves_print_and_the_root_logger_as_they_were() -> None:
    # kfp.local swaps both per task, in a thread per ParallelFor iteration: two swaps at once
    # can leave its indenting print and a stale handler behind, whatever the run's outcome
    import builtins
    import logging

    from mlrail.local.runner import _kfp_local_globals

    root = logging.getLogger()
    before = builtins.print, root.handlers[:], root.level
    with pytest.raises(RuntimeError), _kfp_local_globals():
        builtins.print = lambda *a, **k: None
        root.handlers[:] = [logging.StreamHandler(io.StringIO())]
        root.setLevel(logging.INFO)
        raise RuntimeError("a task failed")
    assert (builtins.print, root.handlers, root.level) == before
