"""The Component ``components/verify-models``: with it, each overlay's mlrail-onnx runtime runs
``mlrail serve --verify-key`` on the key of the Secret the pipeline's deploy mounts too, and
nothing else changes; it still passes the schemas and the policy. (Without it the runtime is as
test_render.py checks: ``args`` are the image's CMD, nothing more.)"""

from __future__ import annotations

import copy
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlrail.cli import parse_args
from mlrail.pipelines import _keys as keys

from .kube_schema import K8S_VERSIONS, CrdSchemas, crd_errors, schema_errors
from .kustomize import OVERLAYS, Render, pinned_copy
from .policy import all_violations

Obj = dict[str, Any]
COMPONENT = Path("components") / "verify-models"
VOLUME = "verify-key"


def _verified(kubectl: str, manifests: Path, overlay: str, dest: Path) -> list[Obj]:
    """``overlay`` with the component, as a user's overlay lists it (``components:``)."""
    dest.mkdir(parents=True)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        # kustomize refuses absolute paths to a resource folder
        "resources": [os.path.relpath(manifests / "overlays" / overlay, dest)],
        "components": [os.path.relpath(manifests / COMPONENT, dest)],
    }
    (dest / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False))
    proc = subprocess.run(
        [kubectl, "kustomize", str(dest)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        pytest.fail(f"kubectl kustomize {dest} failed:\n{proc.stderr}")
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


@pytest.fixture(scope="module")
def verified(
    kubectl: str, pinned_manifests: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[Obj]]:
    """Each overlay rendered with the component: ``{overlay: objects}``."""
    root = tmp_path_factory.mktemp("verified")
    return {o: _verified(kubectl, pinned_manifests, o, root / o) for o in OVERLAYS}


def _runtime(objs: list[Obj]) -> Obj:
    (runtime,) = [o for o in objs if o["kind"] == "ServingRuntime"]
    return runtime


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_component_adds_the_key_argument_its_mount_and_the_secret_only(
    render: Render, verified: dict[str, list[Obj]], overlay: str
) -> None:
    plain, objs = render(overlay), copy.deepcopy(verified[overlay])
    runtime = _runtime(objs)
    spec = runtime["spec"]
    (container,) = spec["containers"]
    assert container["args"][-2:] == ["--verify-key", keys.VERIFY_KEY_PATH]
    assert container["volumeMounts"][-1] == {
        "name": VOLUME,
        "mountPath": keys.VERIFY_KEY_MOUNT,
        "readOnly": True,
    }
    # not optional: with the component and no Secret the pod never starts (it never serves
    # an unverified model); the name is the pipeline's default, so one Secret serves both
    assert spec["volumes"][-1] == {"name": VOLUME, "secret": {"secretName": keys.VERIFY_KEY_SECRET}}
    # take the three additions away: what is left is the overlay as it renders without them
    del container["args"][-2:], container["volumeMounts"][-1], spec["volumes"][-1]
    assert objs == plain


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_runtime_runs_mlrail_serve_with_the_mounted_key(
    verified: dict[str, list[Obj]], overlay: str
) -> None:
    (container,) = _runtime(verified[overlay])["spec"]["containers"]
    # the image's ENTRYPOINT is `mlrail`: its parser is what reads these
    args = parse_args(container["args"])
    assert args.command == "serve"
    assert args.verify_key == keys.VERIFY_KEY_PATH
    assert args.model_repository == "/mnt/models"
    # the Secret's key is the file the argument names
    assert Path(keys.VERIFY_KEY_PATH).parent == Path(keys.VERIFY_KEY_MOUNT)
    assert Path(keys.VERIFY_KEY_PATH).name == keys.VERIFY_KEY_FILE


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_with_the_component_every_object_matches_its_schema(
    verified: dict[str, list[Obj]], crd_schemas: CrdSchemas, overlay: str, version: str
) -> None:
    objs = verified[overlay]
    assert schema_errors(objs, version, crds=None) == []
    assert crd_errors(_runtime(objs), crd_schemas, version) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_with_the_component_the_policy_holds(verified: dict[str, list[Obj]], overlay: str) -> None:
    assert all_violations(verified[overlay], require_digests=overlay == "prod") == []


def test_the_component_refuses_a_runtime_whose_first_container_is_not_the_server(
    kubectl: str, tmp_path: Path
) -> None:
    # the patch adds to container 0 by index: a runtime with another container first must not
    # get the flag on the wrong one
    manifests = pinned_copy(tmp_path / "copy")
    runtime = manifests / "base" / "servingruntime.yaml"
    text = runtime.read_text()
    assert text.count("- name: kserve-container") == 1
    runtime.write_text(text.replace("- name: kserve-container", "- name: sidecar"))
    dest = tmp_path / "wrap"
    dest.mkdir()
    kustomization = {
        "resources": [os.path.relpath(manifests / "overlays" / "dev", dest)],
        "components": [os.path.relpath(manifests / COMPONENT, dest)],
    }
    (dest / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    proc = subprocess.run(
        [kubectl, "kustomize", str(dest)], capture_output=True, text=True, check=False
    )
    assert proc.returncode != 0 and proc.stdout == ""
    assert "/spec/containers/0/name" in proc.stderr
