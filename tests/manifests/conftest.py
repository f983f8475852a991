"""Fixtures for the manifest tests: kubectl, each overlay rendered once, the CRD schemas."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from .kube_schema import CrdSchemas
from .kustomize import REPO, Render, pinned_copy
from .kustomize import kubectl as find_kubectl

CRDS_ENV = "MLRAIL_CRDS_DIR"


@pytest.fixture(scope="session")
def kubectl() -> str:
    return find_kubectl()


@pytest.fixture(scope="session")
def pinned_manifests(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of manifests/ beside a digest record (tests/manifests/kustomize.py's ``RECORD``)."""
    return pinned_copy(tmp_path_factory.mktemp("release"))


@pytest.fixture(scope="session")
def render(kubectl: str, pinned_manifests: Path) -> Render:
    """``render(overlay)`` -> the overlay's objects; kubectl runs once per overlay per session.

    Every overlay renders from :func:`pinned_manifests`: prod renders only with a digest record.
    Each call parses afresh, so a test that mutates what it gets cannot leak into another.
    """
    texts: dict[str, str] = {}

    def _render(overlay: str) -> list[dict[str, Any]]:
        if overlay not in texts:
            directory = pinned_manifests / "overlays" / overlay
            proc = subprocess.run(
                [kubectl, "kustomize", str(directory)],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                pytest.fail(f"kubectl kustomize {directory} failed:\n{proc.stderr}")
            texts[overlay] = proc.stdout
        return [doc for doc in yaml.safe_load_all(texts[overlay]) if doc]

    return _render


@pytest.fixture(scope="session")
def crd_schemas() -> CrdSchemas:
    """The CRDs of $MLRAIL_CRDS_DIR or ../shared/crds; skips when the default folder is absent."""
    override = os.environ.get(CRDS_ENV)
    if override and not Path(override).is_dir():
        # An explicit setting that points nowhere is a mistake, not a reason to skip quietly.
        pytest.fail(f"{CRDS_ENV}={override} is not a directory")
    directory = Path(override) if override else REPO.parent / "shared" / "crds"
    if not directory.is_dir():
        pytest.skip(
            f"CRD folder {directory} is absent (set {CRDS_ENV} to a folder of CRD JSON files): "
            "custom resources are not schema-checked"
        )
    schemas = CrdSchemas(directory)
    if not schemas.schemas:
        pytest.fail(f"{directory} holds no CustomResourceDefinition with a schema")
    return schemas
