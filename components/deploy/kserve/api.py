"""The Kubernetes API as deploy uses it: two calls on InferenceServices, and what their errors mean.

:class:`KubeApi` names the two calls as the ``kubernetes`` client names them; :func:`connect`
builds the real one (:class:`KubernetesApi`) from in-cluster credentials, kubeconfig as the
fallback; ``kubernetes`` is imported only there and in :func:`get` / :func:`apply` (it costs
about half a second: only target ``kserve`` pays it). Tests pass a fake instead.

- **Server-side apply** with field manager ``mlrail-deploy`` and ``force=True``: deploy is the
  authority for the fields it sets (a hand edit of, say, ``minReplicas`` is taken back), while
  fields it does not set stay with their owners. Omitting a field deploy set before removes it,
  which is how a promotion drops ``canaryTrafficPercent``. kubernetes 30.1's
  ``patch_namespaced_custom_object`` always sends ``application/merge-patch+json`` and takes no
  ``_content_type``, so :class:`KubernetesApi` makes the same request through
  ``ApiClient.call_api`` with ``application/apply-patch+yaml`` (JSON is YAML).
- Errors: an API error that may pass (429, 5xx, no connection) is a :class:`Transient`, which
  the wait in :mod:`.status` polls through until its deadline; any other error (403, a missing
  KServe) is a :class:`~.records.DeployError` that stops deploy at once. A 403 names the Role
  below.

Kubernetes API calls, each with the rule of the ``mlrail-pipeline-runner`` Role
(``manifests/base/rbac.yaml``) that allows it (tests/components/deploy/test_rbac.py checks this
list against the calls deploy makes in every scenario and against the Role):

- get serving.kserve.io/v1beta1 inferenceservices: rules[0] (serving.kserve.io, inferenceservices,
  get) -- read the live object before applying, and every poll while waiting
- patch serving.kserve.io/v1beta1 inferenceservices: rules[0] (serving.kserve.io,
  inferenceservices, patch) -- every server-side apply (deploy, promote, roll back)
- create serving.kserve.io/v1beta1 inferenceservices: rules[0] (serving.kserve.io,
  inferenceservices, create) -- a server-side apply that creates the object (first deploy): the
  API server then also authorizes ``create``

Nothing else: no list, watch, update or delete, no ``inferenceservices/status``, no other kind.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, Protocol

from mlrail.components.deploy.kserve.records import DeployError

if TYPE_CHECKING:  # importing kubernetes costs about half a second: only target kserve pays it
    from kubernetes.client import ApiClient

__all__ = [
    "FIELD_MANAGER",
    "GROUP",
    "MODEL_HASH_ANNOTATION",
    "MODEL_IDENTITY_ANNOTATION",
    "MODEL_SIGNER_ANNOTATION",
    "MODE_ANNOTATION",
    "PLURAL",
    "TAG_ROUTING_ANNOTATION",
    "VERSION",
    "KubeApi",
    "KubernetesApi",
    "Transient",
    "apply",
    "connect",
    "get",
]

GROUP = "serving.kserve.io"
VERSION = "v1beta1"
PLURAL = "inferenceservices"
FIELD_MANAGER = "mlrail-deploy"
MODEL_HASH_ANNOTATION = "mlrail.io/model-sha256"
MODEL_IDENTITY_ANNOTATION = "mlrail.io/model-identity"
#: the verified signer (public key fingerprint) of the model, when deploy verified it
MODEL_SIGNER_ANNOTATION = "mlrail.io/model-signer"
MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
TAG_ROUTING_ANNOTATION = "serving.kserve.io/enable-tag-routing"

_API_TIMEOUT = 30
_TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


class KubeApi(Protocol):
    """The Kubernetes calls deploy makes, named as the ``kubernetes`` client names them.

    Both return the object as a dict and raise ``kubernetes.client.ApiException`` (with a
    ``V1Status`` JSON body) on an error status, as ``CustomObjectsApi`` does.
    """

    def get_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, name: str
    ) -> Any: ...

    def apply_namespaced_custom_object(
        self,
        group: str,
        version: str,
        namespace: str,
        plural: str,
        name: str,
        body: dict[str, Any],
        *,
        field_manager: str,
        force: bool,
    ) -> Any: ...


class KubernetesApi:
    """:class:`KubeApi` over the official client (``CustomObjectsApi`` and ``ApiClient``)."""

    def __init__(self, api_client: ApiClient) -> None:
        from kubernetes.client import CustomObjectsApi

        self.api_client = api_client
        self._objects = CustomObjectsApi(api_client)

    def get_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, name: str
    ) -> Any:
        return self._objects.get_namespaced_custom_object(
            group, version, namespace, plural, name, _request_timeout=_API_TIMEOUT
        )

    def apply_namespaced_custom_object(
        self,
        group: str,
        version: str,
        namespace: str,
        plural: str,
        name: str,
        body: dict[str, Any],
        *,
        field_manager: str,
        force: bool,
    ) -> Any:
        # The request patch_namespaced_custom_object makes, with the apply content type it
        # cannot send in kubernetes 30.1 (see the module doc).
        return self.api_client.call_api(
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
            _request_timeout=_API_TIMEOUT,
        )


def connect() -> KubernetesApi:
    """The API of the cluster this runs in (service account), else of the kubeconfig."""
    from kubernetes import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException as in_cluster:
        try:
            # read now: the client reads $KUBECONFIG once, when it is first imported
            config.load_kube_config(config_file=os.environ.get("KUBECONFIG") or None)
        except (config.ConfigException, OSError) as kubeconfig:
            raise DeployError(
                f"no Kubernetes credentials: not in a cluster ({in_cluster}) and no usable "
                f"kubeconfig ({kubeconfig}); set KUBECONFIG or run in the cluster"
            ) from kubeconfig
    return KubernetesApi(client.ApiClient())


def _status_message(body: Any) -> str:
    try:
        status = json.loads(body)
    except (TypeError, ValueError):
        return str(body or "").strip()[:300]
    return str(status.get("message", "")) if isinstance(status, dict) else str(status)[:300]


def _api_error(exc: Exception, doing: str, namespace: str) -> DeployError:
    status = getattr(exc, "status", None)
    message = _status_message(getattr(exc, "body", None)) or str(getattr(exc, "reason", exc))
    hint = ""
    if status == 403:
        hint = (
            f"; the pipeline's service account needs the mlrail-pipeline-runner Role "
            f"(manifests/base/rbac.yaml) in namespace {namespace}"
        )
    return DeployError(f"{doing}: HTTP {status}: {message}{hint}")


class Transient(DeployError):
    """An API error worth another try while waiting: throttled, a server error, no connection."""


def get(api: KubeApi, namespace: str, name: str) -> dict[str, Any] | None:
    """The InferenceService ``namespace/name``, or None when there is none."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError as ConnectionTrouble

    doing = f"get {PLURAL}.{GROUP} {namespace}/{name}"
    try:
        obj = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    except ConnectionTrouble as e:
        raise Transient(f"{doing}: no answer from the API server: {e}") from e
    except ApiException as e:
        if e.status in _TRANSIENT_STATUSES:
            raise Transient(str(_api_error(e, doing, namespace))) from e
        if e.status == 404:
            try:
                details = json.loads(e.body).get("details") or {}
            except (TypeError, ValueError, AttributeError):
                details = {}
            if details.get("name") == name:
                return None
            # Not a Status naming our object: the path itself is unknown.
            raise DeployError(
                f"get {PLURAL}.{GROUP} {namespace}/{name}: this cluster does not serve "
                f"{GROUP}/{VERSION} InferenceServices ({_status_message(e.body)}); is KServe "
                "installed?"
            ) from e
        raise _api_error(e, doing, namespace) from e
    return dict(obj)


def apply(api: KubeApi, body: dict[str, Any]) -> dict[str, Any]:
    """Server-side apply ``body`` as field manager :data:`FIELD_MANAGER`; the object applied."""
    from kubernetes.client.exceptions import ApiException

    meta = body["metadata"]
    try:
        obj = api.apply_namespaced_custom_object(
            GROUP,
            VERSION,
            meta["namespace"],
            PLURAL,
            meta["name"],
            body,
            field_manager=FIELD_MANAGER,
            force=True,
        )
    except ApiException as e:
        where = f"{meta['namespace']}/{meta['name']}"
        raise _api_error(e, f"apply {PLURAL}.{GROUP} {where}", meta["namespace"]) from e
    return dict(obj)
