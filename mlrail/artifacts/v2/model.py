"""What the V2 codec needs of a model: its name, version and tensors, with the lookups a request
is checked against.

The server's loaded models (``mlrail.serving.model.LoadedModel``) have these attributes, so
they are :class:`V2Model`\\ s without naming it; so can anything else that describes a model's
tensors (a golden request's writer, a smoke test's reader).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from mlrail.artifacts.tensors import TensorSpec

__all__ = ["V2Model"]


class V2Model(Protocol):
    """A model as the V2 codec reads and answers requests for it (typing only).

    Attributes:
        name: The model's name, as responses carry it.
        version: The version number, as responses carry it (``"model_version"``, a string).
        inputs: The inputs in contract order.
        outputs: The outputs.
        input_index: ``inputs`` by name.
        output_index: ``outputs`` by name.
        output_names: The outputs' names, in order: what a request without ``"outputs"`` gets.
        batched: Every input's first dimension is free (-1), so it is the batch, and all inputs
            of a request must agree on it.
    """

    # Properties, not plain attributes: a frozen dataclass satisfies a read-only member.
    @property
    def name(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def inputs(self) -> Sequence[TensorSpec]: ...
    @property
    def outputs(self) -> Sequence[TensorSpec]: ...
    @property
    def input_index(self) -> Mapping[str, TensorSpec]: ...
    @property
    def output_index(self) -> Mapping[str, TensorSpec]: ...
    @property
    def output_names(self) -> Sequence[str]: ...
    @property
    def batched(self) -> bool: ...
