"""The ``control_plane`` fixture: a real etcd + kube-apiserver for the session (root conftest
loads this plugin).

- Built from ``tests/cluster/*/go.mod`` by :mod:`.build` (cached by source), started by
  :mod:`.control_plane` once per session, stopped at its end.
- Without Go the tests that use it skip, with the reason; under CI (``CI=true``) a missing Go,
  a failed build or a server that does not start fails them.
- Every CRD of ``../shared/crds`` (or ``$MLRAIL_CRDS_DIR``) is installed and established before
  the first test gets the server.
- Tests that use it run last (marker ``apiserver``, added here), so CI's background build of
  kube-apiserver (``.ci/run``) has the rest of the suite to finish in.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.manifests.kustomize import kubectl as kubectl_path

from .build import ETCD_VERSION, KUBERNETES_VERSION, BuildError, build
from .control_plane import ControlPlane, StartError, start

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

__all__ = [
    "CRDS_DIR",
    "INSTALLED_OVERLAY",
    "NAMESPACE",
    "control_plane",
    "installed",
    "kube_admin",
    "kubectl_path",
]

REPO = Path(__file__).resolve().parents[2]
CRDS_DIR = Path(os.environ.get("MLRAIL_CRDS_DIR") or REPO.parent / "shared" / "crds")
_FIXTURES = frozenset({"control_plane", "kube_admin", "installed"})
#: the namespace the overlays install into
NAMESPACE = "mlrail"
INSTALLED_OVERLAY = "dev"
_SUMMARY: list[str] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that need the control plane ``apiserver`` and move them to the end."""
    needs = [i for i in items if _FIXTURES & set(getattr(i, "fixturenames", ()))]
    for item in needs:
        item.add_marker("apiserver")
    chosen = set(map(id, needs))
    items[:] = [i for i in items if id(i) not in chosen] + needs


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in _SUMMARY:
        terminalreporter.write_line(line)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"the real API server is required under CI: {reason}", pytrace=False)
    pytest.skip(f"no real API server: {reason}")


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """etcd + kube-apiserver on 127.0.0.1 with RBAC and Pod Security, the CRDs installed."""
    try:
        binaries = build()
    except BuildError as e:
        if "no `go` on PATH" in str(e):
            _unavailable(str(e))
        pytest.fail(str(e), pytrace=False)
    if not CRDS_DIR.is_dir():
        _unavailable(f"CRD folder {CRDS_DIR} is absent (set MLRAIL_CRDS_DIR)")
    try:
        plane = start(binaries, tmp_path_factory.mktemp("control-plane"))
    except StartError as e:
        pytest.fail(str(e), pytrace=False)
    try:
        _install_crds(plane)
        how = f"built in {binaries.seconds:.0f} s" if binaries.built else "cached build"
        _SUMMARY.append(
            f"control plane: kube-apiserver {KUBERNETES_VERSION} and etcd {ETCD_VERSION} "
            f"({how}) at {plane.server}"
        )
        yield plane
    finally:
        plane.stop()


def _install_crds(plane: ControlPlane) -> None:
    files = sorted(CRDS_DIR.glob("*.json"))
    kubectl = kubectl_path()
    base = [kubectl, "--kubeconfig", str(plane.kubeconfig)]
    apply = [*base, "apply", "--server-side", "--field-manager=mlrail-test"]
    for path in files:
        proc = subprocess.run([*apply, "-f", str(path)], capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.fail(f"installing {path.name} failed: {proc.stderr.strip()}", pytrace=False)
    names = [json.loads(p.read_text())["metadata"]["name"] for p in files]
    wait = [*base, "wait", "--for=condition=Established", "--timeout=60s"]
    proc = subprocess.run([*wait, *(f"crd/{n}" for n in names)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"CRDs not established: {proc.stderr.strip()}", pytrace=False)


@pytest.fixture(scope="session")
def kube_admin(control_plane: ControlPlane) -> Iterator[ApiClient]:
    """A ``kubernetes`` client for the admin identity (group ``system:masters``)."""
    from kubernetes import config

    api = config.new_client_from_config(str(control_plane.kubeconfig))
    try:
        yield api
    finally:
        api.close()


@pytest.fixture(scope="session")
def installed(control_plane: ControlPlane) -> str:
    """The dev overlay applied (server-side) as a user would: ``kubectl apply --server-side -k``.

    Returns the namespace (``mlrail``). Its Namespace, ServiceAccounts, Role, RoleBinding,
    NetworkPolicies and ServingRuntime are the working tree's. Tests may add to the namespace
    but must not delete it or change what the overlay put there.
    """
    overlay = REPO / "manifests" / "overlays" / INSTALLED_OVERLAY
    cmd = [kubectl_path(), "--kubeconfig", str(control_plane.kubeconfig), "apply"]
    cmd += ["--server-side", "--field-manager=mlrail-test", "-k", str(overlay)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"kubectl apply -k {overlay} failed: {proc.stderr.strip()}", pytrace=False)
    return NAMESPACE
