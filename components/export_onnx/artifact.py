"""Writing the ``onnx_model`` artifact (its layout: the
:mod:`~mlrail.components.export_onnx.core` module doc), all at once or not at all."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mlrail.artifacts import model_repository
from mlrail.artifacts.mlbom import MLBOM_FILE, write_mlbom
from mlrail.artifacts.model_repository import MODEL_FILE
from mlrail.artifacts.modelspec import ModelSpec
from mlrail.artifacts.signing import sign_version
from mlrail.components.export_onnx.checks import Parity
from mlrail.components.export_onnx.variants import Variant
from mlrail.io import atomic_dir, atomic_write_bytes, atomic_write_json

__all__ = ["write"]


def write(
    onnx_model_dir: str | Path,
    model_name: str,
    data: bytes,
    spec: ModelSpec,
    parity: Parity,
    golden: dict[str, Any],
    variants: list[tuple[Variant, bytes]],
    variants_report: dict[str, Any],
    *,
    signing_key: Path | None = None,
    describe: Callable[[Path], dict[str, Any]] | None = None,
) -> None:
    """Write the artifact in a temporary folder renamed into place when complete.

    The version folder is signed, and the ML-BOM written, inside that folder too: a failed or
    killed step leaves neither an unsigned artifact that should have been signed nor a
    half-signed one.

    Args:
        onnx_model_dir: The artifact's folder.
        model_name: The model's name in the artifact's model repository.
        data: The unquantised ONNX model (``model.onnx``, and version 1 in the repository).
        spec: The model's contract (``model_spec.json``, and ``config.pbtxt``).
        parity: ``parity.json``.
        golden: ``golden.json``.
        variants: Each variant and its bytes; the accepted ones are written.
        variants_report: ``variants.json``.
        signing_key: The PEM private key to sign the repository's version with (None: unsigned).
        describe: Given the written ``model.onnx``, the ML-BOM (``mlbom.cdx.json``); None: none.
    """
    with atomic_dir(onnx_model_dir) as tmp:
        atomic_write_bytes(tmp / MODEL_FILE, data)
        for v, variant_data in variants:
            if v.accepted:
                atomic_write_bytes(tmp / v.file, variant_data)
        spec.write(tmp)
        atomic_write_json(tmp / "parity.json", asdict(parity))
        atomic_write_json(tmp / "variants.json", variants_report)
        atomic_write_json(tmp / "golden.json", golden)
        # the repository KServe mounts: version 1 of a new model, pushed as deploy pushes one
        model_folder = tmp / "model_repository" / model_name
        version = model_repository.push(model_folder, tmp, spec)
        if signing_key is not None:
            sign_version(model_folder / str(version), signing_key)
        if describe is not None:
            write_mlbom(tmp / MLBOM_FILE, describe(tmp / MODEL_FILE))
