"""A signed penguins export, as export_onnx writes one with a key (shared with deploy's tests).

The examples' metadata is ingest's own (its fingerprint of the bundled data), as KFP hands it to
export_onnx's component.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlrail.artifacts import signing
from mlrail.components.export_onnx.core import ExportResult, export_onnx
from tests.helpers import Trained

__all__ = ["Keys", "examples_metadata", "make_keys", "signed_export"]


@dataclass(frozen=True)
class Keys:
    private: Path
    public: Path
    other_private: Path
    other_public: Path


def make_keys(folder: Path) -> Keys:
    """Two key pairs: ours and another signer's."""
    folder.mkdir(parents=True, exist_ok=True)
    for who in ("ours", "theirs"):
        signing.generate_key_pair(folder / f"{who}.pem", folder / f"{who}.pub")
    return Keys(*(folder / n for n in ("ours.pem", "ours.pub", "theirs.pem", "theirs.pub")))


def examples_metadata(scratch: Path) -> dict[str, Any]:
    """ingest's metadata of the bundled penguins (what the component's ``examples`` carries)."""
    from mlrail.components.ingest.core import ingest

    result = ingest("bundled:penguins", str(scratch / "examples"))
    return {
        "fingerprint": result.fingerprint,
        "source": result.source,
        **{f"rows_{split}": n for split, n in result.rows.items()},
    }


def signed_export(trained: Trained, out: Path, key: Path, metadata: dict[str, Any]) -> ExportResult:
    """export_onnx of the session's penguins model into ``out``, signed with ``key``."""
    return export_onnx(
        trained.model,
        trained.examples,
        out,
        model_name="penguins",
        signing_key=str(key),
        examples_metadata=metadata,
    )
