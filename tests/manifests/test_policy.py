"""The policy holds on every overlay, and each mutant of prod (one change) is rejected."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from .kube_schema import schema_errors
from .kustomize import OVERLAYS, RECORD, Render
from .policy import (
    ALLOWED_CLUSTER_RBAC,
    AUTOMOUNT_ALLOWED,
    KSERVE_ISVC_LABEL,
    all_violations,
    image_digest_violations,
    network_policy_violations,
    pod_security_violations,
    pod_templates,
    selector_matches,
)

Objs = list[dict[str, Any]]
#: Where the policy names the pod template of train's workers (manifests/base/trainingruntime.yaml).
TRAINER_POD = "TrainingRuntime/mlrail-train replicatedJobs[0](node)"
# Mutants need one Kubernetes version: the floor, where a field could be newest.
MUTANT_K8S_VERSION = "1.31"
MUTATED_OVERLAY = "prod"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_has_no_policy_violations(render: Render, overlay: str) -> None:
    assert all_violations(render(overlay), require_digests=overlay == "prod") == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_policy_sees_the_serving_container(render: Render, overlay: str) -> None:
    # Guards against a vacuous pass: a check over zero pod templates finds nothing wrong.
    containers = [c.where for pod in pod_templates(render(overlay)) for c in pod.containers]
    assert sorted(containers) == [
        "Deployment/mlrail-payload-logs containers[0](receiver)",
        "ServingRuntime/mlrail-onnx containers[0](kserve-container)",
        f"{TRAINER_POD} containers[0](node)",
    ]


def test_prod_passes_the_digest_rule_with_the_record_image(render: Render) -> None:
    # prod renders from a copy pinned by a digest record (conftest): the image the rule passes
    # is the record's, not a placeholder committed in the overlay.
    images = {
        c.where: c.spec["image"] for pod in pod_templates(render("prod")) for c in pod.containers
    }
    # the model server runs the serving image; the payload receiver the component image (pyarrow)
    assert images == {
        "Deployment/mlrail-payload-logs containers[0](receiver)": RECORD["mlrail"],
        "ServingRuntime/mlrail-onnx containers[0](kserve-container)": RECORD["mlrail-serving"],
        # train's workers run the component image (TensorFlow and mlrail)
        f"{TRAINER_POD} containers[0](node)": RECORD["mlrail"],
    }
    assert image_digest_violations(render("prod")) == []


def test_images_by_tag_would_fail_the_digest_rule(render: Render) -> None:
    # dev is allowed tags; the same rule that passes prod must reject it (the model server's,
    # the payload receiver's and train's workers' image).
    assert len(image_digest_violations(render("dev"))) == 3


def test_allow_lists_give_a_reason() -> None:
    for name, reason in {**ALLOWED_CLUSTER_RBAC, **AUTOMOUNT_ALLOWED}.items():
        assert len(reason.split()) >= 5, f"{name}: say why it is allowed"


# --- mutants -------------------------------------------------------------------------------


def _one(objs: Objs, kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in objs if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def _runtime(objs: Objs) -> dict[str, Any]:
    return _one(objs, "ServingRuntime")["spec"]


def _container(objs: Objs) -> dict[str, Any]:
    return _runtime(objs)["containers"][0]


def _security(objs: Objs) -> dict[str, Any]:
    return _container(objs)["securityContext"]


def _trainer_pod(objs: Objs) -> dict[str, Any]:
    (job,) = _one(objs, "TrainingRuntime")["spec"]["template"]["spec"]["replicatedJobs"]
    return job["template"]["spec"]["template"]["spec"]


def _trainer_security(objs: Objs) -> dict[str, Any]:
    return _trainer_pod(objs)["containers"][0]["securityContext"]


def _runner_rule(objs: Objs, resource: str) -> dict[str, Any]:
    (rule,) = [r for r in _one(objs, "Role")["rules"] if resource in r["resources"]]
    return rule


def _rule(objs: Objs) -> dict[str, Any]:
    return _one(objs, "Role")["rules"][0]


def _add_rule(group: str, resource: str, *verbs: str) -> Callable[[Objs], None]:
    def mutate(objs: Objs) -> None:
        rule = {"apiGroups": [group], "resources": [resource], "verbs": list(verbs)}
        _one(objs, "Role")["rules"].append(rule)

    return mutate


def _egress(objs: Objs, policy: str) -> list[dict[str, Any]]:
    return _one(objs, "NetworkPolicy", policy)["spec"]["egress"]


# The rule the base shipped before egress was narrowed (issue 12).
_INTERNET_443 = {
    "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}],
    "ports": [{"protocol": "TCP", "port": 443}],
}


def _drop(kind: str, name: str | None = None) -> Callable[[Objs], None]:
    def mutate(objs: Objs) -> None:
        objs[:] = [
            o for o in objs if not (o["kind"] == kind and name in (None, o["metadata"]["name"]))
        ]

    return mutate


def _to_cluster_role(objs: Objs) -> None:
    role = _one(objs, "Role")
    role["kind"] = "ClusterRole"
    del role["metadata"]["namespace"]


def _rename_key(parent: dict[str, Any], old: str, new: str) -> None:
    parent[new] = parent.pop(old)


# Pod-security mutants are valid pods, so a real API server's Pod Security admission, not its
# validation, is what refuses them (tests/cluster/test_pod_security.py): each changes what it
# names and, where validation ties another field to it, that field too.


def _privileged(objs: Objs) -> None:
    # "cannot set allowPrivilegeEscalation to false and privileged to true": the setting goes
    security = _security(objs)
    security["privileged"] = True
    del security["allowPrivilegeEscalation"]


def _proc_mount_unmasked(objs: Objs) -> None:
    # an Unmasked /proc needs a user namespace ("hostUsers must be false to use Unmasked")
    _security(objs)["procMount"] = "Unmasked"
    _runtime(objs)["hostUsers"] = False


# Well-formed, so a pattern check passes it, and the digest of no image anyone built.
_PLACEHOLDER_IMAGE = "ghcr.io/mlrail/mlrail-serving@sha256:" + "0" * 64


@dataclass(frozen=True)
class Mutant:
    id: str
    mutate: Callable[[Objs], None]
    # Which check must reject it: "policy", "kubernetes" (built-in schemas) or "crd".
    checker: str
    expected: str  # text that must appear in that checker's findings


MUTANTS = [
    # Pod Security "restricted"
    Mutant(
        "privileged",
        _privileged,
        "policy",
        "privileged must not be true",
    ),
    Mutant(
        "run-as-non-root-false",
        lambda o: _security(o).update(runAsNonRoot=False),
        "policy",
        "runAsNonRoot must be true",
    ),
    Mutant(
        "run-as-uid-0",
        lambda o: _security(o).update(runAsUser=0),
        "policy",
        "runAsUser must not be 0",
    ),
    Mutant(
        "allow-privilege-escalation",
        lambda o: _security(o).update(allowPrivilegeEscalation=True),
        "policy",
        "allowPrivilegeEscalation must be false",
    ),
    Mutant(
        "privilege-escalation-unset",
        lambda o: _security(o).pop("allowPrivilegeEscalation"),
        "policy",
        "allowPrivilegeEscalation must be false",
    ),
    Mutant(
        "missing-seccomp",
        lambda o: _security(o).pop("seccompProfile"),
        "policy",
        "seccompProfile.type must be RuntimeDefault or Localhost (got None)",
    ),
    Mutant(
        "seccomp-unconfined",
        lambda o: _security(o).update(seccompProfile={"type": "Unconfined"}),
        "policy",
        "seccompProfile.type must be RuntimeDefault or Localhost (got Unconfined)",
    ),
    Mutant(
        "capability-add-sys-admin",
        lambda o: _security(o)["capabilities"].update(add=["SYS_ADMIN"]),
        "policy",
        "capabilities.add may only contain NET_BIND_SERVICE (got SYS_ADMIN)",
    ),
    Mutant(
        "capabilities-not-dropped",
        lambda o: _security(o)["capabilities"].update(drop=[]),
        "policy",
        "capabilities.drop must include ALL",
    ),
    Mutant(
        "proc-mount-unmasked",
        _proc_mount_unmasked,
        "policy",
        "procMount must be Default",
    ),
    Mutant(
        "host-path-volume",
        lambda o: _runtime(o)["volumes"].append({"name": "root", "hostPath": {"path": "/"}}),
        "policy",
        "volume 'root' uses hostPath",
    ),
    Mutant(
        "host-network",
        lambda o: _runtime(o).update(hostNetwork=True),
        "policy",
        "hostNetwork must not be true",
    ),
    Mutant(
        "host-ipc", lambda o: _runtime(o).update(hostIPC=True), "policy", "hostIPC must not be true"
    ),
    Mutant(
        "host-port",
        lambda o: _container(o)["ports"][0].update(hostPort=8080),
        "policy",
        "ports[0].hostPort must not be set",
    ),
    # RBAC least privilege
    Mutant(
        "wildcard-verb",
        lambda o: _rule(o).update(verbs=["*"]),
        "policy",
        "rules[0]: wildcard '*' in verbs",
    ),
    Mutant(
        "wildcard-resource",
        lambda o: _rule(o).update(resources=["*"]),
        "policy",
        "rules[0]: wildcard '*' in resources",
    ),
    Mutant(
        "wildcard-api-group",
        lambda o: _rule(o).update(apiGroups=["*"]),
        "policy",
        "rules[0]: wildcard '*' in apiGroups",
    ),
    Mutant(
        "secrets-list", _add_rule("", "secrets", "get", "list"), "policy", "grants list on secrets"
    ),
    Mutant("secrets-watch", _add_rule("", "secrets", "watch"), "policy", "grants watch on secrets"),
    Mutant("pods-exec", _add_rule("", "pods/exec", "create", "get"), "policy", "grants pods/exec"),
    Mutant(
        "escalate-verb",
        _add_rule("rbac.authorization.k8s.io", "roles", "escalate"),
        "policy",
        "grants the 'escalate' verb",
    ),
    Mutant(
        "bind-verb",
        _add_rule("rbac.authorization.k8s.io", "roles", "bind"),
        "policy",
        "grants the 'bind' verb",
    ),
    Mutant(
        "secrets-get-any",
        _add_rule("", "secrets", "get"),
        "policy",
        "grants get on every secret (name them in resourceNames)",
    ),
    Mutant(
        "impersonate-verb",
        _add_rule("", "serviceaccounts", "impersonate"),
        "policy",
        "grants the 'impersonate' verb",
    ),
    Mutant(
        "cluster-role",
        _to_cluster_role,
        "policy",
        "ClusterRole/mlrail-pipeline-runner is cluster-scoped RBAC",
    ),
    Mutant(
        "binding-to-cluster-admin",
        lambda o: _one(o, "RoleBinding")["roleRef"].update(
            kind="ClusterRole", name="cluster-admin"
        ),
        "policy",
        "binds ClusterRole/cluster-admin, which is not in ALLOWED_CLUSTER_RBAC",
    ),
    # NetworkPolicy
    Mutant(
        "default-deny-removed",
        _drop("NetworkPolicy", "default-deny-all"),
        "policy",
        "namespace mlrail: no default-deny NetworkPolicy",
    ),
    Mutant(
        "network-policies-removed",
        _drop("NetworkPolicy"),
        "policy",
        "ServingRuntime/mlrail-onnx: no NetworkPolicy selects its pods",
    ),
    Mutant(
        "ingress-from-anywhere",
        lambda o: _one(o, "NetworkPolicy", "allow-serving-ingress")["spec"]["ingress"][0].pop(
            "from"
        ),
        "policy",
        "allow-serving-ingress ingress[0] has no 'from': it admits every source",
    ),
    Mutant(
        "predictor-egress-to-the-internet",
        lambda o: _egress(o, "allow-serving-egress-object-store").append(_INTERNET_443),
        "policy",
        "allow-serving-egress-object-store egress[1]: opens egress to 0.0.0.0/0",
    ),
    Mutant(
        "pipeline-egress-to-the-internet",
        lambda o: _egress(o, "allow-pipeline-egress-api-server").append(_INTERNET_443),
        "policy",
        "allow-pipeline-egress-api-server egress[1]: opens egress to 0.0.0.0/0",
    ),
    Mutant(
        "egress-without-destination",
        lambda o: _egress(o, "allow-pipeline-egress-api-server")[0].pop("to"),
        "policy",
        "allow-pipeline-egress-api-server egress[0] has no 'to': it allows every destination",
    ),
    Mutant(
        "egress-placeholder-left",
        lambda o: _egress(o, "allow-serving-egress-object-store")[0].update(
            to=[{"ipBlock": {"cidr": "SET-IN-OVERLAY"}}]
        ),
        "policy",
        "ipBlock 'SET-IN-OVERLAY' is not a CIDR",
    ),
    # ServiceAccount, Namespace, images
    Mutant(
        "serving-account-mounts-token",
        lambda o: _one(o, "ServiceAccount", "mlrail-serving").update(
            automountServiceAccountToken=True
        ),
        "policy",
        "ServiceAccount/mlrail-serving: automountServiceAccountToken must be false",
    ),
    Mutant(
        "namespace-enforce-baseline",
        lambda o: _one(o, "Namespace")["metadata"]["labels"].update(
            {"pod-security.kubernetes.io/enforce": "baseline"}
        ),
        "policy",
        "pod-security.kubernetes.io/enforce must be 'restricted' (got baseline)",
    ),
    Mutant(
        "image-digest-placeholder-in-prod",
        lambda o: _container(o).update(image=_PLACEHOLDER_IMAGE),
        "policy",
        f"image {_PLACEHOLDER_IMAGE} names the all-zero placeholder digest, not a built image",
    ),
    Mutant(
        "image-by-tag-in-prod",
        lambda o: _container(o).update(image="ghcr.io/mlrail/mlrail-serving:0.1.0"),
        "policy",
        "image ghcr.io/mlrail/mlrail-serving:0.1.0 is not pinned by digest",
    ),
    # train's workers (trainingruntime.yaml) and the runner's rules for them (rbac.yaml)
    Mutant(
        "trainer-run-as-root",
        lambda o: _trainer_security(o).update(runAsUser=0),
        "policy",
        f"{TRAINER_POD} containers[0](node): runAsUser must not be 0",
    ),
    Mutant(
        "trainer-privilege-escalation",
        lambda o: _trainer_security(o).update(allowPrivilegeEscalation=True),
        "policy",
        f"{TRAINER_POD} containers[0](node): allowPrivilegeEscalation must be false",
    ),
    Mutant(
        "trainer-host-network",
        lambda o: _trainer_pod(o).update(hostNetwork=True),
        "policy",
        f"{TRAINER_POD}: hostNetwork must not be true",
    ),
    Mutant(
        "trainer-host-path-volume",
        lambda o: _trainer_pod(o)["volumes"].append({"name": "data", "hostPath": {"path": "/"}}),
        "policy",
        f"{TRAINER_POD}: volume 'data' uses hostPath",
    ),
    Mutant(
        "trainer-account-mounts-token",
        lambda o: _one(o, "ServiceAccount", "mlrail-trainer").update(
            automountServiceAccountToken=True
        ),
        "policy",
        "ServiceAccount/mlrail-trainer: automountServiceAccountToken must be false",
    ),
    Mutant(
        "trainer-ingress-from-anywhere",
        lambda o: _one(o, "NetworkPolicy", "allow-trainer-workers")["spec"]["ingress"][0].pop(
            "from"
        ),
        "policy",
        "allow-trainer-workers ingress[0] has no 'from': it admits every source",
    ),
    Mutant(
        "trainer-egress-to-the-internet",
        lambda o: _egress(o, "allow-trainer-egress-object-store").append(_INTERNET_443),
        "policy",
        "allow-trainer-egress-object-store egress[1]: opens egress to 0.0.0.0/0",
    ),
    Mutant(
        "trainer-image-by-tag-in-prod",
        lambda o: _trainer_pod(o)["containers"][0].update(image="ghcr.io/mlrail/mlrail:0.1.0"),
        "policy",
        "image ghcr.io/mlrail/mlrail:0.1.0 is not pinned by digest",
    ),
    Mutant(
        "runner-pods-list-widened-to-create",
        lambda o: _runner_rule(o, "pods")["verbs"].append("create"),
        "policy",
        "grants create on pods (any image as any ServiceAccount of the namespace)",
    ),
    Mutant(
        "runner-pods-patch",
        _add_rule("", "pods", "get", "patch"),
        "policy",
        "grants patch on pods",
    ),
    Mutant(
        "runner-trainjobs-wildcard",
        lambda o: _runner_rule(o, "trainjobs").update(verbs=["*"]),
        "policy",
        "wildcard '*' in verbs",
    ),
    Mutant(
        "runner-pods-exec-beside-log",
        lambda o: _runner_rule(o, "pods/log")["resources"].append("pods/exec"),
        "policy",
        "grants pods/exec",
    ),
    Mutant(
        "trainingruntime-field-typo",
        lambda o: _rename_key(_one(o, "TrainingRuntime")["spec"], "mlPolicy", "mlPolicies"),
        "crd",
        "TrainingRuntime/mlrail-train [CRD, k8s 1.31]: spec: Additional properties are not "
        "allowed ('mlPolicies'",
    ),
    Mutant(
        "trainingruntime-num-nodes-not-an-integer",
        lambda o: _one(o, "TrainingRuntime")["spec"]["mlPolicy"].update(numNodes="two"),
        "crd",
        "spec.mlPolicy.numNodes: 'two' is not of type 'integer'",
    ),
    # Schemas: typos and wrong types that kubectl kustomize happily renders
    Mutant(
        "container-field-typo",
        lambda o: _rename_key(_container(o), "image", "imagee"),
        "crd",
        "spec.containers.0: Additional properties are not allowed ('imagee'",
    ),
    Mutant(
        "replicas-not-an-integer",
        lambda o: _runtime(o).update(replicas="two"),
        "crd",
        "spec.replicas: 'two' is not of type 'integer'",
    ),
    Mutant(
        "port-as-string",
        lambda o: _container(o)["ports"][0].update(containerPort="8080"),
        "crd",
        "spec.containers.0.ports.0.containerPort: '8080' is not of type 'integer'",
    ),
    Mutant(
        "custom-resource-metadata-typo",
        lambda o: _rename_key(_one(o, "ServingRuntime")["metadata"], "labels", "lables"),
        "crd",
        "ServingRuntime/mlrail-onnx [CRD, k8s 1.31]: metadata: Additional properties",
    ),
    Mutant(
        "network-policy-field-typo",
        lambda o: _rename_key(
            _one(o, "NetworkPolicy", "default-deny-all")["spec"], "policyTypes", "policyType"
        ),
        "kubernetes",
        "spec: Additional properties are not allowed ('policyType' was unexpected)",
    ),
    Mutant(
        "service-account-wrong-type",
        lambda o: _one(o, "ServiceAccount", "mlrail-serving").update(
            automountServiceAccountToken="no"
        ),
        "kubernetes",
        "automountServiceAccountToken: 'no' is not of type 'boolean'",
    ),
    Mutant(
        "role-verbs-not-a-list",
        lambda o: _rule(o).update(verbs="get"),
        "kubernetes",
        "rules.0.verbs: 'get' is not of type 'array'",
    ),
    Mutant(
        "kind-typo",
        lambda o: _one(o, "RoleBinding").update(kind="RoleBindng"),
        "kubernetes",
        "RoleBindng/mlrail-pipeline-runner: no schema for this kind, not a known CRD",
    ),
]


def test_there_are_enough_mutants() -> None:
    assert len(MUTANTS) >= 20
    assert len({m.id for m in MUTANTS}) == len(MUTANTS)
    assert {m.checker for m in MUTANTS} == {"policy", "kubernetes", "crd"}


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.id for m in MUTANTS])
def test_mutant_is_rejected(render: Render, request: pytest.FixtureRequest, mutant: Mutant) -> None:
    objs = render(MUTATED_OVERLAY)  # a fresh parse: mutating it touches no other test
    mutant.mutate(objs)
    if mutant.checker == "policy":
        found = all_violations(objs, require_digests=True)
    elif mutant.checker == "kubernetes":
        found = schema_errors(objs, MUTANT_K8S_VERSION, crds=None)
    else:
        # Needs the CRDs: the fixture skips, saying why, when their folder is absent.
        found = schema_errors(objs, MUTANT_K8S_VERSION, request.getfixturevalue("crd_schemas"))
    assert any(mutant.expected in line for line in found), "\n".join(found) or "nothing found"


# --- pod templates the overlays do not ship yet (the deploy component creates InferenceServices)


def _restricted_container(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "image": "example@sha256:" + hashlib.sha256(name.encode()).hexdigest(),
        "securityContext": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }


def _deployment(labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "mlrail"},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [_restricted_container("web")]},
            },
        },
    }


def test_deployment_pod_template_is_checked(render: Render) -> None:
    deployment = _deployment({"app": "web"})
    assert all_violations([*render("prod"), deployment], require_digests=True) == []
    pod_spec = deployment["spec"]["template"]["spec"]
    pod_spec["hostPID"] = True
    pod_spec["securityContext"] = {"sysctls": [{"name": "kernel.msgmax", "value": "1"}]}
    pod_spec["initContainers"] = [{"name": "setup", "image": "busybox"}]
    found = "\n".join(all_violations([*render("prod"), deployment], require_digests=True))
    for text in (
        "Deployment/web: hostPID must not be true",
        "Deployment/web: sysctl kernel.msgmax is not in the safe set",
        "Deployment/web initContainers[0](setup): runAsNonRoot must be true",
        "Deployment/web initContainers[0](setup): image busybox is not pinned by digest",
    ):
        assert text in found


def test_network_policy_selection_follows_pod_labels(render: Render) -> None:
    objs = [o for o in render("prod") if o["metadata"]["name"] != "default-deny-all"]
    # allow-serving-ingress/egress select only KServe pods: an ordinary pod is left open.
    found = all_violations([*objs, _deployment({"app": "web"})], require_digests=True)
    assert "Deployment/web: no NetworkPolicy restricts its ingress" in found


def test_inference_service_model_takes_the_runtime_security_context() -> None:
    isvc: dict[str, Any] = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "penguins", "namespace": "mlrail"},
        "spec": {
            "predictor": {
                "serviceAccountName": "mlrail-serving",
                "model": {"modelFormat": {"name": "onnx"}, "runtime": "mlrail-onnx"},
            }
        },
    }
    # What the model spec leaves out comes from the ServingRuntime, which is checked on its own.
    assert pod_security_violations([isvc]) == []
    isvc["spec"]["predictor"]["model"]["securityContext"] = {"privileged": True}
    assert pod_security_violations([isvc]) == [
        "InferenceService/penguins predictor model: privileged must not be true"
    ]
    isvc["spec"]["predictor"]["containers"] = [{"name": "sidecar", "image": "x"}]
    assert (
        "InferenceService/penguins predictor containers[0](sidecar): runAsNonRoot must be true"
        in (pod_security_violations([isvc]))
    )


# --- egress: what each kind of pod may reach -----------------------------------------------


def _egress_policies(objs: Objs, labels: dict[str, str]) -> dict[str, list[Any]]:
    """The egress rules of every policy that selects pods with ``labels``, by policy name."""
    return {
        p["metadata"]["name"]: p["spec"].get("egress", [])
        for p in objs
        if p["kind"] == "NetworkPolicy"
        and "Egress" in p["spec"].get("policyTypes", [])
        and selector_matches(p["spec"]["podSelector"], labels)
    }


PREDICTOR = {KSERVE_ISVC_LABEL: "penguins"}
TRAINER = {"app.kubernetes.io/name": "mlrail-trainer", "jobset.sigs.k8s.io/jobset-name": "t"}
PIPELINE_POD = {"workflows.argoproj.io/workflow": "training-x7k2p"}
RECEIVER_POD = {"app.kubernetes.io/name": "mlrail-payload-logs"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_predictors_reach_only_dns_and_the_object_store(render: Render, overlay: str) -> None:
    # The model server handles untrusted requests: no API server, no internet; its storage
    # initializer (same pod) reads the object store the pipeline wrote the model to, and its
    # payload logs go to the payload receiver's pods only.
    objs = render(overlay)
    egress = _egress_policies(objs, PREDICTOR)
    assert set(egress) == {
        "default-deny-all",
        "allow-dns-egress",
        "allow-serving-egress-object-store",
        "allow-serving-egress-payload-logs",
    }
    assert egress["allow-serving-egress-payload-logs"] == [
        {
            "to": [{"podSelector": {"matchLabels": RECEIVER_POD}}],
            "ports": [{"protocol": "TCP", "port": 8080}],
        }
    ]
    pipeline = _egress_policies(objs, PIPELINE_POD)
    assert (
        egress["allow-serving-egress-object-store"]
        == pipeline["allow-pipeline-egress-object-store"]
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pipeline_pods_reach_what_the_overlay_names(render: Render, overlay: str) -> None:
    egress = _egress_policies(render(overlay), PIPELINE_POD)
    assert set(egress) == {
        "default-deny-all",
        "allow-dns-egress",
        "allow-pipeline-egress",
        "allow-pipeline-egress-object-store",
        "allow-pipeline-egress-api-server",
        "allow-pipeline-egress-registry",
        "allow-pipeline-egress-event-sink",
    }
    # The overlay's addresses, never the base's placeholder.
    assert "SET-IN-OVERLAY" not in yaml.safe_dump(egress)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_trainer_workers_reach_only_dns_each_other_and_the_object_store(
    render: Render, overlay: str
) -> None:
    # A worker streams the data from the object store, its chief writes the model there, and
    # the workers all-reduce over 2222: no API server, no registry, no internet.
    objs = render(overlay)
    egress = _egress_policies(objs, TRAINER)
    assert set(egress) == {
        "default-deny-all",
        "allow-dns-egress",
        "allow-trainer-workers",
        "allow-trainer-egress-object-store",
    }
    peers = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "mlrail-trainer"}}}
    ports = [{"protocol": "TCP", "port": 2222}]
    assert egress["allow-trainer-workers"] == [{"to": [peers], "ports": ports}]
    pipeline = _egress_policies(objs, PIPELINE_POD)
    assert (
        egress["allow-trainer-egress-object-store"]
        == pipeline["allow-pipeline-egress-object-store"]
    )
    (workers,) = [o for o in objs if o["metadata"]["name"] == "allow-trainer-workers"]
    assert workers["spec"]["ingress"] == [{"from": [peers], "ports": ports}]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_egress_reaches_the_whole_internet(render: Render, overlay: str) -> None:
    cidrs = [
        peer["ipBlock"]["cidr"]
        for policy in render(overlay)
        if policy["kind"] == "NetworkPolicy"
        for rule in policy["spec"].get("egress", [])
        for peer in rule["to"]
        if "ipBlock" in peer
    ]
    assert cidrs, "no ipBlock at all: the check below would pass vacuously"
    assert not {"0.0.0.0/0", "::/0"} & set(cidrs)
    assert network_policy_violations(render(overlay)) == []
