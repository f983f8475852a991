"""Every ``mlrail`` example in the README, run as written (the KFP host is the fake API)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlrail.cli import main
from tests.kfp_api.fake_server import FakeKfpServer
from tests.test_readme import ROOT, sh_lines

LINES = [line for line in sh_lines() if line.startswith("mlrail ")]


def _examples(command: str) -> list[list[str]]:
    """The README's ``mlrail COMMAND ...`` examples; those with ``--output json`` are run on
    their own (:func:`test_output_json_examples`), and the ``run --workers`` one by
    ``tests/cli/test_workers.py``, which checks its workers too (it takes two minutes)."""
    return [
        args
        for args in (shlex.split(line)[1:] for line in LINES)
        if args[0] == command and "--output" not in args and "--workers" not in args
    ]


#: The Command-line habits section's ``--output json`` examples.
JSON_EXAMPLES = [
    args
    for args in (shlex.split(line)[1:] for line in LINES if "--output json" in line)
    if args[0] in ("submit", "schedule")
]


@pytest.fixture
def kfp_api() -> Iterator[FakeKfpServer]:
    with FakeKfpServer() as server:
        yield server


def _run_id(args: list[str]) -> str:
    """An example's test id: its label, or the first option of one on the bundled penguins."""
    return args[args.index("--label") + 1] if "--label" in args else f"penguins{args[1]}"


@pytest.mark.parametrize("args", _examples("run"), ids=_run_id)
def test_run_examples(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(ROOT)  # the examples name the bundled file by its path in the checkout
    assert main([*args, "--workdir", str(tmp_path)]) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert "; blessed" in out
    if "--quantize" in args:  # the int8 variant went through its accuracy gate
        assert re.search(r"int8: (kept|rejected), [\d,]+ bytes", out), out
    assert list((tmp_path / "models").glob("penguins/1/model.onnx")), out


def test_check_examples(
    onnx_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """schema, validate (curated, then drift) and evaluate, in the README's order and words."""
    shutil.copytree(ROOT / "mlrail" / "data", tmp_path / "mlrail" / "data")
    version = onnx_model / "model_repository" / "penguins" / "1"
    shutil.copytree(version, tmp_path / "mlrail-local" / "models" / "penguins" / "1")
    monkeypatch.chdir(tmp_path)
    commands = _examples("schema") + _examples("validate") + _examples("evaluate")
    # the second evaluate compares with the embedded registry's champion (none yet)
    assert [c[0] for c in commands] == ["schema", "validate", "validate", "evaluate", "evaluate"]
    for args in commands:
        assert main(args) == 0, (args, capsys.readouterr())
    out = capsys.readouterr().out
    assert (tmp_path / "schema.pbtxt").is_file() and (
        tmp_path / "checked" / "report.html"
    ).is_file()
    assert "no drift against baseline checked/statistics" in out
    assert "blessed" in out and (tmp_path / "mlrail-evaluate" / "report.html").is_file()


def test_compile_submit_and_schedule_examples(
    kfp_api: FakeKfpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)  # compile writes training.yaml here; schedule reads it
    commands = _examples("compile") + _examples("submit") + _examples("schedule")
    assert [c[0] for c in commands] == ["compile"] * 5 + ["submit"] * 4 + ["schedule"] * 9
    outputs = []
    for args in commands:
        args = [kfp_api.url if a == "http://localhost:8888" else a for a in args]
        assert main(args) == 0, (args, capsys.readouterr())
        outputs.append(capsys.readouterr().out)
    assert (tmp_path / "training.yaml").is_file() and (tmp_path / "training-gpu.yaml").is_file()
    assert (tmp_path / "pipeline-manifests" / "kustomization.yaml").is_file()
    assert (tmp_path / "monitoring.yaml").is_file()  # the Monitoring section's
    assert (tmp_path / "training-sharded.yaml").is_file()  # the Data in shards section's
    runs = kfp_api.calls("POST", "/apis/v2beta1/runs")
    assert len(runs) == 4
    second = runs[1].body["runtime_config"]["parameters"]
    assert second["label"] == "species" and second["hparams"] == {"epochs": 30}
    third = runs[2].body["runtime_config"]["parameters"]
    assert (third["requested_by"], third["reason"]) == ("ada", "new data from December")
    assert len(third["pipeline_version"]) == 64
    keys = runs[3].body["runtime_config"]["parameters"]  # the signed-models section's
    assert keys["signing_key"] == "/var/run/secrets/mlrail/signing/signing.pem"
    assert keys["verify_key"] == "/var/run/secrets/mlrail/verify/signing.pub"

    created = [r.body for r in kfp_api.calls("POST", "/apis/v2beta1/recurringruns")]
    # nightly, hourly, nightly again (unchanged: nothing sent), nightly at 03:00 (replaced);
    # then the Monitoring section's hourly monitor
    assert [s["display_name"] for s in created] == [
        "nightly",
        "hourly",
        "nightly",
        "penguins-monitor",
    ]
    assert created[0]["trigger"]["cron_schedule"]["cron"] == "0 0 2 * * *"
    assert created[1]["trigger"]["periodic_schedule"]["interval_second"] == 3600
    assert created[1]["max_concurrency"] == 2
    assert created[2]["trigger"]["cron_schedule"]["cron"] == "0 0 3 * * *"
    monitor = created[3]["runtime_config"]["parameters"]
    assert (monitor["window"], monitor["fail_on_alert"]) == ("1h", True)
    assert created[3]["trigger"]["cron_schedule"]["cron"] == "0 0 * * * *"
    schedule_out = outputs[9:]
    assert [out.split(") ", 1)[1].split()[0] for out in schedule_out[:4]] == [
        "created",
        "created",
        "unchanged",
        "replaced",
    ]
    listed = schedule_out[4].splitlines()
    assert listed[0].split()[:3] == ["NAME", "ID", "STATUS"]
    assert [row.split()[0] for row in listed[1:]] == ["hourly", "nightly"]
    assert [out.split(") ", 1)[1] for out in schedule_out[5:8]] == [
        "paused\n",
        "resumed\n",
        "deleted\n",
    ]
    assert schedule_out[8].split(") ", 1)[1].split()[0] == "created"
    # What is left: one nightly at 03:00, enabled (paused, then resumed), and the monitor;
    # hourly deleted.
    left, _monitor = kfp_api.recurring_runs.values()
    assert (left.display_name, left.mode) == ("nightly", "ENABLE")
    assert left.trigger.cron_schedule.cron == "0 0 3 * * *"


def test_output_json_examples(
    kfp_api: FakeKfpServer, package: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """submit's and schedule list's ``--output json`` examples print one JSON object each."""
    assert [args[:2] for args in JSON_EXAMPLES] == [["submit", "--host"], ["schedule", "list"]]
    schedule = ["schedule", "--host", kfp_api.url, package, "--name", "nightly"]
    assert main([*schedule, "--cron", "0 2 * * *"]) == 0  # something to list
    capsys.readouterr()
    records = []
    for args in JSON_EXAMPLES:
        args = [kfp_api.url if a == "http://localhost:8888" else a for a in args]
        assert main(args) == 0, (args, capsys.readouterr())
        records.append(json.loads(capsys.readouterr().out))
    [run] = kfp_api.runs.values()
    assert records[0]["run_id"] == run.run_id and records[0]["run_name"] == "json-example"
    [listed] = records[1]["recurring_runs"]
    assert (listed["name"], listed["trigger"]) == ("nightly", "cron 0 0 2 * * *")
