"""Recurring runs by name against the fake KFP API: schedule is idempotent, and list, pause,
resume and delete find a recurring run by its name.

The assertions are on what the fake received (``kfp_api.requests``) and what it holds
afterwards, so "nothing was created" means no request that writes was sent.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from mlrail.kfp import (
    KfpApiError,
    ScheduleLookupError,
    delete_schedule,
    list_schedules,
    pause_schedule,
    resume_schedule,
    schedule,
)

from .fake_server import API, FakeKfpServer, RecordedRequest

FUTURE = datetime.now(UTC).replace(microsecond=0) + timedelta(days=365)
NIGHTLY: dict[str, Any] = {"name": "nightly", "cron": "0 2 * * *"}


def _writes(server: FakeKfpServer, since: int = 0) -> list[tuple[str, str]]:
    """(method, path without the API prefix) of every request since ``since`` that is not a GET."""
    return [
        (r.method, r.path.removeprefix(API)) for r in server.requests[since:] if r.method != "GET"
    ]


def _named(server: FakeKfpServer, name: str) -> list[Any]:
    return [r for r in server.recurring_runs.values() if r.display_name == name]


def _enabled(server: FakeKfpServer, name: str) -> list[Any]:
    return [r for r in _named(server, name) if r.mode == "ENABLE"]


def _hand_made(server: FakeKfpServer, like: Any, **changes: Any) -> str:
    """Creates a recurring run through the API the way the UI would: no mlrail hash in it."""
    body = {
        "display_name": like.display_name,
        "experiment_id": like.experiment_id,
        "pipeline_version_reference": {
            "pipeline_id": like.pipeline_version_reference.pipeline_id,
            "pipeline_version_id": like.pipeline_version_reference.pipeline_version_id,
        },
        "max_concurrency": 1,
        "trigger": {"cron_schedule": {"cron": "0 0 2 * * *"}},
        "no_catchup": True,
        "mode": "ENABLE",
        **changes,
    }
    response = httpx.post(server.url + API + "/recurringruns", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["recurring_run_id"])


# -- schedule: unchanged ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"cron": "0 2 * * *"},
        {"cron": "@daily", "start": FUTURE, "end": FUTURE + timedelta(days=30)},
        {"interval_seconds": 3600, "max_concurrency": 3, "catchup": True},
        {"cron": "0 2 * * *", "arguments": {"times": 2, "ratio": 0.25, "options": {"a": [1]}}},
        {"cron": "0 2 * * *", "enable_caching": False},
        {"cron": "0 2 * * *", "pipeline_name": "penguins", "experiment": "nightly-checks"},
    ],
    ids=["cron", "window", "interval-concurrency-catchup", "arguments", "no-cache", "names"],
)
def test_a_second_identical_schedule_is_unchanged_and_writes_nothing(kfp_api, package, options):
    first = schedule(kfp_api.url, package, name="nightly", **options)
    before = len(kfp_api.requests)

    second = schedule(kfp_api.url, package, name="nightly", **options)

    assert (first.action, second.action) == ("created", "unchanged")
    assert _writes(kfp_api, before) == []  # no experiment, upload, recurring run, disable, delete
    assert second.recurring_run_id == first.recurring_run_id
    assert second.pipeline_version_id == first.pipeline_version_id
    assert second.pipeline_version_name == first.pipeline_version_name
    assert (second.removed_ids, second.changed, second.enabled) == ((), (), True)
    assert list(kfp_api.recurring_runs) == [first.recurring_run_id]


def test_arguments_handed_back_as_doubles_still_match(kfp_api, package):
    # The API server stores parameters as protobuf Values, whose numbers are doubles.
    first = schedule(kfp_api.url, package, **NIGHTLY, arguments={"times": 2, "tags": [1]})
    kfp_api.recurring_runs[first.recurring_run_id].runtime_config.parameters = {
        "times": 2.0,
        "tags": [1.0],
    }
    before = len(kfp_api.requests)

    again = schedule(kfp_api.url, package, **NIGHTLY, arguments={"times": 2, "tags": [1]})

    assert again.action == "unchanged"
    assert _writes(kfp_api, before) == []


def test_true_and_1_are_different_arguments(kfp_api, package):
    # Python says True == 1; the pipeline gets JSON, where true and 1 differ.
    schedule(kfp_api.url, package, **NIGHTLY, arguments={"options": {"flag": True}})

    again = schedule(kfp_api.url, package, **NIGHTLY, arguments={"options": {"flag": 1}})

    assert (again.action, again.changed) == ("replaced", ("arguments",))


def test_the_same_bytes_under_another_name_reuse_the_first_version(kfp_api, package):
    first = schedule(kfp_api.url, package, **NIGHTLY)
    other = schedule(kfp_api.url, package, name="hourly", interval_seconds=3600)

    assert other.action == "created"
    assert other.pipeline_version_id == first.pipeline_version_id
    assert len(kfp_api.calls("POST", "/pipelines/upload")) == 1
    assert kfp_api.calls("POST", "/pipelines/upload_version") == []


# -- schedule: replaced -------------------------------------------------------------------------


def test_a_changed_cron_replaces_the_recurring_run_disable_create_delete(kfp_api, package):
    first = schedule(kfp_api.url, package, **NIGHTLY)
    before = len(kfp_api.requests)

    second = schedule(kfp_api.url, package, name="nightly", cron="0 3 * * *")

    assert second.action == "replaced"
    assert second.changed == ("trigger",)
    assert second.removed_ids == (first.recurring_run_id,)
    old = f"/recurringruns/{first.recurring_run_id}"
    # Disabled before the new one exists (never two enabled), deleted only after it exists.
    assert _writes(kfp_api, before) == [
        ("POST", f"{old}:disable"),
        ("POST", "/recurringruns"),
        ("DELETE", old),
    ]
    [live] = _enabled(kfp_api, "nightly")
    assert list(kfp_api.recurring_runs) == [second.recurring_run_id] == [live.recurring_run_id]
    assert live.trigger.cron_schedule.cron == "0 0 3 * * *"
    # Same bytes: the version the old recurring run ran is reused, nothing is uploaded.
    assert live.pipeline_version_reference.pipeline_version_id == first.pipeline_version_id
    assert second.pipeline_version_name == first.pipeline_version_name


@pytest.mark.parametrize(
    ("change", "changed"),
    [
        ({"cron": None, "interval_seconds": 3600}, ("trigger",)),
        ({"max_concurrency": 2}, ("max_concurrency",)),
        ({"catchup": True}, ("catchup",)),
        ({"start": FUTURE}, ("start",)),
        ({"end": FUTURE}, ("end",)),
        ({"arguments": {"times": 3}}, ("arguments",)),
        ({"arguments": {"times": 2, "options": {"a": 1}}}, ("arguments",)),
        ({"enable_caching": False}, ("package",)),
        ({"package": "v2"}, ("package",)),
        ({"pipeline_name": "penguins"}, ("pipeline",)),
    ],
    ids=lambda v: "-".join(v) if isinstance(v, tuple) else None,
)
def test_any_difference_replaces_the_recurring_run(kfp_api, packages, change, changed):
    first = schedule(kfp_api.url, str(packages["v1"]), **NIGHTLY, arguments={"times": 2})
    options = {**NIGHTLY, "arguments": {"times": 2}, **change}
    package = str(packages[options.pop("package", "v1")])

    second = schedule(kfp_api.url, package, **options)

    assert (second.action, second.changed) == ("replaced", changed)
    assert second.removed_ids == (first.recurring_run_id,)
    [live] = _named(kfp_api, "nightly")
    assert live.recurring_run_id == second.recurring_run_id
    assert live.mode == "ENABLE"
    assert live.pipeline_version_reference.pipeline_version_id == second.pipeline_version_id


def test_new_bytes_are_uploaded_as_a_version_that_the_replacement_runs(kfp_api, packages):
    first = schedule(kfp_api.url, str(packages["v1"]), **NIGHTLY)

    second = schedule(kfp_api.url, str(packages["v2"]), **NIGHTLY)

    assert len(kfp_api.calls("POST", "/pipelines/upload_version")) == 1
    assert second.pipeline_id == first.pipeline_id
    assert second.pipeline_version_id != first.pipeline_version_id
    assert {v.pipeline_version_id for v in kfp_api.versions[first.pipeline_id]} == {
        first.pipeline_version_id,
        second.pipeline_version_id,
    }


@pytest.mark.parametrize(
    ("cron", "changed"), [("0 2 * * *", ("version",)), ("0 3 * * *", ("trigger",))]
)
def test_a_recurring_run_whose_version_was_deleted_is_replaced_with_a_new_upload(
    kfp_api, package, cron, changed
):
    first = schedule(kfp_api.url, package, **NIGHTLY)
    kfp_api.versions[first.pipeline_id].clear()  # deleted in the UI, say
    before = len(kfp_api.requests)

    result = schedule(kfp_api.url, package, name="nightly", cron=cron)

    assert (result.action, result.changed) == ("replaced", changed)
    [version] = kfp_api.versions[first.pipeline_id]
    assert _writes(kfp_api, before) == [
        ("POST", "/pipelines/upload_version"),
        ("POST", f"/recurringruns/{first.recurring_run_id}:disable"),
        ("POST", "/recurringruns"),
        ("DELETE", f"/recurringruns/{first.recurring_run_id}"),
    ]
    [live] = _named(kfp_api, "nightly")
    assert live.pipeline_version_reference.pipeline_version_id == version.pipeline_version_id
    assert result.pipeline_version_id == version.pipeline_version_id


def test_only_the_name_in_its_experiment_is_replaced(kfp_api, package):
    mine = schedule(kfp_api.url, package, **NIGHTLY, experiment="a")
    theirs = schedule(kfp_api.url, package, **NIGHTLY, experiment="b")
    hourly = schedule(kfp_api.url, package, name="hourly", interval_seconds=3600, experiment="a")

    replaced = schedule(kfp_api.url, package, name="nightly", cron="0 3 * * *", experiment="a")

    assert replaced.removed_ids == (mine.recurring_run_id,)
    assert set(kfp_api.recurring_runs) == {
        replaced.recurring_run_id,
        theirs.recurring_run_id,
        hourly.recurring_run_id,
    }


# -- schedule: paused -----------------------------------------------------------------------------


def test_a_paused_recurring_run_that_matches_stays_paused(kfp_api, package):
    first = schedule(kfp_api.url, package, **NIGHTLY)
    pause_schedule(kfp_api.url, "nightly")
    before = len(kfp_api.requests)

    again = schedule(kfp_api.url, package, **NIGHTLY)

    assert (again.action, again.enabled) == ("unchanged", False)
    assert _writes(kfp_api, before) == []
    assert kfp_api.recurring_runs[first.recurring_run_id].mode == "DISABLE"


def test_a_paused_recurring_run_is_replaced_by_a_paused_one(kfp_api, package):
    first = schedule(kfp_api.url, package, **NIGHTLY)
    pause_schedule(kfp_api.url, "nightly")
    before = len(kfp_api.requests)

    second = schedule(kfp_api.url, package, name="nightly", cron="0 3 * * *")

    assert (second.action, second.enabled) == ("replaced", False)
    assert _writes(kfp_api, before) == [
        ("POST", "/recurringruns"),
        ("DELETE", f"/recurringruns/{first.recurring_run_id}"),
    ]
    assert kfp_api.calls("POST", "/recurringruns")[-1].body["mode"] == "DISABLE"
    [live] = _named(kfp_api, "nightly")
    assert live.mode == "DISABLE"


# -- schedule: failures half-way ----------------------------------------------------------------


def test_if_creating_the_replacement_fails_the_old_one_runs_again(kfp_api, package):
    first = schedule(kfp_api.url, package, **NIGHTLY)
    kfp_api.fail_next("POST", "/recurringruns", 500, "etcd is down")
    before = len(kfp_api.requests)

    with pytest.raises(KfpApiError, match="etcd is down") as caught:
        schedule(kfp_api.url, package, name="nightly", cron="0 3 * * *")

    assert caught.value.status == 500
    old = f"/recurringruns/{first.recurring_run_id}"
    assert _writes(kfp_api, before) == [
        ("POST", f"{old}:disable"),
        ("POST", "/recurringruns"),
        ("POST", f"{old}:enable"),
    ]
    [live] = _enabled(kfp_api, "nightly")
    assert list(kfp_api.recurring_runs) == [first.recurring_run_id] == [live.recurring_run_id]


def test_if_re_enabling_fails_too_the_error_says_which_one_stays_paused(kfp_api, package):
    first = schedule(kfp_api.url, package, **NIGHTLY)
    kfp_api.fail_next("POST", "/recurringruns", 500, "etcd is down")
    kfp_api.fail_next("POST", f"/recurringruns/{first.recurring_run_id}:enable", 503, "busy")

    with pytest.raises(KfpApiError) as caught:
        schedule(kfp_api.url, package, name="nightly", cron="0 3 * * *")

    message = str(caught.value)
    assert "etcd is down" in message
    assert f"{first.recurring_run_id} stays paused" in message
    assert "mlrail schedule resume --name nightly" in message
    assert kfp_api.recurring_runs[first.recurring_run_id].mode == "DISABLE"


def test_if_deleting_the_old_one_fails_the_new_one_runs_and_a_rerun_cleans_up(kfp_api, package):
    first = schedule(kfp_api.url, package, **NIGHTLY)
    kfp_api.fail_next("DELETE", f"/recurringruns/{first.recurring_run_id}", 500, "db timeout")
    changed = {**NIGHTLY, "cron": "0 3 * * *"}

    with pytest.raises(KfpApiError, match="db timeout") as caught:
        schedule(kfp_api.url, package, **changed)

    [new] = _enabled(kfp_api, "nightly")
    assert f"recurring run {new.recurring_run_id} ('nightly') is in place" in str(caught.value)
    assert first.recurring_run_id in str(caught.value)
    assert len(_named(kfp_api, "nightly")) == 2  # the old one is left, disabled

    again = schedule(kfp_api.url, package, **changed)

    assert (again.action, again.recurring_run_id) == ("unchanged", new.recurring_run_id)
    assert again.removed_ids == (first.recurring_run_id,)
    assert list(kfp_api.recurring_runs) == [new.recurring_run_id]


# -- schedule: recurring runs that mlrail did not make ---------------------------------------------


def test_a_recurring_run_made_elsewhere_is_replaced(kfp_api, package):
    first = schedule(kfp_api.url, package, **NIGHTLY)
    like = kfp_api.recurring_runs.pop(first.recurring_run_id)
    other = _hand_made(kfp_api, like)  # same trigger and version, but no package hash

    second = schedule(kfp_api.url, package, **NIGHTLY)

    assert (second.action, second.changed) == ("replaced", ("package",))
    assert second.removed_ids == (other,)
    assert list(kfp_api.recurring_runs) == [second.recurring_run_id]


def test_duplicates_of_a_matching_recurring_run_are_deleted(kfp_api, package):
    first = schedule(kfp_api.url, package, **NIGHTLY)
    duplicate = _hand_made(kfp_api, kfp_api.recurring_runs[first.recurring_run_id])
    before = len(kfp_api.requests)

    again = schedule(kfp_api.url, package, **NIGHTLY)

    assert (again.action, again.recurring_run_id) == ("unchanged", first.recurring_run_id)
    assert again.removed_ids == (duplicate,)
    assert _writes(kfp_api, before) == [("DELETE", f"/recurringruns/{duplicate}")]


def test_several_recurring_runs_of_the_name_over_several_pages_become_one(package):
    with FakeKfpServer(max_page_size=1) as kfp_api:
        first = schedule(kfp_api.url, package, **NIGHTLY)
        like = kfp_api.recurring_runs.pop(first.recurring_run_id)
        made = [_hand_made(kfp_api, like, mode=mode) for mode in ("ENABLE", "DISABLE", "ENABLE")]
        before = len(kfp_api.requests)

        result = schedule(kfp_api.url, package, **NIGHTLY)

        listing = [r for r in kfp_api.requests[before:] if r.path == API + "/recurringruns"]
        assert len([r for r in listing if r.method == "GET"]) == 3  # one a page
        assert result.action == "replaced"
        assert sorted(result.removed_ids) == sorted(made)
        [live] = _named(kfp_api, "nightly")
        assert live.recurring_run_id == result.recurring_run_id
        assert live.mode == "ENABLE"
        disabled = [w for w in _writes(kfp_api, before) if w[1].endswith(":disable")]
        # Only the enabled ones are disabled; the paused one is deleted as it is.
        assert disabled == [("POST", f"/recurringruns/{i}:disable") for i in (made[0], made[2])]


# -- list ---------------------------------------------------------------------------------------


def test_list_schedules_reports_each_recurring_run(kfp_api, packages):
    nightly = schedule(
        kfp_api.url,
        str(packages["v1"]),
        **NIGHTLY,
        start=FUTURE,
        arguments={"times": 2},
        experiment="a",
    )
    hourly = schedule(
        kfp_api.url,
        str(packages["v2"]),
        name="hourly",
        interval_seconds=3600,
        max_concurrency=2,
        catchup=True,
        experiment="b",
    )
    pause_schedule(kfp_api.url, "hourly")

    first, second = list_schedules(kfp_api.url)

    assert (first.name, first.recurring_run_id) == ("nightly", nightly.recurring_run_id)
    assert (first.enabled, first.trigger, first.cron) == (True, "cron 0 0 2 * * *", "0 0 2 * * *")
    assert (first.start, first.end) == (FUTURE, None)
    assert (first.max_concurrency, first.catchup) == (1, False)
    assert first.parameters == {"times": 2}
    assert first.pipeline_version_name == "tiny"
    assert (first.experiment_name, first.experiment_id) == ("a", nightly.experiment_id)
    assert first.package_sha256 is not None and len(first.package_sha256) == 64
    assert first.url == nightly.url
    assert (second.name, second.recurring_run_id) == ("hourly", hourly.recurring_run_id)
    assert (second.enabled, second.trigger, second.interval_seconds) == (
        False,
        "every 3600s",
        3600,
    )
    assert (second.max_concurrency, second.catchup) == (2, True)
    assert second.pipeline_version_name == hourly.pipeline_version_name != "tiny"
    assert second.experiment_name == "b"


def test_list_schedules_by_experiment_and_by_name(kfp_api, package):
    schedule(kfp_api.url, package, **NIGHTLY, experiment="a")
    schedule(kfp_api.url, package, **NIGHTLY, experiment="b")
    schedule(kfp_api.url, package, name="hourly", interval_seconds=3600, experiment="a")

    in_a = list_schedules(kfp_api.url, experiment="a")
    nightly = list_schedules(kfp_api.url, name="nightly")

    assert [(s.name, s.experiment_name) for s in in_a] == [("nightly", "a"), ("hourly", "a")]
    assert [(s.name, s.experiment_name) for s in nightly] == [("nightly", "a"), ("nightly", "b")]


def test_list_schedules_reads_every_page(package):
    with FakeKfpServer(max_page_size=2) as kfp_api:
        made = [
            schedule(kfp_api.url, package, name=f"every-{n}", interval_seconds=60 * n).name
            for n in range(1, 6)
        ]
        before = len(kfp_api.requests)

        listed = list_schedules(kfp_api.url)

        pages: list[RecordedRequest] = kfp_api.calls("GET", "/recurringruns")[-3:]
        assert [r.arg("page_token") or "" for r in pages][0] == ""
        assert all(r.arg("page_token") for r in pages[1:])
        assert len([r for r in kfp_api.requests[before:] if r.path.endswith("/recurringruns")]) == 3
        assert [s.name for s in listed] == made


def test_list_schedules_in_a_namespace(kfp_api, package):
    schedule(kfp_api.url, package, **NIGHTLY, namespace="team-a")
    schedule(kfp_api.url, package, name="other", cron="0 4 * * *")

    listed = list_schedules(kfp_api.url, namespace="team-a")

    assert [s.name for s in listed] == ["nightly"]
    assert listed[0].namespace == "team-a"
    assert kfp_api.calls("GET", "/recurringruns")[-1].arg("namespace") == "team-a"


def test_list_schedules_of_an_unknown_experiment_is_an_error_and_creates_nothing(kfp_api):
    with pytest.raises(ScheduleLookupError, match="no experiment named 'nope'"):
        list_schedules(kfp_api.url, experiment="nope")

    assert _writes(kfp_api) == []
    assert list_schedules(kfp_api.url) == []


# -- pause, resume, delete ------------------------------------------------------------------------


def test_pause_and_resume_by_name(kfp_api, package):
    created = schedule(kfp_api.url, package, **NIGHTLY)
    path = f"/recurringruns/{created.recurring_run_id}"
    before = len(kfp_api.requests)

    paused = pause_schedule(kfp_api.url, "nightly")

    assert _writes(kfp_api, before) == [("POST", f"{path}:disable")]
    assert (paused.recurring_run_id, paused.enabled) == (created.recurring_run_id, False)
    assert kfp_api.recurring_runs[created.recurring_run_id].mode == "DISABLE"
    before = len(kfp_api.requests)

    resumed = resume_schedule(kfp_api.url, "nightly", experiment="Default")

    assert _writes(kfp_api, before) == [("POST", f"{path}:enable")]
    assert resumed.enabled is True
    assert kfp_api.recurring_runs[created.recurring_run_id].mode == "ENABLE"


def test_delete_by_name(kfp_api, package):
    created = schedule(kfp_api.url, package, **NIGHTLY)
    kept = schedule(kfp_api.url, package, name="hourly", interval_seconds=3600)
    before = len(kfp_api.requests)

    deleted = delete_schedule(kfp_api.url, "nightly")

    assert _writes(kfp_api, before) == [("DELETE", f"/recurringruns/{created.recurring_run_id}")]
    assert (deleted.recurring_run_id, deleted.name) == (created.recurring_run_id, "nightly")
    assert list(kfp_api.recurring_runs) == [kept.recurring_run_id]


@pytest.mark.parametrize("act", [pause_schedule, resume_schedule, delete_schedule])
def test_an_unknown_name_is_an_error_naming_it(kfp_api, package, act):
    schedule(kfp_api.url, package, **NIGHTLY)
    before = len(kfp_api.requests)

    with pytest.raises(ScheduleLookupError, match="no recurring run named 'nightly-typo'") as e:
        act(kfp_api.url, "nightly-typo")

    assert e.value.name == "nightly-typo"
    assert _writes(kfp_api, before) == []


@pytest.mark.parametrize("act", [pause_schedule, resume_schedule, delete_schedule])
def test_a_name_in_several_experiments_needs_the_experiment(kfp_api, package, act):
    in_a = schedule(kfp_api.url, package, **NIGHTLY, experiment="a")
    in_b = schedule(kfp_api.url, package, **NIGHTLY, experiment="b")
    before = len(kfp_api.requests)

    with pytest.raises(ScheduleLookupError) as caught:
        act(kfp_api.url, "nightly")

    message = str(caught.value)
    assert "2 recurring runs are named 'nightly'" in message
    assert f"{in_a.recurring_run_id} in experiment 'a'" in message
    assert f"{in_b.recurring_run_id} in experiment 'b'" in message
    assert {m.recurring_run_id for m in caught.value.matches} == {
        in_a.recurring_run_id,
        in_b.recurring_run_id,
    }
    assert _writes(kfp_api, before) == []

    assert act(kfp_api.url, "nightly", experiment="b").recurring_run_id == in_b.recurring_run_id
    assert len(_writes(kfp_api, before)) == 1


def test_pause_in_an_unknown_experiment_is_an_error(kfp_api, package):
    schedule(kfp_api.url, package, **NIGHTLY)

    with pytest.raises(ScheduleLookupError, match="no experiment named 'nope'"):
        pause_schedule(kfp_api.url, "nightly", experiment="nope")

    assert all(r.mode == "ENABLE" for r in kfp_api.recurring_runs.values())


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda url: pause_schedule(url, " "), "name must be a non-empty string"),
        (lambda url: delete_schedule(url, "n", experiment=""), "experiment must be a non-empty"),
        (lambda url: list_schedules(url, name=""), "name must be a non-empty string"),
        (lambda url: resume_schedule(url.removeprefix("http://"), "n"), "with its scheme"),
    ],
    ids=["blank-name", "blank-experiment", "blank-list-name", "no-scheme"],
)
def test_bad_names_are_refused_before_any_request(kfp_api, call, message):
    with pytest.raises(ValueError, match=message):
        call(kfp_api.url)
    assert kfp_api.requests == []
