"""A model's tensors as the Open Inference Protocol (V2) names them: what requests are checked
against, and what the server, the V2 codec and the model metadata endpoint describe."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["TensorSpec"]


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a served model.

    Attributes:
        name: The tensor's name in the graph and in V2 requests.
        datatype: The V2 datatype (``FP32``, ``BYTES``, ...).
        shape: The graph's shape; ``-1`` for a dimension of any size (the batch).
        dtype: The numpy dtype ONNX Runtime takes or returns (``object`` for strings).
        datetime: A date or timestamp input (``datetime`` in ``model_spec.json``): FP64 days
            since 1970-01-01 UTC, which requests may also send as BYTES ISO 8601 strings.
    """

    name: str
    datatype: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    datetime: bool = False
