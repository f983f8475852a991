"""GitOps: the KFP Pipeline and PipelineVersion resources of ``mlrail compile --format manifests``
apply to the real API server (KFP's CRDs installed), are stored as written, and reapply as a no-op.

Both the committed manifests/pipelines/ (namespace ``kubeflow``, as a GitOps tool would apply
them) and a fresh compile into a namespace of its own (``--namespace mlrail-gitops``); that the
two agree is tests/manifests/test_pipelines.py's concern.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .control_plane import ControlPlane
from .kube import FIELD_MANAGER, Obj, apply, identity, reapply, render, report, state
from .plugin import kubectl_path

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "manifests" / "pipelines"
FRESH_NAMESPACE = "mlrail-gitops"


def _fresh(tmp_path: Path) -> Path:
    """``mlrail compile training --format manifests`` into ``tmp_path``, as a user runs it."""
    out = tmp_path / "pipeline-manifests"
    mlrail = Path(sys.executable).parent / "mlrail"
    cmd = [str(mlrail), "compile", "training", "--format", "manifests"]
    cmd += ["--namespace", FRESH_NAMESPACE, "-o", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return out


def _ensure_namespace(plane: ControlPlane, name: str) -> None:
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    proc = subprocess.run(
        [*_kubectl_apply(plane), "-f", "-"],
        input=json.dumps(namespace),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def _kubectl_apply(plane: ControlPlane) -> list[str]:
    return [
        kubectl_path(),
        "--kubeconfig",
        str(plane.kubeconfig),
        "apply",
        "--server-side",
        f"--field-manager={FIELD_MANAGER}",
    ]


@pytest.fixture(params=["committed", "fresh"])
def folder(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The kustomize folder of Pipeline and PipelineVersion resources under test."""
    return COMMITTED if request.param == "committed" else _fresh(tmp_path)


def _written(folder: Path) -> list[Obj]:
    """The resources as mlrail wrote them, read from the files the kustomization lists.

    Not from ``kubectl kustomize``'s output: it writes the float ``1.0e-06`` as ``1e-06``, which
    PyYAML (YAML 1.1) reads as a string while kubectl and the server read a number.
    """
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    return [
        doc
        for resource in kustomization["resources"]
        for doc in yaml.safe_load_all((folder / resource).read_text())
        if doc
    ]


def _by_kind(objs: list[Obj]) -> dict[str, Obj]:
    found = {o["kind"]: o for o in objs}
    assert len(found) == len(objs), [identity(o) for o in objs]
    return found


def test_pipeline_resources_apply_are_stored_as_written_and_reapply_as_a_no_op(
    control_plane: ControlPlane, folder: Path, request: pytest.FixtureRequest
) -> None:
    rendered = render(folder)
    kinds = _by_kind(_written(folder))
    assert sorted(map(identity, kinds.values())) == sorted(map(identity, rendered))
    assert set(kinds) == {"Pipeline", "PipelineVersion"}
    (namespace,) = {o["metadata"]["namespace"] for o in rendered}
    _ensure_namespace(control_plane, namespace)

    first = apply(control_plane, folder)
    assert sorted(map(identity, first)) == sorted(map(identity, rendered))
    stored = reapply(control_plane, folder, first)

    # read back: the server keeps the spec as written (pipelineSpec and platformSpec are
    # preserve-unknown-fields in KFP's CRD: no pruning, no defaults)
    back = _by_kind(stored)
    for kind, obj in kinds.items():
        assert back[kind]["spec"] == obj["spec"], kind
    version = back["PipelineVersion"]["spec"]
    assert version["pipelineSpec"]["deploymentSpec"]["executors"]
    assert version["pipelineSpec"] == kinds["PipelineVersion"]["spec"]["pipelineSpec"]
    assert version["pipelineName"] == back["Pipeline"]["metadata"]["name"]

    changed = sum(state(stored)[key] != value for key, value in state(first).items())
    report(
        request.config,
        f"gitops ({folder.name if folder == COMMITTED else 'fresh compile'}, {namespace}): "
        f"{len(first)} of {len(rendered)} Pipeline/PipelineVersion objects applied, "
        f"read back equal; second apply: {changed} changed",
    )
