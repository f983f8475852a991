"""export_onnx: convert the SavedModel with tf2onnx, check it, and prove parity on every eval row.

tf2onnx 1.17's Python API has no ``from_saved_model``; the path its command line takes
(``tf_loader.from_saved_model`` then ``_convert_common``) is the one that carries StringLookup
tables over, so it is reused here in process. ``from_keras``/``from_function`` fail on lookup
tables and Keras' own ONNX export writes files ONNX Runtime refuses (DESIGN §4): nothing is
written unless ONNX Runtime loaded the model and matched the SavedModel within the tolerance.

Output layout of the ``onnx_model`` artifact::

    onnx_model/
      model.onnx
      model_spec.json                      the input contract (mlrail.modelspec), for the server
      golden.json                          {"request": V2 infer request of the first eval rows,
                                            "outputs": ONNX Runtime's V2 outputs for it}
      parity.json                          {"rows", "max_abs_diff", "max_rel_diff",
                                            "label_agreement", "tolerance", "rtol", "ok",
                                            "worst_rows"}
      model_repository/<name>/config.pbtxt Triton/KServe layout
      model_repository/<name>/1/model.onnx
      model_repository/<name>/1/model_spec.json
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlrail import __version__
from mlrail.errors import DataError, ModelError, ParityError
from mlrail.io import atomic_dir, atomic_write_bytes, atomic_write_json, atomic_write_text
from mlrail.modelspec import CLASSIFICATION, ModelSpec, read_split

__all__ = [
    "DEFAULT_OPSET",
    "DEFAULT_RTOL",
    "ExportResult",
    "Parity",
    "export_onnx",
    "golden_requests",
    "parity",
    "triton_config",
]

#: tf2onnx 1.17 converts up to opset 18; 17 is served by ONNX Runtime ≥ 1.12 and Triton ≥ 22.07.
DEFAULT_OPSET = 17
#: Eval rows kept as golden requests for deploy's smoke test.
GOLDEN_ROWS = 8
#: Relative part of the parity bound: about ten float32 rounding steps.
DEFAULT_RTOL = 1e-6


@dataclass(frozen=True)
class Parity:
    rows: int
    max_abs_diff: float
    max_rel_diff: float
    label_agreement: float | None
    tolerance: float
    rtol: float
    ok: bool
    worst_rows: list[int]


@dataclass(frozen=True)
class ExportResult:
    parity: Parity
    opset: int
    sha256: str
    inputs: list[str]
    outputs: list[str]


def _convert(saved_model_dir: Path, spec: ModelSpec, opset: int) -> Any:
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


def _metadata(proto: Any, spec: ModelSpec, source_hash: str) -> None:
    proto.producer_name = "mlrail"
    proto.producer_version = __version__
    props = {
        "mlrail.task": spec.task,
        "mlrail.label": spec.label,
        "mlrail.classes": ",".join(spec.classes),
        "mlrail.source_sha256": source_hash,
    }
    for k, v in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v


def _dir_hash(path: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(path)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def parity(
    spec: ModelSpec,
    reference: np.ndarray,
    onnx_out: np.ndarray,
    tolerance: float,
    rtol: float = DEFAULT_RTOL,
) -> Parity:
    """Compare element-wise: ``|onnx - reference| <= tolerance + rtol * |reference|``.

    The relative term is what lets a regression model predicting values in the thousands pass:
    there one float32 rounding step alone is about 5e-4, far above any sensible absolute bound.
    """
    ref = reference.astype(np.float64)
    diff = np.abs(ref - onnx_out.astype(np.float64))
    rel = diff / np.maximum(np.abs(ref), 1e-12)
    excess = (diff / (tolerance + rtol * np.abs(ref))).reshape(len(diff), -1).max(axis=1)
    agreement = None
    if spec.task in CLASSIFICATION:
        agreement = float(np.mean(reference.argmax(axis=1) == onnx_out.argmax(axis=1)))
    return Parity(
        rows=len(reference),
        max_abs_diff=float(diff.max()),
        max_rel_diff=float(rel.max()),
        label_agreement=agreement,
        tolerance=tolerance,
        rtol=rtol,
        ok=bool(np.all(excess <= 1.0)),
        worst_rows=[int(i) for i in np.argsort(-excess, kind="stable")[:5]],
    )


def golden_requests(
    spec: ModelSpec, features: dict[str, np.ndarray], outputs: np.ndarray, rows: int = GOLDEN_ROWS
) -> dict[str, Any]:
    """The first eval rows as an Open Inference Protocol v2 request, with ONNX Runtime's answer.

    deploy replays the request against the live endpoint and compares (a smoke test of the
    serving stack, not only of the model). Missing numbers are written as ``null``, which the
    server reads as missing, as training did.
    """
    inputs = []
    for i in spec.inputs:
        column = features[i.name][:rows, 0]
        if i.dtype == "float32":
            data: list[Any] = [None if np.isnan(v) else float(v) for v in column]
            inputs.append(
                {"name": i.name, "shape": [len(data), 1], "datatype": "FP32", "data": data}
            )
        else:
            data = [str(v) for v in column]
            inputs.append(
                {"name": i.name, "shape": [len(data), 1], "datatype": "BYTES", "data": data}
            )
    expected = outputs[:rows]
    return {
        "request": {"inputs": inputs},
        "outputs": [
            {
                "name": spec.output,
                "shape": list(expected.shape),
                "datatype": "FP32",
                "data": [float(v) for v in expected.reshape(-1)],
            }
        ],
    }


def triton_config(name: str, spec: ModelSpec, outputs: int) -> str:
    """A Triton ``config.pbtxt`` for the ONNX Runtime backend (KServe's Triton runtime reads it)."""
    lines = [f'name: "{name}"', 'platform: "onnxruntime_onnx"', "max_batch_size: 0"]
    for i in spec.inputs:
        dtype = "TYPE_FP32" if i.dtype == "float32" else "TYPE_STRING"
        lines += [
            "input {",
            f'  name: "{i.name}"',
            f"  data_type: {dtype}",
            "  dims: [ -1, 1 ]",
            "}",
        ]
    lines += [
        "output {",
        f'  name: "{spec.output}"',
        "  data_type: TYPE_FP32",
        f"  dims: [ -1, {outputs} ]",
        "}",
    ]
    return "\n".join(lines) + "\n"


def export_onnx(
    model_dir: str | Path,
    examples_dir: str | Path,
    onnx_model_dir: str | Path,
    *,
    model_name: str = "model",
    tolerance: float = 1e-4,
    rtol: float = DEFAULT_RTOL,
    opset: int = DEFAULT_OPSET,
    split: str = "eval",
) -> ExportResult:
    """Convert, check and compare; write the ONNX model (layout in the module doc).

    Raises:
        ParityError: ONNX Runtime's outputs differ from the SavedModel's by more than
            ``tolerance + rtol * |SavedModel output|`` on some eval row; nothing is written.
    """
    import onnx
    import onnxruntime as ort

    from mlrail.components.evaluate.core import predict_saved_model

    spec = ModelSpec.read(model_dir)
    saved_model = Path(model_dir) / "saved_model"
    proto = _convert(saved_model, spec, opset)
    _metadata(proto, spec, _dir_hash(saved_model))
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as e:
        raise ModelError(f"{saved_model}: the converted ONNX model is invalid: {e}") from e
    data = proto.SerializeToString()

    where = str(Path(examples_dir) / split)
    features = spec.features(read_split(where), where)
    if not len(next(iter(features.values()))):
        raise DataError(f"{where}: no rows to check ONNX parity on")
    reference = predict_saved_model(saved_model, features)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    (onnx_out,) = session.run([spec.output], features)
    result = parity(spec, reference, onnx_out, tolerance, rtol)
    if not result.ok:
        raise ParityError(
            f"ONNX Runtime differs from the SavedModel by {result.max_abs_diff:.3g} "
            f"(bound {tolerance:g} + {rtol:g} x |value|) on {where}; "
            f"worst rows: {result.worst_rows}"
        )
    sha = hashlib.sha256(data).hexdigest()
    width = int(onnx_out.shape[1]) if onnx_out.ndim == 2 else 1
    with atomic_dir(onnx_model_dir) as tmp:
        atomic_write_bytes(tmp / "model.onnx", data)
        spec.write(tmp)
        atomic_write_json(tmp / "parity.json", asdict(result))
        atomic_write_json(tmp / "golden.json", golden_requests(spec, features, onnx_out))
        repo = tmp / "model_repository" / model_name
        (repo / "1").mkdir(parents=True)
        shutil.copyfile(tmp / "model.onnx", repo / "1" / "model.onnx")
        # the server's input contract travels with the version (KServe mounts only the repository)
        shutil.copyfile(tmp / "model_spec.json", repo / "1" / "model_spec.json")
        atomic_write_text(repo / "config.pbtxt", triton_config(model_name, spec, width))
    return ExportResult(
        parity=result,
        opset=opset,
        sha256=sha,
        inputs=[i.name for i in spec.inputs],
        outputs=[spec.output],
    )
