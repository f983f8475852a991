"""Fixtures for register: evaluate's outputs for the session's penguins ONNX model."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import Trained

from .evaluated import Evaluated

__all__ = ["evaluated", "ingested"]


@pytest.fixture(scope="session")
def evaluated(
    onnx_model: Path, trained: Trained, tmp_path_factory: pytest.TempPathFactory
) -> Evaluated:
    from mlrail.components.evaluate.core import evaluate

    root = tmp_path_factory.mktemp("evaluated")
    evaluate(onnx_model, trained.examples, root / "metrics.json", root / "blessing")
    return Evaluated(root / "metrics.json", root / "blessing")


@pytest.fixture(scope="session")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    """Ingest's examples of penguins and the metadata its component writes for them."""
    from mlrail.components.ingest.core import ingest

    out = tmp_path_factory.mktemp("ingested") / "examples"
    r = ingest("bundled:penguins", str(out))
    meta: dict[str, object] = {
        "splits": r.splits,
        "fingerprint": r.fingerprint,
        "source": r.source,
        "spans": r.spans,
        "files": r.files,
    }
    meta.update({f"rows_{split}": n for split, n in r.rows.items()})
    return out, meta
