"""The real ``kubernetes`` client under deploy: over HTTP to the fake API, and how it connects."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from mlrail.components.deploy import kserve
from mlrail.components.deploy.kserve import DeployError, KubernetesApi, connect
from mlrail.components.deploy.kserve import api as kserve_api

from .fake_kube import FakeKube, KubeHttpFront, Revision
from .scenarios import NAME, NAMESPACE, Context, previous_isvc, run
from .v2_servers import Servers

ISVC_PATH = f"/apis/{kserve.GROUP}/{kserve.VERSION}/namespaces/{NAMESPACE}/{kserve.PLURAL}/{NAME}"


@pytest.fixture
def ctx(servers: Servers, onnx_model: Path, tmp_path: Path) -> Context:
    return Context(servers.good, servers.bad, onnx_model, tmp_path)


@pytest.fixture
def restore_kubernetes_defaults() -> Iterator[None]:
    """Kept as a guard: connect() must leave the client's process-wide default configuration
    as it was."""
    saved = client.Configuration.get_default_copy()
    yield
    client.Configuration.set_default(saved)


def _api(url: str) -> KubernetesApi:
    configuration = client.Configuration(host=url)
    return KubernetesApi(client.ApiClient(configuration))


def test_a_canary_rollout_over_http_is_server_side_apply(ctx: Context) -> None:
    fake = FakeKube([Revision(ctx.good)])
    fake.seed(previous_isvc(), ctx.good)
    with KubeHttpFront(fake) as front:
        o = run(ctx, fake, "over-http", canary_traffic_percent=30, api=_api(front.url))
    assert o.error is None and o.result is not None and o.result.decision == "promoted"
    patches = [r for r in front.requests if r["method"] == "PATCH"]
    assert len(patches) == 2
    for request in patches:
        assert request["path"] == ISVC_PATH
        assert request["content_type"] == "application/apply-patch+yaml"
        assert request["query"] == {"fieldManager": kserve.FIELD_MANAGER, "force": "true"}
    bodies = [yaml.safe_load(r["body"]) for r in patches]
    assert [b["spec"]["predictor"].get("canaryTrafficPercent") for b in bodies] == [30, None]
    assert {r["path"] for r in front.requests} == {ISVC_PATH}


def test_a_first_deploy_over_http_reads_404_as_absent(ctx: Context) -> None:
    fake = FakeKube([Revision(ctx.good)])
    with KubeHttpFront(fake) as front:
        o = run(ctx, fake, "first", api=_api(front.url))
    assert o.error is None and o.result is not None and o.result.decision == "applied"
    assert [r["method"] for r in front.requests][:2] == ["GET", "PATCH"]
    assert [c.verb for c in fake.calls][:3] == ["get", "patch", "create"]


def test_the_generated_patch_method_cannot_apply(ctx: Context) -> None:
    """Why KubernetesApi exists: kubernetes 30.1's patch sends a merge patch, whatever it is told.

    If this fails, the client learned to send ``application/apply-patch+yaml`` and KubernetesApi
    can go back to ``patch_namespaced_custom_object``.
    """
    fake = FakeKube()
    with KubeHttpFront(fake) as front:
        objects = client.CustomObjectsApi(_api(front.url).api_client)
        with pytest.raises(client.ApiException) as caught:
            objects.patch_namespaced_custom_object(
                kserve.GROUP,
                kserve.VERSION,
                NAMESPACE,
                kserve.PLURAL,
                NAME,
                previous_isvc(),
                field_manager=kserve.FIELD_MANAGER,
                force=True,
            )
        with pytest.raises(client.ApiTypeError, match="_content_type"):
            objects.patch_namespaced_custom_object(
                kserve.GROUP,
                kserve.VERSION,
                NAMESPACE,
                kserve.PLURAL,
                NAME,
                previous_isvc(),
                _content_type="application/apply-patch+yaml",
            )
    assert caught.value.status == 415
    assert front.requests[0]["content_type"] == "application/merge-patch+json"


def test_connect_falls_back_to_the_kubeconfig(
    ctx: Context,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    restore_kubernetes_defaults: None,
) -> None:
    fake = FakeKube()
    with KubeHttpFront(fake) as front:
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "c", "cluster": {"server": front.url}}],
                    "users": [{"name": "u", "user": {"token": "t0ken"}}],
                    "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                    "current-context": "x",
                }
            )
        )
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        api = connect()
        assert kserve_api.get(api, NAMESPACE, NAME) is None
    assert front.requests[0]["authorization"] == "Bearer t0ken"


def test_connect_without_any_credentials_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_kubernetes_defaults: None
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    with pytest.raises(DeployError, match="no Kubernetes credentials"):
        connect()


def test_the_core_does_not_import_kubernetes() -> None:
    # kubernetes takes about half a second to import; only target kserve may pay for it
    code = (
        "import sys, mlrail.components.deploy.core as c, mlrail.components.deploy.kserve;"
        "assert 'kubernetes' not in sys.modules, 'kubernetes imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
