"""The Kubernetes side, as mlrail's manifests (manifests/base) and deploy need it.

Each check reads as little as it can, with the caller's kubeconfig identity:

- the API server's version (``/version``): reachable at all; when not, that is the only row;
- the KServe CRDs, by API discovery (``/apis/serving.kserve.io/v1beta1`` and ``/v1alpha1``):
  every authenticated user may read discovery, while reading CustomResourceDefinitions needs a
  cluster-wide grant most users of a namespace do not have;
- the runtimes, each read by name: ``mlrail-onnx`` (manifests/base/servingruntime.yaml; deploy's
  default) as a ServingRuntime in the namespace or a ClusterServingRuntime, and KServe's stock
  ``kserve-tritonserver`` (deploy's other runtime; a warning when absent);
- the namespace's Pod Security level (its ``pod-security.kubernetes.io/enforce`` label; mlrail's
  namespace pins ``restricted``);
- the ServiceAccounts of manifests/base, and what the pipeline runner may do, asked of the
  cluster's own authorizer with a **LocalSubjectAccessReview** as the account
  (``system:serviceaccount:<ns>:<sa>`` and the groups its token carries). A
  SelfSubjectAccessReview would answer for the person running doctor, not for the account the
  pipeline pods run as; a cluster-wide SubjectAccessReview would need a cluster-wide grant, while
  the local one is allowed to a namespace's admin (Kubernetes' ``admin`` ClusterRole).

Every failure is a row with the error and a fix, never an exception.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlrail.doctor.report import Check, Status
from mlrail.redact import redact

if TYPE_CHECKING:  # kubernetes costs about half a second to import: only cluster checks pay it
    from kubernetes.client import ApiClient

__all__ = [
    "KSERVE",
    "RUNNER",
    "RUNNER_NEEDS",
    "RUNTIMES",
    "SERVING_ACCOUNT",
    "Permission",
    "check_cluster",
    "connect",
]

KSERVE = "serving.kserve.io"
RUNNER = "mlrail-pipeline-runner"
SERVING_ACCOUNT = "mlrail-serving"
#: What discovery must list: (version, resource), as the CRDs of KServe serve them.
KSERVE_RESOURCES = (
    ("v1beta1", "inferenceservices"),
    ("v1alpha1", "servingruntimes"),
    ("v1alpha1", "clusterservingruntimes"),
)
_CRDS_NEEDED = "inferenceservices, (cluster)servingruntimes"
#: deploy's runtimes (components/deploy/core.py RUNTIMES): the first is required.
RUNTIMES = ("mlrail-onnx", "kserve-tritonserver")
POD_SECURITY = "pod-security.kubernetes.io/enforce"
#: The level and version manifests/base/namespace.yaml pins.
LEVEL, LEVEL_VERSION = "restricted", "v1.31"
#: How a user puts manifests/base's objects in place (an overlay sets images and endpoints).
APPLY = "kubectl apply --server-side -k manifests/overlays/<local|dev|prod>"


@dataclass(frozen=True)
class Permission:
    """One call the pipeline runner's pods make (``name``: the one object it is allowed on)."""

    verb: str
    group: str
    resource: str
    name: str = ""

    def __str__(self) -> str:
        what = f"{self.resource}.{self.group}" if self.group else self.resource
        return f"{self.verb} {what}" + (f"/{self.name}" if self.name else "")


#: The rules of manifests/base/rbac.yaml (its comments cite who makes each call; the cluster
#: test of doctor checks this table against that file).
RUNNER_NEEDS = (
    # deploy's kserve target: read, server-side apply, and the apply that creates
    Permission("get", KSERVE, "inferenceservices"),
    Permission("create", KSERVE, "inferenceservices"),
    Permission("patch", KSERVE, "inferenceservices"),
    # Argo's emissary executor reports each step's outputs
    Permission("create", "argoproj.io", "workflowtaskresults"),
    Permission("patch", "argoproj.io", "workflowtaskresults"),
    # KFP's driver reads its launcher settings; its launcher the object store's credentials
    Permission("get", "", "configmaps", "kfp-launcher"),
    Permission("get", "", "secrets", "mlpipeline-minio-artifact"),
    # train's distributed mode (components/train/trainjob.py): its TrainJob, its workers'
    # pods (listed by label) and the chief's log
    Permission("get", "trainer.kubeflow.org", "trainjobs"),
    Permission("create", "trainer.kubeflow.org", "trainjobs"),
    Permission("patch", "trainer.kubeflow.org", "trainjobs"),
    Permission("list", "", "pods"),
    Permission("get", "", "pods/log"),
)


def connect(kubeconfig: str, context: str) -> ApiClient:
    """A client for ``context`` of ``kubeconfig`` (both may be empty: the defaults), or the
    pod's own account when doctor runs in a cluster with neither given nor a kubeconfig file.

    Raises:
        FileNotFoundError: The kubeconfig file does not exist.
        kubernetes.config.ConfigException: No usable configuration (an unknown context, say).
    """
    from kubernetes import client, config

    configuration = client.Configuration()
    path = kubeconfig or os.environ.get("KUBECONFIG", "") or os.path.expanduser("~/.kube/config")
    in_cluster = bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    if not kubeconfig and not context and in_cluster and not os.path.exists(path):
        config.load_incluster_config(client_configuration=configuration)
    else:
        if os.pathsep not in path and not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no such kubeconfig file")
        config.load_kube_config(
            config_file=path, context=context or None, client_configuration=configuration
        )
    # one attempt per check: an unreachable server is one failed row, not minutes of retries
    configuration.retries = 0
    return client.ApiClient(configuration)


def _error(e: BaseException) -> str:
    """An API or connection error on one line, without credentials."""
    status = getattr(e, "status", None)
    if isinstance(status, int):
        body = getattr(e, "body", None) or ""
        try:
            message = json.loads(body).get("message") or getattr(e, "reason", "")
        except (ValueError, AttributeError):
            message = getattr(e, "reason", "") or ""
        return redact(f"HTTP {status}: {message}".strip())
    reason = getattr(e, "reason", None)  # urllib3's MaxRetryError wraps the socket error
    return redact(" ".join(str(reason or e).split()) or type(e).__name__)


def _status(e: BaseException) -> int | None:
    status = getattr(e, "status", None)
    return status if isinstance(status, int) else None


class _Cluster:
    """The reads the checks make, each with the timeout; errors pass through."""

    def __init__(self, api: ApiClient, timeout: float) -> None:
        self.api = api
        self.timeout = timeout

    def get(self, path: str) -> Any:
        return self.api.call_api(
            path,
            "GET",
            header_params={"Accept": "application/json"},
            response_type="object",
            auth_settings=["BearerToken"],
            _return_http_data_only=True,
            _preload_content=True,
            _request_timeout=self.timeout,
        )

    def review(self, namespace: str, account: str, p: Permission) -> tuple[bool, str]:
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "LocalSubjectAccessReview",
            "metadata": {"namespace": namespace},
            "spec": {
                "user": f"system:serviceaccount:{namespace}:{account}",
                # the groups a ServiceAccount token carries: a binding to any of them counts
                "groups": [
                    "system:serviceaccounts",
                    f"system:serviceaccounts:{namespace}",
                    "system:authenticated",
                ],
                "resourceAttributes": {
                    "namespace": namespace,
                    "verb": p.verb,
                    "group": p.group,
                    # RBAC writes a subresource as pods/log; a review asks for it apart
                    "resource": p.resource.partition("/")[0],
                    "subresource": p.resource.partition("/")[2],
                    "name": p.name,
                },
            },
        }
        answer = self.api.call_api(
            "/apis/authorization.k8s.io/v1/namespaces/{namespace}/localsubjectaccessreviews",
            "POST",
            path_params={"namespace": namespace},
            header_params={"Accept": "application/json", "Content-Type": "application/json"},
            body=body,
            response_type="object",
            auth_settings=["BearerToken"],
            _return_http_data_only=True,
            _request_timeout=self.timeout,
        )
        status = answer.get("status", {}) if isinstance(answer, dict) else {}
        return bool(status.get("allowed")), str(status.get("evaluationError") or "")


def _row(name: str, status: Status, found: str, needed: str, fix: str = "") -> Check:
    return Check("cluster", name, status, found, needed, "", fix if status != "ok" else "")


def _reachable(kube: _Cluster, where: str) -> Check:
    version = kube.get("/version")
    return _row("Kubernetes API", "ok", f"{version.get('gitVersion', '?')} at {where}", "reachable")


def _crds(kube: _Cluster) -> tuple[Check, set[str]]:
    served: set[str] = set()
    for version in sorted({v for v, _ in KSERVE_RESOURCES}):
        try:
            listing = kube.get(f"/apis/{KSERVE}/{version}")
        except Exception as e:
            if _status(e) == 404:
                continue
            raise
        served |= {f"{version}/{r['name']}" for r in listing.get("resources", ())}
    wanted = [f"{v}/{r}" for v, r in KSERVE_RESOURCES]
    missing = [w for w in wanted if w not in served]
    needed = _CRDS_NEEDED
    if not missing:
        return _row("KServe CRDs", "ok", "all served", needed), served
    fix = (
        "install KServe (its CRDs serve InferenceService serving.kserve.io/v1beta1 and "
        "(Cluster)ServingRuntime v1alpha1): https://kserve.github.io/website/"
    )
    found = "missing: " + ", ".join(f"{r}.{KSERVE}/{v}" for v, r in (m.split("/") for m in missing))
    return _row("KServe CRDs", "fail", found, needed, fix), served


def _runtime(kube: _Cluster, namespace: str, name: str, served: set[str]) -> Check:
    required = name == RUNTIMES[0]
    label = f"runtime {name}"
    needed = "ServingRuntime or ClusterServingRuntime" + ("" if required else " (optional)")
    fix = (
        APPLY
        if required
        else "only for deploy's runtime=kserve-tritonserver: install KServe's default runtimes"
    )
    places = [
        (
            f"/apis/{KSERVE}/v1alpha1/namespaces/{namespace}/servingruntimes/{name}",
            "ServingRuntime",
        ),
        (f"/apis/{KSERVE}/v1alpha1/clusterservingruntimes/{name}", "ClusterServingRuntime"),
    ]
    if not any(f"v1alpha1/{kind.lower()}s" in served for _, kind in places):
        return _row(
            label, "fail" if required else "warn", "no runtime CRDs", needed, "install KServe"
        )
    for path, kind in places:
        if f"v1alpha1/{kind.lower()}s" not in served:
            continue
        try:
            kube.get(path)
        except Exception as e:
            if _status(e) == 404:
                continue
            raise
        return _row(
            label, "ok", f"{kind} in {namespace}" if kind == "ServingRuntime" else kind, needed
        )
    return _row(label, "fail" if required else "warn", "not found", needed, fix)


def _pod_security(labels: dict[str, str], namespace: str) -> Check:
    level = labels.get(POD_SECURITY, "")
    version = labels.get(POD_SECURITY + "-version", "")
    needed = f"enforce={LEVEL}"
    fix = (
        f"kubectl label namespace {namespace} --overwrite {POD_SECURITY}={LEVEL} "
        f"{POD_SECURITY}-version={LEVEL_VERSION}"
    )
    if level == LEVEL:
        return _row(
            "Pod Security", "ok", f"enforce={level}" + (f" ({version})" if version else ""), needed
        )
    found = f"enforce={level}" if level else "no enforce label (the cluster default applies)"
    return _row("Pod Security", "fail", found, needed, fix)


def _accounts(kube: _Cluster, namespace: str, accounts: tuple[str, ...]) -> Check:
    missing = []
    for account in accounts:
        try:
            kube.get(f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}")
        except Exception as e:
            if _status(e) != 404:
                raise
            missing.append(account)
    needed = ", ".join(accounts)
    if missing:
        return _row("ServiceAccounts", "fail", "missing: " + ", ".join(missing), needed, APPLY)
    return _row("ServiceAccounts", "ok", "present", needed)


def _permissions(kube: _Cluster, namespace: str, account: str) -> Check:
    refused, errors = [], []
    for p in RUNNER_NEEDS:
        allowed, error = kube.review(namespace, account, p)
        if not allowed:
            refused.append(str(p))
        if error:
            errors.append(error)
    name = f"{account} permissions"
    needed = f"{len(RUNNER_NEEDS)} calls of manifests/base/rbac.yaml"
    if not refused:
        return _row(name, "ok", f"{len(RUNNER_NEEDS)} of {len(RUNNER_NEEDS)} allowed", needed)
    found = "refused: " + "; ".join(refused)
    if errors:
        found += f" ({errors[0]})"
    if account == RUNNER:
        fix = f"{APPLY} (the Role and RoleBinding {RUNNER})"
    else:
        fix = (
            f"kubectl create rolebinding {account}-mlrail -n {namespace} --role={RUNNER} "
            f"--serviceaccount={namespace}:{account} (the Role comes with {APPLY})"
        )
    return _row(name, "fail", found, needed, fix)


def _guarded(name: str, needed: str, check: Callable[[], Check]) -> Check:
    """``check()``, or its failure as a row (a 403 names what the caller may not read)."""
    try:
        return check()
    except Exception as e:  # any API or transport error is this row's finding
        fix = (
            "run mlrail doctor as the namespace's admin (it reads these objects by name)"
            if _status(e) in (401, 403)
            else "check the cluster's API server and your kubeconfig"
        )
        return _row(name, "fail", _error(e), needed, fix)


def check_cluster(
    api: ApiClient,
    namespace: str,
    *,
    account: str = RUNNER,
    timeout: float = 10.0,
    where: str = "",
) -> list[Check]:
    """Every cluster check, in order; only the first when the API server cannot be reached.

    Args:
        api: A client with the caller's identity (:func:`connect`).
        namespace: Where mlrail's manifests are installed and pipelines run.
        account: The ServiceAccount the pipeline pods run as.
        timeout: Seconds for each request.
        where: How the server is named in the first row (default: its address).
    """
    kube = _Cluster(api, timeout)
    host = str(api.configuration.host)
    first = _guarded("Kubernetes API", "reachable", lambda: _reachable(kube, where or host))
    if first.status != "ok":
        return [dataclasses.replace(first, found=f"{host}: {first.found}")]
    rows = [first]
    served: set[str] = set()

    def crds() -> Check:
        row, found = _crds(kube)
        served.update(found)
        return row

    rows.append(_guarded("KServe CRDs", _CRDS_NEEDED, crds))
    labels: dict[str, str] = {}
    absent: list[bool] = []

    def namespace_row() -> Check:
        try:
            found = kube.get(f"/api/v1/namespaces/{namespace}")
        except Exception as e:
            if _status(e) == 404:
                absent.append(True)
                return _row("namespace", "fail", f"{namespace} not found", "exists", APPLY)
            raise
        labels.update((found.get("metadata") or {}).get("labels") or {})
        return _row("namespace", "ok", namespace, "exists")

    rows.append(_guarded("namespace", "exists", namespace_row))
    if absent:
        return rows  # everything below lives in the namespace
    if rows[-1].status == "ok":  # else the caller may not read it: its labels are unknown
        rows.append(_pod_security(labels, namespace))
    for name in RUNTIMES:
        runtime = functools.partial(_runtime, kube, namespace, name, served)
        rows.append(_guarded(f"runtime {name}", "a runtime", runtime))
    accounts = tuple(dict.fromkeys((account, SERVING_ACCOUNT)))
    rows.append(
        _guarded(
            "ServiceAccounts", ", ".join(accounts), lambda: _accounts(kube, namespace, accounts)
        )
    )
    rows.append(
        _guarded(
            f"{account} permissions",
            "the pipeline runner's calls",
            lambda: _permissions(kube, namespace, account),
        )
    )
    return rows
