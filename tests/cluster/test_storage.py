"""Serving storage on the real API server: the object store Secret an overlay gives
``mlrail-serving`` reaches KServe's storage initializer, as KServe would pass it, in the pod
KServe would build for deploy's InferenceService.

Each overlay is applied (``kubectl apply -k``, client-side as manifests/README.md shows it, and
server-side) into a namespace of its own; the user's step of manifests/README.md ("Storage
credentials") adds the keys with test values; applying the overlay again must leave them.

Reproduced from KServe (kserve/kserve at commit aaac4e2, the one ../shared/crds come from):

- ``pkg/credentials/service_account_credentials.go``, ``CreateSecretVolumeAndEnv`` and
  ``mountSecretCredential``: KServe's pod webhook reads the predictor's ServiceAccount
  (``spec.serviceAccountName``), then each Secret it lists under ``secrets:``; a Secret with the
  configured secret-key name is an S3 one. The names are those of KServe's shipped
  ``inferenceservice-config`` (``config/configmap/inferenceservice.yaml``, ``credentials``:
  ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``; every other S3 default empty).
- ``pkg/credentials/s3/s3_secret.go`` ``BuildSecretEnvs`` and ``pkg/credentials/s3/utils.go``
  ``BuildS3EnvVars``: the key pair as ``secretKeyRef``s, then ``S3_USE_HTTPS``, ``S3_ENDPOINT``,
  ``AWS_ENDPOINT_URL``, ``S3_VERIFY_SSL``, ``AWS_DEFAULT_REGION`` (and the rarer settings) from
  the Secret's ``serving.kserve.io/s3-*`` annotations, else its data, else the config default.

Not reproduced: IRSA (``eks.amazonaws.com/role-arn`` on the account), the ``storage-config``
storage-spec Secret and the ``serving.kserve.io/storageSecretName`` annotation (deploy uses
neither), GCS/Azure/HTTPS/Hugging Face Secrets, the CA-bundle volume.

Who reads what: KServe's controller reads the account and the Secret (identity
``system:serviceaccount:kserve:kserve-controller-manager``, with the one rule of KServe's
``kserve-manager-role`` ClusterRole this needs, ``config/rbac/role.yaml``: get secrets and
serviceaccounts); here it does so with a TokenRequest token, so the real RBAC authorizer judges.
The kubelet then resolves the ``secretKeyRef``s; the model server's own account may read nothing.
"""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from mlrail.components.deploy import core
from tests.manifests.kustomize import OVERLAYS, pinned_copy

from .control_plane import ControlPlane
from .kube import kubectl, render, wrap_in_namespace
from .plugin import kubectl_path
from .pods import RESTRICTED_CONTAINER, SERVING_ACCOUNT, predictor_pod

if TYPE_CHECKING:
    from kubernetes.client import ApiClient, CoreV1Api

Obj = dict[str, Any]
SECRET = "mlrail-s3-credentials"
KSERVE_NS = "kserve"
KSERVE_ACCOUNT = "kserve-controller-manager"
#: The user's own field manager for the keys (manifests/README.md, "Storage credentials").
CREDENTIALS_MANAGER = "mlrail-credentials"
TEST_KEYS = {"AWS_ACCESS_KEY_ID": "test-access-key", "AWS_SECRET_ACCESS_KEY": "test-secret-key"}
MODES = ("client-side", "server-side")

# KServe's shipped inferenceservice-config: the Secret's key names for the S3 key pair.
_ACCESS_KEY_ID_NAME = "AWS_ACCESS_KEY_ID"
_SECRET_ACCESS_KEY_NAME = "AWS_SECRET_ACCESS_KEY"
_ANNOTATION = "serving.kserve.io/"
# BuildS3EnvVars after the endpoint, in its order: (annotation, data key and env name).
_S3_SETTINGS = (
    ("s3-verifyssl", "S3_VERIFY_SSL"),
    ("s3-useanoncredential", "awsAnonymousCredential"),
    ("s3-region", "AWS_DEFAULT_REGION"),
    ("s3-usevirtualbucket", "S3_USER_VIRTUAL_BUCKET"),
    ("s3-useaccelerate", "S3_USE_ACCELERATE"),
    ("s3-cabundle", "AWS_CA_BUNDLE"),
    ("s3-cabundle-configmap", "AWS_CA_BUNDLE_CONFIGMAP"),
)


def _ref(key: str) -> Obj:
    return {"name": key, "valueFrom": {"secretKeyRef": {"name": SECRET, "key": key}}}


def _env(**values: str) -> list[Obj]:
    return [{"name": name, "value": value} for name, value in values.items()]


_KEYS = [_ref(_ACCESS_KEY_ID_NAME), _ref(_SECRET_ACCESS_KEY_NAME)]
_IN_CLUSTER = _KEYS + _env(
    S3_USE_HTTPS="0",
    S3_ENDPOINT="seaweedfs.kubeflow:9000",
    AWS_ENDPOINT_URL="http://seaweedfs.kubeflow:9000",
    S3_VERIFY_SSL="0",
    AWS_DEFAULT_REGION="us-east-1",
)
#: What each overlay's cluster-endpoints.yaml must put into the storage initializer.
EXPECTED_ENV = {
    "local": _IN_CLUSTER,
    "dev": _IN_CLUSTER,
    "prod": _KEYS
    + _env(
        S3_USE_HTTPS="1",
        S3_ENDPOINT="s3.eu-central-1.amazonaws.com",
        AWS_ENDPOINT_URL="https://s3.eu-central-1.amazonaws.com",
        S3_VERIFY_SSL="1",
        AWS_DEFAULT_REGION="eu-central-1",
    ),
}


def kserve_storage_env(api: CoreV1Api, namespace: str, service_account: str) -> list[Obj]:
    """The S3 env KServe's webhook gives the storage initializer of a pod run as the account.

    Args:
        api: A client as the identity that reads (KServe's controller).
        namespace: The predictor's namespace.
        service_account: The predictor's ``spec.serviceAccountName``.

    Returns:
        The env entries, in KServe's order, as the pod spec holds them.
    """
    account = api.read_namespaced_service_account(service_account, namespace)
    env: list[Obj] = []
    for ref in account.secrets or []:
        secret = api.read_namespaced_secret(ref.name, namespace)
        data = {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}
        if _SECRET_ACCESS_KEY_NAME not in data:
            continue  # another kind of Secret (GCS, Azure, ...): not reproduced
        env += [
            {"name": env_name, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": key}}}
            for env_name, key in (
                ("AWS_ACCESS_KEY_ID", _ACCESS_KEY_ID_NAME),
                ("AWS_SECRET_ACCESS_KEY", _SECRET_ACCESS_KEY_NAME),
            )
        ]
        env += _s3_env(secret.metadata.annotations or {}, data)
    return env


def _setting(annotations: Mapping[str, str], data: Mapping[str, str], name: str, key: str) -> str:
    """getEnvValue: the annotation, else the Secret's data, else the (empty) config default."""
    return annotations.get(_ANNOTATION + name, data.get(key, ""))


def _s3_env(annotations: Mapping[str, str], data: Mapping[str, str]) -> list[Obj]:
    env: list[Obj] = []
    endpoint = _setting(annotations, data, "s3-endpoint", "S3_ENDPOINT").strip()
    if endpoint:
        # getEndpointConfiguration: a scheme in the endpoint decides; else s3-usehttps, https
        # unless it is "0"
        if endpoint.lower().startswith("https://"):
            https, host, url = "1", endpoint[8:], endpoint
        elif endpoint.lower().startswith("http://"):
            https, host, url = "0", endpoint[7:], endpoint
        else:
            https = _setting(annotations, data, "s3-usehttps", "S3_USE_HTTPS")
            scheme = "http://" if https == "0" else "https://"
            host, url = endpoint, scheme + endpoint
        if https:
            env += _env(S3_USE_HTTPS=https)
        env += _env(S3_ENDPOINT=host, AWS_ENDPOINT_URL=url)
    for name, key in _S3_SETTINGS:
        value = _setting(annotations, data, name, key)
        if value:
            env.append({"name": key, "value": value})
    return env


def test_the_reproduction_follows_kserve_on_the_endpoint_forms() -> None:
    # getEndpointConfiguration's three branches, and getEnvValue's fall-back to the data
    url = {"serving.kserve.io/s3-endpoint": "https://minio.example:9000"}
    assert _s3_env(url, {})[:3] == _env(
        S3_USE_HTTPS="1",
        S3_ENDPOINT="minio.example:9000",
        AWS_ENDPOINT_URL=url[_ANNOTATION + "s3-endpoint"],
    )
    bare = {"serving.kserve.io/s3-endpoint": "minio.example:9000"}
    assert _s3_env(bare, {}) == _env(
        S3_ENDPOINT="minio.example:9000", AWS_ENDPOINT_URL="https://minio.example:9000"
    )
    assert _s3_env({}, {"S3_ENDPOINT": "m:9000", "S3_USE_HTTPS": "0"}) == _env(
        S3_USE_HTTPS="0", S3_ENDPOINT="m:9000", AWS_ENDPOINT_URL="http://m:9000"
    )
    assert _s3_env({}, {}) == []


@pytest.fixture(scope="module")
def pinned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """manifests/ beside a digest record, so prod renders too."""
    return pinned_copy(tmp_path_factory.mktemp("storage-release"))


@pytest.fixture(scope="module")
def kserve_reader(control_plane: ControlPlane, kube_admin: ApiClient) -> Iterator[ApiClient]:
    """A client as KServe's controller, with the one rule of its ClusterRole the lookup needs."""
    from kubernetes import client, config

    core_api, rbac = client.CoreV1Api(kube_admin), client.RbacAuthorizationV1Api(kube_admin)
    core_api.create_namespace({"metadata": {"name": KSERVE_NS}})
    core_api.create_namespaced_service_account(KSERVE_NS, {"metadata": {"name": KSERVE_ACCOUNT}})
    role = "kserve-manager-role"
    rule = {"apiGroups": [""], "resources": ["secrets", "serviceaccounts"], "verbs": ["get"]}
    rbac.create_cluster_role({"metadata": {"name": role}, "rules": [rule]})
    rbac.create_cluster_role_binding(
        {
            "metadata": {"name": "kserve-manager-rolebinding"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": role,
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": KSERVE_ACCOUNT, "namespace": KSERVE_NS}
            ],
        }
    )
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600)
    )
    token = core_api.create_namespaced_service_account_token(
        KSERVE_ACCOUNT, KSERVE_NS, request
    ).status.token
    api = config.new_client_from_config(str(control_plane.kubeconfig_for("kserve", token)))
    try:
        yield api
    finally:
        api.close()


def _apply_overlay(plane: ControlPlane, directory: Path, mode: str) -> None:
    """``kubectl apply -k``, as a user would: client-side, or server-side (manager kubectl)."""
    flags = ["--server-side"] if mode == "server-side" else []
    proc = kubectl(plane, "apply", *flags, "-k", str(directory))
    assert proc.returncode == 0, proc.stderr


def add_keys(plane: ControlPlane, namespace: str, folder: Path) -> None:
    """The user's step of manifests/README.md, with the keys in files (not on a command line)."""
    files = []
    for key, value in TEST_KEYS.items():
        path = folder / key
        path.write_text(value)
        files.append(f"--from-file={key}={path}")
    made = kubectl(
        plane, "create", "secret", "generic", SECRET, "-n", namespace, *files,
        "--dry-run=client", "-o", "yaml",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    cmd = [kubectl_path(), "--kubeconfig", str(plane.kubeconfig), "apply", "--server-side"]
    cmd += [f"--field-manager={CREDENTIALS_MANAGER}", "-f", "-"]
    applied = subprocess.run(cmd, input=made.stdout, capture_output=True, text=True, check=False)
    assert applied.returncode == 0, applied.stderr


def _keys(api: ApiClient, namespace: str) -> dict[str, str]:
    from kubernetes import client

    secret = client.CoreV1Api(api).read_namespaced_secret(SECRET, namespace)
    return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}


def _isvc_predictor(namespace: str, runtime_spec: Mapping[str, Any]) -> Obj:
    """The predictor pod KServe builds for deploy's InferenceService (tests/cluster/pods.py)."""
    isvc = core.inference_service(
        "penguins",
        namespace,
        core.storage_uri("minio://mlpipeline/v2/artifacts/training/run/export-onnx/onnx_model"),
        service_account=SERVING_ACCOUNT,
        deployment_mode="RawDeployment",
        model_sha256="0" * 64,
    )
    # a ClusterStorageContainer gives the initializer a restricted securityContext
    # (manifests/README.md, cluster prerequisites)
    return predictor_pod(isvc, runtime_spec, RESTRICTED_CONTAINER)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_storage_initializer_gets_the_overlay_credentials(
    control_plane: ControlPlane,
    kube_admin: ApiClient,
    kserve_reader: ApiClient,
    pinned: Path,
    tmp_path: Path,
    overlay: str,
    mode: str,
) -> None:
    from kubernetes import client

    namespace = f"mlrail-storage-{overlay}-{mode}"
    wrapper = wrap_in_namespace(pinned / "overlays" / overlay, tmp_path / "wrap", namespace)
    _apply_overlay(control_plane, wrapper, mode)
    # the overlay ships the Secret with its settings and no keys
    assert _keys(kube_admin, namespace) == {}
    add_keys(control_plane, namespace, tmp_path)
    _apply_overlay(control_plane, wrapper, mode)
    assert _keys(kube_admin, namespace) == TEST_KEYS, "applying the overlay again lost the keys"

    env = kserve_storage_env(client.CoreV1Api(kserve_reader), namespace, SERVING_ACCOUNT)
    assert env == EXPECTED_ENV[overlay]
    # every reference resolves, in the pod's namespace, to what the user put there
    for entry in env:
        ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
        if ref:
            assert ref["name"] == SECRET
            assert _keys(kube_admin, namespace)[ref["key"]] == TEST_KEYS[entry["name"]]

    (runtime,) = [o for o in render(wrapper) if o["kind"] == "ServingRuntime"]
    pod = _isvc_predictor(namespace, runtime["spec"])
    (initializer,) = pod["spec"]["initContainers"]
    assert initializer["name"] == "storage-initializer"
    initializer["env"] = env
    assert pod["spec"]["serviceAccountName"] == SERVING_ACCOUNT
    # admitted: the account exists (ServiceAccount admission), Pod Security restricted holds
    client.CoreV1Api(kube_admin).create_namespaced_pod(namespace, pod, dry_run="All")


def test_the_lookup_goes_through_the_account_and_its_identity(
    control_plane: ControlPlane,
    kube_admin: ApiClient,
    kserve_reader: ApiClient,
    pinned: Path,
    tmp_path: Path,
) -> None:
    from kubernetes import client
    from kubernetes.client import ApiException

    namespace = "mlrail-storage-lookup"
    wrapper = wrap_in_namespace(pinned / "overlays" / "dev", tmp_path / "wrap", namespace)
    _apply_overlay(control_plane, wrapper, "server-side")
    add_keys(control_plane, namespace, tmp_path)
    reader = client.CoreV1Api(kserve_reader)
    assert kserve_storage_env(reader, namespace, SERVING_ACCOUNT) == EXPECTED_ENV["dev"]
    # an account that lists no Secret gives the initializer no credentials
    admin = client.CoreV1Api(kube_admin)
    admin.create_namespaced_service_account(namespace, {"metadata": {"name": "bare"}})
    assert kserve_storage_env(reader, namespace, "bare") == []
    # the model server's own account may not read the Secret (it also has no token)
    body = client.V1SubjectAccessReview(
        spec=client.V1SubjectAccessReviewSpec(
            user=f"system:serviceaccount:{namespace}:{SERVING_ACCOUNT}",
            groups=["system:serviceaccounts", f"system:serviceaccounts:{namespace}"],
            resource_attributes=client.V1ResourceAttributes(
                verb="get", resource="secrets", namespace=namespace, name=SECRET
            ),
        )
    )
    review = client.AuthorizationV1Api(kube_admin).create_subject_access_review(body)
    assert review.status.allowed is False
    # KServe's identity may get, by name, but not list what it was not named
    with pytest.raises(ApiException) as refused:
        reader.list_namespaced_secret(namespace)
    assert refused.value.status == 403
