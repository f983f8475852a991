"""Fixtures for deploy on the real API server (test_deploy.py).

- ``servers``: the two real V2 servers of the deploy tests (a good model and a wrong one),
  from ``tests/components/deploy/v2_servers.py``;
- ``kserve_controller``: the test controller (kserve_controller.py) for ``mlrail/penguins``;
- ``runner_api``: deploy's client as the ``mlrail-pipeline-runner`` ServiceAccount of the
  installed overlay, with a token from the TokenRequest API, so the real RBAC authorizer judges
  every call;
- ``deploy_context``: the deploy scenarios' :class:`Context` on the real server, deploying
  through ``runner_api``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.components.deploy.kserve_model import Revision
from tests.components.deploy.scenarios import NAME, Context
from tests.components.deploy.v2_servers import Servers, good_and_bad

from .control_plane import ControlPlane
from .kserve_controller import RUNNER, ClusterKube, ControllerClock, KServeController, api_as

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from mlrail.components.deploy.kserve import KubernetesApi


@pytest.fixture(scope="session")
def servers(onnx_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    with good_and_bad(onnx_model, tmp_path_factory.mktemp("bad")) as both:
        yield both


@pytest.fixture(scope="module")
def kserve_controller(kube_admin: ApiClient, installed: str) -> Iterator[KServeController]:
    """The controller for the module's tests; their InferenceService is gone after them."""
    with KServeController(kube_admin, installed, NAME) as controller:
        yield controller
        controller.delete()


@pytest.fixture(scope="session")
def runner_api(control_plane: ControlPlane, kube_admin: ApiClient, installed: str) -> KubernetesApi:
    """deploy's client as the pipeline runner (the ServiceAccount the README tells users to use)."""
    return api_as(control_plane, kube_admin, installed, RUNNER)


@pytest.fixture(scope="module")
def deploy_context(
    runner_api: KubernetesApi,
    kserve_controller: KServeController,
    servers: Servers,
    onnx_model: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Context:
    """Each scenario starts from no InferenceService, with its revisions scripted."""

    def kube(revisions: list[Revision]) -> ClusterKube:
        kserve_controller.delete()
        kserve_controller.script(revisions)
        return ClusterKube(runner_api, kserve_controller)

    return Context(
        servers.good,
        servers.bad,
        onnx_model,
        tmp_path_factory.mktemp("deploys"),
        kube=kube,
        clock=lambda: ControllerClock(kserve_controller),
    )
