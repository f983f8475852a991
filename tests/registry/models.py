"""A tiny real ONNX classifier in export_onnx's folder layout, built in milliseconds.

Two float inputs and a string input (so the signature has both kinds), a softmax over three
classes; ``model_spec.json``, ``golden.json`` (a V2 request and ONNX Runtime's answer to it) and
``parity.json`` beside ``model.onnx``. The registry tests need a model the registry can hold and
ONNX Runtime can run, not a trained one (tests/components/register uses the trained penguins
model).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mlrail.artifacts.modelspec import InputSpec, ModelSpec

__all__ = ["CLASSES", "tiny_model"]

CLASSES = ["a", "b", "c"]


def tiny_model(folder: Path, seed: int = 0, *, identity: str = "") -> Path:
    """Write the model into ``folder`` (created); ``seed`` changes the weights (and so the
    bytes); ``identity`` becomes the ``mlrail.identity`` metadata prop when given."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w = rng.normal(size=(2, 3)).astype(np.float32)
    b = rng.normal(size=(3,)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Concat", ["x1", "x2"], ["x"], axis=1),
            helper.make_node("MatMul", ["x", "w"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        ],
        "tiny",
        [
            helper.make_tensor_value_info("x1", TensorProto.FLOAT, [None, 1]),
            helper.make_tensor_value_info("x2", TensorProto.FLOAT, [None, 1]),
            helper.make_tensor_value_info("island", TensorProto.STRING, [None, 1]),
        ],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 3])],
        initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    props = {"mlrail.task": "multiclass", "mlrail.label": "y"}
    if identity:
        props["mlrail.identity"] = identity
    helper.set_model_props(model, props)
    onnx.checker.check_model(model)
    folder.mkdir(parents=True, exist_ok=True)
    data = model.SerializeToString()
    (folder / "model.onnx").write_bytes(data)
    ModelSpec(
        task="multiclass",
        label="y",
        inputs=[
            InputSpec("in_x1", "x1", "float32"),
            InputSpec("in_x2", "x2", "float32"),
            InputSpec("in_island", "island", "string"),
        ],
        output="probabilities",
        classes=CLASSES,
    ).write(folder)
    rows = {
        "x1": np.array([[0.5], [1.5], [-2.0]], dtype=np.float32),
        "x2": np.array([[1.0], [0.0], [3.0]], dtype=np.float32),
        "island": np.array([["Biscoe"], ["Dream"], ["Torgersen"]], dtype=object),
    }
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    (out,) = session.run(None, rows)
    golden = {
        "request": {
            "inputs": [
                {
                    "name": name,
                    "shape": list(v.shape),
                    "datatype": "BYTES" if v.dtype == object else "FP32",
                    "data": [x.item() if hasattr(x, "item") else x for x in v.ravel()],
                }
                for name, v in rows.items()
            ]
        },
        "outputs": [
            {
                "name": "probabilities",
                "shape": list(out.shape),
                "datatype": "FP32",
                "data": out.ravel().tolist(),
            }
        ],
    }
    (folder / "golden.json").write_text(json.dumps(golden))
    parity = {"rows": 3, "max_abs_diff": 0.0, "max_rel_diff": 0.0, "ok": True}
    (folder / "parity.json").write_text(json.dumps(parity))
    return folder
