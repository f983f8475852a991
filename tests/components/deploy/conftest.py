"""Fixtures for deploy: the CRD schemas, and real V2 servers on 127.0.0.1 for the smoke tests.

``servers.good`` serves the penguins model export_onnx wrote (its own ``model_repository``);
``servers.bad`` serves the same model with its last dense kernel negated, under the same name:
a model that loads and answers, wrongly. Both are ``mlrail serve``'s app under uvicorn, in a
thread of this process (:mod:`.v2_servers`); nothing about the models is mocked.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.manifests.kube_schema import CrdSchemas

from .fake_kube import TALLY
from .scenarios import SCENARIOS, Context, Outcome
from .v2_servers import Servers, negate_last_kernel, serving

CRDS_ENV = "MLRAIL_CRDS_DIR"
CRDS_DEFAULT = Path(__file__).parents[4] / "shared" / "crds"


@pytest.fixture(scope="session")
def crds() -> CrdSchemas | None:
    """The CRDs of $MLRAIL_CRDS_DIR or ../shared/crds; None when the default folder is absent.

    None lets the decision tests run without schema checks; the tests that are about the schema
    skip with the reason (see ``require_crds``).
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
    (good_model,) = (onnx_model / "model_repository").iterdir()
    bad_repo = tmp_path_factory.mktemp("bad") / "model_repository"
    shutil.copytree(good_model, bad_repo / good_model.name)
    model_file = bad_repo / good_model.name / "1" / "model.onnx"
    negate_last_kernel(onnx_model / "model.onnx", model_file)
    with serving(onnx_model / "model_repository") as good, serving(bad_repo) as bad:
        yield Servers(good, bad)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TALLY["bodies"] or TALLY["objects"]:
        terminalreporter.write_line(
            f"deploy: {TALLY['bodies']} InferenceService bodies received and "
            f"{TALLY['objects']} objects returned by the fake API checked against the CRD "
            f"schema; {TALLY['errors']} errors"
        )


@pytest.fixture(scope="session")
def outcome(
    crds: CrdSchemas | None,
    servers: Servers,
    onnx_model: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[str], Outcome]:
    """``outcome(name)``: the scenario of that name (scenarios.py), run once per session.

    Tests only read what it returns.
    """
    ctx = Context(crds, servers.good, servers.bad, onnx_model, tmp_path_factory.mktemp("deploys"))
    done: dict[str, Outcome] = {}

    def get(name: str) -> Outcome:
        if name not in done:
            done[name] = SCENARIOS[name](ctx)
        return done[name]

    return get
