"""The CLI tests' KFP fixtures: the fake API server and a tiny compiled pipeline."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.kfp_api.fake_server import FakeKfpServer
from tests.kfp_api.tiny_pipeline import compile_tiny_pipeline


@pytest.fixture
def kfp_api() -> Iterator[FakeKfpServer]:
    with FakeKfpServer() as server:
        yield server


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(compile_tiny_pipeline(tmp_path_factory.mktemp("cli") / "tiny.yaml"))
