"""The parity bound: how far a served model's outputs may be from the reference's.

One rule, used where the ONNX file is checked against the SavedModel (export_onnx, recorded in
``parity.json``) and where a deployed server's answers are checked against ONNX Runtime's
(deploy's smoke test): an output ``got`` is within bound of ``want`` when

    |got - want| <= tolerance + rtol * max(|want|, scale)

``scale`` being the largest finite |want| over the rows compared (:func:`output_scale`). The
relative term is relative to the outputs' scale, not only to each value: float32 rounding follows
the magnitudes the graph computes with, and a regression head's offset (the label's mean) is that
large on every row. NaN on one side only is the worst disagreement there is; NaN on both agrees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # imported where used: deploy reads the defaults on paths that never compare (no numpy)
    import numpy as np

__all__ = ["DEFAULT_RTOL", "DEFAULT_TOLERANCE", "Comparison", "compare", "output_scale"]

#: The absolute part of the bound (export_onnx's ``tolerance`` parameter's default).
DEFAULT_TOLERANCE = 1e-4
#: The relative part of the bound (export_onnx's ``rtol`` default): about ten float32 rounding
#: steps.
DEFAULT_RTOL = 1e-6


def output_scale(reference: np.ndarray) -> float:
    """The largest finite |value| of ``reference`` (0 when it has none): the bound's base."""
    import numpy as np

    finite = np.abs(reference[np.isfinite(reference)])
    return float(finite.max()) if finite.size else 0.0


@dataclass(frozen=True)
class Comparison:
    """Element-wise figures of ``got`` against ``want`` (both float64, ``want``'s shape)."""

    diff: np.ndarray
    """|got - want|; inf where exactly one side is NaN."""
    rel: np.ndarray
    """diff / |want| (|want| floored at 1e-12)."""
    ratio: np.ndarray
    """diff / bound: an element is within bound at <= 1."""

    def row_excess(self) -> np.ndarray:
        """The worst ratio of each row (first axis): a row is within bound at <= 1."""
        worst: np.ndarray = self.ratio.reshape(len(self.ratio), -1).max(axis=1)
        return worst

    @property
    def ok(self) -> bool:
        return bool((self.ratio <= 1.0).all())


def compare(
    want: np.ndarray,
    got: np.ndarray,
    tolerance: float = DEFAULT_TOLERANCE,
    rtol: float = DEFAULT_RTOL,
    scale: float | None = None,
) -> Comparison:
    """``got`` against ``want`` under the bound; ``scale`` defaults to :func:`output_scale` of
    ``want``."""
    import numpy as np

    ref = np.asarray(want, dtype=np.float64)
    out = np.asarray(got, dtype=np.float64)
    if scale is None:
        scale = output_scale(ref)
    diff = np.abs(ref - out)
    diff = np.where(np.isnan(ref) & np.isnan(out), 0.0, np.where(np.isnan(diff), np.inf, diff))
    finite_ref = np.abs(np.nan_to_num(ref, posinf=0.0, neginf=0.0))
    rel = diff / np.maximum(finite_ref, 1e-12)
    bound = tolerance + rtol * np.maximum(finite_ref, scale)
    # a zero bound (tolerance and rtol 0) asks for equality: 0 / 0 is within it, not NaN
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(diff == 0, 0.0, diff / bound)
    return Comparison(diff, rel, ratio)
