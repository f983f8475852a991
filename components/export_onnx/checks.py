"""Parity: ONNX Runtime against the SavedModel on every eval row and on edge rows; the golden
requests deploy replays; running a model in ONNX Runtime with errors that name it.

The bound is :mod:`mlrail.artifacts.parity`'s (``tolerance + rtol * max(|reference|, scale)``);
:func:`check` raises when a row is over it, so nothing is written for a model that fails.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from mlrail.artifacts.modelspec import CLASSIFICATION, ModelSpec
from mlrail.artifacts.parity import DEFAULT_RTOL, compare, output_scale
from mlrail.artifacts.saved_model import predict_saved_model
from mlrail.errors import ModelError, ParityError

__all__ = [
    "GOLDEN_ROWS",
    "UNSEEN",
    "Parity",
    "check",
    "edge_rows",
    "golden_requests",
    "parity",
    "run",
    "session",
]

#: Eval rows kept as golden requests for deploy's smoke test.
GOLDEN_ROWS = 8
#: A string no vocabulary holds: the edge row for an unseen category.
UNSEEN = "\x00mlrail-unseen"


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


def session(data: bytes, options: Any = None, what: str = "the converted model") -> Any:
    """An ONNX Runtime session (CPU) on the model ``data``.

    Raises:
        ModelError: ONNX Runtime cannot load it (naming ``what``).
    """
    import onnxruntime as ort

    try:
        return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as e:  # ORT's pybind errors share no base class
        raise ModelError(f"{what}: ONNX Runtime cannot load it: {e}") from e


def run(
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


def check(
    data: bytes,
    saved_model: Path,
    spec: ModelSpec,
    features: dict[str, np.ndarray],
    where: str,
    tolerance: float,
    rtol: float,
) -> tuple[Parity, np.ndarray]:
    """The parity gate: the ONNX model ``data`` against the SavedModel on the eval rows
    ``features`` (read from ``where``) and on their edge rows.

    Returns:
        The parity record and ONNX Runtime's outputs on the eval rows.

    Raises:
        ParityError: an eval row or an edge row is over the bound (the worst rows named).
        ModelError: ONNX Runtime cannot load or run the model.
    """
    reference = predict_saved_model(saved_model, features)
    onnx_session = session(data)
    onnx_out = run(onnx_session, spec, features, "the converted model", where)
    result = parity(spec, reference, onnx_out, tolerance, rtol)
    edges, edge_names = edge_rows(spec, features)
    edge_out = run(
        onnx_session, spec, edges, "the converted model", f"edge rows derived from {where}"
    )
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
    return result, onnx_out
