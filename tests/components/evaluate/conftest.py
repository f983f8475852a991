"""Models for the evaluate tests, trained once per session on the shared penguins splits."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import Trained


def _train(trained: Trained, out: Path, label: str, **hparams: object) -> Path:
    from mlrail.components.train.core import train

    train(trained.examples, trained.schema, trained.statistics, out, label=label, hparams=hparams)
    return out


@pytest.fixture(scope="session")
def bad_model(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A species model trained badly on purpose (one epoch at a tiny learning rate)."""
    out = tmp_path_factory.mktemp("bad") / "model"
    return _train(trained, out, "species", epochs=1, learning_rate=1e-4)


@pytest.fixture(scope="session")
def binary_model(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model of the penguin's sex (binary: female, male)."""
    return _train(trained, tmp_path_factory.mktemp("binary") / "model", "sex", epochs=30)


@pytest.fixture(scope="session")
def binary_onnx(
    binary_model: Path, trained: Trained, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """:func:`binary_model` exported to ONNX (parity-checked), as the pipeline gives evaluate."""
    from mlrail.components.export_onnx.core import export_onnx

    out = tmp_path_factory.mktemp("binary-onnx") / "onnx_model"
    export_onnx(binary_model, trained.examples, out, model_name="sex")
    return out


@pytest.fixture(scope="session")
def regression_model(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model of the body mass in grams (regression)."""
    out = tmp_path_factory.mktemp("regression") / "model"
    return _train(trained, out, "body_mass_g", epochs=30, learning_rate=0.05)
