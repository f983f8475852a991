"""Signing keys from Secrets, on the real API server.

- The README's commands ("Keys from Kubernetes Secrets") run as written against the server and
  make the two Secrets; the keys read back from them sign and verify a model version, under
  the key names ``mlrail.pipelines._keys`` mounts.
- The Component ``manifests/components/verify-models`` on the dev overlay applies server-side
  (the ServingRuntime CRD's schema keeps the Secret volume and the argument; a second apply
  changes nothing), and the predictor pod KServe would make from that runtime is admitted by
  Pod Security ``restricted``.
- A pipeline task with the key mounts, as KFP 2.17's driver builds its pod (each
  ``secretAsVolume`` a volume named after the Secret, mounted in the user container:
  ``backend/src/v2/driver/k8s.go``, the "Get secret mount information" loop, reproduced by
  :func:`tests.cluster.pods.kfp_task_pods`), is admitted; in the training pipeline's task pods
  (those test_pod_security.py submits) export_onnx and deploy carry the mounts, no other does.
"""

import base64
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from kfp import compiler, dsl, kubernetes

from mlrail.artifacts import model_repository, signing
from mlrail.artifacts.modelspec import ModelSpec
from mlrail.components._images import COMPONENT_IMAGE
from mlrail.components.deploy import core
from mlrail.pipelines import _keys as keys
from tests.manifests.kustomize import pinned_copy
from tests.pipelines.golden import compiled_once
from tests.registry.models import tiny_model

from .control_plane import ControlPlane
from .kube import Obj, apply, reapply, render
from .kube import create_pod_dry_run as _create
from .kube import wrap_in_namespace as wrap
from .plugin import kubectl_path
from .pods import kfp_task_pods, predictor_pod

README = Path(__file__).resolve().parents[2] / "README.md"
#: What marks the README's block that makes the Secrets.
README_BLOCK = "kubectl create secret generic mlrail-signing-key"
VERIFIED_NAMESPACE = "mlrail-verify-models"
COMPONENT = Path("components") / "verify-models"


def _readme_block() -> list[str]:
    """The lines of the README's ``sh`` block that makes the key pair and the Secrets."""
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    found = [b for b in blocks if README_BLOCK in b]
    assert len(found) == 1, f"README.md: expected one sh block with {README_BLOCK!r}"
    return [line for line in found[0].splitlines() if line.strip()]


def _secret_data(api: Any, namespace: str, name: str) -> dict[str, bytes]:
    from kubernetes.client import CoreV1Api

    secret = CoreV1Api(api).read_namespaced_secret(name, namespace)
    return {k: base64.b64decode(v) for k, v in (secret.data or {}).items()}


def _mount(root: Path, mount: str, data: dict[str, bytes]) -> None:
    """What the kubelet makes of a Secret volume: one file per key under the mount path."""
    folder = root / mount.lstrip("/")
    folder.mkdir(parents=True)
    for key, value in data.items():
        (folder / key).write_bytes(value)


def test_the_readme_commands_make_secrets_whose_keys_sign_and_verify(
    control_plane: ControlPlane, kube_admin: Any, installed: str, tmp_path: Path
) -> None:
    lines = _readme_block()
    assert any(line.startswith("kubectl ") for line in lines)
    # the user's shell: the project's python and kubectl first, the session's server as theirs
    tools = os.pathsep.join(
        dict.fromkeys([str(Path(sys.executable).parent), str(Path(kubectl_path()).parent)])
    )
    env = {
        **os.environ,
        "KUBECONFIG": str(control_plane.kubeconfig),
        "PATH": f"{tools}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    printed = []
    for line in lines:
        proc = subprocess.run(
            ["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert proc.returncode == 0, f"{line}\n{proc.stderr}"
        printed.append(proc.stdout)

    # made in the namespace the manifests install (and the pipeline runs in)
    private = _secret_data(kube_admin, installed, keys.SIGNING_KEY_SECRET)
    public = _secret_data(kube_admin, installed, keys.VERIFY_KEY_SECRET)
    # each Secret holds its key alone, under the name the steps read
    assert set(private) == {keys.SIGNING_KEY_FILE} and b"PRIVATE KEY" in private["signing.pem"]
    assert set(public) == {keys.VERIFY_KEY_FILE} and b"PUBLIC KEY" in public["signing.pub"]

    # the pod's view: export_onnx signs with the one, deploy verifies with the other
    pod_root = tmp_path / "pod"
    _mount(pod_root, keys.SIGNING_KEY_MOUNT, private)
    _mount(pod_root, keys.VERIFY_KEY_MOUNT, public)
    signing_key = pod_root / keys.SIGNING_KEY_PATH.lstrip("/")
    verify_key = pod_root / keys.VERIFY_KEY_PATH.lstrip("/")
    model = tiny_model(tmp_path / "export")
    repo = tmp_path / "models" / "penguins"
    assert model_repository.push(repo, model, ModelSpec.read(model)) == 1
    signing.sign_version(repo / "1", signing_key)
    verified = signing.verify_version(repo / "1", verify_key)
    # what the README's first command printed is the signer every record names
    assert verified.signer in printed[0] and verified.signer.startswith("sha256:")


def _with_component(manifests: Path, overlay: str, dest: Path) -> Path:
    """``overlay`` with the Component, as a user's overlay lists it."""
    dest.mkdir(parents=True)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        # kustomize refuses absolute paths to a resource folder
        "resources": [os.path.relpath(manifests / "overlays" / overlay, dest)],
        "components": [os.path.relpath(manifests / COMPONENT, dest)],
    }
    (dest / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False))
    return dest


@pytest.fixture(scope="module")
def verifying_runtime(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Obj:
    """The dev overlay with verify-models, applied into a namespace of its own: the stored
    ServingRuntime (after a second apply that must change nothing)."""
    tmp = tmp_path_factory.mktemp("verify-models")
    manifests = pinned_copy(tmp / "release")
    wrapper = wrap(_with_component(manifests, "dev", tmp / "dev"), tmp / "wrap", VERIFIED_NAMESPACE)
    first = apply(control_plane, wrapper)
    stored = reapply(control_plane, wrapper, first)
    (runtime,) = [o for o in stored if o["kind"] == "ServingRuntime"]
    (namespace,) = [o for o in stored if o["kind"] == "Namespace"]
    # admission below is decided under restricted, as in the shared namespace
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    return runtime


def test_the_server_keeps_the_verify_argument_and_the_secret_volume(
    verifying_runtime: Obj,
) -> None:
    spec = verifying_runtime["spec"]
    (container,) = spec["containers"]
    # nothing pruned by the CRD's structural schema, nothing defaulted away
    assert container["args"][-2:] == ["--verify-key", keys.VERIFY_KEY_PATH]
    assert {"name": "verify-key", "mountPath": keys.VERIFY_KEY_MOUNT, "readOnly": True} in (
        container["volumeMounts"]
    )
    assert {"name": "verify-key", "secret": {"secretName": keys.VERIFY_KEY_SECRET}} in (
        spec["volumes"]
    )


def test_the_predictor_of_a_verifying_runtime_is_admitted(
    kube_admin: Any, verifying_runtime: Obj, tmp_path: Path
) -> None:
    isvc = core.inference_service(
        "penguins",
        VERIFIED_NAMESPACE,
        core.storage_uri("minio://mlpipeline/v2/artifacts/training/run/export-onnx/onnx_model"),
        service_account="mlrail-serving",
        model_sha256="0" * 64,
    )
    (storage,) = render(pinned_copy(tmp_path) / "cluster")
    body = predictor_pod(
        isvc, verifying_runtime["spec"], storage_container=storage["spec"]["container"]
    )
    (server,) = body["spec"]["containers"]
    assert server["args"][-2:] == ["--verify-key", keys.VERIFY_KEY_PATH]
    assert [v["name"] for v in body["spec"]["volumes"] if "secret" in v] == ["verify-key"]
    assert _create(kube_admin, VERIFIED_NAMESPACE, body) == (201, "")


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def _step() -> None:
    pass


@dsl.pipeline(name="keys")
def _keys_pipeline(
    signing_key_secret: str = keys.SIGNING_KEY_SECRET,
    verify_key_secret: str = keys.VERIFY_KEY_SECRET,
) -> None:
    for mount, secret in (
        (keys.mount_signing_key, signing_key_secret),
        (keys.mount_verify_key, verify_key_secret),
    ):
        task = _step()
        # as the training pipeline runs every step (its _on_cluster)
        kubernetes.set_security_context(
            task, run_as_user=10001, run_as_group=10001, run_as_non_root=True
        )
        mount(task, secret)


def _secret_mounts(task_pod: Obj) -> list[tuple[str, bool, str]]:
    """``(Secret, optional, mount path)`` of each Secret volume the user container mounts."""
    spec = task_pod["spec"]
    (main,) = [c for c in spec["containers"] if c["name"] == "main"]
    secrets = {v["name"]: v["secret"] for v in spec["volumes"] if "secret" in v}
    mounts = {m["name"]: m["mountPath"] for m in main["volumeMounts"]}
    # every Secret volume is mounted in the user container, and in no other
    others = [
        m["name"]
        for c in spec["containers"] + spec["initContainers"]
        if c is not main
        for m in c.get("volumeMounts", [])
    ]
    assert set(secrets) <= set(mounts) and not set(secrets) & set(others)
    return [(s["secretName"], s["optional"], mounts[name]) for name, s in secrets.items()]


def test_task_pods_with_the_key_mounts_are_admitted(
    kube_admin: Any, installed: str, tmp_path: Path
) -> None:
    out = tmp_path / "keys.yaml"
    compiler.Compiler().compile(_keys_pipeline, str(out))
    pods = kfp_task_pods([d for d in yaml.safe_load_all(out.read_text()) if d], "keys")
    assert len(pods) == 2
    mounted = []
    for label, task_pod in pods.items():
        mounted += _secret_mounts(task_pod)
        # the volume is named after the Secret: the default names must make a valid pod
        assert _create(kube_admin, installed, task_pod) == (201, ""), label
    assert sorted(mounted) == [
        (keys.SIGNING_KEY_SECRET, True, keys.SIGNING_KEY_MOUNT),
        (keys.VERIFY_KEY_SECRET, True, keys.VERIFY_KEY_MOUNT),
    ]


def test_the_training_task_pods_mount_the_keys_in_export_onnx_and_deploy_and_are_admitted(
    kube_admin: Any, installed: str
) -> None:
    # the pods test_pod_security.py submits for every executor, from the same compiled IR
    docs = [d for d in yaml.safe_load_all(compiled_once("training")) if d]
    pods = kfp_task_pods(docs, "training")
    mounted = {label: _secret_mounts(task_pod) for label, task_pod in pods.items()}
    assert {label: m for label, m in mounted.items() if m} == {
        # both run inside conditions: each Secret's name is the sub-DAG's input, from the root's
        "exec-export-onnx": [(keys.SIGNING_KEY_SECRET, True, keys.SIGNING_KEY_MOUNT)],
        "exec-deploy": [(keys.VERIFY_KEY_SECRET, True, keys.VERIFY_KEY_MOUNT)],
    }
    for label in ("exec-export-onnx", "exec-deploy"):
        assert _create(kube_admin, installed, pods[label]) == (201, ""), label
