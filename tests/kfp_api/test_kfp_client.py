"""mlrail.kfp against the fake KFP v2beta1 API: what is sent, and what is never sent."""

from __future__ import annotations

import hashlib
import socket
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from mlrail.errors import MlrailError
from mlrail.kfp import (
    KfpApiError,
    list_schedules,
    normalize_cron,
    pause_schedule,
    schedule,
    submit,
)

from .fake_server import FakeKfpServer, check_pipeline_spec, go_json

FUTURE = datetime.now(UTC).replace(microsecond=0) + timedelta(days=365)


def _only(server: FakeKfpServer, method: str, path: str) -> Any:
    calls = server.calls(method, path)
    assert len(calls) == 1, f"expected one {method} {path}, got {len(calls)}"
    return calls[0]


def _cache_flags(spec: dict[str, Any]) -> dict[str, bool]:
    """enableCache of every task in every DAG of a pipeline spec, keyed by task name."""
    parsed = json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
    dags = [parsed.root.dag] + [c.dag for c in parsed.components.values() if c.HasField("dag")]
    return {
        name: task.caching_options.enable_cache
        for dag in dags
        for name, task in dag.tasks.items()
        if task.component_ref.name.startswith("comp-echo")
    }


# -- submit -----------------------------------------------------------------------------------


def test_submit_creates_the_experiment_once_and_reuses_it(kfp_api, package):
    first = submit(kfp_api.url, package, experiment="nightly-checks")
    second = submit(kfp_api.url, package, experiment="nightly-checks")

    created = _only(kfp_api, "POST", "/experiments")
    assert created.model.display_name == "nightly-checks"
    assert first.experiment_id == second.experiment_id
    assert list(kfp_api.experiments) == [first.experiment_id]
    runs = kfp_api.calls("POST", "/runs")
    assert [r.model.experiment_id for r in runs] == [first.experiment_id] * 2
    assert first.run_id != second.run_id


def test_submit_sends_the_arguments_and_run_name(kfp_api, package):
    arguments = {"greeting": "hi", "times": 3, "ratio": 0.25, "loud": True, "options": {"a": [1]}}

    result = submit(kfp_api.url, package, arguments=arguments, run_name="smoke test")

    run = _only(kfp_api, "POST", "/runs")
    assert run.body["display_name"] == "smoke test"
    assert run.body["runtime_config"]["parameters"] == arguments
    assert check_pipeline_spec(run.body["pipeline_spec"]).pipeline_info.name == "tiny"
    assert run.model.pipeline_version_reference is None  # a one-off run carries its spec
    assert result.run_id in kfp_api.runs
    assert result.run_name == "smoke test"
    assert result.experiment_id == run.model.experiment_id
    assert result.url == f"{kfp_api.url}/#/runs/details/{result.run_id}"


def test_submit_names_an_unnamed_run_after_the_pipeline(kfp_api, package):
    result = submit(kfp_api.url, package)

    assert result.run_name.startswith("tiny 20")
    assert _only(kfp_api, "POST", "/runs").body["display_name"] == result.run_name


def test_submit_puts_the_experiment_in_the_namespace(kfp_api, package):
    submit(kfp_api.url, package, namespace="team-a")

    lookup = kfp_api.calls("GET", "/experiments")[0]
    assert lookup.arg("namespace") == "team-a"
    assert _only(kfp_api, "POST", "/experiments").model.namespace == "team-a"


def test_submit_sends_the_token_as_a_bearer_header(kfp_api, package):
    submit(kfp_api.url, package, existing_token="s3cret")

    assert {r.headers.get("authorization") for r in kfp_api.requests} == {"Bearer s3cret"}


def test_submit_without_caching_turns_it_off_in_nested_dags_too(kfp_api, package):
    submit(kfp_api.url, package)
    submit(kfp_api.url, package, enable_caching=False)

    compiled, uncached = (r.body["pipeline_spec"] for r in kfp_api.calls("POST", "/runs"))
    # echo-2 sits under dsl.If, in comp-condition-1's DAG: kfp.Client's own override skips it.
    assert _cache_flags(compiled) == {"echo": True, "echo-2": True}
    assert _cache_flags(uncached) == {"echo": False, "echo-2": False}


def test_submit_links_to_the_ui_endpoint_when_set(kfp_api, package, monkeypatch):
    monkeypatch.setenv("KF_PIPELINES_UI_ENDPOINT", "https://kubeflow.example/pipeline/")

    result = submit(kfp_api.url, package)

    assert result.url == f"https://kubeflow.example/pipeline/#/runs/details/{result.run_id}"


def test_kfp_link_printouts_go_to_stderr(kfp_api, package, capsys):
    submit(kfp_api.url, package)

    out, err = capsys.readouterr()
    assert out == ""
    assert "Run details:" in err


def test_a_refused_request_raises_kfp_api_error_with_the_server_message(kfp_api, package):
    kfp_api.fail_next("POST", "/runs", 500, "database is on fire")

    with pytest.raises(KfpApiError, match="database is on fire") as caught:
        submit(kfp_api.url, package)

    assert caught.value.status == 500
    assert isinstance(caught.value, MlrailError)


def test_an_unreachable_host_raises_kfp_api_error(package):
    with socket.socket() as s:  # a port nobody listens on once the socket is closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    with pytest.raises(KfpApiError, match="cannot reach the KFP API") as caught:
        submit(f"http://127.0.0.1:{port}", package)

    assert caught.value.status is None


@pytest.fixture
def silent_host() -> Any:
    """A real TCP socket that accepts connections (the kernel completes them from the backlog)
    and never answers a byte: a stuck port-forward, a proxy with no backend."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


def _returns(call: Any) -> Any:
    """Run ``call`` in a thread; fail (instead of hanging the suite) if it never returns.

    The bound is a guard against the hang this protects from, not a speed check: the call is
    expected back after its own 0.5 s timeout, the guard waits a hundred times longer.
    """
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(call)
        try:
            return future.exception(timeout=50)
        except concurrent.futures.TimeoutError:
            pytest.fail("the KFP call hung on a host that never answers")


@pytest.mark.parametrize(
    "call",
    [
        lambda host, package: submit(host, package, timeout=0.5),
        lambda host, package: schedule(host, package, name="n", cron="0 2 * * *", timeout=0.5),
        lambda host, package: list_schedules(host, timeout=0.5),
        lambda host, package: pause_schedule(host, "n", timeout=0.5),
    ],
    ids=["submit", "schedule", "list", "pause"],
)
def test_a_host_that_never_answers_times_out_with_a_clear_error(silent_host, package, call):
    error = _returns(lambda: call(silent_host, package))

    assert isinstance(error, KfpApiError), error
    assert str(error) == (
        f"KFP API at {silent_host} accepted the connection but sent no answer within 0.5 s "
        "(read timeout; raise it with --timeout if the server is just slow)"
    )


def test_a_timeout_must_be_a_positive_number_of_seconds(kfp_api, package):
    for bad in (0, -1, float("nan"), float("inf"), "10"):
        with pytest.raises(ValueError, match="timeout must be"):
            submit(kfp_api.url, package, timeout=bad)  # type: ignore[arg-type]
    assert kfp_api.calls("POST", "/runs") == []


def test_credentials_in_the_host_are_not_in_the_error(package):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    with pytest.raises(KfpApiError) as caught:
        submit(f"http://admin:hunter2@127.0.0.1:{port}", package, existing_token="tok-123")

    assert "hunter2" not in str(caught.value) and "tok-123" not in str(caught.value)
    assert f"http://***@127.0.0.1:{port}" in str(caught.value)


# -- checks before anything is sent ------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"greetng": "hi"}, r"no parameter 'greetng'.*greeting, loud, options, ratio, tags"),
        ({"times": "3"}, r"'times' is declared NUMBER_INTEGER: give an integer, got str"),
        ({"times": 2.5}, r"'times' is declared NUMBER_INTEGER"),
        ({"loud": 1}, r"'loud' is declared BOOLEAN"),
        ({"ratio": True}, r"'ratio' is declared NUMBER_DOUBLE"),
        ({"greeting": 42}, r"'greeting' is declared STRING: give a string, got int"),
        ({"options": [1]}, r"'options' is declared STRUCT"),
        ({"tags": {"a": 1}}, r"'tags' is declared LIST"),
        ({"ratio": float("nan")}, r"'ratio' is nan: NaN and infinity are not JSON"),
        ({"options": {"when": datetime(2026, 1, 1)}}, r"'options' is not JSON-serialisable"),
        (
            {"greeting": "x" * 10_001},
            r"parameter 'greeting' is 10,003 bytes as JSON.*at most 10,000",
        ),
        (
            {"greeting": "x" * 6_000, "tags": ["y" * 6_000]},
            r"12,0\d\d bytes together.*'tags' \(6,004 bytes\), 'greeting' \(6,002 bytes\)",
        ),
    ],
    ids=[
        "unknown-name",
        "str-for-int",
        "float-for-int",
        "int-for-bool",
        "bool-for-double",
        "int-for-string",
        "list-for-struct",
        "dict-for-list",
        "nan",
        "not-json",
        "one-value-over-10000",
        "all-values-over-10000",
    ],
)
def test_bad_arguments_are_refused_before_any_request(kfp_api, package, arguments, message):
    with pytest.raises(ValueError, match=message):
        submit(kfp_api.url, package, arguments=arguments)
    with pytest.raises(ValueError, match=message):
        schedule(kfp_api.url, package, name="n", cron="0 2 * * *", arguments=arguments)

    assert kfp_api.requests == []


def test_a_missing_required_parameter_is_refused_before_any_request(kfp_api, packages):
    with pytest.raises(ValueError, match="needs a value for 'who'"):
        submit(kfp_api.url, str(packages["required"]))

    assert kfp_api.requests == []
    submit(kfp_api.url, str(packages["required"]), arguments={"who": "world"})


def test_the_size_limit_is_measured_as_the_api_server_measures_it(kfp_api, package):
    # {"greeting":"<n characters>"} is n + 15 bytes; '<' costs 6 bytes in Go's encoding/json.
    fits = {"greeting": "<" * 2 + "x" * (10_000 - 15 - 12)}
    assert len(go_json(fits)) == 10_000
    submit(kfp_api.url, package, arguments=fits)  # the fake applies the server's rule: accepted

    too_big = {"greeting": "<" * 2 + "x" * (10_000 - 15 - 11)}
    with pytest.raises(ValueError, match="10,001 bytes together.*'greeting'"):
        submit(kfp_api.url, package, arguments=too_big)
    assert len(kfp_api.calls("POST", "/runs")) == 1


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        (b"", ".yaml", "is empty"),
        (b"a: [1,", ".yaml", "not valid YAML"),
        (b"\xff\xfe\x00", ".yaml", "not UTF-8"),
        (b"apiVersion: v1\nkind: Pod\n", ".yaml", "not a compiled KFP pipeline"),
        (b"pipelineInfo: {name: x}\nroot: {}\nbogus: 1\n", ".yaml", "not a valid KFP PipelineSpec"),
        (b"{}", ".json", r"expected a compiled pipeline \(.yaml or .yml\)"),
    ],
    ids=["empty", "bad-yaml", "not-utf8", "not-a-pipeline", "unknown-field", "wrong-suffix"],
)
def test_a_bad_package_is_refused_before_any_request(kfp_api, tmp_path, content, suffix, message):
    path = tmp_path / f"pipeline{suffix}"
    path.write_bytes(content)

    with pytest.raises(ValueError, match=message):
        submit(kfp_api.url, str(path))
    assert kfp_api.requests == []


def test_a_missing_package_is_refused_with_its_path(kfp_api, tmp_path):
    with pytest.raises(ValueError, match="missing.yaml: cannot read"):
        submit(kfp_api.url, str(tmp_path / "missing.yaml"))
    assert kfp_api.requests == []


@pytest.mark.parametrize("host", ["localhost:8888", "ml-pipeline.kubeflow", "", "http://"])
def test_a_host_without_scheme_is_refused_before_any_request(kfp_api, package, host):
    with pytest.raises(ValueError, match="with its scheme"):
        submit(host, package)
    assert kfp_api.requests == []


# -- schedule ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cron", "sent"),
    [
        ("0 2 * * *", "0 0 2 * * *"),  # standard 5-field: second 0 prefixed
        ("*/15 9-17 * * mon-fri", "0 */15 9-17 * * mon-fri"),
        ("30 0 2 * * *", "30 0 2 * * *"),  # KFP's 6-field form: as given
        ("0 0 9 ? * 1-5", "0 0 9 ? * 1-5"),
        ("@daily", "@daily"),
    ],
)
def test_schedule_sends_the_cron_in_kfp_form(kfp_api, package, cron, sent):
    result = schedule(kfp_api.url, package, name="nightly", cron=cron)

    body = _only(kfp_api, "POST", "/recurringruns").body
    assert body["trigger"] == {"cron_schedule": {"cron": sent}}
    assert result.cron == sent
    assert result.interval_seconds is None


def test_schedule_by_interval_sends_a_periodic_trigger(kfp_api, package):
    result = schedule(kfp_api.url, package, name="hourly", interval_seconds=3600)

    rr = _only(kfp_api, "POST", "/recurringruns").model
    assert rr.trigger.cron_schedule is None
    assert rr.trigger.periodic_schedule.interval_second == "3600"
    assert (result.interval_seconds, result.cron) == (3600, None)


def test_schedule_defaults_one_run_at_a_time_and_no_catchup(kfp_api, package):
    schedule(kfp_api.url, package, name="nightly", cron="0 2 * * *")

    body = _only(kfp_api, "POST", "/recurringruns").body
    assert body["max_concurrency"] == 1
    assert body["no_catchup"] is True
    assert body["mode"] == "ENABLE"


def test_schedule_sends_concurrency_and_catchup(kfp_api, package):
    schedule(kfp_api.url, package, name="n", cron="0 2 * * *", max_concurrency=3, catchup=True)

    body = _only(kfp_api, "POST", "/recurringruns").body
    assert body["max_concurrency"] == 3
    assert body["no_catchup"] is False


def test_schedule_sends_the_window_in_utc(kfp_api, package):
    year = FUTURE.year + 1
    start = datetime(year, 1, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))  # 00:00 UTC
    end = datetime(year, 6, 1, 0, 0)  # naive: taken as UTC

    schedule(kfp_api.url, package, name="n", interval_seconds=60, start=start, end=end)

    periodic = _only(kfp_api, "POST", "/recurringruns").body["trigger"]["periodic_schedule"]
    assert periodic["start_time"] == f"{year}-01-01T00:00:00Z"
    assert periodic["end_time"] == f"{year}-06-01T00:00:00Z"


def test_schedule_uploads_the_pipeline_and_runs_that_version(kfp_api, package):
    result = schedule(
        kfp_api.url,
        package,
        name="nightly",
        cron="0 2 * * *",
        arguments={"times": 2},
        experiment="scheduled",
    )

    upload = _only(kfp_api, "POST", "/pipelines/upload")
    assert upload.arg("name") == "tiny"
    assert upload.files["uploadfile"][1] == Path(package).read_bytes()
    rr = _only(kfp_api, "POST", "/recurringruns").model
    assert rr.pipeline_spec is None  # the stored version, not an inline spec
    assert rr.pipeline_version_reference.pipeline_id == result.pipeline_id
    assert rr.pipeline_version_reference.pipeline_version_id == result.pipeline_version_id
    assert [v.pipeline_version_id for v in kfp_api.versions[result.pipeline_id]] == [
        result.pipeline_version_id
    ]
    assert rr.runtime_config.parameters == {"times": 2}
    assert rr.display_name == "nightly"
    assert kfp_api.experiments[rr.experiment_id].display_name == "scheduled"
    assert result.recurring_run_id in kfp_api.recurring_runs
    assert result.url == f"{kfp_api.url}/#/recurringrun/details/{result.recurring_run_id}"


def test_scheduling_the_same_pipeline_again_uploads_a_version_not_a_pipeline(kfp_api, packages):
    first = schedule(kfp_api.url, str(packages["v1"]), name="nightly", cron="0 2 * * *")
    second = schedule(kfp_api.url, str(packages["v2"]), name="hourly", interval_seconds=3600)

    assert len(kfp_api.calls("POST", "/pipelines/upload")) == 1
    version_upload = _only(kfp_api, "POST", "/pipelines/upload_version")
    assert version_upload.arg("pipelineid") == first.pipeline_id
    digest = hashlib.sha256(packages["v2"].read_bytes()).hexdigest()
    assert version_upload.arg("name") == f"tiny-{digest[:12]}"
    assert list(kfp_api.pipelines) == [first.pipeline_id]
    assert second.pipeline_id == first.pipeline_id
    assert second.pipeline_version_id != first.pipeline_version_id
    assert second.pipeline_version_name == f"tiny-{digest[:12]}"
    refs = [r.pipeline_version_reference for r in kfp_api.recurring_runs.values()]
    assert {r.pipeline_version_id for r in refs} == {
        first.pipeline_version_id,
        second.pipeline_version_id,
    }


def test_scheduling_uploaded_bytes_again_reuses_their_version(kfp_api, packages):
    schedule(kfp_api.url, str(packages["v1"]), name="a", cron="0 2 * * *")
    second = schedule(kfp_api.url, str(packages["v2"]), name="b", cron="0 3 * * *")
    third = schedule(kfp_api.url, str(packages["v2"]), name="c", cron="0 4 * * *")

    assert len(kfp_api.calls("POST", "/pipelines/upload_version")) == 1
    assert third.pipeline_version_id == second.pipeline_version_id


def test_schedule_uses_the_given_pipeline_name(kfp_api, package):
    result = schedule(kfp_api.url, package, name="n", cron="0 2 * * *", pipeline_name="penguins")

    assert _only(kfp_api, "POST", "/pipelines/upload").arg("name") == "penguins"
    assert kfp_api.pipelines[result.pipeline_id].display_name == "penguins"


def test_schedule_without_caching_uploads_a_version_with_caching_off(kfp_api, package):
    schedule(kfp_api.url, package, name="n", cron="0 2 * * *", enable_caching=False)

    uploaded = yaml.safe_load(_only(kfp_api, "POST", "/pipelines/upload").files["uploadfile"][1])
    assert _cache_flags(uploaded) == {"echo": False, "echo-2": False}


def test_schedule_in_a_namespace_uploads_a_namespaced_pipeline(kfp_api, package):
    schedule(kfp_api.url, package, name="n", cron="0 2 * * *", namespace="team-a")
    schedule(kfp_api.url, package, name="m", cron="0 2 * * *", namespace="team-a")

    assert _only(kfp_api, "POST", "/pipelines/upload").arg("namespace") == "team-a"
    assert all(r.arg("namespace") == "team-a" for r in kfp_api.calls("GET", "/pipelines"))
    assert {r.namespace for r in kfp_api.recurring_runs.values()} == {"team-a"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cron": "0 2 * * *", "interval_seconds": 60}, "exactly one of cron and .* got both"),
        ({}, "exactly one of cron and interval_seconds, got neither"),
        ({"cron": "0 2 * *"}, "has 4 fields; expected 5"),
        ({"cron": "0 0 0 2 * * *"}, "has 7 fields"),
        ({"cron": "61 * * * *"}, "minute field '61': 61 is outside 0-59"),
        ({"cron": "0 24 * * *"}, "hour field '24'"),
        ({"cron": "0 2 0 * *"}, "day of month field '0'"),
        ({"cron": "0 2 * 13 *"}, "month field '13'"),
        ({"cron": "0 2 * * 7"}, r"day of week field '7'.*use 0 for Sunday"),
        ({"cron": "*/0 * * * *"}, "step '0' is not a positive number"),
        ({"cron": "5-1 * * * *"}, "range '5-1' runs backwards"),
        ({"cron": "x * * * *"}, "'x' is not a number"),
        ({"cron": "0 2 * * funday"}, "'funday' is not a number or a name"),
        ({"cron": "1,,2 * * * *"}, "empty entry"),
        ({"cron": "@every 1h"}, "use an interval instead"),
        ({"cron": "@fortnightly"}, "unknown descriptor"),
        ({"interval_seconds": 0}, "interval_seconds must be positive"),
        ({"interval_seconds": True}, "interval_seconds must be an integer"),
        ({"cron": "0 2 * * *", "max_concurrency": 0}, "between 1 and 10"),
        ({"cron": "0 2 * * *", "max_concurrency": 11}, "between 1 and 10"),
        (
            {"cron": "0 2 * * *", "start": FUTURE, "end": FUTURE - timedelta(days=1)},
            "end .* must be after start",
        ),
        ({"cron": "0 2 * * *", "start": FUTURE, "end": FUTURE}, "must be after start"),
        ({"cron": "0 2 * * *", "end": datetime(2020, 1, 1)}, "is in the past"),
        ({"cron": "0 2 * * *", "arguments": {"greeting": "x" * 10_001}}, "'greeting' is 10,003"),
        ({"cron": "0 2 * * *", "name": " "}, "name must be a non-empty string"),
        ({"cron": "0 2 * * *", "experiment": ""}, "experiment must be a non-empty string"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_schedules_are_refused_before_any_request(kfp_api, package, kwargs, message):
    kwargs = {"name": "nightly", **kwargs}

    with pytest.raises(ValueError, match=message):
        schedule(kfp_api.url, package, **kwargs)
    assert kfp_api.requests == []


# -- cron -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "kfp_form"),
    [
        ("0 2 * * *", "0 0 2 * * *"),
        ("  0   2 *  * *  ", "0 0 2 * * *"),
        ("0 0 1 jan,JUL *", "0 0 0 1 jan,JUL *"),
        ("0 0 * * sun", "0 0 0 * * sun"),
        ("5 4 * * 0-6/2", "0 5 4 * * 0-6/2"),
        ("15/5 * * * * *", "15/5 * * * * *"),
        ("0 30 8 1-15 * ?", "0 30 8 1-15 * ?"),
        ("@hourly", "@hourly"),
    ],
)
def test_normalize_cron(given, kfp_form):
    assert normalize_cron(given) == kfp_form
