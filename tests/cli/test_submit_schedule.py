"""``mlrail submit`` and ``mlrail schedule`` against the fake KFP v2beta1 API."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from kfp import dsl
from kfp.pipeline_spec import pipeline_spec_pb2

from mlrail.cli import main
from tests.kfp_api.fake_server import API, FakeKfpServer, check_pipeline_spec
from tests.kfp_api.tiny_pipeline import compile_tiny_pipeline

NEXT_YEAR = datetime.now(UTC).year + 1


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
    # With a platform spec (kfp-kubernetes) the spec is {pipeline_spec, platform_spec}.
    assert check_pipeline_spec(run.pipeline_spec).pipeline_info.name == "training"
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
    assert f"recurring run {rr.recurring_run_id} ('nightly') created" in capsys.readouterr().out
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


# -- schedule again, list, pause, resume, delete ---------------------------------------------------


def _schedule(url: str, package: str, *rest: str, name: str = "nightly") -> list[str]:
    return ["schedule", "--host", url, package, "--name", name, *rest]


def _writes(server: FakeKfpServer, since: int = 0) -> list[tuple[str, str]]:
    return [
        (r.method, r.path.removeprefix(API)) for r in server.requests[since:] if r.method != "GET"
    ]


def test_schedule_again_reports_unchanged_and_creates_nothing(kfp_api, package, capsys):
    assert main(_schedule(kfp_api.url, package, "--cron", "0 2 * * *")) == 0
    [rr] = kfp_api.recurring_runs.values()
    before = len(kfp_api.requests)
    capsys.readouterr()

    assert main(_schedule(kfp_api.url, package, "--cron", "0 2 * * *")) == 0

    assert capsys.readouterr().out == f"recurring run {rr.recurring_run_id} ('nightly') unchanged\n"
    assert _writes(kfp_api, before) == []
    assert list(kfp_api.recurring_runs) == [rr.recurring_run_id]


def test_schedule_with_another_cron_reports_what_it_replaced(kfp_api, package, capsys):
    assert main(_schedule(kfp_api.url, package, "--cron", "0 2 * * *")) == 0
    [old] = kfp_api.recurring_runs
    capsys.readouterr()

    assert main(_schedule(kfp_api.url, package, "--cron", "0 3 * * *")) == 0

    [new] = kfp_api.recurring_runs.values()
    assert new.mode == "ENABLE" and new.trigger.cron_schedule.cron == "0 0 3 * * *"
    assert capsys.readouterr().out == (
        f"recurring run {new.recurring_run_id} ('nightly') replaced {old} (trigger changed)\n"
    )


def test_schedule_list_prints_a_table(kfp_api, package, capsys):
    assert main(_schedule(kfp_api.url, package, "--cron", "0 2 * * *")) == 0
    hourly = _schedule(
        kfp_api.url, package, "--interval", "3600", "--experiment", "e", name="hourly"
    )
    assert main(hourly) == 0
    assert main(["schedule", "pause", "--host", kfp_api.url, "--name", "hourly"]) == 0
    nightly, hourly_rr = kfp_api.recurring_runs.values()
    capsys.readouterr()

    assert main(["schedule", "list", "--host", kfp_api.url]) == 0

    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split() == [
        "NAME",
        "ID",
        "STATUS",
        "TRIGGER",
        "PIPELINE",
        "VERSION",
        "EXPERIMENT",
    ]
    assert [row.split() for row in rows] == [
        ["nightly", nightly.recurring_run_id, "enabled", "cron", "0", "0", "2", "*", "*", "*"]
        + ["tiny", "Default"],
        ["hourly", hourly_rr.recurring_run_id, "disabled", "every", "3600s", "tiny", "e"],
    ]
    # Columns line up: each starts where its header does.
    assert rows[1].index(hourly_rr.recurring_run_id) == header.index("ID")
    assert rows[0].index("tiny") == rows[1].index("tiny") == header.index("PIPELINE VERSION")


def test_schedule_list_of_one_experiment(kfp_api, package, capsys):
    assert main(_schedule(kfp_api.url, package, "--cron", "0 2 * * *")) == 0
    assert main(_schedule(kfp_api.url, package, "--cron", "0 2 * * *", "--experiment", "e")) == 0
    in_e = [r for r in kfp_api.recurring_runs.values() if r.experiment_id != _default(kfp_api)]
    capsys.readouterr()

    assert main(["schedule", "list", "--host", kfp_api.url, "--experiment", "e"]) == 0

    [_, row] = capsys.readouterr().out.splitlines()
    assert row.split()[:2] == ["nightly", in_e[0].recurring_run_id]


def _default(server: FakeKfpServer) -> str:
    return next(e.experiment_id for e in server.experiments.values() if e.display_name == "Default")


def test_schedule_list_with_nothing_scheduled(kfp_api, capsys):
    assert main(["schedule", "list", "--host", kfp_api.url]) == 0

    assert capsys.readouterr().out == "no recurring runs\n"


def test_pause_resume_and_delete_by_name(kfp_api, package, capsys):
    assert main(_schedule(kfp_api.url, package, "--cron", "0 2 * * *")) == 0
    [rr_id] = kfp_api.recurring_runs
    by_name = ["--host", kfp_api.url, "--name", "nightly"]
    capsys.readouterr()

    assert main(["schedule", "pause", *by_name]) == 0
    assert kfp_api.recurring_runs[rr_id].mode == "DISABLE"
    assert capsys.readouterr().out == f"recurring run {rr_id} ('nightly') paused\n"

    assert main(["schedule", "resume", *by_name, "--experiment", "Default"]) == 0
    assert kfp_api.recurring_runs[rr_id].mode == "ENABLE"
    assert capsys.readouterr().out == f"recurring run {rr_id} ('nightly') resumed\n"

    assert main(["schedule", "delete", *by_name]) == 0
    assert kfp_api.recurring_runs == {}
    assert capsys.readouterr().out == f"recurring run {rr_id} ('nightly') deleted\n"


def test_schedule_again_after_a_pause_says_it_stays_paused(kfp_api, package, capsys):
    assert main(_schedule(kfp_api.url, package, "--cron", "0 2 * * *")) == 0
    assert main(["schedule", "pause", "--host", kfp_api.url, "--name", "nightly"]) == 0
    capsys.readouterr()

    assert main(_schedule(kfp_api.url, package, "--cron", "0 2 * * *")) == 0

    out = capsys.readouterr().out
    assert "unchanged" in out
    assert f"`mlrail schedule resume --host {kfp_api.url} --name nightly` starts it again" in out
    assert [r.mode for r in kfp_api.recurring_runs.values()] == ["DISABLE"]


@pytest.mark.parametrize("action", ["pause", "resume", "delete"])
def test_an_unknown_name_exits_2_naming_it(kfp_api, package, capsys, action):
    assert main(_schedule(kfp_api.url, package, "--cron", "0 2 * * *")) == 0
    before = len(kfp_api.requests)
    capsys.readouterr()

    code = main(["schedule", action, "--host", kfp_api.url, "--name", "nightlyy"])

    assert code == 2
    err = capsys.readouterr().err
    assert f"mlrail schedule {action}: error: no recurring run named 'nightlyy'" in err
    assert "Traceback" not in err
    assert _writes(kfp_api, before) == []


@pytest.mark.parametrize("action", ["pause", "delete"])
def test_a_name_in_two_experiments_exits_2_until_one_is_chosen(kfp_api, package, capsys, action):
    for experiment in ("a", "b"):
        argv = _schedule(kfp_api.url, package, "--cron", "0 2 * * *", "--experiment", experiment)
        assert main(argv) == 0
    before = len(kfp_api.requests)
    capsys.readouterr()

    assert main(["schedule", action, "--host", kfp_api.url, "--name", "nightly"]) == 2
    err = capsys.readouterr().err
    assert "2 recurring runs are named 'nightly'" in err
    assert "in experiment 'a'" in err and "in experiment 'b'" in err
    assert _writes(kfp_api, before) == []

    argv = ["schedule", action, "--host", kfp_api.url, "--name", "nightly", "--experiment", "b"]
    assert main(argv) == 0
    assert len(_writes(kfp_api, before)) == 1


def test_schedule_list_of_an_unknown_experiment_exits_2(kfp_api, capsys):
    assert main(["schedule", "list", "--host", kfp_api.url, "--experiment", "nope"]) == 2

    assert "mlrail schedule list: error: no experiment named 'nope'" in capsys.readouterr().err
    assert _writes(kfp_api) == []


@pytest.mark.parametrize(
    "argv",
    [
        ["schedule", "list"],  # no --host
        ["schedule", "pause", "--host", "http://x"],  # no --name
        ["schedule", "delete", "--host", "http://x", "--name", "n", "--cron", "0 2 * * *"],
    ],
    ids=["list-without-host", "pause-without-name", "delete-with-create-options"],
)
def test_schedule_action_usage_errors_exit_2(kfp_api, capsys, argv):
    assert _exit_code(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mlrail {argv[0]} {argv[1]}: error: ") and err.count("\n") == 1


def test_schedule_help_names_the_actions_and_each_has_its_own(capsys):
    assert _exit_code(["schedule", "--help"]) == 0
    out = capsys.readouterr().out
    for action in ("list", "pause", "resume", "delete"):
        assert f"mlrail schedule {action}" in out
        assert _exit_code(["schedule", action, "--help"]) == 0
        assert f"usage: mlrail schedule {action}" in capsys.readouterr().out


def _jwt_with(claims: dict[str, str]) -> str:
    import base64
    import json

    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJSUzI1NiJ9.{body}.c2ln"


def test_submit_records_who_why_and_the_pipelines_version(kfp_api, tmp_path, monkeypatch):
    from mlrail.compiler import compile_pipeline
    from mlrail.local.ir import ir_version

    monkeypatch.delenv("KF_PIPELINES_UI_ENDPOINT", raising=False)
    token = tmp_path / "token"
    token.write_text(_jwt_with({"sub": "system:serviceaccount:ci:runner"}))
    argv = ["submit", "--host", kfp_api.url, "--token-file", str(token), "--reason", "drift"]
    assert main(argv) == 0
    [run] = kfp_api.runs.values()
    params = run.runtime_config.parameters
    assert params["requested_by"] == "system:serviceaccount:ci:runner"  # the token's subject
    assert params["reason"] == "drift"
    # the version is the compiled package's SHA-256: the same compile gives the same one
    assert params["pipeline_version"] == ir_version(
        compile_pipeline("training", tmp_path / "t.yaml")
    )
    assert params["kfp_ui_url"] == kfp_api.url.rstrip("/")


def test_a_param_given_wins_and_the_flag_beats_the_token(kfp_api, tmp_path):
    token = _jwt_with({"email": "ann@example.com"})
    argv = ["submit", "--host", kfp_api.url, "--token", token, "--requested-by", "carol"]
    assert main([*argv, "--param", "pipeline_version=v7", "--param", "kfp_ui_url="]) == 0
    [run] = kfp_api.runs.values()
    params = run.runtime_config.parameters
    assert (params["requested_by"], params["pipeline_version"]) == ("carol", "v7")
    assert params["kfp_ui_url"] == "" and params["reason"] == ""


def test_who_and_why_for_a_pipeline_without_those_parameters_is_a_usage_error(
    kfp_api, package, capsys
):
    argv = ["submit", "--host", kfp_api.url, package, "--reason", "why not"]
    assert main(argv) == 2
    assert "--reason: the pipeline" in capsys.readouterr().err
    assert not kfp_api.runs  # refused before anything was sent
    both = ["submit", "--host", kfp_api.url, "--reason", "a", "--param", "reason=b"]
    assert main(both) == 2
    assert "give --reason or --param reason=..., not both" in capsys.readouterr().err
    assert not kfp_api.runs


def test_schedule_records_who_and_the_version_too(kfp_api, monkeypatch):
    monkeypatch.setenv("KF_PIPELINES_UI_ENDPOINT", "https://kfp.example/")
    argv = ["schedule", "--host", kfp_api.url, "--name", "nightly", "--cron", "0 2 * * *"]
    assert main([*argv, "--requested-by", "ann", "--reason", "nightly retrain"]) == 0
    [rr] = kfp_api.recurring_runs.values()
    params = rr.runtime_config.parameters
    assert (params["requested_by"], params["reason"]) == ("ann", "nightly retrain")
    assert len(params["pipeline_version"]) == 64
    assert params["kfp_ui_url"] == "https://kfp.example"


# -- the monitoring pipeline -----------------------------------------------------------------------


def _tasks(spec: pipeline_spec_pb2.PipelineSpec) -> dict[str, pipeline_spec_pb2.PipelineTaskSpec]:
    """Every task of every DAG (the root's and the exit handler's), by its component's name."""
    dags = [spec.root.dag] + [c.dag for c in spec.components.values() if c.HasField("dag")]
    return {t.component_ref.name: t for dag in dags for t in dag.tasks.values()}


def test_schedule_monitoring_wires_the_scheduled_time_into_monitor(kfp_api, capsys):
    argv = ["schedule", "monitoring", "--host", kfp_api.url, "--name", "nightly-monitor"]
    code = main([*argv, "--cron", "0 3 * * *", "--param", "logs=s3://bucket/payloads"])

    assert code == 0
    [rr] = kfp_api.recurring_runs.values()
    assert f"recurring run {rr.recurring_run_id} ('nightly-monitor') created" in (
        capsys.readouterr().out
    )
    assert rr.trigger.cron_schedule.cron == "0 0 3 * * *"
    assert rr.runtime_config.parameters == {"logs": "s3://bucket/payloads"}
    # the recurring run runs the version uploaded from the monitoring pipeline, compiled here
    ref = rr.pipeline_version_reference
    [version] = [
        v
        for v in kfp_api.versions[ref.pipeline_id]
        if v.pipeline_version_id == ref.pipeline_version_id
    ]
    spec = check_pipeline_spec(version.pipeline_spec)
    assert spec.pipeline_info.name == "monitoring"
    assert "logs" in spec.root.input_definitions.parameters
    tasks = _tasks(spec)
    monitor = tasks["comp-monitor"].inputs.parameters
    # each run's window ends at the time it was scheduled for, filled in by KFP
    assert monitor["scheduled_time"].runtime_value.constant.string_value == (
        dsl.PIPELINE_JOB_SCHEDULE_TIME_UTC_PLACEHOLDER
    )
    assert monitor["logs"].component_input_parameter == "pipelinechannel--logs"
    assert monitor["window_end"].component_input_parameter == "pipelinechannel--window_end"
    assert "comp-notify" in tasks  # the run's final status is sent however it ends
