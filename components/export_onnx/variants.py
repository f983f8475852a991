"""The optional variants: ONNX Runtime's offline-optimised graph and the int8 model, each gated
against the unquantised ONNX model on the labelled eval rows (why each is built as it is: the
:mod:`~mlrail.components.export_onnx.core` module doc).

A variant over its bound is reported (``variants.json``), not written, and not an error.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlrail.artifacts.examples import read_split
from mlrail.artifacts.jsonsafe import finite
from mlrail.artifacts.modelspec import CLASSIFICATION, ModelSpec
from mlrail.components.export_onnx.checks import run, session
from mlrail.errors import DataError

__all__ = [
    "DEFAULT_MAX_ACCURACY_DROP",
    "DEFAULT_MAX_RMSE_INCREASE",
    "Quality",
    "Variant",
    "make_variants",
    "report",
]

#: A variant may lose at most one point of eval accuracy (and change at most 1% of the labels).
DEFAULT_MAX_ACCURACY_DROP = 0.01
#: A regression variant's eval RMSE may grow by at most 1% of the unquantised model's.
DEFAULT_MAX_RMSE_INCREASE = 0.01


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
    session(data, options)  # creating the session writes the optimised graph
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
    out = run(session(data, what=file), spec, features, file, where)
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


def make_variants(
    data: bytes,
    spec: ModelSpec,
    features: dict[str, np.ndarray],
    onnx_out: np.ndarray,
    where: str,
    *,
    optimize: bool,
    quantize: bool,
    max_accuracy_drop: float,
    max_rmse_increase: float,
) -> tuple[Quality | None, list[tuple[Variant, bytes]]]:
    """Build each variant asked for and gate it against the unquantised model ``data``.

    Args:
        data: The unquantised ONNX model.
        spec: The model's contract.
        features: The eval rows (keyed by TensorFlow name), read from ``where``.
        onnx_out: ``data``'s outputs on ``features``.
        where: The eval split's folder, for messages and its labels.
        optimize: Build ONNX Runtime's offline-optimised graph.
        quantize: Build the dynamic int8 model.
        max_accuracy_drop: A classifier variant's bound (accuracy drop and changed labels).
        max_rmse_increase: A regression variant's bound (relative RMSE increase).

    Returns:
        The unquantised model's quality (None when no variant was asked for) and each variant
        with its bytes (written only if accepted).

    Raises:
        DataError: a variant was asked for and no eval row has a label.
    """
    makers = [m for m, on in (("optimized", optimize), ("int8", quantize)) if on]
    if not makers:
        return None, []
    y, labelled = spec.labels(read_split(where), where)
    if not labelled.any():
        raise DataError(
            f"{where}: no row has the label {spec.label!r}; cannot gate the ONNX variants"
        )
    plain_out = onnx_out.astype(np.float64)
    accuracy, rmse = _quality(spec, plain_out[labelled], y[labelled])
    base = Quality(len(data), int(labelled.sum()), accuracy, rmse)
    variants: list[tuple[Variant, bytes]] = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in makers:
            make = _optimized if name == "optimized" else _int8
            variant_data = make(data, Path(scratch))
            v = _variant(
                where, name, variant_data, spec, features, plain_out, labelled, y[labelled],
                base, max_accuracy_drop, max_rmse_increase,
            )  # fmt: skip
            variants.append((v, variant_data))
    return base, variants


def report(
    base: Quality | None,
    variants: list[Variant],
    max_accuracy_drop: float,
    max_rmse_increase: float,
) -> dict[str, Any]:
    """``variants.json``: the baseline, the bounds and each variant's verdict (JSON-safe)."""
    return finite(
        {
            "base": None if base is None else asdict(base),
            "max_accuracy_drop": max_accuracy_drop,
            "max_rmse_increase": max_rmse_increase,
            "variants": [asdict(v) for v in variants],
        }
    )
