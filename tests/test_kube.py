"""mlrail.kube: what an API error means, and credentials that are not there.

The calls themselves (server-side apply, get, list pods, a pod's log) run against the real API
server in tests/cluster/test_trainjob.py and tests/cluster/test_rbac.py; deploy's kserve target
makes its calls through this module too (tests/components/deploy/test_kubernetes_api.py over
HTTP, tests/cluster/test_deploy.py against the real API server).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import NewConnectionError

from mlrail import kube


def _api_exception(status: int, message: str) -> ApiException:
    e = ApiException(status=status, reason="Reason")
    e.body = json.dumps({"kind": "Status", "message": message})
    return e


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_errors_that_may_pass_are_transient(status: int) -> None:
    e = kube.api_error(_api_exception(status, "etcd leader changed"), "get trainjobs x/y", "x")
    assert isinstance(e, kube.Transient)
    assert str(e) == f"get trainjobs x/y: HTTP {status}: etcd leader changed"


def test_no_connection_is_transient() -> None:
    refused = NewConnectionError(None, "Failed to establish a new connection: refused")  # type: ignore[arg-type]
    e = kube.api_error(refused, "list pods in x (a=b)", "x")
    assert isinstance(e, kube.Transient)
    assert str(e).startswith("list pods in x (a=b): no answer from the API server: ")


def test_a_refusal_names_the_role_the_account_needs() -> None:
    e = kube.api_error(
        _api_exception(403, 'trainjobs.trainer.kubeflow.org is forbidden: User "u" cannot create'),
        "apply trainjobs.trainer.kubeflow.org team-a/t",
        "team-a",
    )
    assert type(e) is kube.KubeError
    assert str(e) == (
        "apply trainjobs.trainer.kubeflow.org team-a/t: HTTP 403: trainjobs.trainer.kubeflow.org "
        'is forbidden: User "u" cannot create; the pipeline\'s service account needs the '
        "mlrail-pipeline-runner Role (manifests/base/rbac.yaml) in namespace team-a"
    )


def test_an_invalid_object_is_refused_for_good() -> None:
    e = kube.api_error(_api_exception(422, "spec.trainer.numNodes: Invalid value"), "apply t", "x")
    assert type(e) is kube.KubeError and "HTTP 422: spec.trainer.numNodes" in str(e)


def test_no_credentials_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    with pytest.raises(kube.KubeError, match=r"^no Kubernetes credentials: not in a cluster"):
        kube.connect()
    assert not kube.in_cluster()
    assert kube.current_namespace() == ""  # no ServiceAccount mount here


def _not_found(details: dict[str, str]) -> ApiException:
    e = ApiException(status=404, reason="Not Found")
    e.body = json.dumps({"kind": "Status", "code": 404, "message": "not found", "details": details})
    return e


def test_a_404_is_an_absent_object_only_when_it_names_the_object() -> None:
    named = {"name": "t", "group": "trainer.kubeflow.org", "kind": "trainjobs"}
    assert kube.is_absent(_not_found(named), "t")
    assert not kube.is_absent(_not_found(named), "another")
    # no such resource at all (the CRD is not installed): the Status names no object
    assert not kube.is_absent(_not_found({}), "t")
    assert not kube.is_absent(_api_exception(403, "forbidden"), "t")
    page = ApiException(status=404, reason="Not Found")
    page.body = "404 page not found"  # what a path outside every API group answers
    assert not kube.is_absent(page, "t")


def test_the_message_of_an_error_body() -> None:
    assert kube.status_message(json.dumps({"kind": "Status", "message": "denied"})) == "denied"
    assert kube.status_message("  404 page not found\n") == "404 page not found"
    assert kube.status_message("x" * 1000) == "x" * 300
    assert kube.status_message(None) == ""
