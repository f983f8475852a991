"""deploy's ``kserve`` target: the decision table, one test per row, against the fake API.

The scenarios (scenarios.py) run ``core.deploy`` with a fake of the Kubernetes API (fake_kube.py),
a fake clock, and the real HTTP client against real V2 servers serving the real exported model
(``servers.good``) or a wrong one (``servers.bad``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlrail.components.deploy import core
from mlrail.components.deploy.kserve import DeployError
from mlrail.errors import DataError
from tests.manifests.policy import pod_security_violations

from . import expectations as expect
from .expectations import canary, live
from .fake_kube import FakeKube, Revision
from .scenarios import (
    SCENARIOS,
    Context,
    Outcome,
    previous_isvc,
    run,
)
from .v2_servers import Servers

Get = Callable[[str], Outcome]


# -- the decision table (expectations.py) ---------------------------------------------------------


def test_apply_new_creates_waits_for_ready_and_smoke_tests(outcome: Get, servers: Servers) -> None:
    expect.apply_new(outcome("apply_new"), servers)


def test_the_same_model_again_is_unchanged_and_nothing_is_applied(
    outcome: Get, servers: Servers
) -> None:
    expect.unchanged(outcome("unchanged"), servers)


def test_a_retraining_with_the_same_identity_is_unchanged_and_nothing_is_applied(
    outcome: Get, servers: Servers
) -> None:
    expect.retrained_unchanged(outcome("retrained_unchanged"), servers)


def test_canary_is_smoke_tested_then_promoted(outcome: Get, servers: Servers) -> None:
    expect.canary_promote(outcome("canary_promote"), servers)


def test_canary_that_fails_its_smoke_test_is_rolled_back(outcome: Get, servers: Servers) -> None:
    expect.canary_rollback_smoke(outcome("canary_rollback_smoke"), servers)


def test_canary_not_ready_in_time_is_rolled_back(outcome: Get, servers: Servers) -> None:
    expect.canary_rollback_timeout(outcome("canary_rollback_timeout"), servers)


def test_canary_that_fails_to_load_is_rolled_back_without_waiting_out(
    outcome: Get, servers: Servers
) -> None:
    expect.canary_rollback_load_failure(outcome("canary_rollback_load_failure"), servers)


def test_canary_in_raw_deployment_is_refused_before_any_call(
    outcome: Get, servers: Servers
) -> None:
    expect.raw_canary_refused(outcome("raw_canary_refused"), servers)


def test_first_deploy_with_a_canary_goes_to_100_percent_and_says_so(
    outcome: Get, servers: Servers
) -> None:
    expect.first_deploy_canary(outcome("first_deploy_canary"), servers)


def test_full_rollout_that_fails_restores_the_previous_spec(outcome: Get, servers: Servers) -> None:
    expect.update_rollback_smoke(outcome("update_rollback_smoke"), servers)


def test_raw_deployment_applies_and_waits_for_ready(outcome: Get, servers: Servers) -> None:
    expect.raw_apply(outcome("raw_apply"), servers)


def test_raw_deployment_timeout_restores_the_previous_spec(outcome: Get, servers: Servers) -> None:
    expect.raw_update_rollback_timeout(outcome("raw_update_rollback_timeout"), servers)


def test_first_deploy_that_fails_is_left_in_place_and_reported(
    outcome: Get, servers: Servers
) -> None:
    expect.first_deploy_fails(outcome("first_deploy_fails"), servers)


def test_the_deployment_mode_cannot_change_in_place(outcome: Get, servers: Servers) -> None:
    expect.mode_mismatch(outcome("mode_mismatch"), servers)


def test_fields_set_by_another_manager_are_taken_back(outcome: Get, servers: Servers) -> None:
    expect.taken_over_from_kubectl(outcome("taken_over_from_kubectl"), servers)


# -- every object fits the restricted profile ---------------------------------------------------
# (and the CRD: the real API server checks every body, tests/cluster/test_deploy.py)


def test_every_inference_service_fits_pod_security(outcome: Get) -> None:
    bodies = [body for name in SCENARIOS for body in outcome(name).fake.received]
    assert len(bodies) >= 15
    for body in bodies:
        assert pod_security_violations([body]) == []


# -- failures that are not the model's ----------------------------------------------------------


@pytest.fixture
def ctx(servers: Servers, onnx_model: Path, tmp_path: Path) -> Context:
    return Context(servers.good, servers.bad, onnx_model, tmp_path)


@pytest.mark.parametrize("mode", ["Serverless", "RawDeployment"])
def test_a_ready_status_from_before_the_apply_is_not_taken_for_the_new_model(
    ctx: Context, mode: str
) -> None:
    # the previous model answers differently: testing it would fail the new model's smoke test
    fake = FakeKube([Revision(ctx.good)], lag=2)
    fake.seed(previous_isvc(mode), ctx.bad)
    o = run(ctx, fake, f"stale-{mode}", deployment_mode=mode)
    assert o.error is None and o.result is not None and o.result.decision == "applied"
    assert o.record["smoke_test"]["url"].startswith(ctx.good)


def test_a_canary_that_cannot_be_reached_alone_is_rolled_back(ctx: Context) -> None:
    fake = FakeKube([Revision(ctx.good)], tag_routing=False)
    fake.seed(previous_isvc(), ctx.good)
    o = run(ctx, fake, "untagged", canary_traffic_percent=10)
    assert isinstance(o.error, DeployError)
    assert "no URL reaches the new revision alone" in str(o.error)
    assert [canary(b) for b in fake.received] == [10, 0]


def test_forbidden_names_the_role_to_grant(ctx: Context) -> None:
    o = run(ctx, FakeKube(forbidden={"get"}), "forbidden")
    assert isinstance(o.error, DeployError)
    assert "HTTP 403" in str(o.error) and "mlrail-pipeline-runner Role" in str(o.error)


def test_a_cluster_without_kserve_is_named(ctx: Context) -> None:
    o = run(ctx, FakeKube(kserve_installed=False), "no-kserve")
    assert isinstance(o.error, DeployError) and "is KServe installed?" in str(o.error)


def test_no_golden_requests_is_a_clear_error(onnx_model: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "onnx_model"
    shutil.copytree(onnx_model, copy)
    (copy / "golden.json").unlink()
    fake = FakeKube()
    with pytest.raises(DataError, match="no golden requests"):
        core.deploy(copy, tmp_path / "d", target="kserve", onnx_model_uri="s3://b/k", api=fake)
    assert fake.calls == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"canary_traffic_percent": 100}, "use 1-99 for a canary, or 0"),
        ({"canary_traffic_percent": -5}, "use 1-99 for a canary, or 0"),
        ({"deployment_mode": "Knative"}, "deployment mode 'Knative'"),
        ({"cpu": "half"}, "cpu 'half' is not a Kubernetes quantity"),
        ({"memory": "1 GB"}, "memory '1 GB' is not a Kubernetes quantity"),
        ({"min_replicas": 3, "max_replicas": 2}, "need 0 <= min_replicas <= max_replicas"),
        ({"min_replicas": 0, "deployment_mode": "RawDeployment"}, "need 1 <= min_replicas"),
    ],
)
def test_bad_parameters_are_refused_before_any_call(
    onnx_model: Path, tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    fake = FakeKube()
    with pytest.raises(ValueError, match=message):
        core.deploy(
            onnx_model,
            tmp_path / "d",
            target="kserve",
            onnx_model_uri="s3://b/k",
            api=fake,
            **options,
        )
    assert fake.calls == [] and not (tmp_path / "d").exists()


class Flaky:
    """The fake API, with chosen calls failing the way the client fails."""

    def __init__(self, fake: FakeKube, gets: dict[int, Exception], applies: dict[int, Exception]):
        self.fake, self.gets, self.applies = fake, gets, applies
        self.count = {"get": 0, "apply": 0}

    def get_namespaced_custom_object(self, *args: Any) -> Any:
        self.count["get"] += 1
        if self.count["get"] in self.gets:
            raise self.gets[self.count["get"]]
        return self.fake.get_namespaced_custom_object(*args)

    def apply_namespaced_custom_object(self, *args: Any, **kwargs: Any) -> Any:
        self.count["apply"] += 1
        if self.count["apply"] in self.applies:
            raise self.applies[self.count["apply"]]
        return self.fake.apply_namespaced_custom_object(*args, **kwargs)


def _api_exception(status: int, message: str) -> Exception:
    from kubernetes.client.exceptions import ApiException

    exc = ApiException(status=status, reason="")
    exc.body = json.dumps({"kind": "Status", "code": status, "message": message})
    return exc


def test_passing_api_errors_while_waiting_are_polled_through(ctx: Context) -> None:
    from urllib3.exceptions import ProtocolError

    fake = FakeKube([Revision(ctx.good, ready_after=1)])
    flaky = Flaky(
        fake,
        gets={2: _api_exception(503, "etcdserver: leader changed"), 3: ProtocolError("reset")},
        applies={},
    )
    o = run(ctx, fake, "flaky", api=flaky)
    assert o.error is None and o.result is not None and o.result.decision == "applied"
    # GET 1 reads, 2 and 3 fail, 4 sees the revision pending, 5 ready
    assert flaky.count["get"] == 5 and o.clock.sleeps == [1.0, 2.0, 4.0]


def test_a_forbidden_poll_is_not_polled_through(ctx: Context) -> None:
    fake = FakeKube([Revision(ctx.good, ready_after=3)])
    flaky = Flaky(fake, gets={2: _api_exception(403, "cannot get")}, applies={})
    o = run(ctx, fake, "forbidden-poll", api=flaky)
    assert isinstance(o.error, DeployError) and "HTTP 403: cannot get" in str(o.error)
    assert o.clock.sleeps == []


def test_a_rollback_that_cannot_be_applied_says_both_reasons(ctx: Context) -> None:
    fake = FakeKube([Revision(ctx.bad)])
    fake.seed(previous_isvc(), ctx.good)
    flaky = Flaky(fake, gets={}, applies={2: _api_exception(500, "admission webhook timed out")})
    o = run(ctx, fake, "rollback-fails", api=flaky, canary_traffic_percent=20)
    assert isinstance(o.error, DeployError)
    message = str(o.error)
    assert "smoke test failed" in message and "the rollback failed too" in message
    assert "admission webhook timed out" in message
    assert o.record["decision"] == "failed"
    assert canary(live(o)) == 20  # still split: the record says failed, not rolled back


def test_a_rollback_whose_apply_gets_no_answer_says_both_reasons(ctx: Context) -> None:
    """A dropped connection during an apply is a DeployError the record names, not a bare
    urllib3 error that escapes the step and leaves no record."""
    from urllib3.exceptions import ProtocolError

    from mlrail.components.deploy.kserve.api import Transient

    fake = FakeKube([Revision(ctx.bad)])
    fake.seed(previous_isvc(), ctx.good)
    flaky = Flaky(fake, gets={}, applies={2: ProtocolError("connection reset")})
    o = run(ctx, fake, "rollback-no-answer", api=flaky, canary_traffic_percent=20)
    assert isinstance(o.error, DeployError) and not isinstance(o.error, Transient)
    message = str(o.error)
    assert "the rollback failed too" in message and "no answer from the API server" in message
    assert o.record["decision"] == "failed"
    assert canary(live(o)) == 20  # still split: the record says failed, not rolled back
