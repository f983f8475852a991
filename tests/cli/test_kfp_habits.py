"""``mlrail submit`` and ``schedule`` as the KFP tools' users expect: the host from
``$KF_PIPELINES_ENDPOINT`` as ``kfp.Client`` reads it (``--host`` wins), their own exit status
when the API cannot be reached, and ``--output json``; against the fake KFP API and a closed
port."""

from __future__ import annotations

import json
import socket

import pytest

from mlrail.cli import main
from mlrail.cli.cluster import ENDPOINT_ENV, EXIT_UNREACHABLE
from mlrail.kfp.connection import ENDPOINT_ENV as CONNECTION_ENDPOINT_ENV


@pytest.fixture
def closed_url() -> str:
    """An address where nothing listens: a port this machine gave out and took back."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture(autouse=True)
def _no_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENDPOINT_ENV, raising=False)
    monkeypatch.delenv("KF_PIPELINES_UI_ENDPOINT", raising=False)


def test_the_variable_is_kfp_clients() -> None:
    from kfp.client import client

    assert ENDPOINT_ENV == CONNECTION_ENDPOINT_ENV == client.KF_PIPELINES_ENDPOINT_ENV


def test_submit_reaches_the_api_named_by_kf_pipelines_endpoint(
    kfp_api, package, monkeypatch, capsys
):
    monkeypatch.setenv(ENDPOINT_ENV, kfp_api.url)
    assert main(["submit", package]) == 0
    [run] = kfp_api.runs.values()
    assert f"run {run.run_id} created" in capsys.readouterr().out


def test_host_wins_over_the_variable(kfp_api, package, closed_url, monkeypatch):
    monkeypatch.setenv(ENDPOINT_ENV, closed_url)
    argv = ["schedule", "--host", kfp_api.url, package, "--name", "n", "--cron", "0 2 * * *"]
    assert main(argv) == 0
    assert [rr.display_name for rr in kfp_api.recurring_runs.values()] == ["n"]


@pytest.mark.parametrize(
    "argv",
    [
        ["submit"],
        ["schedule", "--name", "n", "--cron", "0 2 * * *"],
        ["schedule", "list"],
        ["schedule", "pause", "--name", "n"],
    ],
    ids=["submit", "schedule", "list", "pause"],
)
def test_no_host_and_no_variable_is_a_usage_error_naming_both(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--host" in err and ENDPOINT_ENV in err


@pytest.mark.parametrize(
    "argv",
    [
        ["submit", "{package}"],
        ["schedule", "{package}", "--name", "n", "--cron", "0 2 * * *"],
        ["schedule", "list"],
        ["schedule", "delete", "--name", "n"],
    ],
    ids=["submit", "schedule", "list", "delete"],
)
@pytest.mark.parametrize("how", ["--host", "variable"])
def test_an_api_that_cannot_be_reached_exits_3_on_one_line_naming_the_host(
    argv, how, package, closed_url, monkeypatch, capsys
):
    argv = [a.format(package=package) for a in argv]
    if how == "--host":
        argv = [*argv, "--host", closed_url]
    else:
        monkeypatch.setenv(ENDPOINT_ENV, closed_url)
    assert main(argv) == EXIT_UNREACHABLE == 3
    captured = capsys.readouterr()
    command = " ".join(argv[:2]) if argv[1] in ("list", "delete") else argv[0]
    assert captured.err.startswith(f"mlrail {command}: error: cannot reach the KFP API at ")
    assert closed_url in captured.err and "Connection refused" in captured.err
    assert captured.err.count("\n") == 1 and "HTTPConnection(" not in captured.err
    assert captured.out == ""


def test_a_refusal_is_not_unreachable_it_exits_2(kfp_api, package, capsys):
    kfp_api.fail_next("POST", "/runs", 403, "user alice cannot create runs in team-a")
    assert main(["submit", "--host", kfp_api.url, package]) == 2
    assert "user alice cannot create runs in team-a" in capsys.readouterr().err


def test_the_exit_statuses_are_in_the_help(capsys):
    for argv in (["submit", "--help"], ["schedule", "--help"], ["schedule", "list", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        out = " ".join(capsys.readouterr().out.split())
        assert f"{EXIT_UNREACHABLE} the KFP API could not be reached" in out, argv


def test_submit_output_json(kfp_api, package, capsys):
    argv = ["submit", "--host", kfp_api.url, package, "--experiment", "nightly"]
    assert main([*argv, "--run-name", "try 1", "--output", "json"]) == 0
    record = json.loads(capsys.readouterr().out)  # the whole output is one document
    [run] = kfp_api.runs.values()
    assert record["run_id"] == run.run_id and record["run_name"] == "try 1"
    assert record["experiment"] == "nightly" and record["experiment_id"] == run.experiment_id
    assert record["url"] == f"{kfp_api.url}/#/runs/details/{run.run_id}"
    assert record["host"] == kfp_api.url


def test_schedule_and_schedule_list_output_json(kfp_api, package, capsys):
    argv = ["schedule", "--host", kfp_api.url, package, "--name", "nightly"]
    argv += ["--cron", "0 2 * * *", "--max-concurrency", "2", "--output", "json"]
    assert main(argv) == 0
    created = json.loads(capsys.readouterr().out)
    [rr] = kfp_api.recurring_runs.values()
    assert created["recurring_run_id"] == rr.recurring_run_id and created["name"] == "nightly"
    assert (created["action"], created["enabled"]) == ("created", True)
    assert (created["cron"], created["interval_seconds"]) == ("0 0 2 * * *", None)
    assert created["max_concurrency"] == 2 and created["experiment"] == "Default"
    assert created["pipeline_version_id"] == rr.pipeline_version_reference.pipeline_version_id
    assert created["url"].endswith(rr.recurring_run_id)
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["action"] == "unchanged"

    assert main(["schedule", "list", "--host", kfp_api.url, "--output", "json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)["recurring_runs"]
    assert listed["recurring_run_id"] == rr.recurring_run_id and listed["name"] == "nightly"
    assert listed["enabled"] is True and listed["trigger"] == "cron 0 0 2 * * *"
    assert listed["max_concurrency"] == 2 and listed["experiment_name"] == "Default"
    assert listed["url"] == created["url"]


def test_schedule_list_output_json_with_nothing_scheduled(kfp_api, capsys):
    assert main(["schedule", "list", "--host", kfp_api.url, "--output", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"recurring_runs": []}
