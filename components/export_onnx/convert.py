"""Conversion: the SavedModel to an ONNX model with tf2onnx, its inputs named, its metadata set.

tf2onnx 1.17's Python API has no ``from_saved_model``; the path its command line takes
(``tf_loader.from_saved_model`` then ``_convert_common``) is the one that carries StringLookup
tables over, so it is reused here in process (why not ``from_keras`` or Keras' own export: the
:mod:`~mlrail.components.export_onnx.core` module doc). The converted model is then made
reproducible (:mod:`.reproducible`) and its identity (:mod:`mlrail.artifacts.identity`) is
recorded in its metadata.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from mlrail import __version__
from mlrail.artifacts.identity import IDENTITY_METADATA_KEY, model_identity
from mlrail.artifacts.modelspec import ModelSpec
from mlrail.components.export_onnx.naming import name_inputs
from mlrail.components.export_onnx.reproducible import reproducible
from mlrail.errors import ModelError

__all__ = ["convert", "signature", "source_hash"]


def convert(saved_model: Path, spec: ModelSpec, opset: int) -> Any:
    """The SavedModel as a checked ONNX ``ModelProto``: inputs named by column, metadata set.

    The same SavedModel (or a same-seed retraining's) gives the same bytes (:mod:`.reproducible`);
    the identity is in the metadata prop ``mlrail.identity``.

    Raises:
        ModelError: the model cannot be converted, its inputs cannot be named, or the converted
            model fails ``onnx.checker`` (each naming ``saved_model``).
    """
    import onnx

    proto = _tf2onnx(saved_model, spec, opset)
    try:
        name_inputs(proto, spec)
    except ModelError as e:
        raise ModelError(f"{saved_model}: {e}") from e
    reproducible(proto)
    try:
        identity = model_identity(proto)
    except ModelError as e:
        raise ModelError(f"{saved_model}: {e}") from e
    _metadata(proto, spec, identity)
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as e:
        raise ModelError(f"{saved_model}: the converted ONNX model is invalid: {e}") from e
    return proto


def _tf2onnx(saved_model_dir: Path, spec: ModelSpec, opset: int) -> Any:
    """tf2onnx's command-line path, in process; the graph keeps TensorFlow's input names."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    from tf2onnx import tf_loader
    from tf2onnx.convert import _convert_common

    graph_def, inputs, outputs, tables, rename = tf_loader.from_saved_model(
        str(saved_model_dir),
        input_names=None,
        output_names=None,
        tag=["serve"],
        signatures=["serving_default"],
        concrete_function=None,
        large_model=False,
        return_initialized_tables=True,
        return_tensors_to_rename=True,
    )
    if len(outputs) != 1:
        raise ModelError(f"{saved_model_dir}: expected one output, found {outputs}")
    rename[outputs[0]] = spec.output
    with tf.device("/cpu:0"):
        proto, _ = _convert_common(
            graph_def,
            name=str(saved_model_dir),
            opset=opset,
            input_names=inputs,
            output_names=outputs,
            tensors_to_rename=rename,
            initialized_tables=tables,
        )
    return proto


def _signature(values: Any) -> list[dict[str, Any]]:
    """Names, dtypes and shapes of graph inputs or outputs (``-1`` for a symbolic dimension)."""
    from onnx import TensorProto, helper

    out = []
    for v in values:
        t = v.type.tensor_type
        np_dtype = helper.tensor_dtype_to_np_dtype(t.elem_type)
        out.append(
            {
                "name": v.name,
                "dtype": "string" if t.elem_type == TensorProto.STRING else np_dtype.name,
                "onnx_type": TensorProto.DataType.Name(t.elem_type),
                "shape": [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim],
            }
        )
    return out


def signature(proto: Any) -> dict[str, list[dict[str, Any]]]:
    """The model's input/output signature, as stored in its ``mlrail.signature`` metadata prop."""
    return {"inputs": _signature(proto.graph.input), "outputs": _signature(proto.graph.output)}


def _metadata(proto: Any, spec: ModelSpec, identity: str) -> None:
    proto.producer_name = "mlrail"
    proto.producer_version = __version__
    props = {
        "mlrail.task": spec.task,
        "mlrail.label": spec.label,
        "mlrail.classes": ",".join(spec.classes),
        IDENTITY_METADATA_KEY: identity,
        "mlrail.signature": json.dumps(signature(proto), sort_keys=True),
    }
    for k, v in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v


def source_hash(path: Path) -> str:
    """sha256 over the SavedModel's files (relative path, bytes), in path order.

    Recorded in the artifact's metadata, not in the file: it differs between two same-seed
    trainings (TensorFlow's function names), so in the file it would change the bytes.
    """
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(path)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()
