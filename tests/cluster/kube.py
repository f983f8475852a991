"""kubectl against the session's control plane: render, wrap an overlay in a namespace, apply
server-side and read back, and a line for the run's closing summary.

Used by test_apply.py, test_gitops.py and test_pod_security.py; stdlib, PyYAML and kubectl only.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from .control_plane import ControlPlane
from .plugin import kubectl_path

__all__ = [
    "FIELD_MANAGER",
    "Obj",
    "apply",
    "create_pod_dry_run",
    "identity",
    "kubectl",
    "report",
    "reapply",
    "render",
    "state",
    "wrap_in_namespace",
]

Obj = dict[str, Any]
#: The field manager of every apply here, as a user's `kubectl apply --server-side` would have one.
FIELD_MANAGER = "mlrail-test"


def kubectl(plane: ControlPlane, *args: str) -> subprocess.CompletedProcess[str]:
    """``kubectl --kubeconfig <admin> <args>``; the caller checks the exit code."""
    cmd = [kubectl_path(), "--kubeconfig", str(plane.kubeconfig), *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def render(directory: Path) -> list[Obj]:
    """``kubectl kustomize <directory>`` as objects; a failed render fails the test."""
    proc = subprocess.run(
        [kubectl_path(), "kustomize", str(directory)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        pytest.fail(f"kubectl kustomize {directory} failed:\n{proc.stderr}", pytrace=False)
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def wrap_in_namespace(overlay: Path, dest: Path, namespace: str) -> Path:
    """A kustomization in ``dest`` that renders ``overlay`` into ``namespace`` instead.

    ``namespace:`` alone renames the Namespace object and every namespaced object but leaves
    RoleBinding subjects in the old namespace (kustomize's ``setRoleBindingSubjects`` defaults
    to ``defaultOnly``); the NamespaceTransformer beside it moves every ServiceAccount subject.
    """
    dest.mkdir(parents=True)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": namespace,
        # kustomize refuses absolute paths to a resource folder
        "resources": [os.path.relpath(overlay, dest)],
        "transformers": [
            yaml.safe_dump(
                {
                    "apiVersion": "builtin",
                    "kind": "NamespaceTransformer",
                    "metadata": {"name": "role-binding-subjects", "namespace": namespace},
                    "setRoleBindingSubjects": "allServiceAccounts",
                }
            )
        ],
    }
    (dest / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False))
    return dest


def apply(plane: ControlPlane, directory: Path) -> list[Obj]:
    """``kubectl apply --server-side -k <directory>``: the objects as the server returned them.

    Fails the test, with kubectl's message, if the server refused any object.
    """
    proc = kubectl(
        plane,
        "apply",
        "--server-side",
        f"--field-manager={FIELD_MANAGER}",
        "-k",
        str(directory),
        "-o",
        "json",
    )
    if proc.returncode != 0:
        pytest.fail(
            f"kubectl apply --server-side -k {directory} was refused:\n{proc.stderr}", pytrace=False
        )
    out = json.loads(proc.stdout)
    # one object prints as itself, several as a List
    return list(out["items"]) if out.get("kind") == "List" else [out]


def identity(obj: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """(apiVersion's group, kind, namespace, name): what names an object on the server."""
    meta = obj.get("metadata") or {}
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    return group, str(obj.get("kind")), str(meta.get("namespace", "")), str(meta.get("name"))


def state(objs: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str, str, str], Obj]:
    """What a no-op apply must leave alone, per object: resourceVersion, generation, managedFields.

    resourceVersion moves on every write to etcd, so it alone proves nothing was written;
    the other two say which part would have changed if something were.
    """
    found: dict[tuple[str, str, str, str], Obj] = {}
    for obj in objs:
        meta = obj["metadata"]
        found[identity(obj)] = {
            "resourceVersion": meta["resourceVersion"],
            "generation": meta.get("generation"),
            "managedFields": meta.get("managedFields"),
        }
    return found


def reapply(plane: ControlPlane, directory: Path, first: list[Obj]) -> list[Obj]:
    """Apply ``directory`` again and read it back; both must show the ``state`` of ``first``.

    Returns the objects as stored after the second apply.
    """
    second = apply(plane, directory)
    proc = kubectl(plane, "get", "-k", str(directory), "-o", "json")
    assert proc.returncode == 0, proc.stderr
    stored: list[Obj] = json.loads(proc.stdout)["items"]
    assert state(second) == state(first)
    assert state(stored) == state(first)
    return stored


def create_pod_dry_run(api: Any, namespace: str, body: Mapping[str, Any]) -> tuple[int, str]:
    """Create the pod ``body`` with dry-run (``api``: a kubernetes ApiClient): (HTTP status,
    the server's message)."""
    from kubernetes.client import CoreV1Api
    from kubernetes.client.exceptions import ApiException

    try:
        CoreV1Api(api).create_namespaced_pod(namespace, dict(body), dry_run="All")
    except ApiException as e:
        return int(e.status), str(json.loads(e.body).get("message", e.body))
    return 201, ""


class _Summary:
    """A plugin registered at run time: its lines end the terminal report."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        for line in self.lines:
            terminalreporter.write_line(line)


_SUMMARY_NAME = "mlrail-cluster-figures"


def report(config: pytest.Config, line: str) -> None:
    """Print ``line`` in the terminal summary at the end of the run (each line once)."""
    summary = config.pluginmanager.get_plugin(_SUMMARY_NAME)
    if summary is None:
        summary = _Summary()
        config.pluginmanager.register(summary, _SUMMARY_NAME)
    if line not in summary.lines:
        summary.lines.append(line)
