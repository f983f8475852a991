"""Who vouches for the model and what it is: the signing key, and the ML-BOM's content.

Signing (:mod:`mlrail.artifacts.signing`): the version folder of the artifact's model repository
is signed inside the artifact's atomic write, so a killed step leaves no half-signed artifact.
The key is a PEM EC private key file (a mounted Kubernetes Secret is one): ``signing_key``, else
``$MLRAIL_SIGNING_KEY``, else the model is not signed (the log says so; metadata
``signed: false``). A key that cannot sign is refused before the conversion starts.

The ML-BOM (:mod:`mlrail.artifacts.mlbom`): the model with its task, the parity figures as its
metrics (evaluate measures the served model after export_onnx; its figures are in the release
record), the examples by ingest's fingerprint, and the libraries that built it.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlrail.artifacts import mlbom
from mlrail.artifacts.modelspec import ModelSpec
from mlrail.components.export_onnx.checks import Parity

__all__ = ["SIGNING_KEY_ENV", "describe", "signing_key"]

#: The environment variable naming the private key when ``signing_key`` is empty.
SIGNING_KEY_ENV = "MLRAIL_SIGNING_KEY"

log = logging.getLogger("mlrail.components.export_onnx")

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ROWS = re.compile(r"^rows_(.+)$")


def signing_key(configured: str) -> tuple[Path | None, str]:
    """The private key to sign with and its signer (public key fingerprint), or (None, "").

    Raises:
        ModelError: The key file cannot be read or cannot sign (named).
    """
    from mlrail.artifacts.signing import key_fingerprint

    chosen = configured or os.environ.get(SIGNING_KEY_ENV, "")
    if not chosen:
        log.info(
            "export_onnx: the model is not signed (no signing_key given and $%s is not set)",
            SIGNING_KEY_ENV,
        )
        return None, ""
    key = Path(chosen)
    return key, key_fingerprint(key)  # checks the key now, before the conversion


def _datasets(examples_metadata: Mapping[str, Any] | None) -> list[mlbom.Dataset]:
    """The examples as the ML-BOM's dataset, when ingest's fingerprint is known."""
    meta = examples_metadata or {}
    fingerprint = str(meta.get("fingerprint") or "")
    if not _SHA256.match(fingerprint):
        log.info("export_onnx: no ingest fingerprint for the examples; the ML-BOM lists no dataset")
        return []
    rows = [
        f"{m.group(1)}: {meta[k]} rows" for k in sorted(meta) if (m := _ROWS.match(k)) is not None
    ]
    return [
        mlbom.Dataset(
            name=str(meta.get("source") or "examples"),
            fingerprint=fingerprint,
            description=", ".join(rows),
        )
    ]


def describe(
    model_file: Path,
    *,
    model_name: str,
    spec: ModelSpec,
    parity: Parity,
    identity: str,
    opset: int,
    signer: str,
    examples_metadata: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The model's ML-BOM (validated CycloneDX 1.6; layout in :mod:`mlrail.artifacts.mlbom`)."""
    metrics = {
        "parity.rows": float(parity.rows),
        "parity.max_abs_diff": parity.max_abs_diff,
        "parity.max_rel_diff": parity.max_rel_diff,
        "parity.edge_rows": float(parity.edge_rows),
        "parity.edge_max_abs_diff": parity.edge_max_abs_diff,
    }
    if parity.label_agreement is not None:
        metrics["parity.label_agreement"] = parity.label_agreement
    properties = {"identity": identity, "opset": str(opset), "label": spec.label}
    if signer:
        properties["signer"] = signer
    return mlbom.build_mlbom(
        model_file,
        name=model_name,
        task=spec.task,
        metrics=metrics,
        datasets=_datasets(examples_metadata),
        version=identity,
        inputs=[i.column for i in spec.inputs],
        outputs=[spec.output],
        properties=properties,
    )
