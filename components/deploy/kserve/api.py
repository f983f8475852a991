"""The Kubernetes API as deploy uses it: two calls on InferenceServices, and what their errors mean.

:class:`KubeApi` names the two calls as the ``kubernetes`` client names them; :func:`connect`
builds the real one (:class:`KubernetesApi`) from :func:`mlrail.kube.connect`'s credentials
(in-cluster, kubeconfig as the fallback); ``kubernetes`` is imported only there and in
:func:`get` / :func:`apply` (it costs about half a second: only target ``kserve`` pays it). Tests
pass a fake instead.

- **Server-side apply** with field manager ``mlrail-deploy`` and ``force=True``: deploy is the
  authority for the fields it sets (a hand edit of, say, ``minReplicas`` is taken back), while
  fields it does not set stay with their owners. Omitting a field deploy set before removes it,
  which is how a promotion drops ``canaryTrafficPercent``. kubernetes 30.1's
  ``patch_namespaced_custom_object`` cannot send ``application/apply-patch+yaml``, so
  :class:`KubernetesApi` makes the request with :func:`mlrail.kube.apply_request`.
- Errors: :func:`mlrail.kube.api_error` reads them (as for train's TrainJob calls) and
  :func:`get` / :func:`apply` convert that reading once into deploy's own errors, because
  deploy's callers catch those and a :class:`~.records.DeployError` carries the rollout record.
  An error that may pass (429, 5xx, no connection) on a read is a :class:`Transient`, which the
  wait in :mod:`.status` polls through until its deadline; any other (403, a missing KServe),
  and any failed apply, is a plain ``DeployError`` that stops deploy at once (an apply is never
  retried: the API server answers 500 to a body its schema cannot type). A 403 names the Role
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

from typing import TYPE_CHECKING, Any, Protocol

from mlrail import kube
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
            group, version, namespace, plural, name, _request_timeout=kube.REQUEST_TIMEOUT
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
        return kube.apply_request(
            self.api_client,
            group,
            version,
            namespace,
            plural,
            name,
            body,
            field_manager=field_manager,
            force=force,
        )


def connect() -> KubernetesApi:
    """The API of the cluster this runs in (service account), else of the kubeconfig."""
    try:
        return KubernetesApi(kube.connect())
    except kube.KubeError as e:
        raise DeployError(str(e)) from e


class Transient(DeployError):
    """An API error worth another try while waiting: throttled, a server error, no connection."""


def _deploy_error(exc: Exception, doing: str, namespace: str, *, may_pass: bool) -> DeployError:
    """``exc`` read by :func:`mlrail.kube.api_error`, as deploy raises it: a :class:`Transient`
    where that reading says it may pass and ``may_pass`` (a read the wait polls), else a
    :class:`DeployError` with the same message."""
    error = kube.api_error(exc, doing, namespace)
    if may_pass and isinstance(error, kube.Transient):
        return Transient(str(error))
    return DeployError(str(error))


def get(api: KubeApi, namespace: str, name: str) -> dict[str, Any] | None:
    """The InferenceService ``namespace/name``, or None when there is none."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    doing = f"get {PLURAL}.{GROUP} {namespace}/{name}"
    try:
        obj = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    except (ApiException, HTTPError) as e:
        if kube.is_absent(e, name):
            return None
        if isinstance(e, ApiException) and e.status == 404:
            # Not a Status naming our object: the path itself is unknown.
            raise DeployError(
                f"{doing}: this cluster does not serve {GROUP}/{VERSION} InferenceServices "
                f"({kube.status_message(e.body)}); is KServe installed?"
            ) from e
        raise _deploy_error(e, doing, namespace, may_pass=True) from e
    return dict(obj)


def apply(api: KubeApi, body: dict[str, Any]) -> dict[str, Any]:
    """Server-side apply ``body`` as field manager :data:`FIELD_MANAGER`; the object applied."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    try:
        obj = api.apply_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name, body, field_manager=FIELD_MANAGER, force=True
        )
    except (ApiException, HTTPError) as e:
        doing = f"apply {PLURAL}.{GROUP} {namespace}/{name}"
        raise _deploy_error(e, doing, namespace, may_pass=False) from e
    return dict(obj)
