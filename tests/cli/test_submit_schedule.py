"""``mlrail submit`` and ``mlrail schedule`` against the fake KFP v2beta1 API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from mlrail.cli import main
from tests.kfp_api.fake_server import FakeKfpServer
from tests.kfp_api.tiny_pipeline import compile_tiny_pipeline

NEXT_YEAR = datetime.now(UTC).year + 1


@pytest.fixture
def kfp_api() -> Iterator[FakeKfpServer]:
    with FakeKfpServer() as server:
        yield server


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(compile_tiny_pipeline(tmp_path_factory.mktemp("cli") / "tiny.yaml"))


def _exit_code(argv: list[str]) -> int:
    """main's return value, or the code of the SystemExit argparse raises for a usage error."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 1


def test_submit_prints_the_run_id_and_sends_typed_params(kfp_api, package, capsys):
    code = main(
        [
            "submit",
            "--host",
            kfp_api.url,
            package,
            "--experiment",
            "cli",
            "--run-name",
            "from the cli",
            "--param",
            "greeting=hello world",
            "--param",
            "times=3",
            "--param",
            "ratio=0.25",
            "--param",
            "loud=true",
            "--param",
            'options={"a": [1, 2]}',
        ]
    )

    assert code == 0
    [run] = kfp_api.runs.values()
    out = capsys.readouterr().out
    assert run.run_id in out
    assert "Run details" not in out  # kfp.Client's own printout goes to stderr
    assert run.display_name == "from the cli"
    assert kfp_api.experiments[run.experiment_id].display_name == "cli"
    # A VALUE is JSON when it parses as JSON, else the string itself.
    assert run.runtime_config.parameters == {
        "greeting": "hello world",
        "times": 3,
        "ratio": 0.25,
        "loud": True,
        "options": {"a": [1, 2]},
    }


def test_submit_compiles_the_training_pipeline_by_default(kfp_api, capsys):
    assert main(["submit", "--host", kfp_api.url]) == 0

    [run] = kfp_api.runs.values()
    spec = json_format.ParseDict(run.pipeline_spec, pipeline_spec_pb2.PipelineSpec())
    assert spec.pipeline_info.name == "training"
    assert run.run_id in capsys.readouterr().out


def test_submit_in_a_namespace(kfp_api, package):
    assert main(["submit", "--host", kfp_api.url, package, "--namespace", "team-a"]) == 0

    [experiment] = kfp_api.experiments.values()
    assert experiment.namespace == "team-a"


def test_schedule_by_cron_prints_the_recurring_run_id(kfp_api, package, capsys):
    code = main(
        ["schedule", "--host", kfp_api.url, package, "--name", "nightly", "--cron", "0 2 * * *"]
    )

    assert code == 0
    [rr] = kfp_api.recurring_runs.values()
    assert rr.recurring_run_id in capsys.readouterr().out
    assert rr.display_name == "nightly"
    assert rr.trigger.cron_schedule.cron == "0 0 2 * * *"  # standard cron, seconds prefixed
    assert rr.no_catchup is True
    assert rr.max_concurrency == "1"
    assert rr.pipeline_version_reference.pipeline_id in kfp_api.pipelines


def test_schedule_by_interval_with_window_concurrency_and_catchup(kfp_api, package):
    code = main(
        [
            "schedule",
            "--host",
            kfp_api.url,
            package,
            "--name",
            "hourly",
            "--interval",
            "3600",
            "--max-concurrency",
            "2",
            "--catchup",
            "--start",
            f"{NEXT_YEAR}-01-01T00:00:00+00:00",
            "--end",
            f"{NEXT_YEAR}-02-01T00:00:00+00:00",
            "--param",
            "times=2",
        ]
    )

    assert code == 0
    [rr] = kfp_api.recurring_runs.values()
    body = kfp_api.calls("POST", "/recurringruns")[0].body
    assert body["trigger"] == {
        "periodic_schedule": {
            "interval_second": 3600,
            "start_time": f"{NEXT_YEAR}-01-01T00:00:00Z",
            "end_time": f"{NEXT_YEAR}-02-01T00:00:00Z",
        }
    }
    assert body["max_concurrency"] == 2
    assert body["no_catchup"] is False
    assert rr.runtime_config.parameters == {"times": 2}


@pytest.mark.parametrize(
    "when",
    [["--cron", "0 2 * * *", "--interval", "60"], []],
    ids=["cron-and-interval", "neither"],
)
def test_schedule_needs_exactly_one_of_cron_and_interval(kfp_api, package, when):
    argv = ["schedule", "--host", kfp_api.url, package, "--name", "n", *when]

    assert _exit_code(argv) != 0
    assert kfp_api.requests == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["submit", "--param", "greeting=" + "x" * 10_001], "'greeting'"),
        (["submit", "--param", "greeting"], "expected KEY=VALUE"),
        (["submit", "--param", "greetng=hi"], "no parameter 'greetng'"),
        (["schedule", "--name", "n", "--cron", "61 * * * *"], "minute field"),
        (["schedule", "--name", "n", "--interval", "60", "--end", "2020-01-01"], "in the past"),
        (["schedule", "--name", "n", "--interval", "60", "--start", "soon"], "soon"),
        (["schedule", "--name", "n", "--cron", "0 2 * * *", "--max-concurrency", "50"], "1 and 10"),
    ],
    ids=[
        "param-over-10000",
        "param-without-value",
        "unknown-param",
        "bad-cron",
        "end-in-the-past",
        "bad-start",
        "too-concurrent",
    ],
)
def test_bad_input_is_reported_before_any_request(kfp_api, package, capsys, argv, message):
    command, *rest = argv

    assert _exit_code([command, "--host", kfp_api.url, package, *rest]) != 0
    assert message in capsys.readouterr().err
    assert kfp_api.requests == []


def test_an_unknown_pipeline_name_is_reported(kfp_api, capsys):
    assert _exit_code(["submit", "--host", kfp_api.url, "nope"]) != 0

    assert "no pipeline 'nope'" in capsys.readouterr().err
    assert kfp_api.requests == []


def test_a_server_refusal_is_reported_with_its_message(kfp_api, package, capsys):
    kfp_api.fail_next("POST", "/runs", 403, "user alice cannot create runs in team-a")

    assert _exit_code(["submit", "--host", kfp_api.url, package]) != 0

    err = capsys.readouterr().err
    assert "user alice cannot create runs in team-a" in err
    assert "Traceback" not in err


def test_a_package_path_is_used_as_given(kfp_api, tmp_path):
    package = compile_tiny_pipeline(tmp_path / "custom.yaml", description="given")

    assert main(["submit", "--host", kfp_api.url, str(package)]) == 0

    [run] = kfp_api.runs.values()
    assert run.pipeline_spec["pipelineInfo"] == {"name": "tiny", "description": "given"}


def test_a_missing_package_is_reported(kfp_api, tmp_path: Path, capsys):
    assert _exit_code(["submit", "--host", kfp_api.url, str(tmp_path / "gone.yaml")]) != 0

    assert "gone.yaml" in capsys.readouterr().err
    assert kfp_api.requests == []
