"""The Kubernetes API as mlrail's steps use it: credentials, server-side apply, reads, errors.

What a step running in a cluster needs to start and watch a workload of its own (train's
TrainJob, :mod:`mlrail.components.train.trainjob`), with the pipeline's ServiceAccount and the
Role in ``manifests/base/rbac.yaml``:

- :func:`connect`: the pod's own account (in-cluster credentials), else a kubeconfig
  (``$KUBECONFIG`` or ``~/.kube/config``), loaded into a configuration of its own (the client's
  process-wide default is left as it was).
- :func:`apply`: **server-side apply** of a namespaced custom object with a field manager and
  ``force=True``. kubernetes 30.1's ``patch_namespaced_custom_object`` always sends
  ``application/merge-patch+json``, so the request (:func:`apply_request`) goes through
  ``ApiClient.call_api`` with ``application/apply-patch+yaml`` (JSON is YAML). An apply that
  creates the object is also authorised as ``create``.
- :func:`get`, :func:`list_pods`, :func:`pod_log`: reads, each returning plain dicts (the API's
  own camelCase JSON), so callers and their tests handle one shape.
- Errors: an API error that may pass (429, 5xx, no connection) is :class:`Transient` (a wait
  polls through it until its deadline); any other (403, an unknown resource, an invalid object)
  is :class:`KubeError`, naming the call and, for 403, the Role the account needs
  (:func:`api_error`). A 404 is an absent object only when its Status names it
  (:func:`is_absent`); otherwise the cluster does not serve the resource at all.

deploy's kserve target (:mod:`mlrail.components.deploy.kserve.api`) makes its calls through
these too: the credentials, the apply request, the timeout and what an error means.

``kubernetes`` is imported inside the functions (about half a second): only steps that talk to
a cluster pay for it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlrail.errors import MlrailError

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

__all__ = [
    "NAMESPACE_FILE",
    "REQUEST_TIMEOUT",
    "RUNNER_ROLE",
    "KubeError",
    "Transient",
    "api_error",
    "apply",
    "apply_request",
    "connect",
    "current_namespace",
    "get",
    "in_cluster",
    "is_absent",
    "list_pods",
    "pod_log",
    "status_message",
]

#: The Role the pipeline's ServiceAccount is bound to (manifests/base/rbac.yaml).
RUNNER_ROLE = "mlrail-pipeline-runner"
#: Where a pod's ServiceAccount token mount keeps the pod's namespace.
NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
#: Seconds each API request may take (connect and read).
REQUEST_TIMEOUT = 30
_TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


class KubeError(MlrailError):
    """A Kubernetes API call that failed and will fail again: its message names the call."""


class Transient(KubeError):
    """An API error worth another try: throttled, a server error, no connection."""


def in_cluster() -> bool:
    """Whether this process runs in a Kubernetes pod (the variables the kubelet sets)."""
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def current_namespace() -> str:
    """The namespace of the pod this runs in (its ServiceAccount mount), or ``""`` outside one."""
    try:
        return NAMESPACE_FILE.read_text().strip()
    except OSError:
        return ""


def connect() -> ApiClient:
    """A client for the cluster this runs in (its ServiceAccount), else for the kubeconfig.

    Raises:
        KubeError: neither in-cluster credentials nor a usable kubeconfig.
    """
    from kubernetes import client, config

    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException as in_pod:
        try:
            # read now: the client reads $KUBECONFIG once, when it is first imported
            config.load_kube_config(
                config_file=os.environ.get("KUBECONFIG") or None,
                client_configuration=configuration,
            )
        except (config.ConfigException, OSError) as kubeconfig:
            raise KubeError(
                f"no Kubernetes credentials: not in a cluster ({in_pod}) and no usable "
                f"kubeconfig ({kubeconfig}); set KUBECONFIG or run in the cluster"
            ) from kubeconfig
    return client.ApiClient(configuration)


def status_message(body: Any) -> str:
    """The ``message`` of an error's ``Status`` body; a body that is not one, cut to 300 chars."""
    try:
        status = json.loads(body)
    except (TypeError, ValueError):
        return str(body or "").strip()[:300]
    return str(status.get("message", "")) if isinstance(status, dict) else str(status)[:300]


def api_error(exc: Exception, doing: str, namespace: str) -> KubeError:
    """``exc`` (an ``ApiException`` or a connection error) as the error to raise for ``doing``."""
    status = getattr(exc, "status", None)
    if status is None:  # urllib3 could not connect, or the connection broke
        return Transient(f"{doing}: no answer from the API server: {exc}")
    message = status_message(getattr(exc, "body", None)) or str(getattr(exc, "reason", exc))
    if status in _TRANSIENT_STATUSES:
        return Transient(f"{doing}: HTTP {status}: {message}")
    hint = ""
    if status == 403:
        hint = (
            f"; the pipeline's service account needs the {RUNNER_ROLE} Role "
            f"(manifests/base/rbac.yaml) in namespace {namespace}"
        )
    return KubeError(f"{doing}: HTTP {status}: {message}{hint}")


def _call(doing: str, namespace: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        return fn(*args, **kwargs)
    except (ApiException, HTTPError) as e:
        raise api_error(e, doing, namespace) from e


def apply_request(
    api: ApiClient,
    group: str,
    version: str,
    namespace: str,
    plural: str,
    name: str,
    body: dict[str, Any],
    *,
    field_manager: str,
    force: bool = True,
) -> Any:
    """The server-side apply request of ``body`` (``patch_namespaced_custom_object``'s arguments).

    The request that method makes, with the apply content type it cannot send in kubernetes 30.1;
    its errors are raised as the client raises them (``ApiException``, urllib3's ``HTTPError``),
    for the caller to read (:func:`api_error`).
    """
    return api.call_api(
        "/apis/{group}/{version}/namespaces/{namespace}/{plural}/{name}",
        "PATCH",
        path_params={
            "group": group,
            "version": version,
            "namespace": namespace,
            "plural": plural,
            "name": name,
        },
        query_params=[("fieldManager", field_manager), ("force", "true" if force else "false")],
        header_params={
            "Accept": "application/json",
            "Content-Type": "application/apply-patch+yaml",
        },
        body=body,
        response_type="object",
        auth_settings=["BearerToken"],
        _return_http_data_only=True,
        _preload_content=True,
        _request_timeout=REQUEST_TIMEOUT,
    )


def apply(
    api: ApiClient, body: dict[str, Any], *, plural: str, field_manager: str
) -> dict[str, Any]:
    """Server-side apply the namespaced custom object ``body``; the object as stored.

    ``body`` names its ``apiVersion`` (``group/version``), ``kind`` and
    ``metadata.namespace``/``name``.

    Raises:
        Transient: the server is throttling, failing or out of reach.
        KubeError: the server refused the object or the call (the message says why).
    """
    group, _, version = str(body["apiVersion"]).rpartition("/")
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    obj = _call(
        f"apply {plural}.{group} {namespace}/{name}",
        namespace,
        apply_request,
        api,
        group,
        version,
        namespace,
        plural,
        name,
        body,
        field_manager=field_manager,
    )
    return dict(obj)


def is_absent(exc: Exception, name: str) -> bool:
    """Whether ``exc`` is the 404 of an object ``name`` that does not exist.

    The API server's Status then names the object (``details.name``); a 404 that names none is
    for the path itself: the cluster does not serve that group, version or resource.
    """
    if getattr(exc, "status", None) != 404:
        return False
    body: Any = getattr(exc, "body", None)
    try:
        details = json.loads(body).get("details") or {}
    except (TypeError, ValueError, AttributeError):
        return False
    return bool(details.get("name") == name)


def get(
    api: ApiClient, *, group: str, version: str, plural: str, namespace: str, name: str
) -> dict[str, Any] | None:
    """The namespaced custom object, or ``None`` when there is none by that name.

    Raises:
        Transient: the server is throttling, failing or out of reach.
        KubeError: the call was refused, or the cluster does not serve ``group/version``.
    """
    from kubernetes.client import CustomObjectsApi
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    doing = f"get {plural}.{group} {namespace}/{name}"
    try:
        obj = CustomObjectsApi(api).get_namespaced_custom_object(
            group, version, namespace, plural, name, _request_timeout=REQUEST_TIMEOUT
        )
    except ApiException as e:
        if is_absent(e, name):
            return None
        if e.status == 404:  # the path itself is unknown (no such CRD)
            raise KubeError(
                f"{doing}: this cluster does not serve {group}/{version} {plural} "
                f"({status_message(e.body)})"
            ) from e
        raise api_error(e, doing, namespace) from e
    except HTTPError as e:
        raise api_error(e, doing, namespace) from e
    return dict(obj)


def list_pods(api: ApiClient, namespace: str, selector: str) -> list[dict[str, Any]]:
    """The pods of ``namespace`` that ``selector`` (a label selector) selects, as dicts.

    Raises:
        Transient: the server is throttling, failing or out of reach.
        KubeError: the call was refused.
    """
    from kubernetes.client import CoreV1Api

    pods = _call(
        f"list pods in {namespace} ({selector})",
        namespace,
        CoreV1Api(api).list_namespaced_pod,
        namespace,
        label_selector=selector,
        _request_timeout=REQUEST_TIMEOUT,
    )
    return [dict(api.sanitize_for_serialization(p)) for p in pods.items]


def pod_log(
    api: ApiClient,
    namespace: str,
    pod: str,
    container: str,
    *,
    since_seconds: int | None = None,
) -> str:
    """The log of ``container`` in ``pod``, each line led by its RFC 3339 timestamp.

    Raises:
        Transient: the server is throttling, failing or out of reach.
        KubeError: the call was refused, or the log cannot be read yet (no node, the
            container not started).
    """
    from kubernetes.client import CoreV1Api

    kwargs: dict[str, Any] = {"container": container, "timestamps": True}
    if since_seconds is not None:
        kwargs["since_seconds"] = max(1, int(since_seconds))
    text = _call(
        f"get pods/log {namespace}/{pod}",
        namespace,
        CoreV1Api(api).read_namespaced_pod_log,
        pod,
        namespace,
        _request_timeout=REQUEST_TIMEOUT,
        **kwargs,
    )
    return str(text or "")
