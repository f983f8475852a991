"""Fixtures for the KFP client tests: a fake KFP API per test and compiled tiny pipelines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .fake_server import FakeKfpServer
from .tiny_pipeline import compile_tiny_pipeline


@pytest.fixture
def kfp_api() -> Iterator[FakeKfpServer]:
    """A started fake KFP API server, stopped after the test."""
    with FakeKfpServer() as server:
        yield server


@pytest.fixture(scope="session")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Compiled tiny pipelines: ``v1``, ``v2`` (same pipeline, other bytes) and ``required``."""
    folder = tmp_path_factory.mktemp("packages")
    return {
        "v1": compile_tiny_pipeline(folder / "tiny.yaml"),
        "v2": compile_tiny_pipeline(folder / "tiny-v2.yaml", description="v2"),
        "required": compile_tiny_pipeline(folder / "required.yaml", required_parameter=True),
    }


@pytest.fixture
def package(packages: dict[str, Path]) -> str:
    """The path of the v1 tiny pipeline."""
    return str(packages["v1"])
