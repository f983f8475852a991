"""The control plane is the real one, configured as the tests rely on: version, TLS, RBAC."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request

import pytest

from .build import KUBERNETES_VERSION
from .control_plane import ControlPlane


def _get(plane: ControlPlane, path: str, token: str | None) -> tuple[int, dict[str, object]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    context = ssl.create_default_context(cafile=str(plane.ca_file))
    request = urllib.request.Request(plane.server + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_it_is_the_kubernetes_version_built(control_plane: ControlPlane) -> None:
    status, body = _get(control_plane, "/version", control_plane.token)
    assert status == 200
    assert body["gitVersion"] == KUBERNETES_VERSION


def test_tls_is_verified_against_the_throwaway_ca(control_plane: ControlPlane) -> None:
    request = urllib.request.Request(control_plane.server + "/version")
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(request, timeout=10, context=ssl.create_default_context())


def test_rbac_refuses_an_anonymous_caller(control_plane: ControlPlane) -> None:
    status, body = _get(control_plane, "/api/v1/namespaces/kube-system/secrets", None)
    assert status == 403
    assert body["reason"] == "Forbidden"
    assert "system:anonymous" in str(body["message"])


def test_the_admin_is_authorized(control_plane: ControlPlane) -> None:
    status, body = _get(
        control_plane, "/api/v1/namespaces/kube-system/secrets", control_plane.token
    )
    assert status == 200, body


def test_the_shared_crds_are_served(control_plane: ControlPlane) -> None:
    status, body = _get(control_plane, "/apis/serving.kserve.io/v1beta1", control_plane.token)
    assert status == 200
    assert "inferenceservices" in [r["name"] for r in body["resources"]]  # type: ignore[attr-defined]


def test_the_dev_overlay_is_installed(control_plane: ControlPlane, installed: str) -> None:
    status, body = _get(
        control_plane,
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{installed}/roles",
        control_plane.token,
    )
    assert status == 200
    assert "mlrail-pipeline-runner" in [r["metadata"]["name"] for r in body["items"]]  # type: ignore[attr-defined]
