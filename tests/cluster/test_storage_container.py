"""manifests/cluster on the real API server: KServe's storage initializer gets the securityContext
Pod Security ``restricted`` asks of it, and deploy's predictor pod is admitted in ``mlrail``.

KServe v0.20 makes its storage-initializer init container with no securityContext, then merges
over it the ``spec.container`` of the first ClusterStorageContainer (in the API's list order, by
name) that supports the model's ``storageUri`` (tests/cluster/pods.py, ``storage_container_for``
and ``predictor_pod``). Its install ships one, named ``default``, with none either, so every
predictor with a ``storageUri`` is refused under ``restricted``. manifests/cluster is a
server-side apply configuration that gives ``default`` the securityContext and owns nothing else.

Here, from the KServe Go module at the version pods.py rebuilds (``go mod download``): its
ClusterStorageContainer CRD is installed for this module only (cluster-scoped, removed at the
end; no other test uses it); before each test its ``config/storagecontainers`` is applied afresh
the way KServe's install script applies its manifests (``kubectl apply --server-side``, field
manager ``kubectl``); then manifests/cluster exactly as manifests/README.md tells a cluster admin.
The predictor pod is built with the init container merged from the ClusterStorageContainer read
back from the server, and created with ``dry_run``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from mlrail.components.deploy import core
from tests.manifests.policy import pod_security_violations

from .control_plane import ControlPlane
from .kube import Obj, kubectl, render
from .kube import create_pod_dry_run as _create
from .plugin import kubectl_path
from .pods import (
    KSERVE_VERSION,
    RESTRICTED_CONTAINER,
    SERVING_ACCOUNT,
    predictor_pod,
    storage_container_for,
)

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

REPO = Path(__file__).resolve().parents[2]
CLUSTER = REPO / "manifests" / "cluster"
KSERVE_MODULE = "github.com/kserve/kserve"
CRD = "clusterstoragecontainers.serving.kserve.io"
GROUP, VERSION, PLURAL = "serving.kserve.io", "v1alpha1", "clusterstoragecontainers"
#: manifests/README.md's command, run as written (from the repository root).
README_COMMAND = "kubectl apply --server-side --field-manager=mlrail -k manifests/cluster"
MLRAIL_MANAGER = "mlrail"
#: KServe's install applies with ``kubectl apply --server-side`` and no --field-manager
#: (install/v0.20.0/kserve-*-full-install-with-manifests.sh): kubectl's default manager.
KSERVE_MANAGER = "kubectl"
#: The storage initializer image's user (python/storage-initializer.Dockerfile).
IMAGE_USER = 1000
STORAGE_URI = core.storage_uri(
    "minio://mlpipeline/v2/artifacts/training/run/export-onnx/onnx_model"
)
REFUSED = 'container "storage-initializer" must set securityContext.allowPrivilegeEscalation=false'


def _unavailable(reason: str) -> NoReturn:
    # as tests/cluster/plugin.py: required under CI, a skip with the reason elsewhere
    if os.environ.get("CI") == "true":
        pytest.fail(f"KServe's Go module is required under CI: {reason}", pytrace=False)
    pytest.skip(f"no KServe module: {reason}")


@pytest.fixture(scope="module")
def kserve_source() -> Path:
    """The KServe module's folder at ``KSERVE_VERSION``, from the Go module proxy (or cache)."""
    from .build import go

    go_cmd = go()
    if go_cmd is None:
        _unavailable("no `go` on PATH")
    module = f"{KSERVE_MODULE}@{KSERVE_VERSION}"
    proc = subprocess.run(
        [go_cmd, "mod", "download", "-json", module], capture_output=True, text=True, check=False
    )
    # on failure go still prints the JSON, with the reason under "Error"
    try:
        found = json.loads(proc.stdout)
    except json.JSONDecodeError:
        found = {}
    if proc.returncode != 0 or "Dir" not in found:
        _unavailable(f"go mod download {module} failed: {found.get('Error') or proc.stderr}")
    return Path(found["Dir"])


def _run(plane: ControlPlane, *args: str) -> subprocess.CompletedProcess[str]:
    proc = kubectl(plane, *args)
    assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def storage_container_crd(control_plane: ControlPlane, kserve_source: Path) -> Iterator[str]:
    """KServe's ClusterStorageContainer CRD installed for this module, deleted after it."""
    crd = kserve_source / "config" / "crd" / "full" / "clusterstoragecontainer"
    _run(control_plane, "apply", "--server-side", "--field-manager=mlrail-test", "-k", str(crd))
    try:
        _run(control_plane, "wait", "--for=condition=Established", "--timeout=60s", f"crd/{CRD}")
        yield CRD
    finally:
        # cluster-scoped: deleting the CRD deletes every ClusterStorageContainer with it
        _run(control_plane, "delete", "crd", CRD, "--wait=true", "--timeout=120s")
        gone = kubectl(control_plane, "get", "crd", CRD)
        assert gone.returncode != 0 and "NotFound" in gone.stderr, gone.stdout


@pytest.fixture
def kserve_default(
    control_plane: ControlPlane, storage_container_crd: str, kserve_source: Path
) -> Obj:
    """No ClusterStorageContainer but KServe's ``default``, freshly applied as KServe's install
    applies it (``config/storagecontainers``: its image placeholder set by its kustomization)."""
    _run(control_plane, "delete", PLURAL, "--all", "--wait=true")
    return _apply_kserves(control_plane, kserve_source)


def _apply_kserves(plane: ControlPlane, kserve_source: Path) -> Obj:
    folder = kserve_source / "config" / "storagecontainers"
    args = ["apply", "--server-side", f"--field-manager={KSERVE_MANAGER}", "-k", str(folder)]
    return dict(json.loads(_run(plane, *args, "-o", "json").stdout))


def _apply_mlrails(plane: ControlPlane) -> subprocess.CompletedProcess[str]:
    """The README's command, as written, from the repository root."""
    args = README_COMMAND.split()[1:]
    assert args[-1] == "manifests/cluster"
    cmd = [*args[:-1], str(REPO / args[-1])]
    return kubectl(plane, *cmd)


def _storage_containers(api: ApiClient) -> list[Obj]:
    from kubernetes.client import CustomObjectsApi

    found = CustomObjectsApi(api).list_cluster_custom_object(GROUP, VERSION, PLURAL)
    return list(found["items"])


def _fields(obj: Mapping[str, Any], manager: str) -> dict[str, Any]:
    """The fieldsV1 ``manager`` owns in ``obj`` (its apply entry)."""
    entries = [m for m in obj["metadata"]["managedFields"] if m["manager"] == manager]
    assert [m["operation"] for m in entries] == ["Apply"], entries
    return dict(entries[0]["fieldsV1"])


def _predictor(api: ApiClient) -> Obj:
    """Deploy's predictor pod, its storage initializer merged from the server's
    ClusterStorageContainers as KServe's webhook picks one."""
    runtime = next(
        o for o in render(REPO / "manifests" / "overlays" / "dev") if o["kind"] == "ServingRuntime"
    )
    isvc = core.inference_service(
        "penguins",
        "mlrail",
        STORAGE_URI,
        service_account=SERVING_ACCOUNT,
        deployment_mode="RawDeployment",
        model_sha256="0" * 64,
    )
    container = storage_container_for(_storage_containers(api), STORAGE_URI)
    assert container is not None, f"no ClusterStorageContainer supports {STORAGE_URI}"
    return predictor_pod(isvc, runtime["spec"], storage_container=container)


def _initializer(pod: Mapping[str, Any]) -> Obj:
    (initializer,) = pod["spec"]["initContainers"]
    assert initializer["name"] == "storage-initializer"
    return dict(initializer)


# --- what manifests/cluster is (no server needed) ------------------------------------------


def test_manifests_cluster_sets_only_the_initializers_security_context() -> None:
    (csc,) = render(CLUSTER)
    assert (csc["apiVersion"], csc["kind"]) == (f"{GROUP}/{VERSION}", "ClusterStorageContainer")
    assert csc["metadata"] == {"name": "default"}
    # not even the container's name: the server checks required fields on the merged object
    assert csc["spec"] == {
        "container": {"securityContext": {**RESTRICTED_CONTAINER, "runAsUser": IMAGE_USER}}
    }
    # and the home-made policy of tests/manifests agrees with the server (below)
    isvc = core.inference_service("p", "mlrail", STORAGE_URI, service_account=SERVING_ACCOUNT)
    runtime = next(
        o for o in render(REPO / "manifests" / "overlays" / "dev") if o["kind"] == "ServingRuntime"
    )
    assert pod_security_violations([predictor_pod(isvc, runtime["spec"])]) != []
    merged = predictor_pod(isvc, runtime["spec"], storage_container=csc["spec"]["container"])
    assert pod_security_violations([merged]) == []


def test_the_uid_is_the_storage_initializer_images_user(kserve_source: Path) -> None:
    dockerfile = (kserve_source / "python" / "storage-initializer.Dockerfile").read_text()
    # the last USER of the final stage is the one the container runs as
    assert re.findall(r"^USER (\S+)$", dockerfile, re.MULTILINE)[-1] == str(IMAGE_USER)
    (csc,) = render(CLUSTER)
    assert csc["spec"]["container"]["securityContext"]["runAsUser"] == IMAGE_USER


def test_the_readme_gives_the_command() -> None:
    readme = (REPO / "manifests" / "README.md").read_text()
    assert "## Cluster prerequisite: storage initializer" in readme
    assert README_COMMAND in readme


# --- on the real API server -----------------------------------------------------------------


def test_kserves_default_alone_leaves_the_predictor_refused(
    kube_admin: ApiClient, installed: str, kserve_default: Obj
) -> None:
    (listed,) = _storage_containers(kube_admin)
    assert listed["metadata"]["name"] == "default"
    assert "securityContext" not in listed["spec"]["container"]
    pod = _predictor(kube_admin)
    assert _initializer(pod)["image"] == kserve_default["spec"]["container"]["image"]
    status, message = _create(kube_admin, installed, pod)
    assert status == 403, message
    assert REFUSED in message
    assert "kserve-container" not in message


def test_mlrails_apply_admits_the_predictor_and_leaves_kserves_fields_to_kserve(
    control_plane: ControlPlane, kube_admin: ApiClient, installed: str, kserve_default: Obj
) -> None:
    first = _apply_mlrails(control_plane)
    assert first.returncode == 0, first.stderr
    (applied,) = _storage_containers(kube_admin)
    # a second apply changes nothing: no write, no change of ownership
    second = _apply_mlrails(control_plane)
    assert second.returncode == 0, second.stderr
    (again,) = _storage_containers(kube_admin)
    for key in ("resourceVersion", "generation", "managedFields"):
        assert again["metadata"][key] == applied["metadata"][key], key

    # KServe's fields are as KServe applied them, and KServe's manager still owns them
    shipped, spec = kserve_default["spec"], applied["spec"]
    for key in ("supportedUriFormats", "workloadType", "supportsMultiModelDownload"):
        assert spec[key] == shipped[key], key
    for key in ("name", "image", "imagePullPolicy", "resources"):
        assert spec["container"][key] == shipped["container"][key], key
    kserves = _fields(applied, KSERVE_MANAGER)["f:spec"]
    assert {"f:image", "f:imagePullPolicy", "f:resources"} <= set(kserves["f:container"])
    assert "f:supportedUriFormats" in kserves
    assert "f:securityContext" not in kserves["f:container"]
    # mlrail's manager owns the securityContext and nothing else
    assert _fields(applied, MLRAIL_MANAGER) == {
        "f:spec": {
            "f:container": {
                "f:securityContext": {
                    "f:allowPrivilegeEscalation": {},
                    "f:capabilities": {"f:drop": {}},
                    "f:runAsNonRoot": {},
                    "f:runAsUser": {},
                    "f:seccompProfile": {"f:type": {}},
                },
            }
        }
    }
    (csc,) = render(CLUSTER)
    assert spec["container"]["securityContext"] == csc["spec"]["container"]["securityContext"]

    pod = _predictor(kube_admin)
    initializer = _initializer(pod)
    # KServe's image and resources from the ClusterStorageContainer, mlrail's securityContext
    assert initializer["image"] == shipped["container"]["image"]
    assert initializer["resources"] == shipped["container"]["resources"]
    assert initializer["securityContext"] == spec["container"]["securityContext"]
    assert initializer["volumeMounts"] == [
        {"name": "kserve-provision-location", "mountPath": "/mnt/models"}
    ]
    assert _create(kube_admin, installed, pod) == (201, "")


def test_kserves_next_apply_keeps_mlrails_security_context(
    control_plane: ControlPlane,
    kube_admin: ApiClient,
    installed: str,
    kserve_default: Obj,
    kserve_source: Path,
) -> None:
    """Reinstalling or upgrading KServe applies its object again, as its manager: the fields it
    does not set stay mlrail's, so the predictor stays admitted."""
    applied = _apply_mlrails(control_plane)
    assert applied.returncode == 0, applied.stderr
    _apply_kserves(control_plane, kserve_source)
    (again,) = _storage_containers(kube_admin)
    (csc,) = render(CLUSTER)
    assert (
        again["spec"]["container"]["securityContext"] == csc["spec"]["container"]["securityContext"]
    )
    assert "f:securityContext" in _fields(again, MLRAIL_MANAGER)["f:spec"]["f:container"]
    assert _create(kube_admin, installed, _predictor(kube_admin)) == (201, "")


def test_a_storage_container_under_another_name_loses_to_kserves_default(
    control_plane: ControlPlane, kube_admin: ApiClient, installed: str, kserve_default: Obj
) -> None:
    """Why manifests/cluster patches ``default`` rather than shipping its own: KServe takes the
    first that supports the URI, by name, and ``default`` sorts before it."""
    (csc,) = render(CLUSTER)
    own = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ClusterStorageContainer",
        "metadata": {"name": "mlrail-storage-initializer"},
        "spec": {
            **kserve_default["spec"],
            "container": {**kserve_default["spec"]["container"], **csc["spec"]["container"]},
        },
    }
    cmd = [kubectl_path(), "--kubeconfig", str(control_plane.kubeconfig), "apply"]
    cmd += ["--server-side", f"--field-manager={MLRAIL_MANAGER}", "-f", "-"]
    proc = subprocess.run(
        cmd,
        input=json.dumps(own),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    names = [c["metadata"]["name"] for c in _storage_containers(kube_admin)]
    assert names == ["default", "mlrail-storage-initializer"]
    status, message = _create(kube_admin, installed, _predictor(kube_admin))
    assert status == 403 and REFUSED in message, message


def test_mlrails_apply_without_kserves_default_creates_nothing(
    control_plane: ControlPlane, kube_admin: ApiClient, kserve_default: Obj
) -> None:
    """Applied before KServe's object exists, the configuration is not a whole
    ClusterStorageContainer: the server refuses it instead of making a ``default`` that supports
    no URI."""
    _run(control_plane, "delete", PLURAL, "default", "--wait=true")
    proc = _apply_mlrails(control_plane)
    assert proc.returncode != 0
    assert "spec.supportedUriFormats: Required value" in proc.stderr, proc.stderr
    assert _storage_containers(kube_admin) == []
