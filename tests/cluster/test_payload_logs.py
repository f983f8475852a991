"""Payload logging on the real API server: the receiver's pod and a logging predictor's pod are
admitted under Pod Security ``restricted``, and deploy switches logging on and off through the
pipeline runner's own rights (real RBAC, the real InferenceService CRD, real server-side apply).

The receiver's Deployment, Service, ServiceAccount and NetworkPolicies are applied with every
overlay by test_apply.py (and by the ``installed`` fixture); no kubelet runs here, so no pod
starts: admission is what is checked.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from mlrail.components.deploy import core
from tests.components.deploy.kserve_model import Revision
from tests.components.deploy.scenarios import NAME, NAMESPACE, Context, run
from tests.manifests.kustomize import OVERLAYS, pinned_copy

from .kube import Obj, render
from .kube import create_pod_dry_run as _create
from .pods import pod, predictor_pod

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from .kserve_controller import KServeController

RECEIVER = "mlrail-payload-logs"
POLICY = 'violates PodSecurity "restricted'


@pytest.fixture(scope="module")
def pinned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pinned_copy(tmp_path_factory.mktemp("release"))


def _receiver_pod(objs: list[Obj]) -> Obj:
    (deployment,) = [
        o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == RECEIVER
    ]
    template = deployment["spec"]["template"]
    return pod(f"{RECEIVER}-x", template["metadata"]["labels"], template["spec"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_receiver_pod_is_admitted_under_restricted(
    kube_admin: ApiClient, installed: str, pinned: Path, overlay: str
) -> None:
    body = _receiver_pod(render(pinned / "overlays" / overlay))
    assert _create(kube_admin, installed, body) == (201, "")
    # not vacuous: the same pod without its container settings is refused by Pod Security
    loose = copy.deepcopy(body)
    del loose["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"]
    status, message = _create(kube_admin, installed, loose)
    assert status == 403 and POLICY in message and "allowPrivilegeEscalation" in message


def test_a_predictor_that_logs_its_payloads_is_admitted(
    kube_admin: ApiClient, installed: str, pinned: Path
) -> None:
    objs = render(pinned / "overlays" / "dev")
    (runtime,) = [o for o in objs if o["kind"] == "ServingRuntime"]
    (storage,) = render(pinned / "cluster")
    isvc = core.inference_service(
        NAME, NAMESPACE, "s3://mlpipeline/m/model_repository",
        service_account="mlrail-serving", log_sample_rate=0.1,
    )  # fmt: skip
    body = predictor_pod(isvc, runtime["spec"], storage_container=storage["spec"]["container"])
    (container,) = body["spec"]["containers"]
    # the runtime's serve command, then deploy's flags (KServe concatenates the two)
    assert container["args"] == [
        *runtime["spec"]["containers"][0]["args"],
        "--log-payloads",
        f"http://{RECEIVER}.{NAMESPACE}.svc.cluster.local/",
        "--log-sample-rate",
        "0.1",
    ]
    assert _create(kube_admin, installed, body) == (201, "")


def test_deploy_switches_logging_on_and_off_as_the_pipeline_runner(
    deploy_context: Context, kserve_controller: KServeController
) -> None:
    kube = deploy_context.new_kube([Revision(deploy_context.good)] * 3)
    on = run(deploy_context, kube, "log-on", log_sample_rate=0.25)
    assert on.error is None and on.result is not None, on.error
    assert on.result.decision == "applied"
    model = kube.live(NAMESPACE, NAME)["spec"]["predictor"]["model"]
    url = f"http://{RECEIVER}.{NAMESPACE}.svc.cluster.local/"
    assert model["args"] == ["--log-payloads", url, "--log-sample-rate", "0.25"]

    off = run(deploy_context, kube, "log-off")
    assert off.result is not None and off.result.decision == "applied", off.error
    # server-side apply removed the field deploy set before and no longer sets
    assert "args" not in kube.live(NAMESPACE, NAME)["spec"]["predictor"]["model"]
