"""Policy checks over rendered Kubernetes objects; each function returns violation strings.

- Pod Security "restricted" (https://kubernetes.io/docs/concepts/security/pod-security-standards/)
  for every pod template: workloads, Pods, KServe ServingRuntimes and InferenceServices, and
  Kubeflow Trainer (Cluster)TrainingRuntimes (each replicated Job's pod template).
- RBAC least privilege: no wildcards, no reading every secret (list, watch, or get without
  resourceNames), no pods/exec, no privilege escalation verbs, no writing pods (whoever creates a
  pod runs any image as any ServiceAccount of the namespace), no cluster-scoped RBAC unless
  allow-listed with a reason.
- NetworkPolicy: a default-deny per namespace, and every pod template selected for both directions;
  no ingress rule without sources; no egress rule without destinations, to a placeholder that is
  not a CIDR, or to an address block wider than a /8 (0.0.0.0/0 is the whole internet).
- ServiceAccounts do not mount API tokens unless allow-listed with a reason.
- The namespace enforces Pod Security "restricted"; production images are pinned by digest (a
  real one: the all-zero placeholder pins nothing).

Objects are plain dicts as ``yaml.safe_load`` returns them; nothing here mutates its input.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ALLOWED_CLUSTER_RBAC",
    "AUTOMOUNT_ALLOWED",
    "KSERVE_ISVC_LABEL",
    "PodTemplate",
    "all_violations",
    "image_digest_violations",
    "namespace_violations",
    "network_policy_violations",
    "pod_security_violations",
    "pod_templates",
    "rbac_violations",
    "selector_matches",
    "service_account_violations",
]

Obj = Mapping[str, Any]

# Cluster-scoped RBAC objects mlrail may ship, by "Kind/name", each with the reason it is needed.
ALLOWED_CLUSTER_RBAC: Mapping[str, str] = {}

# ServiceAccounts that keep automountServiceAccountToken, each with the reason.
AUTOMOUNT_ALLOWED: Mapping[str, str] = {
    "mlrail-pipeline-runner": (
        "pipeline pods: the Argo executor and the deploy component call the Kubernetes API, and "
        "KFP has no per-task switch to mount the token only where it is needed"
    ),
}

# KServe puts this label on every predictor pod, so a ServingRuntime's pods carry it.
KSERVE_ISVC_LABEL = "serving.kserve.io/inferenceservice"

_POD_SPEC_PATHS: Mapping[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
_SERVING_RUNTIME_KINDS = ("ServingRuntime", "ClusterServingRuntime")
_TRAINING_RUNTIME_KINDS = ("TrainingRuntime", "ClusterTrainingRuntime")
_ISVC_COMPONENTS = ("predictor", "transformer", "explainer")
# InferenceService keys that hold a container KServe merges over the runtime's container.
_ISVC_MODEL_KEYS = (
    "model",
    "onnx",
    "triton",
    "sklearn",
    "xgboost",
    "tensorflow",
    "pytorch",
    "lightgbm",
    "paddle",
    "pmml",
    "huggingface",
)
_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")

# Restricted profile: the only volume types allowed.
_ALLOWED_VOLUME_TYPES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "image",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
# Baseline profile: the "safe" sysctls (Kubernetes 1.29+ list).
_SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
_SELINUX_TYPES = frozenset(
    {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)
_SECCOMP_TYPES = frozenset({"RuntimeDefault", "Localhost"})
_DANGEROUS_VERBS = ("escalate", "bind", "impersonate")
_SHELL_SUBRESOURCES = ("pods/exec", "pods/attach", "pods/portforward")
_POD_WRITE_VERBS = ("create", "update", "patch")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
# Well-formed, and the digest of no image anyone built: what placeholders in manifests use.
_PLACEHOLDER_DIGEST = "@sha256:" + "0" * 64
# The widest address block an egress rule may name: a /8 is already a whole private range.
_WIDEST_EGRESS_PREFIX = {4: 8, 6: 32}


def _name(obj: Obj) -> str:
    return f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"


def _dig(obj: Any, path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


@dataclass(frozen=True)
class _Container:
    where: str
    spec: Mapping[str, Any]
    # False for an InferenceService model spec: KServe merges it over the runtime's container,
    # so settings it leaves out come from the (separately checked) ServingRuntime.
    complete: bool = True


@dataclass(frozen=True)
class PodTemplate:
    """Something that becomes pods: where it is, the labels its pods carry, its pod-level fields."""

    where: str
    namespace: str | None
    labels: Mapping[str, str]
    spec: Mapping[str, Any]
    containers: list[_Container] = field(default_factory=list)


def _containers(where: str, spec: Mapping[str, Any]) -> list[_Container]:
    found = []
    for key in _CONTAINER_LISTS:
        for i, container in enumerate(spec.get(key) or []):
            found.append(_Container(f"{where} {key}[{i}]({container.get('name')})", container))
    return found


def pod_templates(objs: Iterable[Obj]) -> Iterator[PodTemplate]:
    """Every pod template in ``objs``, with the labels its pods will carry."""
    for obj in objs:
        kind, meta = str(obj.get("kind")), obj.get("metadata") or {}
        namespace, where = meta.get("namespace"), _name(obj)
        if kind in _POD_SPEC_PATHS:
            path = _POD_SPEC_PATHS[kind]
            spec = _dig(obj, path) or {}
            meta_path = ("metadata",) if kind == "Pod" else (*path[:-1], "metadata")
            labels = _dig(obj, [*meta_path, "labels"])
            yield PodTemplate(where, namespace, labels or {}, spec, _containers(where, spec))
        elif kind in _SERVING_RUNTIME_KINDS:
            # A runtime's spec is pod-shaped. KServe adds its own label to the pods it makes;
            # "*" stands for whichever InferenceService the pods serve.
            spec = obj.get("spec") or {}
            labels = {**(spec.get("labels") or {}), KSERVE_ISVC_LABEL: "*"}
            yield PodTemplate(where, namespace, labels, spec, _containers(where, spec))
            worker = spec.get("workerSpec")
            if worker:
                wwhere = f"{where} workerSpec"
                yield PodTemplate(wwhere, namespace, labels, worker, _containers(wwhere, worker))
        elif kind in _TRAINING_RUNTIME_KINDS:
            # A JobSet template: each replicated Job's pod template becomes that Job's pods.
            for i, job in enumerate(
                _dig(obj, ["spec", "template", "spec", "replicatedJobs"]) or []
            ):
                template = _dig(job, ["template", "spec", "template"]) or {}
                jwhere = f"{where} replicatedJobs[{i}]({job.get('name')})"
                spec = template.get("spec") or {}
                labels = _dig(template, ["metadata", "labels"]) or {}
                yield PodTemplate(jwhere, namespace, labels, spec, _containers(jwhere, spec))
        elif kind == "InferenceService":
            for component in _ISVC_COMPONENTS:
                spec = _dig(obj, ["spec", component])
                if not spec:
                    continue
                cwhere = f"{where} {component}"
                labels = {
                    **(meta.get("labels") or {}),
                    **(spec.get("labels") or {}),
                    KSERVE_ISVC_LABEL: meta.get("name", "*"),
                }
                containers = _containers(cwhere, spec)
                containers += [
                    _Container(f"{cwhere} {key}", spec[key], complete=False)
                    for key in _ISVC_MODEL_KEYS
                    if isinstance(spec.get(key), Mapping)
                ]
                yield PodTemplate(cwhere, namespace, labels, spec, containers)


def _pod_level_violations(pod: PodTemplate) -> list[str]:
    found = []
    spec, psc = pod.spec, pod.spec.get("securityContext") or {}
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            found.append(f"{pod.where}: {key} must not be true")
    for volume in spec.get("volumes") or []:
        for vtype in sorted(set(volume) - {"name"} - _ALLOWED_VOLUME_TYPES):
            found.append(
                f"{pod.where}: volume '{volume.get('name')}' uses {vtype}; restricted allows "
                f"only {', '.join(sorted(_ALLOWED_VOLUME_TYPES))}"
            )
    if psc.get("runAsUser") == 0:
        found.append(f"{pod.where}: securityContext.runAsUser must not be 0")
    if _dig(psc, ["seccompProfile", "type"]) not in (None, *_SECCOMP_TYPES):
        found.append(
            f"{pod.where}: securityContext.seccompProfile.type must be RuntimeDefault or "
            f"Localhost (got {psc['seccompProfile']['type']})"
        )
    for sysctl in psc.get("sysctls") or []:
        if sysctl.get("name") not in _SAFE_SYSCTLS:
            found.append(f"{pod.where}: sysctl {sysctl.get('name')} is not in the safe set")
    found += _selinux_apparmor(pod.where, psc)
    return found


def _selinux_apparmor(where: str, sc: Mapping[str, Any]) -> list[str]:
    found = []
    selinux = sc.get("seLinuxOptions") or {}
    if selinux.get("type", "") not in _SELINUX_TYPES:
        found.append(f"{where}: seLinuxOptions.type {selinux['type']} is not allowed")
    if selinux.get("user") or selinux.get("role"):
        found.append(f"{where}: seLinuxOptions.user and .role must not be set")
    if _dig(sc, ["appArmorProfile", "type"]) == "Unconfined":
        found.append(f"{where}: appArmorProfile.type must not be Unconfined")
    return found


def _container_violations(pod: PodTemplate, container: _Container) -> list[str]:
    found = []
    c, where = container.spec, container.where
    sc, psc = c.get("securityContext") or {}, pod.spec.get("securityContext") or {}
    # The container's setting wins over the pod's, as in Kubernetes.
    non_root = sc.get("runAsNonRoot", psc.get("runAsNonRoot"))
    if non_root is False or (non_root is None and container.complete):
        found.append(f"{where}: runAsNonRoot must be true")
    if sc.get("runAsUser") == 0:
        found.append(f"{where}: runAsUser must not be 0")
    if sc.get("privileged"):
        found.append(f"{where}: privileged must not be true")
    escalation = sc.get("allowPrivilegeEscalation")
    if escalation is True or (escalation is None and container.complete):
        found.append(f"{where}: allowPrivilegeEscalation must be false")
    seccomp = _dig(sc, ["seccompProfile", "type"]) or _dig(psc, ["seccompProfile", "type"])
    if seccomp not in _SECCOMP_TYPES and (seccomp is not None or container.complete):
        found.append(
            f"{where}: seccompProfile.type must be RuntimeDefault or Localhost (got {seccomp})"
        )
    caps = sc.get("capabilities") or {}
    if "capabilities" in sc or container.complete:
        if "ALL" not in (caps.get("drop") or []):
            found.append(f"{where}: capabilities.drop must include ALL")
    added = sorted(set(caps.get("add") or []) - {"NET_BIND_SERVICE"})
    if added:
        found.append(
            f"{where}: capabilities.add may only contain NET_BIND_SERVICE (got {', '.join(added)})"
        )
    if sc.get("procMount", "Default") != "Default":
        found.append(f"{where}: procMount must be Default")
    found += _selinux_apparmor(where, sc)
    for i, port in enumerate(c.get("ports") or []):
        if port.get("hostPort"):
            found.append(f"{where}: ports[{i}].hostPort must not be set")
    return found


def pod_security_violations(objs: Iterable[Obj]) -> list[str]:
    """Pod Security "restricted" for every pod template."""
    found = []
    for pod in pod_templates(objs):
        found += _pod_level_violations(pod)
        for container in pod.containers:
            found += _container_violations(pod, container)
    return found


def _rule_violations(where: str, rule: Mapping[str, Any]) -> list[str]:
    found = []
    for key in ("apiGroups", "resources", "verbs", "nonResourceURLs", "resourceNames"):
        if any("*" in value for value in rule.get(key) or []):
            found.append(f"{where}: wildcard '*' in {key}")
    groups, resources = rule.get("apiGroups") or [], rule.get("resources") or []
    verbs = set(rule.get("verbs") or [])
    if "" in groups and "secrets" in resources:
        # list/watch return every secret's data, not just names.
        for verb in sorted(verbs & {"list", "watch"}):
            found.append(f"{where}: grants {verb} on secrets")
        if "get" in verbs and not rule.get("resourceNames"):
            found.append(f"{where}: grants get on every secret (name them in resourceNames)")
    if "" in groups:
        for sub in _SHELL_SUBRESOURCES:
            if sub in resources:
                found.append(f"{where}: grants {sub} (a shell or tunnel into any pod)")
        if "pods" in resources:
            for verb in _POD_WRITE_VERBS:
                if verb in verbs:
                    found.append(
                        f"{where}: grants {verb} on pods (any image as any ServiceAccount of the "
                        "namespace)"
                    )
    for verb in _DANGEROUS_VERBS:
        if verb in verbs:
            found.append(f"{where}: grants the '{verb}' verb")
    return found


def rbac_violations(
    objs: Iterable[Obj], allowed_cluster_rbac: Mapping[str, str] = ALLOWED_CLUSTER_RBAC
) -> list[str]:
    """RBAC least privilege."""
    objs = list(objs)
    found = []
    roles = {
        (obj.get("metadata", {}).get("namespace"), obj["metadata"]["name"])
        for obj in objs
        if obj.get("kind") == "Role"
    }
    for obj in objs:
        kind = obj.get("kind")
        if kind in ("ClusterRole", "ClusterRoleBinding") and _name(obj) not in allowed_cluster_rbac:
            found.append(f"{_name(obj)} is cluster-scoped RBAC and not in ALLOWED_CLUSTER_RBAC")
        if kind in ("Role", "ClusterRole"):
            for i, rule in enumerate(obj.get("rules") or []):
                found += _rule_violations(f"{_name(obj)} rules[{i}]", rule)
        if kind == "RoleBinding":
            ref = obj.get("roleRef") or {}
            ref_name = f"{ref.get('kind')}/{ref.get('name')}"
            if ref.get("kind") == "ClusterRole" and ref_name not in allowed_cluster_rbac:
                found.append(f"{_name(obj)} binds {ref_name}, which is not in ALLOWED_CLUSTER_RBAC")
            elif ref.get("kind") == "Role" and (
                (obj["metadata"].get("namespace"), ref.get("name")) not in roles
            ):
                found.append(f"{_name(obj)} binds {ref_name}, which is not in the manifests")
    return found


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Whether a label selector (matchLabels and matchExpressions) selects ``labels``."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
    return True


def _policy_types(policy: Obj) -> set[str]:
    spec = policy.get("spec") or {}
    if "policyTypes" in spec:
        return set(spec["policyTypes"])
    return {"Ingress"} | ({"Egress"} if spec.get("egress") else set())


def network_policy_violations(objs: Iterable[Obj]) -> list[str]:
    """Default-deny per namespace, and every pod template selected in both directions."""
    objs = list(objs)
    found = []
    policies = [obj for obj in objs if obj.get("kind") == "NetworkPolicy"]
    pods = list(pod_templates(objs))
    for namespace in sorted({pod.namespace or "" for pod in pods}):
        in_ns = [p for p in policies if (p.get("metadata", {}).get("namespace") or "") == namespace]
        if not any(
            not _dig(p, ["spec", "podSelector"])
            and _policy_types(p) >= {"Ingress", "Egress"}
            and not _dig(p, ["spec", "ingress"])
            and not _dig(p, ["spec", "egress"])
            for p in in_ns
        ):
            found.append(
                f"namespace {namespace}: no default-deny NetworkPolicy (podSelector {{}}, "
                "policyTypes Ingress and Egress, no rules)"
            )
    for pod in pods:
        selecting = [
            p
            for p in policies
            if p.get("metadata", {}).get("namespace") == pod.namespace
            and selector_matches(_dig(p, ["spec", "podSelector"]), pod.labels)
        ]
        if not selecting:
            found.append(f"{pod.where}: no NetworkPolicy selects its pods (labels {pod.labels})")
            continue
        for direction in ("Ingress", "Egress"):
            if not any(direction in _policy_types(p) for p in selecting):
                found.append(f"{pod.where}: no NetworkPolicy restricts its {direction.lower()}")
    for policy in policies:
        for i, rule in enumerate(_dig(policy, ["spec", "ingress"]) or []):
            if not rule.get("from"):
                found.append(f"{_name(policy)} ingress[{i}] has no 'from': it admits every source")
        for i, rule in enumerate(_dig(policy, ["spec", "egress"]) or []):
            found += _egress_rule_violations(f"{_name(policy)} egress[{i}]", rule)
    return found


def _egress_rule_violations(where: str, rule: Mapping[str, Any]) -> list[str]:
    if not rule.get("to"):
        return [f"{where} has no 'to': it allows every destination"]
    found = []
    for peer in rule["to"]:
        cidr = _dig(peer, ["ipBlock", "cidr"])
        if cidr is None:
            continue
        try:
            network = ipaddress.ip_network(str(cidr), strict=False)
        except ValueError:
            found.append(f"{where}: ipBlock {cidr!r} is not a CIDR (a placeholder left unset?)")
            continue
        if network.prefixlen < _WIDEST_EGRESS_PREFIX[network.version]:
            found.append(
                f"{where}: opens egress to {cidr}, wider than a "
                f"/{_WIDEST_EGRESS_PREFIX[network.version]}: name the destination's addresses"
            )
    return found


def service_account_violations(
    objs: Iterable[Obj], automount_allowed: Mapping[str, str] = AUTOMOUNT_ALLOWED
) -> list[str]:
    """No API token in pods unless the account is allow-listed with a reason."""
    return [
        f"{_name(obj)}: automountServiceAccountToken must be false "
        "(or list the account in AUTOMOUNT_ALLOWED with a reason)"
        for obj in objs
        if obj.get("kind") == "ServiceAccount"
        and obj.get("automountServiceAccountToken") is not False
        and obj["metadata"]["name"] not in automount_allowed
    ]


def namespace_violations(objs: Iterable[Obj]) -> list[str]:
    """Every Namespace enforces, audits and warns at Pod Security "restricted"."""
    found = []
    for obj in objs:
        if obj.get("kind") != "Namespace":
            continue
        labels = obj.get("metadata", {}).get("labels") or {}
        for mode in ("enforce", "audit", "warn"):
            key = f"pod-security.kubernetes.io/{mode}"
            if labels.get(key) != "restricted":
                found.append(f"{_name(obj)}: {key} must be 'restricted' (got {labels.get(key)})")
    return found


def image_digest_violations(objs: Iterable[Obj]) -> list[str]:
    """Every container image is pinned by a digest that is not the all-zero placeholder.

    What production runs is then what was tested; a placeholder left in an overlay names no
    image (well-formed, it passes a pattern check, and every pull of it fails).
    """
    found = []
    for pod in pod_templates(objs):
        for c in pod.containers:
            if "image" not in c.spec and not c.complete:
                continue  # an InferenceService model spec that takes its runtime's image
            image = str(c.spec.get("image", ""))
            if not _DIGEST.search(image):
                found.append(f"{c.where}: image {c.spec.get('image')} is not pinned by digest")
            elif image.endswith(_PLACEHOLDER_DIGEST):
                found.append(
                    f"{c.where}: image {image} names the all-zero placeholder digest, not a "
                    "built image"
                )
    return found


def all_violations(objs: Iterable[Obj], *, require_digests: bool) -> list[str]:
    """Every check; ``require_digests`` for overlays that must pin images (production)."""
    objs = list(objs)
    found = (
        pod_security_violations(objs)
        + rbac_violations(objs)
        + network_policy_violations(objs)
        + service_account_violations(objs)
        + namespace_violations(objs)
    )
    if require_digests:
        found += image_digest_violations(objs)
    return found
