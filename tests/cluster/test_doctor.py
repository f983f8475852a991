"""``mlrail doctor``'s cluster checks against the real kube-apiserver (tests/cluster).

- the installed dev overlay (namespace ``mlrail``: Pod Security ``restricted``, the Role bound
  to the pipeline runner, the ``mlrail-onnx`` ServingRuntime; every CRD of ../shared/crds): every
  check passes, only KServe's stock Triton runtime is missing (a warning);
- a namespace with no Pod Security label, the ServiceAccounts and no Role: Pod Security, the
  runtime and the runner's permissions fail, each with its fix;
- a ServiceAccount without the Role in ``mlrail``: its permissions fail, call by call;
- a caller who may read nothing (a ServiceAccount's token): failed rows naming the 403;
- a second, bare control plane with no CRDs: the KServe CRDs and runtimes fail;
- a server that is not there: one failed row, no traceback.

The runner's permissions are asked of the real RBAC authorizer (LocalSubjectAccessReview), and
the table of calls doctor asks about is checked against manifests/base/rbac.yaml.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from mlrail.cli import main
from mlrail.doctor.cluster import RUNNER_NEEDS, Permission

from .build import build
from .control_plane import ControlPlane, start

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

REPO = Path(__file__).resolve().parents[2]
RBAC = REPO / "manifests" / "base" / "rbac.yaml"
BARE_NS = "doctor-bare"
BASELINE_NS = "doctor-baseline"
UNBOUND = "doctor-unbound"
RUNNER = "mlrail-pipeline-runner"


def _doctor(
    kubeconfig: Path, namespace: str, capsys: pytest.CaptureFixture[str], *more: str
) -> tuple[int, dict[str, dict[str, Any]]]:
    """``mlrail doctor --output json`` on the cluster; the exit code and the cluster rows."""
    code = main(
        ["doctor", "--kubeconfig", str(kubeconfig), "--namespace", namespace, "--output", "json"]
        + list(more)
    )
    out = capsys.readouterr().out
    rows = {c["name"]: c for c in json.loads(out)["checks"] if c["section"] == "cluster"}
    return code, rows


def _statuses(rows: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {name: row["status"] for name, row in rows.items()}


@pytest.fixture(autouse=True)
def _no_kfp_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KF_PIPELINES_ENDPOINT", raising=False)


@pytest.fixture(scope="module")
def namespaces(kube_admin: ApiClient, installed: str) -> dict[str, str]:
    """Namespaces beside the installed one: no Pod Security label and no Role, with the two
    ServiceAccounts (BARE_NS); enforce=baseline (BASELINE_NS); and an unbound account in
    ``mlrail``. Created once (no controller would ever finish deleting a namespace here)."""
    from kubernetes import client

    core = client.CoreV1Api(kube_admin)
    made = {
        BARE_NS: {},
        BASELINE_NS: {"pod-security.kubernetes.io/enforce": "baseline"},
    }
    for name, labels in made.items():
        core.create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=labels))
        )
    for account in (RUNNER, "mlrail-serving"):
        core.create_namespaced_service_account(
            BARE_NS, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=account))
        )
    core.create_namespaced_service_account(
        installed, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=UNBOUND))
    )
    return {"installed": installed, "bare": BARE_NS, "baseline": BASELINE_NS}


def test_the_installed_overlay_passes_every_cluster_check(
    control_plane: ControlPlane, namespaces: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, rows = _doctor(control_plane.kubeconfig, namespaces["installed"], capsys)
    assert _statuses(rows) == {
        "Kubernetes API": "ok",
        "KServe CRDs": "ok",
        "namespace": "ok",
        "Pod Security": "ok",
        "runtime mlrail-onnx": "ok",
        "runtime kserve-tritonserver": "warn",  # KServe's stock runtime: not in ../shared/crds
        "ServiceAccounts": "ok",
        f"{RUNNER} permissions": "ok",
    }
    assert code == 0
    assert rows["Kubernetes API"]["found"] == f"v1.37.2 at {control_plane.server}"
    assert rows["Pod Security"]["found"] == "enforce=restricted (v1.31)"
    assert rows["runtime mlrail-onnx"]["found"] == "ServingRuntime in mlrail"
    assert rows[f"{RUNNER} permissions"]["found"] == "12 of 12 allowed"


def test_the_table_names_each_cluster_row_and_passes(
    control_plane: ControlPlane, namespaces: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["doctor", "--kubeconfig", str(control_plane.kubeconfig), "--kube-context"]
    assert main([*argv, "mlrail-test", "--namespace", namespaces["installed"]]) == 0
    out = capsys.readouterr().out
    (line,) = [line for line in out.splitlines() if line.startswith("Kubernetes API ")]
    assert line.split() == ["Kubernetes", "API", "ok", "v1.37.2", "at", "mlrail-test", "reachable"]
    assert (
        "\nwarn runtime kserve-tritonserver: only for deploy's runtime=kserve-tritonserver" in out
    )
    assert out.rstrip().endswith("all passed")


def test_no_pod_security_label_and_no_role_fail_with_their_fixes(
    control_plane: ControlPlane, namespaces: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, rows = _doctor(control_plane.kubeconfig, namespaces["bare"], capsys)
    assert code == 1
    assert _statuses(rows) == {
        "Kubernetes API": "ok",
        "KServe CRDs": "ok",
        "namespace": "ok",
        "Pod Security": "fail",
        "runtime mlrail-onnx": "fail",
        "runtime kserve-tritonserver": "warn",
        "ServiceAccounts": "ok",
        f"{RUNNER} permissions": "fail",
    }
    psa = rows["Pod Security"]
    assert psa["found"] == "no enforce label (the cluster default applies)"
    assert psa["fix"] == (
        f"kubectl label namespace {BARE_NS} --overwrite "
        "pod-security.kubernetes.io/enforce=restricted "
        "pod-security.kubernetes.io/enforce-version=v1.31"
    )
    refused = rows[f"{RUNNER} permissions"]["found"]
    assert refused == "refused: " + "; ".join(str(p) for p in RUNNER_NEEDS)
    assert rows[f"{RUNNER} permissions"]["fix"].startswith("kubectl apply --server-side -k ")
    assert rows["runtime mlrail-onnx"]["found"] == "not found"


def test_a_looser_pod_security_level_fails(
    control_plane: ControlPlane, namespaces: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, rows = _doctor(control_plane.kubeconfig, namespaces["baseline"], capsys)
    assert code == 1
    assert (rows["Pod Security"]["status"], rows["Pod Security"]["found"]) == (
        "fail",
        "enforce=baseline",
    )
    # the accounts were never created there
    assert rows["ServiceAccounts"]["found"] == f"missing: {RUNNER}, mlrail-serving"


def test_an_account_without_the_role_is_refused_every_call(
    control_plane: ControlPlane, namespaces: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    installed = namespaces["installed"]
    code, rows = _doctor(control_plane.kubeconfig, installed, capsys, "--service-account", UNBOUND)
    assert code == 1
    row = rows[f"{UNBOUND} permissions"]
    assert row["status"] == "fail"
    assert row["found"] == "refused: " + "; ".join(str(p) for p in RUNNER_NEEDS)
    assert row["fix"] == (
        f"kubectl create rolebinding {UNBOUND}-mlrail -n mlrail --role={RUNNER} "
        f"--serviceaccount=mlrail:{UNBOUND} (the Role comes with kubectl apply --server-side "
        "-k manifests/overlays/<local|dev|prod>)"
    )
    assert rows["ServiceAccounts"]["needed"] == f"{UNBOUND}, mlrail-serving"
    assert rows["ServiceAccounts"]["status"] == "ok"


def test_a_caller_who_may_read_nothing_gets_rows_naming_the_refusal(
    control_plane: ControlPlane,
    kube_admin: ApiClient,
    namespaces: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    from kubernetes import client

    installed = namespaces["installed"]
    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[]))
    token = (
        client.CoreV1Api(kube_admin)
        .create_namespaced_service_account_token(UNBOUND, installed, request)
        .status.token
    )
    kubeconfig = control_plane.kubeconfig_for("doctor-unbound", token)
    code, rows = _doctor(kubeconfig, installed, capsys)
    assert code == 1
    # discovery is open to every authenticated user; the reads by name are not
    assert rows["KServe CRDs"]["status"] == "ok"
    for name in ("namespace", "runtime mlrail-onnx", "ServiceAccounts", f"{RUNNER} permissions"):
        assert rows[name]["status"] == "fail", name
        assert rows[name]["found"].startswith("HTTP 403: "), rows[name]
        assert rows[name]["fix"].startswith("run mlrail doctor as the namespace's admin"), name
    who = f"system:serviceaccount:{installed}:{UNBOUND}"
    assert (
        f'User "{who}" cannot create resource "localsubjectaccessreviews"'
        in (rows[f"{RUNNER} permissions"]["found"])
    )


@pytest.fixture(scope="module")
def bare_plane(
    control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControlPlane]:
    """A second etcd + kube-apiserver (the same build) with no CRD installed."""
    plane = start(build(), tmp_path_factory.mktemp("bare-plane"))
    try:
        yield plane
    finally:
        plane.stop()


def test_a_cluster_without_kserve_fails_the_crds_and_the_runtimes(
    bare_plane: ControlPlane, capsys: pytest.CaptureFixture[str]
) -> None:
    from kubernetes import client, config

    api = config.new_client_from_config(str(bare_plane.kubeconfig))
    try:
        labels = {"pod-security.kubernetes.io/enforce": "restricted"}
        namespace = client.V1Namespace(metadata=client.V1ObjectMeta(name="mlrail", labels=labels))
        client.CoreV1Api(api).create_namespace(namespace)
    finally:
        api.close()
    code, rows = _doctor(bare_plane.kubeconfig, "mlrail", capsys)
    assert code == 1
    crds = rows["KServe CRDs"]
    assert crds["status"] == "fail"
    assert crds["found"] == (
        "missing: inferenceservices.serving.kserve.io/v1beta1, "
        "servingruntimes.serving.kserve.io/v1alpha1, "
        "clusterservingruntimes.serving.kserve.io/v1alpha1"
    )
    assert crds["fix"].startswith("install KServe")
    assert (rows["runtime mlrail-onnx"]["status"], rows["runtime mlrail-onnx"]["found"]) == (
        "fail",
        "no runtime CRDs",
    )
    assert rows["Pod Security"]["status"] == "ok"


def test_a_namespace_that_does_not_exist_is_one_row_with_the_apply_line(
    bare_plane: ControlPlane, capsys: pytest.CaptureFixture[str]
) -> None:
    code, rows = _doctor(bare_plane.kubeconfig, "nowhere", capsys)
    assert code == 1
    assert list(rows) == ["Kubernetes API", "KServe CRDs", "namespace"]
    assert rows["namespace"]["found"] == "nowhere not found"
    assert rows["namespace"]["fix"] == (
        "kubectl apply --server-side -k manifests/overlays/<local|dev|prod>"
    )


def test_an_api_server_that_is_not_there_is_one_failed_row(
    control_plane: ControlPlane, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = json.loads(control_plane.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps(config))
    code, rows = _doctor(kubeconfig, "mlrail", capsys, "--timeout", "5")
    assert code == 1
    assert list(rows) == ["Kubernetes API"]
    assert rows["Kubernetes API"]["status"] == "fail"
    found = rows["Kubernetes API"]["found"]
    assert found.startswith(f"https://127.0.0.1:{port}: ") and "Connection refused" in found


def test_the_calls_doctor_asks_about_are_the_runner_roles_rules() -> None:
    """RUNNER_NEEDS is manifests/base/rbac.yaml's Role, rule by rule (no drift either way)."""
    (role,) = [d for d in yaml.safe_load_all(RBAC.read_text()) if d["kind"] == "Role"]
    assert role["metadata"]["name"] == RUNNER
    expected = {
        Permission(verb, group, resource, name)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
        for name in rule.get("resourceNames", [""])
    }
    assert set(RUNNER_NEEDS) == expected
    assert len(RUNNER_NEEDS) == len(expected)
