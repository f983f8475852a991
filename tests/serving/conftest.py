"""Fixtures: a tmp model repository of small real ONNX models, and in-process clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mlrail.serving.app import InferenceApp

from .helpers import Client, write_classifier, write_regressor


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with ``penguins`` (classifier, versions 1 and 2) and ``regressor`` (v1)."""
    root = tmp_path / "model_repository"
    write_classifier(root, 1, bias=0.0)
    write_classifier(root, 2, bias=1.0)
    write_regressor(root, 1)
    return root


@pytest.fixture
def make_client() -> Iterator[Callable[[InferenceApp], Client]]:
    clients: list[Client] = []

    def make(app: InferenceApp) -> Client:
        clients.append(Client(app))
        return clients[-1]

    yield make
    for client in clients:
        client.close()
