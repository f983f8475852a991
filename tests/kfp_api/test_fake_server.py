"""The fake KFP API is only worth its green if it refuses what the real server refuses."""

from __future__ import annotations

import json
from typing import Any

import httpx
import kfp_server_api
import pytest
import yaml
from kfp_server_api import models

from .fake_server import API, FakeKfpServer


def _post(server: FakeKfpServer, path: str, body: Any) -> httpx.Response:
    return httpx.post(server.url + API + path, json=body)


def _experiment(server: FakeKfpServer) -> str:
    response = _post(server, "/experiments", {"display_name": "e"})
    assert response.status_code == 200, response.text
    return response.json()["experiment_id"]


def _run(experiment_id: str, spec: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A run body serialised from the model, the way kfp_server_api sends it."""
    run = models.V2beta1Run(
        experiment_id=experiment_id,
        display_name="r",
        pipeline_spec=spec,
        runtime_config=models.V2beta1RuntimeConfig(parameters={"greeting": "hi"}),
    )
    with kfp_server_api.ApiClient() as client:
        body = client.sanitize_for_serialization(run)
    body.update(fields)
    return body


@pytest.fixture
def spec(package: str) -> dict[str, Any]:
    with open(package, encoding="utf-8") as f:
        return yaml.safe_load(f)


def test_a_body_serialised_from_the_model_is_accepted(kfp_api, spec):
    response = _post(kfp_api, "/runs", _run(_experiment(kfp_api), spec))

    assert response.status_code == 200, response.text
    created = response.json()
    assert created["state"] == "PENDING"
    assert kfp_api.runs[created["run_id"]].runtime_config.parameters == {"greeting": "hi"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"runtimeConfig": {"paramters": {}}}, "unknown field 'paramters'"),
        ({"schedule": "daily"}, "unknown field 'schedule' for V2beta1Run"),
        ({"display_name": 5}, "display_name: expected str"),
        ({"created_at": "yesterday"}, "not an RFC 3339 timestamp"),
        ({"storage_state": "GONE"}, "'GONE' is not one of"),
    ],
)
def test_a_wrong_run_body_is_refused(kfp_api, spec, change, message):
    response = _post(kfp_api, "/runs", _run(_experiment(kfp_api), spec, **change))

    assert response.status_code == 400
    assert message in response.json()["message"]
    assert kfp_api.runs == {}


def test_a_run_whose_spec_is_not_a_pipeline_spec_is_refused(kfp_api, spec):
    spec["root"]["dag"]["tasks"]["echo"]["cachingOption"] = {"enableCache": True}  # typo

    response = _post(kfp_api, "/runs", _run(_experiment(kfp_api), spec))

    assert response.status_code == 400
    assert "invalid pipeline spec" in response.json()["message"]


def test_a_run_in_an_unknown_experiment_is_refused(kfp_api, spec):
    response = _post(kfp_api, "/runs", _run("no-such-experiment", spec))

    assert response.status_code == 404


def test_run_parameters_over_10000_bytes_are_refused_like_the_server_does(kfp_api, spec):
    body = _run(_experiment(kfp_api), spec)
    body["runtime_config"]["parameters"] = {"greeting": "x" * 9_985}  # 10,000 bytes as JSON
    assert _post(kfp_api, "/runs", body).status_code == 200

    body["runtime_config"]["parameters"] = {"greeting": "x" * 9_986}
    response = _post(kfp_api, "/runs", body)
    assert response.status_code == 400
    assert "exceed maximum size of 10000" in response.json()["message"]


def test_an_experiment_name_is_unique(kfp_api):
    _experiment(kfp_api)

    assert _post(kfp_api, "/experiments", {"display_name": "e"}).status_code == 409


def test_an_upload_that_is_not_a_pipeline_is_refused(kfp_api):
    response = httpx.post(
        kfp_api.url + API + "/pipelines/upload",
        params={"name": "p"},
        files={"uploadfile": ("p.yaml", b"apiVersion: v1\nkind: Pod\n", "application/x-yaml")},
    )

    assert response.status_code == 400
    assert "invalid pipeline spec" in response.json()["message"]
    assert kfp_api.pipelines == {}


def test_an_upload_is_parsed_from_multipart(kfp_api, package):
    with open(package, "rb") as f:
        content = f.read()
    response = httpx.post(
        kfp_api.url + API + "/pipelines/upload",
        params={"name": "p", "namespace": "team-a"},
        files={"uploadfile": ("tiny.yaml", content, "application/x-yaml")},
    )

    assert response.status_code == 200, response.text
    pipeline_id = response.json()["pipeline_id"]
    assert kfp_api.pipelines[pipeline_id].namespace == "team-a"
    assert kfp_api.calls("POST", "/pipelines/upload")[0].files["uploadfile"] == (
        "tiny.yaml",
        content,
    )
    [version] = kfp_api.versions[pipeline_id]
    assert version.name == "p"
    assert version.pipeline_spec["pipelineInfo"]["name"] == "tiny"


def test_a_recurring_run_outside_the_server_limits_is_refused(kfp_api, package):
    with open(package, "rb") as f:
        uploaded = httpx.post(
            kfp_api.url + API + "/pipelines/upload",
            params={"name": "p"},
            files={"uploadfile": ("tiny.yaml", f.read(), "application/x-yaml")},
        ).json()
    [version] = kfp_api.versions[uploaded["pipeline_id"]]
    body = {
        "display_name": "rr",
        "experiment_id": _experiment(kfp_api),
        "pipeline_version_reference": {
            "pipeline_id": uploaded["pipeline_id"],
            "pipeline_version_id": version.pipeline_version_id,
        },
        "max_concurrency": 1,
        "trigger": {"cron_schedule": {"cron": "0 0 2 * * *"}},
        "mode": "ENABLE",
    }
    assert _post(kfp_api, "/recurringruns", body).status_code == 200

    for change in (
        {"max_concurrency": 11},
        {"max_concurrency": "many"},
        {"trigger": {}},
        {"trigger": {"cron_schedule": {"cron": "0 2 * *"}}},
        {"mode": "SOMETIMES"},
        {"no_catchup": "yes"},
        {"pipeline_version_reference": {"pipeline_id": "x", "pipeline_version_id": "y"}},
    ):
        response = _post(kfp_api, "/recurringruns", {**body, **change})
        assert response.status_code in (400, 404), change
    assert len(kfp_api.recurring_runs) == 1


def test_filters_accept_the_forms_kfp_client_sends(kfp_api):
    _experiment(kfp_api)
    for predicate in (
        {"operation": 1, "key": "display_name", "stringValue": "e"},
        {"operation": "EQUALS", "key": "display_name", "string_value": "e"},
    ):
        response = httpx.get(
            kfp_api.url + API + "/experiments",
            params={"filter": json.dumps({"predicates": [predicate]})},
        )
        assert response.status_code == 200, response.text
        assert [e["display_name"] for e in response.json()["experiments"]] == ["e"]

    bad = {"predicates": [{"operation": 1, "key": "colour", "stringValue": "e"}]}
    response = httpx.get(kfp_api.url + API + "/experiments", params={"filter": json.dumps(bad)})
    assert response.status_code == 400


def test_unknown_paths_and_query_parameters_are_refused(kfp_api):
    assert httpx.get(kfp_api.url + API + "/pipelinez").status_code == 404
    assert httpx.get(kfp_api.url + API + "/healthz", params={"x": "1"}).status_code == 400
    assert [r.status for r in kfp_api.requests] == [404, 400]


def _recurring_run(server: FakeKfpServer, package: str, name: str = "rr") -> str:
    """Creates a recurring run through the HTTP API; returns its id."""
    if not server.pipelines:
        with open(package, "rb") as f:
            httpx.post(
                server.url + API + "/pipelines/upload",
                params={"name": "p"},
                files={"uploadfile": ("tiny.yaml", f.read(), "application/x-yaml")},
            ).raise_for_status()
    [pipeline_id] = server.pipelines
    [version] = server.versions[pipeline_id]
    experiment_id = next(iter(server.experiments), None) or _experiment(server)
    response = _post(
        server,
        "/recurringruns",
        {
            "display_name": name,
            "experiment_id": experiment_id,
            "pipeline_version_reference": {
                "pipeline_id": pipeline_id,
                "pipeline_version_id": version.pipeline_version_id,
            },
            "max_concurrency": 1,
            "trigger": {"periodic_schedule": {"interval_second": 60}},
        },
    )
    assert response.status_code == 200, response.text
    return str(response.json()["recurring_run_id"])


def test_lists_are_paged_as_the_server_pages_them(package):
    with FakeKfpServer(max_page_size=3) as server:
        made = [_recurring_run(server, package, f"rr-{i}") for i in range(5)]
        url = server.url + API + "/recurringruns"

        first = httpx.get(url, params={"page_size": 2}).json()
        rest = httpx.get(url, params={"page_size": 10, "page_token": first["next_page_token"]})

        # JSON names as the generated model has them (recurringRuns, next_page_token).
        assert [r["recurring_run_id"] for r in first["recurringRuns"]] == made[:2]
        assert first["total_size"] == 5
        # The page size is capped at the server's maximum; the last page has no next token.
        assert [r["recurring_run_id"] for r in rest.json()["recurringRuns"]] == made[2:5]
        assert "next_page_token" not in rest.json()
        assert httpx.get(url).json()["next_page_token"]  # no page size: the default, capped
        assert httpx.get(url, params={"page_size": -1}).status_code == 400
        assert httpx.get(url, params={"page_token": "not-ours"}).status_code == 400


def test_the_default_page_is_twenty_items(package):
    with FakeKfpServer() as server:
        for i in range(21):
            _recurring_run(server, package, f"rr-{i}")

        page = httpx.get(server.url + API + "/recurringruns").json()

    assert len(page["recurringRuns"]) == 20
    assert page["next_page_token"]


def test_recurring_runs_are_listed_by_experiment_namespace_and_name(kfp_api, package):
    kept = _recurring_run(kfp_api, package, "nightly")
    _recurring_run(kfp_api, package, "hourly")
    [experiment_id] = kfp_api.experiments
    url = kfp_api.url + API + "/recurringruns"
    by_name = json.dumps(
        {"predicates": [{"operation": 1, "key": "display_name", "stringValue": "nightly"}]}
    )

    def ids(**params: str) -> list[str]:
        response = httpx.get(url, params=params)
        assert response.status_code == 200, response.text
        return [r["recurring_run_id"] for r in response.json().get("recurringRuns") or []]

    assert ids(filter=by_name) == [kept]
    assert len(ids(experiment_id=experiment_id)) == 2
    assert ids(experiment_id="other") == []
    assert ids(namespace="team-a") == []
    assert ids(sort_by="created_at desc")[-1] == kept
    assert httpx.get(url, params={"sort_by": "colour"}).status_code == 400


def test_enable_disable_and_delete_change_the_recurring_run(kfp_api, package):
    rr = _recurring_run(kfp_api, package)
    base = kfp_api.url + API + f"/recurringruns/{rr}"

    assert httpx.post(base + ":disable").json() == {}
    assert (kfp_api.recurring_runs[rr].mode, kfp_api.recurring_runs[rr].status) == (
        "DISABLE",
        "DISABLED",
    )
    assert httpx.get(base).json()["mode"] == "DISABLE"
    assert httpx.post(base + ":enable").json() == {}
    assert (kfp_api.recurring_runs[rr].mode, kfp_api.recurring_runs[rr].status) == (
        "ENABLE",
        "ENABLED",
    )
    assert httpx.delete(base).json() == {}
    assert kfp_api.recurring_runs == {}
    assert [r.status for r in kfp_api.requests[-5:]] == [200] * 5


@pytest.mark.parametrize(
    ("method", "suffix"), [("POST", ":enable"), ("POST", ":disable"), ("DELETE", ""), ("GET", "")]
)
def test_an_unknown_recurring_run_is_not_found(kfp_api, method, suffix):
    response = httpx.request(method, kfp_api.url + API + f"/recurringruns/nope{suffix}")

    assert response.status_code == 404
    assert "recurring run nope not found" in response.json()["message"]


def test_enable_takes_no_body(kfp_api, package):
    rr = _recurring_run(kfp_api, package)

    response = httpx.post(kfp_api.url + API + f"/recurringruns/{rr}:enable", json={"mode": 1})

    assert response.status_code == 400


def test_a_pipeline_version_is_found_by_its_ids(kfp_api, package):
    _recurring_run(kfp_api, package)
    [(pipeline_id, [version])] = kfp_api.versions.items()
    base = kfp_api.url + API + f"/pipelines/{pipeline_id}/versions"

    found = httpx.get(f"{base}/{version.pipeline_version_id}")

    assert found.status_code == 200
    assert found.json()["display_name"] == "p"
    assert httpx.get(f"{base}/nope").status_code == 404
