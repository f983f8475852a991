"""export_onnx: convert the SavedModel with tf2onnx, check it, and prove parity on every eval row.

tf2onnx 1.17's Python API has no ``from_saved_model``; the path its command line takes
(``tf_loader.from_saved_model`` then ``_convert_common``) is the one that carries StringLookup
tables over, so it is reused here in process. ``from_keras``/``from_function`` fail on lookup
tables and Keras' own ONNX export writes files ONNX Runtime refuses (DESIGN §4): nothing is
written unless ONNX Runtime loaded the model and matched the SavedModel within the tolerance.

Opset: the default is 17. Verified here: tf2onnx 1.17 converts up to opset 18 and refuses 19
("Opset 19 is not supported yet"); the penguins model converted at 17 and at 18 loads in ONNX
Runtime 1.32 and matches the SavedModel at both (max |diff| about 1e-7).
Not verified here (no Triton on this machine): which opsets the Triton image of the cluster's
KServe ``kserve-tritonserver`` runtime accepts. By ONNX Runtime's compatibility table opset 17
needs ONNX Runtime >= 1.12 and 18 needs >= 1.14; which Triton release first ships each was not
checked. 17 is kept as the default because it needs the older Triton, and the penguins model
gives the same numbers at 18. The runtime's image tag is set by the KServe installation (one
old release of KServe's runtime kustomization pinned Triton 21.09, whose ONNX Runtime 1.8 stops
at opset 14): check it, and pass a lower ``opset`` if needed, before deploying to Triton.

Optional variants, each gated against the unquantised ONNX model on the same eval rows and
written only if within its bound (a rejected variant is reported, not an error):

- ``optimize``: ONNX Runtime's offline graph optimisation (``ORT_ENABLE_EXTENDED``, CPU
  provider). The file uses ONNX Runtime's own fused operators (``com.microsoft`` domain), so
  it is for ONNX Runtime on CPU only. ONNX Runtime applies the same rewrites when it loads
  ``model.onnx`` (its default level is ``ORT_ENABLE_ALL``), so the file saves load time only.
- ``quantize``: dynamic int8 quantisation of the weights of MatMul/Gemm only (the string
  inputs, lookup tables and imputation stay as they are), after ONNX Runtime's quantisation
  pre-processing without its symbolic shape inference (which needs sympy, not installed; ONNX's
  own shape inference, which still runs, is enough for the dense layers). On a model as small
  as penguins' (about 1,000 weights) the int8 file is *larger*: the quantisation nodes and
  their scales outweigh the 3 KB the weights save.

Names: the graph's inputs are the data's column names (``spec.column``: what V2 clients send,
the golden request and ``config.pbtxt`` use), whatever they hold. The SavedModel's inputs have
TensorFlow-safe names (``spec.name``, :func:`mlrail.artifacts.modelspec.input_names`); after
conversion each graph input is renamed to its column, and an internal tensor that already had a
column's name is renamed first (:func:`name_inputs`). The output keeps ``spec.output``, which
train chose to differ from every column.

Bounds: ``tolerance``, ``rtol``, ``max_accuracy_drop`` and ``max_rmse_increase`` must be finite
numbers >= 0 (:func:`check_options`): a negative or NaN bound would let every row pass (or
none), so the parity gate would be off without anyone saying so.

``model.onnx`` (and the repository's model) is always the unquantised, unoptimised model.
The file carries its signature in the metadata prop ``mlrail.signature``:
``{"inputs": [{"name", "dtype", "onnx_type", "shape"}], "outputs": [...]}``, with ``-1`` for
a dimension of any size, besides ``mlrail.task``, ``mlrail.label``, ``mlrail.classes`` and
``mlrail.source_sha256`` (producer ``mlrail``, producer version the mlrail version).

Output layout of the ``onnx_model`` artifact::

    onnx_model/
      model.onnx
      model_spec.json                      the input contract (mlrail.artifacts.modelspec)
      golden.json                          {"request": V2 infer request of the first eval rows,
                                            "outputs": ONNX Runtime's V2 outputs for it}
      parity.json                          {"rows", "max_abs_diff", "max_rel_diff",
                                            "label_agreement", "tolerance", "rtol", "scale",
                                            "ok", "worst_rows", "edge_rows",
                                            "edge_max_abs_diff"}
      variants.json                        {"base": {"bytes", "accuracy", "rmse", "rows"} or
                                            null, "max_accuracy_drop", "max_rmse_increase",
                                            "variants": [Variant fields]}
      model.optimized.onnx                 if optimize and within its bound
      model.int8.onnx                      if quantize and within its bound
      model_repository/<name>/config.pbtxt Triton/KServe layout
      model_repository/<name>/1/model.onnx
      model_repository/<name>/1/model_spec.json
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from mlrail import __version__
from mlrail.artifacts.jsonsafe import finite
from mlrail.artifacts.modelspec import CLASSIFICATION, ModelSpec, read_split
from mlrail.artifacts.parity import DEFAULT_RTOL, DEFAULT_TOLERANCE, compare, output_scale
from mlrail.artifacts.saved_model import predict_saved_model
from mlrail.components.export_onnx.naming import name_inputs, pbtxt_string, triton_config
from mlrail.errors import DataError, ModelError, ParityError
from mlrail.io import atomic_dir, atomic_write_bytes, atomic_write_json, atomic_write_text

__all__ = [
    "DEFAULT_MAX_ACCURACY_DROP",
    "DEFAULT_MAX_RMSE_INCREASE",
    "DEFAULT_OPSET",
    "DEFAULT_RTOL",
    "ExportResult",
    "Parity",
    "Quality",
    "Variant",
    "check_options",
    "edge_rows",
    "export_onnx",
    "golden_requests",
    "name_inputs",
    "parity",
    "pbtxt_string",
    "signature",
    "triton_config",
]

#: tf2onnx 1.17 converts up to opset 18; 17 is served by ONNX Runtime ≥ 1.12 and Triton ≥ 22.07
#: (why not 18: module doc).
DEFAULT_OPSET = 17
#: Eval rows kept as golden requests for deploy's smoke test.
GOLDEN_ROWS = 8
#: A variant may lose at most one point of eval accuracy (and change at most 1% of the labels).
DEFAULT_MAX_ACCURACY_DROP = 0.01
#: A regression variant's eval RMSE may grow by at most 1% of the unquantised model's.
DEFAULT_MAX_RMSE_INCREASE = 0.01


def check_options(
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    rtol: float = DEFAULT_RTOL,
    max_accuracy_drop: float = DEFAULT_MAX_ACCURACY_DROP,
    max_rmse_increase: float = DEFAULT_MAX_RMSE_INCREASE,
) -> None:
    """Refuse a bound that would switch a gate off; callable before any step runs (the CLI).

    Raises:
        ValueError: naming the parameter that is negative, NaN, infinite or not a number.
    """
    for name, value in (
        ("tolerance", tolerance),
        ("rtol", rtol),
        ("max_accuracy_drop", max_accuracy_drop),
        ("max_rmse_increase", max_rmse_increase),
    ):
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not np.isfinite(value) or value < 0:
            raise ValueError(
                f"{name} must be a finite number >= 0, got {value!r}"
                + (" (a negative bound lets every row pass)" if number and value < 0 else "")
            )


@dataclass(frozen=True)
class Parity:
    """ONNX Runtime against the SavedModel on every eval row (and on the edge rows).

    ``edge_rows`` synthetic rows (:func:`edge_rows`: missing and infinite numbers, empty and
    unseen strings) are compared as well, within the same bound; ``edge_max_abs_diff`` is theirs.
    ``scale`` is the largest finite |output| on the eval rows (the bound's relative base, see
    :func:`parity`).
    """

    rows: int
    max_abs_diff: float
    max_rel_diff: float
    label_agreement: float | None
    tolerance: float
    rtol: float
    ok: bool
    worst_rows: list[int]
    edge_rows: int = 0
    edge_max_abs_diff: float = 0.0
    scale: float = 0.0


@dataclass(frozen=True)
class Quality:
    """The unquantised ONNX model on the labelled eval rows (the variants' baseline)."""

    bytes: int
    rows: int
    accuracy: float | None
    rmse: float | None


@dataclass(frozen=True)
class Variant:
    """One optional variant of the model, compared with the unquantised model on eval rows.

    ``accuracy_drop`` and ``rmse_increase`` (relative: 0.01 is 1% worse) are against the
    unquantised ONNX model; ``label_agreement`` is the share of rows where both predict the
    same class; ``max_abs_diff`` is over all output values. ``file`` exists only if accepted.
    """

    name: str
    file: str
    accepted: bool
    reason: str
    bytes: int
    max_abs_diff: float
    accuracy: float | None = None
    accuracy_drop: float | None = None
    label_agreement: float | None = None
    rmse: float | None = None
    rmse_increase: float | None = None


@dataclass(frozen=True)
class ExportResult:
    """What export_onnx wrote; ``inputs`` are the graph's input names (the data's columns)."""

    parity: Parity
    opset: int
    sha256: str
    inputs: list[str]
    outputs: list[str]
    base: Quality | None = None
    variants: list[Variant] = field(default_factory=list)

    @property
    def files(self) -> list[str]:
        """The ONNX files written: ``model.onnx`` first, then each accepted variant."""
        return ["model.onnx"] + [v.file for v in self.variants if v.accepted]

    def metrics(self) -> dict[str, float]:
        """Flat numeric figures for a KFP ``Metrics`` artifact (parity, sizes, variants)."""
        p = self.parity
        out: dict[str, float] = {
            "rows": float(p.rows),
            "max_abs_diff": p.max_abs_diff,
            "max_rel_diff": p.max_rel_diff,
            "edge_rows": float(p.edge_rows),
            "edge_max_abs_diff": p.edge_max_abs_diff,
        }
        if p.label_agreement is not None:
            out["label_agreement"] = p.label_agreement
        if self.base is not None:
            out["model_bytes"] = float(self.base.bytes)
            for k in ("accuracy", "rmse"):
                if (value := getattr(self.base, k)) is not None:
                    out[k] = value
        for v in self.variants:
            out[f"{v.name}_accepted"] = float(v.accepted)
            out[f"{v.name}_bytes"] = float(v.bytes)
            out[f"{v.name}_max_abs_diff"] = v.max_abs_diff
            for k in ("accuracy", "accuracy_drop", "label_agreement", "rmse", "rmse_increase"):
                if (value := getattr(v, k)) is not None:
                    out[f"{v.name}_{k}"] = value
        # KFP metrics are JSON numbers: an invalid variant's NaN diff or an infinite increase
        # is left out (variants.json says why it was rejected)
        return {k: v for k, v in out.items() if np.isfinite(v)}


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


def _metadata(proto: Any, spec: ModelSpec, source_hash: str) -> None:
    proto.producer_name = "mlrail"
    proto.producer_version = __version__
    props = {
        "mlrail.task": spec.task,
        "mlrail.label": spec.label,
        "mlrail.classes": ",".join(spec.classes),
        "mlrail.source_sha256": source_hash,
        "mlrail.signature": json.dumps(signature(proto), sort_keys=True),
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
    """Compare element-wise: ``|onnx - reference| <= tolerance + rtol * max(|reference|, scale)``,
    ``scale`` being the largest finite |output| on these rows (:func:`output_scale`).

    The relative term is what lets a regression model predicting values in the thousands pass:
    there one float32 rounding step alone is about 5e-4, far above any sensible absolute bound.
    It is relative to the outputs' scale, not only to each row's own value: float32 rounding
    follows the magnitudes the graph computes with, and a regression head's offset (the label's
    mean) is that large on every row. Measured on house prices (mean 200,000): a row predicting
    7,528 differed by 0.031 — two float32 steps at 200,000 — where its own bound was 0.0076.
    """
    scale = output_scale(reference)
    within = compare(reference, onnx_out, tolerance, rtol, scale)
    diff, rel, excess = within.diff, within.rel, within.row_excess()
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
        scale=scale,
    )


#: A string no vocabulary holds: the edge row for an unseen category.
UNSEEN = "\x00mlrail-unseen"


def edge_rows(
    spec: ModelSpec, features: dict[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Copies of the first row with one input at a time set to a value eval data may lack.

    Numbers and dates: NaN (a missing value), +inf and -inf; strings: empty and unseen. Plus
    one row with every number and date missing and every string unseen. Rows are named by
    column (``bill_length_mm=NaN``); ``features`` and the rows are keyed by TensorFlow name.
    The converted graph must treat these as the SavedModel does (tf2onnx once turned
    ``where(isfinite(x), x, mean)`` into arithmetic that makes a missing number NaN, which eval
    rows without gaps did not show).
    """
    first = {k: v[:1] for k, v in features.items()}
    rows: list[dict[str, Any]] = []
    names: list[str] = []
    numbers = {"NaN": np.nan, "+inf": np.inf, "-inf": -np.inf}
    strings = {"''": "", "unseen": UNSEEN}
    for i in spec.inputs:
        for label, value in (strings if i.dtype == "string" else numbers).items():
            rows.append({i.name: value})
            names.append(f"{i.column}={label}")
    rows.append({i.name: UNSEEN if i.dtype == "string" else np.nan for i in spec.inputs})
    names.append("all numbers and dates missing, all strings unseen")
    out = {k: np.repeat(v, len(rows), axis=0) for k, v in first.items()}
    for r, change in enumerate(rows):
        for k, value in change.items():
            out[k][r, 0] = value
    return out, names


def golden_requests(
    spec: ModelSpec, features: dict[str, np.ndarray], outputs: np.ndarray, rows: int = GOLDEN_ROWS
) -> dict[str, Any]:
    """The first eval rows as an Open Inference Protocol v2 request, with ONNX Runtime's answer.

    deploy replays the request against the live endpoint and compares (a smoke test of the
    serving stack, not only of the model). Inputs are named by column, as V2 clients send
    them. Missing numbers and dates are written as ``null``, which the server reads as missing,
    as training did; dates are FP64 days since 1970-01-01 UTC.
    """
    inputs = []
    for i in spec.inputs:
        column = features[i.name][:rows, 0]
        if i.dtype == "string":
            data: list[Any] = [str(v) for v in column]
            datatype = "BYTES"
        else:
            data = [None if np.isnan(v) else float(v) for v in column]
            datatype = "FP64" if i.dtype == "datetime" else "FP32"
        inputs.append(
            {"name": i.column, "shape": [len(data), 1], "datatype": datatype, "data": data}
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


def _session(data: bytes, options: Any = None, what: str = "the converted model") -> Any:
    import onnxruntime as ort

    try:
        return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as e:  # ORT's pybind errors share no base class
        raise ModelError(f"{what}: ONNX Runtime cannot load it: {e}") from e


def _run(
    session: Any, spec: ModelSpec, features: dict[str, np.ndarray], what: str, where: str
) -> np.ndarray:
    """ONNX Runtime's output on ``features`` (keyed by TensorFlow name), fed by graph name.

    Raises:
        ModelError: ONNX Runtime refuses the feed or fails (its error, named), never a bare
            ``ValueError`` from inside ONNX Runtime.
    """
    feeds = spec.feeds(features, [i.name for i in session.get_inputs()])
    try:
        (out,) = session.run([spec.output], feeds)
    except Exception as e:  # ORT raises ValueError, RuntimeError or its own pybind errors
        raise ModelError(f"{what}: ONNX Runtime failed on the rows of {where}: {e}") from e
    return np.asarray(out)


def _quality(spec: ModelSpec, out: np.ndarray, y: np.ndarray) -> tuple[float | None, float | None]:
    """(accuracy, rmse) of ``out`` against the labelled rows ``y``; the one for the task."""
    if spec.task in CLASSIFICATION:
        return float(np.mean(out.argmax(axis=1) == y)), None
    return None, float(np.sqrt(np.mean((out.reshape(-1).astype(np.float64) - y) ** 2)))


def _optimized(data: bytes, scratch: Path) -> bytes:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(scratch / "model.optimized.onnx")
    _session(data, options)  # creating the session writes the optimised graph
    return (scratch / "model.optimized.onnx").read_bytes()


def _int8(data: bytes, scratch: Path) -> bytes:
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    (scratch / "plain.onnx").write_bytes(data)
    # symbolic shape inference needs sympy (not a dependency); ONNX's own shape inference,
    # which quant_pre_process still runs, is enough for MatMul/Gemm weights
    quant_pre_process(
        str(scratch / "plain.onnx"), str(scratch / "pre.onnx"), skip_symbolic_shape=True
    )
    quantize_dynamic(
        scratch / "pre.onnx",
        scratch / "model.int8.onnx",
        weight_type=QuantType.QInt8,
        # only the dense layers' weights: strings, lookups and imputation stay float/string
        op_types_to_quantize=["MatMul", "Gemm"],
        extra_options={"MatMulConstBOnly": True},
    )
    return (scratch / "model.int8.onnx").read_bytes()


def _variant(
    where: str,
    name: str,
    data: bytes,
    spec: ModelSpec,
    features: dict[str, np.ndarray],
    plain_out: np.ndarray,
    labelled: np.ndarray,
    y: np.ndarray,
    base: Quality,
    max_accuracy_drop: float,
    max_rmse_increase: float,
) -> Variant:
    """Run the variant on the eval rows and decide whether it stays within its bound."""
    import onnx

    file = f"model.{name}.onnx"
    try:
        onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
    except onnx.checker.ValidationError as e:
        return Variant(name, file, False, f"invalid ONNX: {e}", len(data), float("nan"))
    out = _run(_session(data, what=file), spec, features, file, where)
    diff = float(np.abs(out.astype(np.float64) - plain_out).max())
    accuracy, rmse = _quality(spec, out[labelled], y)
    if accuracy is not None and base.accuracy is not None:
        agreement = float(np.mean(out.argmax(axis=1) == plain_out.argmax(axis=1)))
        drop = base.accuracy - accuracy
        # a variant that flips labels both ways can keep its accuracy and still be another model
        accepted = drop <= max_accuracy_drop and 1.0 - agreement <= max_accuracy_drop
        reason = (
            f"accuracy drop {drop:.4g}, labels changed {1.0 - agreement:.4g} "
            f"(bound {max_accuracy_drop:g} each)"
        )
        return Variant(
            name, file, accepted, reason, len(data), diff,
            accuracy=accuracy, accuracy_drop=drop, label_agreement=agreement,
        )  # fmt: skip
    assert rmse is not None and base.rmse is not None
    increase = (rmse - base.rmse) / base.rmse if base.rmse > 0 else (0.0 if rmse == 0 else np.inf)
    reason = f"RMSE increase {increase:.4g} relative (bound {max_rmse_increase:g})"
    return Variant(
        name, file, bool(increase <= max_rmse_increase), reason, len(data), diff,
        rmse=rmse, rmse_increase=float(increase),
    )  # fmt: skip


def export_onnx(
    model_dir: str | Path,
    examples_dir: str | Path,
    onnx_model_dir: str | Path,
    *,
    model_name: str = "model",
    tolerance: float = DEFAULT_TOLERANCE,
    rtol: float = DEFAULT_RTOL,
    opset: int = DEFAULT_OPSET,
    split: str = "eval",
    optimize: bool = False,
    quantize: bool = False,
    max_accuracy_drop: float = DEFAULT_MAX_ACCURACY_DROP,
    max_rmse_increase: float = DEFAULT_MAX_RMSE_INCREASE,
) -> ExportResult:
    """Convert, check and compare; write the ONNX model (layout in the module doc).

    ``optimize`` and ``quantize`` each add a variant, compared with the unquantised ONNX model
    on the labelled ``split`` rows: a classifier's variant may lose at most
    ``max_accuracy_drop`` of accuracy and change at most that share of predicted labels; a
    regression variant's RMSE may grow by at most ``max_rmse_increase`` (relative). A variant
    over its bound is not written and is reported as rejected in ``variants.json``.

    Raises:
        ParityError: ONNX Runtime's outputs differ from the SavedModel's by more than
            ``tolerance + rtol * max(|SavedModel output|, largest |output|)`` on some eval
            row; nothing is written.
        ModelError: the model cannot be converted, loaded or run (named).
        DataError: the split lacks an input column or has no row (named).
        ValueError: a bound that is negative, NaN or infinite (:func:`check_options`).
    """
    import onnx

    check_options(
        tolerance=tolerance,
        rtol=rtol,
        max_accuracy_drop=max_accuracy_drop,
        max_rmse_increase=max_rmse_increase,
    )
    spec = ModelSpec.read(model_dir)
    saved_model = Path(model_dir) / "saved_model"
    proto = _convert(saved_model, spec, opset)
    try:
        name_inputs(proto, spec)
    except ModelError as e:
        raise ModelError(f"{saved_model}: {e}") from e
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
    session = _session(data)
    onnx_out = _run(session, spec, features, "the converted model", where)
    result = parity(spec, reference, onnx_out, tolerance, rtol)
    edges, edge_names = edge_rows(spec, features)
    edge_out = _run(session, spec, edges, "the converted model", f"edge rows derived from {where}")
    edge_ref = predict_saved_model(saved_model, edges)
    # the eval rows' scale: an edge row's output (say, all inputs missing) is no better a base
    edge_within = compare(edge_ref, edge_out, tolerance, rtol, result.scale)
    edge_diff, edge_excess = edge_within.diff, edge_within.row_excess()
    failed = [edge_names[i] for i in np.flatnonzero(edge_excess > 1.0)]
    result = replace(result, edge_rows=len(edge_names), edge_max_abs_diff=float(edge_diff.max()))
    bound = f"bound {tolerance:g} + {rtol:g} x max(|value|, {result.scale:.4g})"
    if not result.ok:
        raise ParityError(
            f"ONNX Runtime differs from the SavedModel by {result.max_abs_diff:.3g} ({bound}) "
            f"on {where}; worst rows: {result.worst_rows}"
        )
    if failed:
        raise ParityError(
            f"ONNX Runtime differs from the SavedModel by {result.edge_max_abs_diff:.3g} "
            f"({bound}) on edge rows derived from {where}: {', '.join(failed)}"
        )
    sha = hashlib.sha256(data).hexdigest()
    width = int(onnx_out.shape[1]) if onnx_out.ndim == 2 else 1

    base: Quality | None = None
    variants: list[tuple[Variant, bytes]] = []
    makers = [m for m, on in (("optimized", optimize), ("int8", quantize)) if on]
    if makers:
        y, labelled = spec.labels(read_split(where), where)
        if not labelled.any():
            raise DataError(
                f"{where}: no row has the label {spec.label!r}; cannot gate the ONNX variants"
            )
        plain_out = onnx_out.astype(np.float64)
        accuracy, rmse = _quality(spec, plain_out[labelled], y[labelled])
        base = Quality(len(data), int(labelled.sum()), accuracy, rmse)
        with tempfile.TemporaryDirectory() as scratch:
            for name in makers:
                make = _optimized if name == "optimized" else _int8
                variant_data = make(data, Path(scratch))
                v = _variant(
                    where, name, variant_data, spec, features, plain_out, labelled, y[labelled],
                    base, max_accuracy_drop, max_rmse_increase,
                )  # fmt: skip
                variants.append((v, variant_data))
    report = {
        "base": None if base is None else asdict(base),
        "max_accuracy_drop": max_accuracy_drop,
        "max_rmse_increase": max_rmse_increase,
        "variants": [asdict(v) for v, _ in variants],
    }

    with atomic_dir(onnx_model_dir) as tmp:
        atomic_write_bytes(tmp / "model.onnx", data)
        for v, variant_data in variants:
            if v.accepted:
                atomic_write_bytes(tmp / v.file, variant_data)
        spec.write(tmp)
        atomic_write_json(tmp / "parity.json", asdict(result))
        atomic_write_json(tmp / "variants.json", finite(report))
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
        inputs=[i.column for i in spec.inputs],
        outputs=[spec.output],
        base=base,
        variants=[v for v, _ in variants],
    )
