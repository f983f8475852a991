"""One version of a model, loaded into ONNX Runtime and checked against its contract.

:func:`load_model` opens ``<version>/model.onnx``, describes its tensors the V2 way
(:class:`~mlrail.artifacts.tensors.TensorSpec`) and, when the version has a ``model_spec.json``,
checks the graph against it, naming the file on any disagreement. :class:`LoadedModel` is what
the server runs requests on; :mod:`mlrail.serving.repository` decides which version is served.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlrail.artifacts.identity import IDENTITY_METADATA_KEY
from mlrail.artifacts.model_repository import MODEL_FILE, SPEC_FILE
from mlrail.artifacts.tensors import TensorSpec
from mlrail.errors import ModelError

if TYPE_CHECKING:
    # Both are imported where they are used: onnxruntime costs ~0.3 s and
    # mlrail.artifacts.modelspec pulls in pyarrow, and neither is needed to import the server
    # module (`mlrail serve --help`).
    import onnxruntime as ort

    from mlrail.artifacts.modelspec import ModelSpec

__all__ = ["LoadedModel", "load_model"]

logger = logging.getLogger("mlrail.serving")

# ONNX tensor element types and their Open Inference Protocol v2 datatype and numpy dtype.
_ORT_TYPES: dict[str, tuple[str, np.dtype[Any]]] = {
    "tensor(float)": ("FP32", np.dtype(np.float32)),
    "tensor(double)": ("FP64", np.dtype(np.float64)),
    "tensor(float16)": ("FP16", np.dtype(np.float16)),
    "tensor(int8)": ("INT8", np.dtype(np.int8)),
    "tensor(int16)": ("INT16", np.dtype(np.int16)),
    "tensor(int32)": ("INT32", np.dtype(np.int32)),
    "tensor(int64)": ("INT64", np.dtype(np.int64)),
    "tensor(uint8)": ("UINT8", np.dtype(np.uint8)),
    "tensor(uint16)": ("UINT16", np.dtype(np.uint16)),
    "tensor(uint32)": ("UINT32", np.dtype(np.uint32)),
    "tensor(uint64)": ("UINT64", np.dtype(np.uint64)),
    "tensor(bool)": ("BOOL", np.dtype(np.bool_)),
    "tensor(string)": ("BYTES", np.dtype(object)),
}
# model_spec.json dtypes and the V2 datatype the graph must take for them. A date or timestamp
# is FP64 days since 1970-01-01 UTC (mlrail.datetimes); the server also takes ISO 8601 strings.
_SPEC_DATATYPES = {"float32": "FP32", "string": "BYTES", "datetime": "FP64"}


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """One version of a model, loaded and ready to run.

    Attributes:
        name: The model's name (its folder in the repository).
        version: The version number (its folder under the model).
        folder: The version folder.
        session: The ONNX Runtime session.
        inputs: The inputs in contract order (``model_spec.json``'s, else the graph's).
        outputs: The graph's outputs.
        spec: The model's contract, or None if the version has no ``model_spec.json``.
        fingerprint: Identity of the files it was loaded from, to notice a replaced folder.
        signer: The fingerprint of the key its signature was verified with (None when the
            server verifies no signatures).
        identity: The model's identity as export_onnx recorded it in the file's
            ``mlrail.identity`` metadata (read once at load; None when the file has none):
            what the payload log names as the model that answered.
    """

    name: str
    version: int
    folder: Path
    session: ort.InferenceSession
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    spec: ModelSpec | None = None
    fingerprint: tuple[int, ...] = ()
    signer: str | None = None
    identity: str | None = None
    # Lookups the request path needs, computed once here instead of per request.
    input_index: dict[str, TensorSpec] = field(init=False, repr=False)
    output_index: dict[str, TensorSpec] = field(init=False, repr=False)
    output_names: tuple[str, ...] = field(init=False, repr=False)
    batched: bool = field(init=False, repr=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen dataclass: derived fields are set once, here
        set_(self, "input_index", {t.name: t for t in self.inputs})
        set_(self, "output_index", {t.name: t for t in self.outputs})
        set_(self, "output_names", tuple(t.name for t in self.outputs))
        # Every mlrail input is [batch, 1]: when all inputs have a free first dimension it is
        # the batch, and requests must agree on it (or ONNX Runtime fails inside the graph).
        set_(
            self,
            "batched",
            bool(self.inputs) and all(len(t.shape) >= 1 and t.shape[0] == -1 for t in self.inputs),
        )


def load_model(
    folder: str | os.PathLike[str],
    name: str,
    version: int,
    intra_op_threads: int = 1,
    *,
    fingerprint: tuple[int, ...] = (),
    signer: str | None = None,
) -> LoadedModel:
    """Load one version folder into an ONNX Runtime session and check it against its contract.

    Args:
        folder: The version folder holding ``model.onnx`` (and ``model_spec.json``).
        name: The model's name.
        version: The version number.
        intra_op_threads: ONNX Runtime threads per run (0: ONNX Runtime's default).
        fingerprint: Identity of the files, kept to notice when the folder is replaced.
        signer: The key fingerprint its signature was verified with, if it was.

    Returns:
        The loaded model, its inputs in the contract's order.

    Raises:
        ModelError: ``model.onnx`` is missing or cannot be loaded, has a tensor type the V2
            protocol cannot carry, or disagrees with ``model_spec.json``; the message names the
            file.
    """
    import onnxruntime as ort

    folder = Path(folder)
    onnx_path = folder / MODEL_FILE
    if not onnx_path.is_file():
        raise ModelError(f"{onnx_path}: missing; each version folder must hold {MODEL_FILE}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: ORT's load-time warnings are not actionable
    try:
        session = ort.InferenceSession(
            str(onnx_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as e:  # ORT's pybind errors (InvalidProtobuf, Fail, ...) share no base
        raise ModelError(f"{onnx_path}: ONNX Runtime cannot load this model: {e}") from e

    # The recorded identity, not recomputed: hashing the graph costs a load of the ONNX proto,
    # the metadata map is already in the session (microseconds).
    identity = session.get_modelmeta().custom_metadata_map.get(IDENTITY_METADATA_KEY) or None
    inputs = [_tensor_spec(i, onnx_path, "input") for i in session.get_inputs()]
    outputs = [_tensor_spec(o, onnx_path, "output") for o in session.get_outputs()]
    spec = _read_spec(folder)
    if spec is not None:
        inputs = _check_spec(spec, inputs, outputs, folder / SPEC_FILE, onnx_path)
    return LoadedModel(
        name=name,
        version=version,
        folder=folder,
        session=session,
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        spec=spec,
        fingerprint=fingerprint,
        signer=signer,
        identity=identity,
    )


def _tensor_spec(arg: Any, onnx_path: Path, kind: str) -> TensorSpec:
    types = _ORT_TYPES.get(arg.type)
    if types is None:
        raise ModelError(
            f"{onnx_path}: {kind} {arg.name!r} has type {arg.type}, which the V2 inference "
            "protocol cannot carry as a tensor"
        )
    # ORT reports a free dimension as a symbol ("unk__38", "batch") or None; V2 says -1.
    shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in (arg.shape or ()))
    return TensorSpec(name=arg.name, datatype=types[0], shape=shape, dtype=types[1])


def _read_spec(folder: Path) -> ModelSpec | None:
    from mlrail.artifacts.modelspec import ModelSpec

    path = folder / SPEC_FILE
    if not path.is_file():
        # A plain Triton-layout repository has no contract file: the graph is the contract.
        logger.info("%s: no %s; serving the graph's own inputs", folder, SPEC_FILE)
        return None
    try:
        return ModelSpec.read(folder)
    except (ValueError, KeyError, TypeError) as e:
        raise ModelError(f"{path}: not a valid model spec: {e!r}") from e


def _check_spec(
    spec: ModelSpec,
    inputs: list[TensorSpec],
    outputs: list[TensorSpec],
    spec_path: Path,
    onnx_path: Path,
) -> list[TensorSpec]:
    """The graph's inputs in the spec's order, each checked against its declared dtype.

    export_onnx names the graph's inputs by the data's columns (``Größe``, ``a.b/c``), which is
    what V2 clients send; models exported before that have the TensorFlow-side names
    (``in_grosse``). Either loads, and the graph's own names are served.
    """
    by_name = {t.name: t for t in inputs}
    graph = set(by_name)
    columns = [i.column for i in spec.inputs]
    names = [i.name for i in spec.inputs]
    if graph == set(columns):
        declared = columns
    elif graph == set(names):
        declared = names
    else:
        # Report against whichever naming the graph is closer to, so the message is short.
        declared = columns if len(graph & set(columns)) >= len(graph & set(names)) else names
        missing = [n for n in declared if n not in by_name]
        extra = [n for n in by_name if n not in set(declared)]
        problems = []
        if missing:
            problems.append(f"declared input(s) not in the graph: {', '.join(map(repr, missing))}")
        if extra:
            problems.append(f"graph input(s) not declared: {', '.join(map(repr, extra))}")
        if not problems:  # the same set of names twice over: a spec with repeated inputs
            problems.append("the spec declares an input more than once")
        raise ModelError(f"{spec_path} does not match {onnx_path}: {'; '.join(problems)}")
    served: list[TensorSpec] = []
    for i, graph_name in zip(spec.inputs, declared, strict=True):
        want = _SPEC_DATATYPES.get(i.dtype)
        if want is None:
            raise ModelError(
                f"{spec_path}: input {i.column!r} has unknown dtype {i.dtype!r} "
                f"(expected one of {', '.join(_SPEC_DATATYPES)})"
            )
        tensor = by_name[graph_name]
        if tensor.datatype != want:
            raise ModelError(
                f"{spec_path} does not match {onnx_path}: input {graph_name!r} is declared "
                f"{i.dtype} ({want}) but the graph takes {tensor.datatype}"
            )
        served.append(replace(tensor, datetime=True) if i.dtype == "datetime" else tensor)
    if spec.output not in {o.name for o in outputs}:
        raise ModelError(
            f"{spec_path} does not match {onnx_path}: output {spec.output!r} is not in the graph "
            f"(graph outputs: {', '.join(o.name for o in outputs)})"
        )
    return served
