"""RBAC on the real API server: each ServiceAccount of manifests may make exactly the calls its
pods make, and nothing of what it must not.

The table is asked of kube-apiserver's RBAC authorizer as ``SubjectAccessReview``s (the admin
asks on each account's behalf, with the groups its token carries), against the Role and
RoleBinding the dev overlay installs (manifests/base/rbac.yaml, whose comments cite the source of
each rule). A few rows are then made as real requests with a TokenRequest token, so the review's
answer and the server's behaviour are seen to agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from .control_plane import ControlPlane
from .kube import report

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

NS = "mlrail"  # the namespace the installed overlay's objects are in
RUNNER = "mlrail-pipeline-runner"
SERVING = "mlrail-serving"
TRAINER_ACCOUNT = "mlrail-trainer"
OTHER_NS = "kubeflow"


@dataclass(frozen=True)
class Call:
    """One API request, as the RBAC authorizer sees it (``namespace=""``: cluster-wide)."""

    verb: str
    group: str
    resource: str
    namespace: str = NS
    name: str = ""
    subresource: str = ""

    def __str__(self) -> str:
        what = f"{self.group or 'core'}/{self.resource}"
        what += f"/{self.subresource}" if self.subresource else ""
        what += f" {self.name}" if self.name else ""
        return f"{self.verb} {what} in {self.namespace or 'the cluster'}"


@dataclass(frozen=True)
class Row:
    account: str
    call: Call
    allowed: bool
    why: str


KSERVE = "serving.kserve.io"
ARGO = "argoproj.io"
RBAC_GROUP = "rbac.authorization.k8s.io"
ISVC = "inferenceservices"
TASK_RESULTS = "workflowtaskresults"
TRAINER = "trainer.kubeflow.org"
TRAINJOBS = "trainjobs"
TRAINJOB = "mlrail-train-0123456789ab"  # as train names one (components/train/trainjob.py)

MUST = [
    # deploy's kserve target (components/deploy/kserve/api.py lists these calls)
    *(
        Row(RUNNER, Call(verb, KSERVE, ISVC, name="penguins"), True, "deploy")
        for verb in ("get", "create", "patch")
    ),
    # a server-side apply that creates the object is authorised as create of no name yet
    Row(RUNNER, Call("create", KSERVE, ISVC), True, "deploy's first apply"),
    # Argo's emissary executor (>= v3.4, v4): one WorkflowTaskResult per step
    Row(RUNNER, Call("create", ARGO, TASK_RESULTS), True, "Argo executor"),
    Row(RUNNER, Call("patch", ARGO, TASK_RESULTS, name="training-x7k2p-123"), True, "Argo"),
    # KFP v2 driver and launcher
    Row(RUNNER, Call("get", "", "configmaps", name="kfp-launcher"), True, "KFP driver"),
    Row(RUNNER, Call("get", "", "secrets", name="mlpipeline-minio-artifact"), True, "launcher"),
    # train's distributed mode (components/train/trainjob.py lists these calls): its TrainJob
    *(
        Row(RUNNER, Call(verb, TRAINER, TRAINJOBS, name=TRAINJOB), True, "train's TrainJob")
        for verb in ("get", "create", "patch")
    ),
    Row(RUNNER, Call("create", TRAINER, TRAINJOBS), True, "train's first apply"),
    # ...its workers' pods, listed by label, and the chief's log
    Row(RUNNER, Call("list", "", "pods"), True, "train finds its workers"),
    Row(
        RUNNER,
        Call("get", "", "pods", name=f"{TRAINJOB}-node-0-0-x7k2p", subresource="log"),
        True,
        "train streams the chief's log",
    ),
]

_RUNNER_MUST_NOT = [
    # secrets: never all of them, never one it was not given
    (Call("list", "", "secrets"), "list returns every secret's data"),
    (Call("watch", "", "secrets"), "watch returns every secret's data"),
    (Call("list", "", "secrets", namespace=""), "every secret in the cluster"),
    (Call("get", "", "secrets"), "get without a name is any secret"),
    (Call("get", "", "secrets", name="mlrail-s3-credentials"), "the serving account's Secret"),
    (Call("get", "", "secrets", name="mlrail-pipeline-runner-token"), "another Secret"),
    (Call("update", "", "secrets", name="mlpipeline-minio-artifact"), "read only"),
    (Call("create", "", "secrets"), "no new secrets"),
    # InferenceServices: deploy never deletes, lists or writes status
    (Call("delete", KSERVE, ISVC, name="penguins"), "deploy rolls back, never deletes"),
    (Call("deletecollection", KSERVE, ISVC), "deploy never deletes"),
    (Call("list", KSERVE, ISVC), "deploy reads by name"),
    (Call("update", KSERVE, ISVC, name="penguins"), "deploy applies server-side (patch)"),
    (Call("patch", KSERVE, ISVC, name="penguins", subresource="status"), "KServe's field"),
    (Call("create", KSERVE, "servingruntimes"), "the runtime is the overlay's"),
    # Argo and KFP objects beyond the executor's own results
    (Call("delete", ARGO, TASK_RESULTS, name="x"), "the controller cleans up"),
    (Call("list", ARGO, TASK_RESULTS), "the controller reads them"),
    (Call("create", ARGO, "workflows"), "a step cannot start runs"),
    (Call("patch", ARGO, "workflows", name="training-x7k2p"), "a step cannot edit its run"),
    (Call("get", "", "configmaps", name="other"), "only kfp-launcher"),
    (Call("list", "", "configmaps"), "only kfp-launcher, by name"),
    (Call("update", "", "configmaps", name="kfp-launcher"), "read only"),
    # pods: no shell, no tunnel, no reads (see rbac.yaml for why get is not needed)
    (Call("create", "", "pods", name="x", subresource="exec"), "a shell in any pod"),
    (Call("get", "", "pods", name="x", subresource="exec"), "exec over a GET upgrade"),
    (Call("create", "", "pods", name="x", subresource="attach"), "attach to any pod"),
    (Call("create", "", "pods", name="x", subresource="portforward"), "a tunnel"),
    (Call("get", "", "pods", name="x"), "not needed: KFP's retry-index fallback only"),
    (Call("patch", "", "pods", name="x"), "only pre-3.4 Argo executors"),
    (Call("create", "", "pods"), "Argo's controller makes pods"),
    (Call("delete", "", "pods", name="x"), "the controllers remove pods"),
    (Call("watch", "", "pods"), "train polls with list"),
    (Call("list", "", "pods", namespace=""), "every namespace's pods"),
    (Call("list", "", "pods", namespace=OTHER_NS), "another namespace's pods"),
    (Call("get", "", "pods", namespace=OTHER_NS, name="x", subresource="log"), "another ns"),
    (Call("create", "", "pods", name="x", subresource="eviction"), "evict a pod"),
    # train's TrainJob: applied, then read by name; the Trainer controller owns the rest
    (Call("delete", TRAINER, TRAINJOBS, name=TRAINJOB), "the step never deletes it"),
    (Call("list", TRAINER, TRAINJOBS), "train reads its own by name"),
    (Call("watch", TRAINER, TRAINJOBS), "train polls with get"),
    (Call("update", TRAINER, TRAINJOBS, name=TRAINJOB), "server-side apply is patch"),
    (Call("patch", TRAINER, TRAINJOBS, name=TRAINJOB, subresource="status"), "Trainer's field"),
    (Call("create", TRAINER, "trainingruntimes"), "the runtime is the overlay's"),
    (Call("patch", TRAINER, "trainingruntimes", name="mlrail-train"), "the overlay's"),
    (Call("create", TRAINER, "clustertrainingruntimes", namespace=""), "cluster-wide"),
    (Call("create", "jobset.x-k8s.io", "jobsets"), "the Trainer controller makes them"),
    (Call("create", "batch", "jobs"), "JobSet's controller makes them"),
    (Call("create", TRAINER, TRAINJOBS, namespace=OTHER_NS), "another namespace"),
    (Call("get", TRAINER, TRAINJOBS, namespace="default", name=TRAINJOB), "another namespace"),
    # identities and privileges
    (Call("impersonate", "", "serviceaccounts", name="default"), "impersonate"),
    (Call("impersonate", "", "users", namespace=""), "impersonate a user"),
    (Call("impersonate", "", "groups", namespace=""), "impersonate a group"),
    (Call("create", "", "serviceaccounts", name=RUNNER, subresource="token"), "mint tokens"),
    (Call("escalate", RBAC_GROUP, "roles", name=RUNNER), "escalate"),
    (Call("bind", RBAC_GROUP, "roles", name=RUNNER), "bind"),
    (Call("patch", RBAC_GROUP, "roles", name=RUNNER), "edit its own Role"),
    (Call("create", RBAC_GROUP, "rolebindings"), "bind itself more"),
    (Call("bind", RBAC_GROUP, "clusterroles", namespace="", name="admin"), "bind admin"),
    (Call("escalate", RBAC_GROUP, "clusterroles", namespace=""), "escalate"),
    (Call("create", RBAC_GROUP, "clusterrolebindings", namespace=""), "cluster-wide binding"),
    # anything cluster-wide
    (Call("list", "", "nodes", namespace=""), "cluster-wide"),
    (Call("get", "", "namespaces", namespace="", name=NS), "cluster-wide"),
    (Call("list", "", "namespaces", namespace=""), "cluster-wide"),
    (Call("create", "", "namespaces", namespace=""), "cluster-wide"),
    (Call("create", "apiextensions.k8s.io", "customresourcedefinitions", namespace=""), "CRDs"),
    (Call("list", KSERVE, ISVC, namespace=""), "every namespace's InferenceServices"),
    (Call("create", KSERVE, "clusterservingruntimes", namespace=""), "cluster-wide"),
    # other namespaces: the same calls that are allowed in mlrail
    (Call("get", KSERVE, ISVC, namespace=OTHER_NS, name="penguins"), "another namespace"),
    (Call("patch", KSERVE, ISVC, namespace="default", name="penguins"), "another namespace"),
    (Call("create", ARGO, TASK_RESULTS, namespace=OTHER_NS), "another namespace"),
    (Call("get", "", "configmaps", namespace=OTHER_NS, name="kfp-launcher"), "another ns"),
    (Call("get", "", "secrets", namespace=OTHER_NS, name="mlpipeline-minio-artifact"), "other"),
    (Call("get", "", "secrets", namespace="kube-system", name="mlpipeline-minio-artifact"), "o"),
]

# The model server never calls the API (its account mounts no token); even with a stolen token
# it could do nothing. Its storage credentials reach the storage initializer as environment
# variables that KServe's webhook and the kubelet resolve (tests/cluster/test_storage.py).
_SERVING_MUST_NOT = [
    (Call("get", "", "secrets", name="mlrail-s3-credentials"), "env from the kubelet, not the API"),
    (Call("list", "", "secrets"), "no secrets"),
    (Call("get", "", "serviceaccounts", name=SERVING), "nothing"),
    (Call("get", KSERVE, ISVC, name="penguins"), "a predictor does not read its own ISVC"),
    (Call("list", "", "pods"), "nothing"),
    (Call("create", ARGO, TASK_RESULTS), "not a pipeline pod"),
    (Call("get", "", "configmaps", name="kfp-launcher"), "not a pipeline pod"),
    (Call("create", "", "pods", name="x", subresource="exec"), "no shell"),
    (Call("list", "", "nodes", namespace=""), "cluster-wide"),
    (Call("impersonate", "", "serviceaccounts", name=RUNNER), "impersonate"),
    (Call("create", TRAINER, TRAINJOBS), "not a pipeline pod"),
]

# train's workers (manifests/base/trainingruntime.yaml) mount no token and have no Role: they
# read the object store with its Secret's keys (env from the kubelet) and talk to each other.
_TRAINER_MUST_NOT = [
    (Call("get", "", "secrets", name="mlrail-object-store"), "env from the kubelet, not the API"),
    (Call("list", "", "pods"), "the workers find each other by DNS"),
    (Call("get", TRAINER, TRAINJOBS, name=TRAINJOB), "nothing"),
    (Call("create", TRAINER, TRAINJOBS), "no TrainJobs of its own"),
    (Call("get", "", "pods", name="x", subresource="log"), "nothing"),
    (Call("create", "", "pods", name="x", subresource="exec"), "no shell"),
]

MUST_NOT = (
    [Row(RUNNER, c, False, why) for c, why in _RUNNER_MUST_NOT]
    + [Row(SERVING, c, False, why) for c, why in _SERVING_MUST_NOT]
    + [Row(TRAINER_ACCOUNT, c, False, why) for c, why in _TRAINER_MUST_NOT]
)
TABLE = MUST + MUST_NOT
#: Each row's outcome in this run: True when the server answered as the table says.
_AS_EXPECTED: dict[Row, bool] = {}


def _user(account: str) -> tuple[str, list[str]]:
    """A ServiceAccount's user name and the groups the token authenticator gives it."""
    user = f"system:serviceaccount:{NS}:{account}"
    return user, ["system:serviceaccounts", f"system:serviceaccounts:{NS}", "system:authenticated"]


def review(admin: ApiClient, account: str, call: Call) -> bool:
    """The RBAC authorizer's decision on ``call`` by ``account`` (a SubjectAccessReview)."""
    return _review(admin, *_user(account), call)


def _review(admin: ApiClient, user: str, groups: list[str], call: Call) -> bool:
    from kubernetes import client

    attributes = client.V1ResourceAttributes(
        verb=call.verb,
        group=call.group,
        resource=call.resource,
        subresource=call.subresource or None,
        namespace=call.namespace or None,
        name=call.name or None,
    )
    body = client.V1SubjectAccessReview(
        spec=client.V1SubjectAccessReviewSpec(
            user=user, groups=groups, resource_attributes=attributes
        )
    )
    status = client.AuthorizationV1Api(admin).create_subject_access_review(body).status
    return bool(status.allowed)


def test_the_table_covers_both_accounts_and_both_answers() -> None:
    assert {(r.account, r.allowed) for r in TABLE} == {
        (RUNNER, True),
        (RUNNER, False),
        (SERVING, False),
        (TRAINER_ACCOUNT, False),
    }
    assert len({(r.account, r.call) for r in TABLE}) == len(TABLE), "a row is repeated"


@pytest.mark.parametrize("row", TABLE, ids=[f"{r.account}: {r.call}" for r in TABLE])
def test_rbac_table(kube_admin: ApiClient, installed: str, row: Row) -> None:
    assert installed == NS
    allowed = review(kube_admin, row.account, row.call)
    _AS_EXPECTED[row] = allowed == row.allowed
    expected = "allowed" if row.allowed else "refused"
    assert allowed == row.allowed, f"{row.account} must be {expected}: {row.call} ({row.why})"


def test_rbac_table_figure(installed: str, request: pytest.FixtureRequest) -> None:
    """Reports, at the end of the run, how many rows the server answered as the table says.

    It asks for ``installed`` so that it runs with (after) the table's rows, which the plugin
    moves to the end of the run.
    """
    allowed = sum(ok for row, ok in _AS_EXPECTED.items() if row.allowed)
    refused = sum(ok for row, ok in _AS_EXPECTED.items() if not row.allowed)
    report(
        request.config,
        f"RBAC table: {allowed} / {len(MUST)} allowed and {refused} / {len(MUST_NOT)} refused "
        f"as expected ({allowed + refused} / {len(TABLE)})",
    )
    assert len(_AS_EXPECTED) in (0, len(TABLE))  # all rows ran, or this test alone was chosen


def test_the_review_is_not_vacuous(kube_admin: ApiClient, installed: str) -> None:
    # Refusals above are the Role's doing, not a review that refuses everything: the same
    # questions for a cluster admin are allowed, and the runner's own groups grant nothing.
    for row in MUST_NOT:
        assert _review(kube_admin, "someone", ["system:masters"], row.call), row.call
    _, groups = _user(RUNNER)
    assert not any(_review(kube_admin, "someone", groups, row.call) for row in MUST)


@pytest.fixture(scope="module")
def runner_client(
    control_plane: ControlPlane, kube_admin: ApiClient, installed: str
) -> Iterator[ApiClient]:
    """A ``kubernetes`` client with a TokenRequest token of the pipeline runner."""
    from kubernetes import client, config

    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600)
    )
    token = (
        client.CoreV1Api(kube_admin)
        .create_namespaced_service_account_token(RUNNER, installed, request)
        .status.token
    )
    api = config.new_client_from_config(str(control_plane.kubeconfig_for("rbac-runner", token)))
    try:
        yield api
    finally:
        api.close()


def _status(call: object) -> int:
    from kubernetes.client import ApiException

    try:
        call()  # type: ignore[operator]
    except ApiException as e:
        return int(e.status)
    return 200


def test_real_requests_get_the_reviewed_answers(
    runner_client: ApiClient, kube_admin: ApiClient, installed: str
) -> None:
    from kubernetes import client

    core = client.CoreV1Api(runner_client)
    # allowed, and absent on this server: 404, not 403
    assert _status(lambda: core.read_namespaced_config_map("kfp-launcher", installed)) == 404
    assert (
        _status(lambda: core.read_namespaced_secret("mlpipeline-minio-artifact", installed)) == 404
    )
    # train's calls: its workers' pods by label (none here), a log of a pod that is not there
    selector = "jobset.sigs.k8s.io/jobset-name=" + TRAINJOB
    assert _status(lambda: core.list_namespaced_pod(installed, label_selector=selector)) == 200
    assert _status(lambda: core.read_namespaced_pod_log("absent", installed)) == 404
    assert _status(lambda: core.list_namespaced_pod(OTHER_NS, label_selector=selector)) == 403
    assert _status(lambda: core.read_namespaced_pod("absent", installed)) == 403
    # refused
    assert _status(lambda: core.list_namespaced_secret(installed)) == 403
    assert _status(lambda: core.read_namespaced_secret("mlrail-s3-credentials", installed)) == 403
    assert _status(lambda: core.list_node()) == 403
    custom = client.CustomObjectsApi(runner_client)
    body = {
        "apiVersion": f"{ARGO}/v1alpha1",
        "kind": "WorkflowTaskResult",
        "metadata": {"name": "training-x7k2p-123"},
    }
    create = custom.create_namespaced_custom_object
    assert _status(lambda: create(ARGO, "v1alpha1", installed, TASK_RESULTS, body)) == 200
    assert _status(lambda: create(ARGO, "v1alpha1", OTHER_NS, TASK_RESULTS, body)) == 403
    name = body["metadata"]["name"]
    delete = custom.delete_namespaced_custom_object
    assert _status(lambda: delete(ARGO, "v1alpha1", installed, TASK_RESULTS, name)) == 403
    admin_delete = client.CustomObjectsApi(kube_admin).delete_namespaced_custom_object
    admin_delete(ARGO, "v1alpha1", installed, TASK_RESULTS, name)
