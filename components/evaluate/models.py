"""Models evaluate can run: a train output (TensorFlow SavedModel) or an ONNX model folder.

A model folder is recognised by its files:

- ``model.onnx`` + ``model_spec.json``: an export_onnx output (what the pipeline's evaluate
  measures: the model deploy serves) or a version folder of a model repository
  (``<repository>/<name>/<version>/``, as deploy writes it), run with ONNX Runtime;
- ``saved_model/`` + ``model_spec.json``: a train output, run with TensorFlow through the
  SavedModel's ``serving_default`` signature. The pipeline never hands evaluate one; it stays
  for ``mlrail evaluate`` on a train output and for a ``baseline_model`` that names one.

TensorFlow is imported only for a SavedModel: evaluating an ONNX model, against an ONNX baseline
or none, never imports it.

A baseline is given as a path or a URI (``s3://``, ``gs://``, ``file://``; a remote model is
copied to a temporary folder first) to one of those folders, or to a model's folder in a
repository (``<repository>/<name>``), which means its newest version that holds a model (what a
version is: :mod:`mlrail.artifacts.model_repository`). A path that does not exist, or a model
folder with no version yet, is the first run: there is no baseline, and :func:`resolve_baseline`
says why. A model registry's baseline (``models:/...``, the champion by default):
:mod:`.baselines`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlrail.artifacts import model_repository as _repository
from mlrail.artifacts.model_repository import MODEL_FILE, SPEC_FILE
from mlrail.artifacts.modelspec import ModelSpec
from mlrail.artifacts.saved_model import saved_model_fn
from mlrail.errors import ModelError
from mlrail.io import filesystem

__all__ = [
    "Predictor",
    "load_model",
    "resolve_baseline",
]

_SAVED_MODEL = "saved_model"


@dataclass(frozen=True)
class Predictor:
    """A loaded model.

    Attributes:
        source: Where it was loaded from, as given (a path or URI).
        folder: The local folder holding its files.
        format: ``saved_model`` or ``onnx``.
        spec: Its input/output contract.
        predict: Model inputs (``ModelSpec.features``) to outputs: ``[n, classes]``
            probabilities or ``[n, 1]`` predictions.
    """

    source: str
    folder: Path
    format: str
    spec: ModelSpec
    predict: Callable[[dict[str, np.ndarray]], np.ndarray]


def _onnx_fn(folder: Path, spec: ModelSpec) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    import onnxruntime as ort

    path = folder / MODEL_FILE
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as e:  # ORT's pybind errors share no base class
        raise ModelError(f"{path}: ONNX Runtime cannot load this model: {e}") from e
    graph_inputs = [i.name for i in session.get_inputs()]
    # checked at load, as the server does: a graph that is not its spec's fails here, named
    try:
        spec.feeds(dict.fromkeys((i.name for i in spec.inputs), np.empty((0, 1))), graph_inputs)
    except ModelError as e:
        raise ModelError(f"{path}: {e}") from e

    def predict(features: dict[str, np.ndarray]) -> np.ndarray:
        # by column (export_onnx since issue 10) or by TensorFlow name (older exports)
        feeds = spec.feeds(features, graph_inputs)
        try:
            (out,) = session.run([spec.output], feeds)
        except Exception as e:  # ORT raises ValueError, RuntimeError or its pybind errors
            raise ModelError(f"{path}: ONNX Runtime failed: {e}") from e
        return np.asarray(out)

    return predict


def load_model(folder: str | Path, *, source: str = "") -> Predictor:
    """The model in ``folder`` (a train output or an ONNX model folder), ready to predict.

    Raises:
        ModelError: naming the folder when it holds neither, or the model cannot be loaded.
    """
    path = Path(folder)
    if not (path / SPEC_FILE).is_file():
        raise ModelError(
            f"{path}: not a model: expected {SPEC_FILE} with {_SAVED_MODEL}/ (a train output) "
            f"or {MODEL_FILE} (export_onnx, a model repository version)"
        )
    spec = ModelSpec.read(path)
    if (path / MODEL_FILE).is_file():
        return Predictor(source or str(path), path, "onnx", spec, _onnx_fn(path, spec))
    if (path / _SAVED_MODEL).is_dir():
        predict = saved_model_fn(path / _SAVED_MODEL)
        return Predictor(source or str(path), path, "saved_model", spec, predict)
    raise ModelError(f"{path}: has {SPEC_FILE} but neither {_SAVED_MODEL}/ nor {MODEL_FILE}")


def resolve_baseline(baseline: str, scratch: Path | None = None) -> tuple[Predictor | None, str]:
    """The baseline model named by ``baseline``, or None and why there is none.

    Args:
        baseline: A path or URI to a model folder, or to a model's folder in a repository
            (its newest version); "" for none.
        scratch: Where a remote model is copied; a new temporary folder when None.

    Returns:
        The loaded baseline (its ``source`` the resolved location) and "", or None and the reason
        (no baseline given; nothing at that path yet; a model folder with no version yet).

    Raises:
        ModelError: the location exists but holds no model or one that cannot be loaded.
    """
    if not baseline:
        return None, "no baseline model was given"
    fs, path = filesystem(baseline)
    return _resolve_on(fs, path, baseline, scratch)


def _resolve_on(
    fs: Any, path: str, baseline: str, scratch: Path | None
) -> tuple[Predictor | None, str]:
    """:func:`resolve_baseline` on a pyarrow filesystem; a model on any filesystem but the
    local one is copied into a new folder under ``scratch`` first."""
    import pyarrow as pa
    import pyarrow.fs as pafs

    info = fs.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        return None, f"{baseline} does not exist yet (first run: nothing deployed)"
    if info.type != pafs.FileType.Directory:
        raise ModelError(f"{baseline}: not a model folder")
    names = {i.base_name: i for i in fs.get_file_info(pafs.FileSelector(path))}
    chosen, where = path, baseline
    if SPEC_FILE not in names:
        folders = [n for n, i in names.items() if i.type == pafs.FileType.Directory]
        found = _repository.newest_version(
            folders,
            lambda v: fs.get_file_info(f"{path}/{v}/{MODEL_FILE}").type == pafs.FileType.File,
        )
        if found is None:
            if any(_repository.version_number(n) is not None for n in folders) or not names:
                return None, f"{baseline} has no deployed version yet (first run)"
            raise ModelError(
                f"{baseline}: not a model: expected {SPEC_FILE} with {_SAVED_MODEL}/ or "
                f"{MODEL_FILE}, or numbered version folders of a model repository"
            )
        chosen, where = f"{path}/{found}", f"{baseline.rstrip('/')}/{found}"
    if isinstance(fs, pafs.LocalFileSystem):
        return load_model(chosen, source=where), ""
    local = Path(tempfile.mkdtemp(prefix="baseline-", dir=scratch))
    try:
        pafs.copy_files(chosen, str(local), source_filesystem=fs)
    except (OSError, pa.ArrowException) as e:
        raise ModelError(f"{where}: cannot copy the baseline model: {e}") from e
    return load_model(local, source=where), ""
