"""Fixtures for deploy: the CRD schemas (test_core.py checks core's InferenceService against
them for every Kubernetes version), real V2 servers on 127.0.0.1 for the smoke tests, and the
scenarios against the fake API.

``servers.good`` serves the penguins model export_onnx wrote (its own ``model_repository``);
``servers.bad`` serves the same model with its last dense kernel negated, under the same name:
a model that loads and answers, wrongly. Both are ``mlrail serve``'s app under uvicorn, in a
thread of this process (:mod:`.v2_servers`); nothing about the models is mocked.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.manifests.kube_schema import CrdSchemas

from .scenarios import SCENARIOS, Context, Outcome
from .v2_servers import Servers, good_and_bad

CRDS_ENV = "MLRAIL_CRDS_DIR"
CRDS_DEFAULT = Path(__file__).parents[4] / "shared" / "crds"


@pytest.fixture(scope="session")
def crds() -> CrdSchemas | None:
    """The CRDs of $MLRAIL_CRDS_DIR or ../shared/crds; None when the default folder is absent.

    The tests that are about the schema skip with the reason when it is None (see
    ``require_crds``).
    """
    override = os.environ.get(CRDS_ENV)
    if override and not Path(override).is_dir():
        pytest.fail(f"{CRDS_ENV}={override} is not a directory")
    directory = Path(override) if override else CRDS_DEFAULT
    if not directory.is_dir():
        return None
    schemas = CrdSchemas(directory)
    if ("serving.kserve.io/v1beta1", "InferenceService") not in schemas.schemas:
        pytest.fail(f"{directory} has no InferenceService v1beta1 CRD")
    return schemas


@pytest.fixture
def require_crds(crds: CrdSchemas | None) -> CrdSchemas:
    if crds is None:
        pytest.skip(
            f"CRD folder {CRDS_DEFAULT} is absent (set {CRDS_ENV}): InferenceServices are not "
            "schema-checked"
        )
    return crds


@pytest.fixture(scope="session")
def servers(onnx_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    with good_and_bad(onnx_model, tmp_path_factory.mktemp("bad")) as servers:
        yield servers


@pytest.fixture(scope="session")
def outcome(
    servers: Servers,
    onnx_model: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[str], Outcome]:
    """``outcome(name)``: the scenario of that name (scenarios.py), run once per session.

    Tests only read what it returns.
    """
    ctx = Context(servers.good, servers.bad, onnx_model, tmp_path_factory.mktemp("deploys"))
    done: dict[str, Outcome] = {}

    def get(name: str) -> Outcome:
        if name not in done:
            done[name] = SCENARIOS[name](ctx)
        return done[name]

    return get
