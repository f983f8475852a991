"""Copies of an onnx_model artifact for the identity tests: the same model in other bytes (what a
retraining with the same seed may give), and another model (one weight one ulp away).

Both rewrite ``model.onnx`` and the repository's copy of it with ONNX's own API; the graph that
ONNX Runtime serves is otherwise export_onnx's.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from mlrail.artifacts.identity import IDENTITY_METADATA_KEY, model_identity

__all__ = ["other_model", "same_model_other_bytes", "set_identity"]


def _rewrite(src: Path, dest: Path, change: Callable[[Any], None]) -> Path:
    shutil.copytree(src, dest)
    for f in (dest / "model.onnx", *dest.glob("model_repository/*/*/model.onnx")):
        proto = onnx.load(str(f))
        change(proto)
        f.write_bytes(proto.SerializeToString())
    return dest


def set_identity(proto: Any, identity: str) -> None:
    """Record ``identity`` in the file's metadata, as export_onnx does."""
    for p in proto.metadata_props:
        if p.key == IDENTITY_METADATA_KEY:
            p.value = identity


def same_model_other_bytes(src: Path, dest: Path) -> Path:
    """``src`` with its nodes renamed, other doc strings and another producer version."""

    def change(proto: Any) -> None:
        for i, node in enumerate(proto.graph.node):
            node.name = f"retrained/{i}/{node.name}"
            node.doc_string = "another training run"
        proto.graph.doc_string = "converted from /elsewhere/saved_model"
        proto.producer_version += "+retrained"

    out = _rewrite(src, dest, change)
    assert (out / "model.onnx").read_bytes() != (src / "model.onnx").read_bytes()
    return out


def other_model(src: Path, dest: Path, ulps: int = 1) -> Path:
    """``src`` with its first float weight ``ulps`` ulps up (its recorded identity updated)."""

    def change(proto: Any) -> None:
        t = next(t for t in proto.graph.initializer if t.data_type == onnx.TensorProto.FLOAT)
        value = numpy_helper.to_array(t).copy()
        flat = value.reshape(-1)
        for _ in range(ulps):
            flat[0] = np.nextafter(flat[0], np.float32(np.inf), dtype=np.float32)
        t.CopyFrom(numpy_helper.from_array(value, t.name))
        set_identity(proto, model_identity(proto))

    return _rewrite(src, dest, change)
