"""``mlrail monitor`` as a new user meets it, and ``mlrail compile monitoring``.

The local loop, as the README tells it: ``mlrail run`` (which deploys with payload logging
switched on), a real ``mlrail serve`` on 127.0.0.1 answering real requests, then ``mlrail monitor
--workdir W`` with nothing else given: it finds the logs, the model, the release of the version
that answered, and says whether the window is healthy. Usage and input errors exit 2 with one
line before anything is read; a window with no traffic exits 0 and says so.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kfp.dsl import HTML, Artifact, Metrics

from mlrail.cli import main
from mlrail.components.monitor import monitor
from tests.cli.usage import error_line
from tests.kfp_api.fake_server import check_pipeline_spec
from tests.serving.serve_cli import mlrail_serve

PENGUINS = Path(__file__).parents[2] / "mlrail" / "data" / "penguins.csv"
MODEL = "penguins"
SCALED = "body_mass_g"


def _cli(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``mlrail ARGV`` in its own process, as a user types it."""
    return subprocess.run(
        [sys.executable, "-m", "mlrail.cli", *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        check=False,
    )


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    out = dict(os.environ)
    for name in ("PYTHONPATH", "MLFLOW_TRACKING_URI", "K_SINK"):  # the commands' own defaults
        out.pop(name, None)
    return out


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Iterator[Path]:
    """``mlrail run --workdir W`` on the bundled penguins, once for this module."""
    root = tmp_path_factory.mktemp("monitor-flow")
    work = root / "W"
    run = _cli(["run", "--workdir", str(work)], env, root)
    assert run.returncode == 0, run.stdout + run.stderr
    yield work


def _requests(spec: dict[str, Any], prefix: str, scale: float = 1.0) -> list[dict[str, Any]]:
    """One V2 JSON request per row of the bundled penguins (``NA``: a missing value, sent as
    ``null`` for a number and ``""`` for a string), ``SCALED`` multiplied by ``scale``."""
    with PENGUINS.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    out = []
    for i, row in enumerate(rows):
        inputs = []
        for spec_input in spec["inputs"]:
            column, value = spec_input["column"], row[spec_input["column"]]
            if spec_input["dtype"] == "string":
                data: Any = "" if value == "NA" else value
                inputs.append(
                    {"name": column, "datatype": "BYTES", "shape": [1, 1], "data": [data]}
                )
            else:
                data = None if value == "NA" else float(value) * (scale if column == SCALED else 1)
                inputs.append({"name": column, "datatype": "FP32", "shape": [1, 1], "data": [data]})
        out.append({"id": f"{prefix}-{i}", "inputs": inputs})
    return out


def _serve(repository: Path, requests: list[dict[str, Any]]) -> None:
    """A real ``mlrail serve --model-repository REPOSITORY`` answers every request, then stops
    (SIGTERM: the logger writes what it holds)."""
    with mlrail_serve(repository) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        for body in requests:
            answer = http.post(f"/v2/models/{MODEL}/infer", json=body)
            assert answer.status_code == 200, answer.text
            assert answer.json()["model_version"] == "1"
        code, stderr = server.stop()
    assert code in (0, -15), stderr


def _logged(logs: Path, prefix: str) -> int:
    files = (logs / MODEL).glob("*/*/part-*.jsonl")
    lines = [line for f in files for line in f.read_text("utf-8").splitlines()]
    return sum(json.loads(line)["id"].startswith(f"{prefix}-") for line in lines)


def _rfc3339(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def test_run_serve_and_monitor_on_this_machine(workdir: Path, env: dict[str, str]) -> None:
    repository = workdir / "models"
    switch = repository / MODEL / "logging.json"
    # mlrail run's deploy switched logging on at its default rate
    assert json.loads(switch.read_text("utf-8")) == {"sample_rate": 0.1}
    # every answer logged (not a tenth), so the counts below are exact and the checks
    # deterministic: a random tenth of the rows would make each verdict a draw
    switch.write_text(json.dumps({"sample_rate": 1.0}), "utf-8")
    spec = json.loads((repository / MODEL / "1" / "model_spec.json").read_text("utf-8"))
    plain = _requests(spec, "plain")
    logs = repository / "_logs"

    # (a) the bundled rows as they are: healthy
    _serve(repository, plain)
    assert _logged(logs, "plain") == len(plain)
    # every phase-(a) record is in; phase (b)'s come after this instant
    split = dt.datetime.now(dt.UTC)
    # nothing but the working folder: the logs, the model and its release are found there
    done = _cli(["monitor", "--workdir", str(workdir)], env, workdir)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert re.search(
        rf"^read +{len(plain)} record\(s\) from \d+ file\(s\); 0 line\(s\) skipped$", out, re.M
    )
    assert "verdict    healthy: version 1: healthy" in out
    # the version that answered, compared with its own release in the working folder's store
    release = next((workdir / "releases" / MODEL).iterdir())
    assert release.name.startswith("000001-")
    version = f"version 1  {len(plain)} row(s), compared with release #1 in release store "
    assert version + str(workdir / "releases") in out
    assert "SKEW" not in out and SCALED in out  # every input was compared
    report = Path(re.search(r"^report +(\S+)$", out, re.M)[1])  # type: ignore[index]
    assert report.is_file() and report.parent.parent == workdir / "monitoring"
    assert (report.parent / "anomalies" / "anomalies.json").is_file()

    # (b) the same rows with one numeric input scaled by 1.5: exit 1, naming it
    moved = _requests(spec, "moved", scale=1.5)
    _serve(repository, moved)
    assert _logged(logs, "moved") == len(moved)
    # a window from the split to a whole number of minutes past every (b) record: (b) only
    minutes = math.ceil((dt.datetime.now(dt.UTC) - split).total_seconds() / 60) + 1
    end = _rfc3339(split + dt.timedelta(minutes=minutes))
    argv = ["monitor", "--workdir", str(workdir), "--window-end", end, "--window", f"{minutes}m"]
    alert = _cli(argv, env, workdir)
    assert alert.returncode == 1, alert.stdout + alert.stderr
    out = alert.stdout
    # (a)'s file may share (b)'s hour folder: its records are before the window, not counted
    assert re.search(
        rf"^read +{len(moved)} record\(s\) from \d+ file\(s\); 0 line\(s\) skipped$", out, re.M
    )
    assert f"verdict    ALERT: version 1: skew in '{SCALED}'" in out
    assert [line.split()[1] for line in out.splitlines() if "SKEW " in line] == [f"{SCALED}:"]
    report = Path(re.search(r"^report +(\S+)$", out, re.M)[1])  # type: ignore[index]
    assert report.is_file() and SCALED in report.read_text("utf-8")
    # with no sink given and no K_SINK, the alert is kept in the working folder, as a run's
    alerts = [json.loads(line) for line in (workdir / "events.jsonl").read_text().splitlines()]
    skew = [e for e in alerts if e["type"] == "io.mlrail.serving.skew_detected"]
    assert len(skew) == 1 and [c["feature"] for c in skew[0]["data"]["skewed"]] == [SCALED]
    # both windows are kept for the trend across windows, and the page draws it
    assert len(list((workdir / "monitoring" / "history" / MODEL).glob("*.json"))) == 2
    assert 'id="across-windows"' in report.read_text("utf-8")

    # the KFP component over the same window, as the monitoring pipeline's step runs it
    step = workdir / "step"
    out_of = {n: Artifact(name=n, uri=str(step / n)) for n in ("statistics", "anomalies")}
    healthy = monitor.python_func(
        **out_of,
        metrics=Metrics(name="metrics", uri=str(step / "metrics")),
        report=HTML(name="report", uri=str(step / "report.html")),
        logs=str(logs),
        model_name=MODEL,
        window=f"{minutes}m",
        window_end=end,
        release_store=str(workdir / "releases"),
        model_repository=str(repository),
        events_sink=str(step / "events.jsonl"),
    )
    assert healthy is False and out_of["anomalies"].metadata["healthy"] is False
    # TFX's split_names property: one split per version's inputs and one per its predictions
    splits = '["predictions-v1", "serving-v1"]'
    assert out_of["statistics"].metadata["split_names"] == splits
    assert out_of["anomalies"].metadata["split_names"] == splits


# -- usage and input errors ---------------------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Path:
    """A working folder whose repository holds one model folder and an empty log root."""
    work = tmp_path / "w"
    (work / "models" / MODEL).mkdir(parents=True)
    (work / "models" / "_logs").mkdir()
    return work


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--window", "5x"], "argument --window: --window='5x' is not a duration"),
        (["--window", "0h"], "argument --window: --window='0h' is not a duration"),
        (["--window", ""], "argument --window: --window='' is not a duration"),
        (["--window-end", "tomorrow"], "argument --window-end: 'tomorrow' is not an RFC 3339"),
        (["--max-accuracy-drop", "2"], "argument --max-accuracy-drop: '2' is not between 0 and 1"),
        (["--max-accuracy-drop", "nan"], "argument --max-accuracy-drop: must be a finite number"),
        (["--max-accuracy-drop", "x"], "argument --max-accuracy-drop: not a number: 'x'"),
    ],
)
def test_a_bad_option_exits_2_naming_it(
    args: list[str], message: str, served: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, line = error_line(["monitor", "--workdir", str(served), *args], capsys)
    assert code == 2 and line.startswith(f"mlrail monitor: error: {message}"), line
    assert not (served / "monitoring").exists()  # nothing read, nothing written


def test_a_log_root_that_does_not_exist_exits_2_naming_it(
    served: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-logs"
    code, line = error_line(["monitor", "--workdir", str(served), "--logs", str(missing)], capsys)
    assert (code, line) == (
        2,
        f"mlrail monitor: error: {missing}: the payload log root does not exist",
    )
    assert not (served / "monitoring").exists()


def test_a_repository_of_two_models_needs_model(
    served: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (served / "models" / "other").mkdir()
    code, line = error_line(["monitor", "--workdir", str(served)], capsys)
    repository = served / "models"
    assert (code, line) == (
        2,
        f"mlrail monitor: error: {repository}: give --model (the repository holds: other, "
        f"penguins)",
    )
    assert not (served / "monitoring").exists()


def test_a_window_with_no_traffic_exits_0_and_says_so(
    served: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["monitor", "--workdir", str(served), "--window-end", "2026-01-01T00:00:00Z"]
    assert main([*argv, "--window", "1h"]) == 0
    out = capsys.readouterr().out
    assert "read       0 record(s) from 0 file(s); 0 line(s) skipped" in out
    assert "verdict    healthy: no traffic in " in out
    assert "version " not in out  # no version answered, none compared
    report = served / "monitoring" / f"{MODEL}-20260101T000000Z" / "report.html"
    assert report.is_file() and f"report     {report}" in out


def test_before_the_first_logged_answer_there_is_no_traffic(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "w"
    (work / "models" / MODEL).mkdir(parents=True)  # deployed, never asked: no _logs yet
    assert main(["monitor", "--workdir", str(work)]) == 0
    out = capsys.readouterr().out
    logs = work / "models" / "_logs"
    assert out == f"no traffic: {logs} does not exist yet (no answer has been logged)\n"


# -- compile ------------------------------------------------------------------------------------


def test_compile_monitoring_writes_its_ir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.yaml"
    assert main(["compile", "monitoring", "-o", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    [spec, *platform] = list(yaml.safe_load_all(out.read_text("utf-8")))
    parsed = check_pipeline_spec(spec)
    assert parsed.pipeline_info.name == "monitoring"
    assert {"comp-monitor", "comp-notify"} <= set(parsed.components)
    assert parsed.root.input_definitions.parameters["window"].default_value.string_value == "24h"
    # the secrets monitor reads (object store, MLflow) on a cluster
    assert [p["platforms"].keys() for p in platform] == [{"kubernetes"}]
