"""deploy's ``kserve`` target against the real API server, as the pipeline runner.

Every scenario of the decision table (tests/components/deploy/scenarios.py) runs with deploy's
real client, authenticated as the ``mlrail-pipeline-runner`` ServiceAccount of the installed
overlay (TokenRequest), against kube-apiserver with the InferenceService CRD: its schema
validation, server-side apply, generation and RBAC are the server's own. KServe's status comes
from the test controller (kserve_controller.py), pointing at real ``mlrail serve`` servers; each
scenario ends in the same expectations as against the fake API (expectations.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from mlrail.components.deploy import kserve
from mlrail.components.deploy.kserve import DeployError
from tests.components.deploy.expectations import EXPECTATIONS
from tests.components.deploy.fake_kube import Call
from tests.components.deploy.kserve_model import Revision
from tests.components.deploy.scenarios import (
    NAME,
    NAMESPACE,
    SCENARIOS,
    Context,
    previous_isvc,
    run,
)
from tests.components.deploy.v2_servers import Servers

from .control_plane import ControlPlane
from .kserve_controller import RUNNER, api_as

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from mlrail.components.deploy.kserve import KubeApi, KubernetesApi


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_each_scenario_ends_as_against_the_fake(
    deploy_context: Context, servers: Servers, scenario: str
) -> None:
    # checked at once: the next scenario replaces the object
    EXPECTATIONS[scenario](SCENARIOS[scenario](deploy_context), servers)


def test_deploy_calls_the_api_as_the_pipeline_runner(runner_api: KubernetesApi) -> None:
    from kubernetes.client import AuthenticationV1Api, V1SelfSubjectReview

    review = AuthenticationV1Api(runner_api.api_client).create_self_subject_review(
        V1SelfSubjectReview()
    )
    assert review.status.user_info.username == f"system:serviceaccount:{NAMESPACE}:{RUNNER}"


# -- what the fake API checked by itself, checked by the real server -----------------------------


def _apply(api: KubeApi, body: dict[str, Any], *, force: bool = True) -> dict[str, Any]:
    meta = body["metadata"]
    return dict(
        api.apply_namespaced_custom_object(
            kserve.GROUP,
            kserve.VERSION,
            meta["namespace"],
            kserve.PLURAL,
            meta["name"],
            body,
            field_manager=kserve.FIELD_MANAGER,
            force=force,
        )
    )


def _refusal(call: Callable[[], Any]) -> tuple[int, str]:
    from kubernetes.client.exceptions import ApiException

    with pytest.raises(ApiException) as caught:
        call()
    return int(caught.value.status), str(json.loads(caught.value.body)["message"])


def test_the_server_refuses_a_body_the_crd_refuses(deploy_context: Context) -> None:
    kube = deploy_context.new_kube()
    typo = previous_isvc()
    typo["spec"]["predictor"]["minReplica"] = 1
    # server-side apply cannot even type an undeclared field: a 500, not the 422 of a bad value
    status, message = _refusal(lambda: _apply(kube, typo))
    assert (status, "minReplica: field not declared in schema") == (500, message[-40:]), message
    with pytest.raises(DeployError, match=r"HTTP 500: .*minReplica: field not declared"):
        kserve.api.apply(kube, typo)  # deploy stops: an apply is never retried
    not_a_quantity = previous_isvc()
    not_a_quantity["spec"]["predictor"]["model"]["resources"]["limits"]["cpu"] = "lots"
    status, message = _refusal(lambda: _apply(kube, not_a_quantity))
    assert status == 422 and "cpu" in message, message
    patch = Call("patch", kserve.GROUP, kserve.VERSION, kserve.PLURAL, NAMESPACE, NAME)
    assert kube.calls == [patch] * 3  # all refused: nothing was created


def test_the_server_refuses_an_apply_whose_identity_is_not_the_urls(
    deploy_context: Context,
) -> None:
    kube = deploy_context.new_kube()
    body = previous_isvc()
    body["metadata"]["name"] = "another"
    status, message = _refusal(
        lambda: kube.apply_namespaced_custom_object(
            kserve.GROUP,
            kserve.VERSION,
            NAMESPACE,
            kserve.PLURAL,
            NAME,
            body,
            field_manager=kserve.FIELD_MANAGER,
            force=True,
        )
    )
    assert status == 400 and "another" in message


def test_a_field_another_manager_set_conflicts_unless_forced(
    deploy_context: Context, servers: Servers
) -> None:
    kube = deploy_context.new_kube([Revision(servers.good)])
    hand_edited = previous_isvc()
    hand_edited["spec"]["predictor"]["maxReplicas"] = 5
    kube.seed(hand_edited, servers.good, manager="kubectl-client-side-apply")
    status, message = _refusal(lambda: _apply(kube, previous_isvc(), force=False))
    assert status == 409 and "maxReplicas" in message and "kubectl-client-side-apply" in message
    assert kube.live(NAMESPACE, NAME)["spec"]["predictor"]["maxReplicas"] == 5
    _apply(kube, previous_isvc(), force=True)
    assert kube.live(NAMESPACE, NAME)["spec"]["predictor"]["maxReplicas"] == 1
    owned = kube.managers(NAMESPACE, NAME)
    assert ("spec", "predictor", "maxReplicas") in owned[kserve.FIELD_MANAGER]
    assert ("spec", "predictor", "maxReplicas") not in owned["kubectl-client-side-apply"]


def test_generation_moves_only_when_the_spec_changes(
    deploy_context: Context, servers: Servers
) -> None:
    kube = deploy_context.new_kube([Revision(servers.good)] * 3)
    body = previous_isvc()
    first = _apply(kube, body)
    assert first["metadata"]["generation"] == 1
    # the controller wrote the status (the status subresource): no new generation
    live = kube.live(NAMESPACE, NAME)
    assert live["status"]["observedGeneration"] == 1 and live["metadata"]["generation"] == 1
    again = _apply(kube, body)  # the same body: nothing changes, not even the resourceVersion
    assert again["metadata"]["resourceVersion"] == live["metadata"]["resourceVersion"]
    body["metadata"]["annotations"]["example.com/note"] = "metadata only"
    annotated = _apply(kube, body)
    assert annotated["metadata"]["generation"] == 1
    assert annotated["metadata"]["resourceVersion"] != live["metadata"]["resourceVersion"]
    body["spec"]["predictor"]["maxReplicas"] = 2
    assert _apply(kube, body)["metadata"]["generation"] == 2


# -- RBAC: what the Role does not allow is refused, and deploy says which Role ------------------


def _service_account(admin: ApiClient, namespace: str, name: str, verbs: list[str]) -> None:
    """A ServiceAccount in ``namespace``, bound to a Role with ``verbs`` on InferenceServices."""
    from kubernetes import client

    core, rbac = client.CoreV1Api(admin), client.RbacAuthorizationV1Api(admin)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
    if not verbs:
        return
    rule = {"apiGroups": [kserve.GROUP], "resources": [kserve.PLURAL], "verbs": verbs}
    rbac.create_namespaced_role(namespace, {"metadata": {"name": name}, "rules": [rule]})
    subject = {"kind": "ServiceAccount", "name": name, "namespace": namespace}
    role_ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name}
    rbac.create_namespaced_role_binding(
        namespace, {"metadata": {"name": name}, "roleRef": role_ref, "subjects": [subject]}
    )


def test_a_service_account_without_the_role_gets_a_one_line_error_naming_it(
    control_plane: ControlPlane, kube_admin: ApiClient, deploy_context: Context
) -> None:
    _service_account(kube_admin, NAMESPACE, "mlrail-no-role", [])
    api = api_as(control_plane, kube_admin, NAMESPACE, "mlrail-no-role")
    o = run(deploy_context, deploy_context.new_kube(), "no-role", api=api)
    assert isinstance(o.error, DeployError)
    message = str(o.error)
    assert "\n" not in message and "HTTP 403" in message
    assert 'User "system:serviceaccount:mlrail:mlrail-no-role" cannot get resource' in message
    assert "needs the mlrail-pipeline-runner Role (manifests/base/rbac.yaml)" in message


def test_an_apply_that_creates_is_also_authorized_as_create(
    control_plane: ControlPlane, kube_admin: ApiClient, deploy_context: Context, servers: Servers
) -> None:
    # a Role with the runner's verbs but create: a first deploy (an apply that creates) fails
    _service_account(kube_admin, NAMESPACE, "mlrail-no-create", ["get", "patch"])
    api = api_as(control_plane, kube_admin, NAMESPACE, "mlrail-no-create")
    o = run(deploy_context, deploy_context.new_kube([Revision(servers.good)]), "no-create", api=api)
    assert isinstance(o.error, DeployError)
    assert "HTTP 403" in str(o.error) and 'cannot create resource "inferenceservices"' in str(
        o.error
    )
