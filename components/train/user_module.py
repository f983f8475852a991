"""Bring your own model: a user's Python module, loaded from a path or a URI and checked.

The module (TFX's ``module_file``) defines::

    def build_model(schema, statistics, hparams) -> keras.Model

    def train(model, train_dataset, eval_dataset, hparams, callbacks) -> None   # optional

``build_model`` receives

- ``schema``: the ``tensorflow_metadata`` ``Schema`` validate wrote, prepared by
  :func:`mlrail.components.train.model.prepare_schema`: the label is the one feature not in the
  ``SERVING`` environment and, for a classifier, its string domain ``mlrail.classes`` lists the
  classes in output order;
- ``statistics``: the ``DatasetFeatureStatisticsList`` validate wrote (datasets named by split;
  ``train`` is the one the default model's preprocessing reads);
- ``hparams``: the checked hyperparameters
  (:data:`mlrail.components.train.hparams.DEFAULT_HPARAMS` overlaid with the run's), with
  ``batch_size`` and ``early_stopping_patience`` numbers (chosen from the train rows when
  ``"auto"``, :func:`mlrail.components.train.hparams.resolve_hparams`).

and returns a Keras 3 functional model, compiled or not (train compiles one that is not, with
Adam at ``learning_rate`` and the task's loss), whose

- inputs are named as :func:`mlrail.components.train.model_spec` names them, each of shape
  ``(None, 1)``, float32 for numbers and string for strings; a model may take a subset of
  them (``default_inputs`` and ``default_features`` build them all);
- single output is, for a classifier, probabilities of shape ``(None, len(classes))`` with the
  classes in ``spec.classes`` order (each row sums to 1), and for regression the prediction,
  of shape ``(None, 1)``.

``train`` takes over the loop. ``train_dataset`` is a ``tf.data.Dataset`` of
``(features, labels, weights)`` batches of ``batch_size`` rows, shuffled already with the seed
(pass ``shuffle=False`` to ``fit``): features by input name; labels are class indices or
numbers; weights carry the class weights, all 1 without them. ``eval_dataset`` yields the eval
split the same way (all weights 1, not shuffled) or is ``None`` when that split has no labelled
row. It must pass ``callbacks`` to ``fit`` (they log each epoch, record the training curves,
write TensorBoard logs and stop early) and ``eval_dataset`` as ``validation_data`` (early
stopping and the eval curves read ``val_loss``). The model it trains in place, or returns, is
the one saved (a returned model is checked as ``build_model``'s is).

Both run after the seeds are set and with TensorFlow's op determinism on, so a module that
draws its randomness from Keras or TensorFlow is reproducible too. Custom layers must be
registered (``keras.saving.register_keras_serializable``) for ``model.keras`` to reload; the
SavedModel and its ONNX conversion do not need them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from mlrail.artifacts.modelspec import CLASSIFICATION, KERAS_DTYPES, InputSpec, ModelSpec
from mlrail.errors import DataError, ModelError
from mlrail.io import read_uri_bytes

__all__ = ["check_model", "check_outputs", "check_sha256", "load_module"]

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def check_sha256(source: str, data: bytes, sha256: str) -> None:
    """Refuse ``data`` (the bytes of ``source``) unless its SHA-256 is ``sha256`` ("" pins none).

    The module is the user's code and runs with the step's permissions and credentials: a pin
    makes sure the file that runs is the one that was reviewed, even when the path or URI
    can be written by others.

    Raises:
        ModelError: naming ``source`` and both hashes, or a pin that is not 64 hex digits.
    """
    if not sha256:
        return
    want = sha256.strip().lower()
    if not _SHA256.match(want):
        raise ModelError(
            f"module_file {source}: the sha256 pin {sha256!r} is not 64 hexadecimal digits"
        )
    have = hashlib.sha256(data).hexdigest()
    if have != want:
        raise ModelError(
            f"module_file {source}: sha256 {have} does not match the pin {want}; "
            "the file changed since it was pinned (not loaded)"
        )


def _module_name(source: str, data: bytes) -> str:
    """A module name no import can collide with, stable for one file's content."""
    stem = re.sub(r"\W", "_", Path(source.split("?")[0]).stem) or "module"
    return f"mlrail_user_{stem}_{hashlib.sha256(data).hexdigest()[:12]}"


def load_module(source: str, *, sha256: str = "") -> ModuleType:
    """Import the user module at ``source`` (a local path or a URI such as ``s3://b/m.py``).

    Importing it runs the user's code. With ``sha256``, the bytes read are checked against
    that pin before anything is compiled or run (:func:`check_sha256`); the bytes checked are
    the bytes run, so the file cannot change in between.

    Raises:
        ModelError: naming ``source`` when it is missing, does not match ``sha256``, is not a
            ``.py`` file of UTF-8 Python, raises on import, or lacks a callable
            ``build_model`` (or has a ``train`` that is not callable).
    """
    if not source.split("?")[0].endswith(".py"):
        raise ModelError(f"module_file {source}: expected a Python file ending in .py")
    try:
        data = read_uri_bytes(source)
    except DataError as e:
        raise ModelError(f"module_file {e}") from e
    check_sha256(source, data, sha256)
    try:
        text = data.decode("utf-8")
        code = compile(text, source, "exec")
    except UnicodeDecodeError as e:
        raise ModelError(f"module_file {source}: not Python (not UTF-8 text: {e})") from e
    except (SyntaxError, ValueError) as e:
        where = f" at line {e.lineno}" if isinstance(e, SyntaxError) and e.lineno else ""
        msg = e.msg if isinstance(e, SyntaxError) else str(e)
        raise ModelError(f"module_file {source}: not valid Python{where}: {msg}") from e
    name = _module_name(source, data)
    spec = importlib.util.spec_from_loader(name, loader=None, origin=source)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    module.__file__ = source
    # registered first so that the module's dataclasses, pickles and Keras custom objects can
    # find it by name, as they would for an ordinary import
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    except (Exception, SystemExit) as e:
        del sys.modules[name]
        raise ModelError(f"module_file {source}: raised on import: {type(e).__name__}: {e}") from e
    build = getattr(module, "build_model", None)
    if not callable(build):
        raise ModelError(
            f"module_file {source}: defines no function build_model(schema, statistics, hparams)"
        )
    if hasattr(module, "train") and not callable(module.train):
        raise ModelError(f"module_file {source}: 'train' is not a function")
    return module


def _dtype(i: InputSpec) -> str:
    return KERAS_DTYPES[i.dtype]


def check_model(model: Any, spec: ModelSpec, source: str) -> ModelSpec:
    """Check a built model against the contract; return the spec of the inputs it takes.

    Raises:
        ModelError: naming ``source`` and what is wrong: not a Keras model, no named inputs,
            an input that is not a feature (or of the wrong dtype or shape), or not one output
            of the task's width.
    """
    import keras

    if not isinstance(model, keras.Model):
        raise ModelError(
            f"module_file {source}: build_model returned {type(model).__name__}, not a keras.Model"
        )
    try:
        inputs = list(model.inputs)
    except (AttributeError, ValueError) as e:
        raise ModelError(
            f"module_file {source}: the model has no defined inputs ({e}); build it on named "
            "keras.Input tensors, e.g. default_inputs(schema, statistics)"
        ) from e
    by_name = {i.name: i for i in spec.inputs}
    problems = []
    taken = set()
    for t in inputs:
        want = by_name.get(t.name)
        if want is None:
            problems.append(f"input {t.name!r} is not a feature of this data")
            continue
        taken.add(t.name)
        if str(t.dtype) != _dtype(want):
            problems.append(f"input {t.name!r} is {t.dtype}, expected {_dtype(want)}")
        if tuple(t.shape) != (None, 1):
            problems.append(f"input {t.name!r} has shape {tuple(t.shape)}, expected (None, 1)")
    if problems:
        raise ModelError(
            f"module_file {source}: {'; '.join(problems)} "
            f"(inputs: {', '.join(f'{i.name} ({_dtype(i)})' for i in spec.inputs)})"
        )
    if not taken:
        raise ModelError(f"module_file {source}: the model takes no input")
    outputs = list(model.outputs)
    width = len(spec.classes) if spec.task in CLASSIFICATION else 1
    what = f"{len(spec.classes)} class probabilities" if width > 1 else "one prediction"
    if len(outputs) != 1 or tuple(outputs[0].shape) != (None, width):
        shapes = ", ".join(str(tuple(o.shape)) for o in outputs)
        raise ModelError(
            f"module_file {source}: the model's output(s) {shapes} should be one of shape "
            f"(None, {width}): {what} per row"
        )
    return ModelSpec(
        task=spec.task,
        label=spec.label,
        inputs=[i for i in spec.inputs if i.name in taken],
        output=spec.output,
        classes=spec.classes,
    )


def check_outputs(out: np.ndarray, spec: ModelSpec, source: str) -> None:
    """A classifier's outputs on real rows must be probabilities (each row sums to 1).

    Raises:
        ModelError: naming ``source``, e.g. when the last layer has no softmax.
    """
    if spec.task not in CLASSIFICATION:
        return
    finite = np.all(np.isfinite(out))
    if not finite or out.min() < -1e-6 or out.max() > 1 + 1e-6:
        raise ModelError(
            f"module_file {source}: the model's outputs are not probabilities "
            f"(values from {out.min():.4g} to {out.max():.4g}); end it with a softmax"
        )
    if not np.allclose(out.sum(axis=1), 1.0, atol=1e-3):
        raise ModelError(
            f"module_file {source}: the model's output rows do not sum to 1 "
            "(one probability per class); end it with a softmax over the classes"
        )
