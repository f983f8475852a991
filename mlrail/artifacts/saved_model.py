"""Calling a trained model's SavedModel (train's ``model/saved_model``) on features.

TensorFlow is imported on the first call, never on import: the steps that only read artifacts
(ingest, validate, deploy) and the server never pay its import.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mlrail.artifacts.modelspec import tf_inputs
from mlrail.errors import ModelError

__all__ = ["predict_saved_model", "saved_model_fn"]


def predict_saved_model(saved_model_dir: str | Path, features: dict[str, np.ndarray]) -> np.ndarray:
    """Outputs of the SavedModel's ``serving_default`` signature on ``features``."""
    return saved_model_fn(Path(saved_model_dir))(features)


def saved_model_fn(saved_model_dir: Path) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """The SavedModel loaded once, as a function of features (by TensorFlow input name)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    try:
        fn = tf.saved_model.load(str(saved_model_dir)).signatures["serving_default"]
    except (OSError, ValueError, KeyError, tf.errors.OpError) as e:
        raise ModelError(f"{saved_model_dir}: cannot load the SavedModel: {e}") from e

    def predict(features: dict[str, np.ndarray]) -> np.ndarray:
        try:
            (out,) = fn(**tf_inputs(features)).values()
        except (TypeError, ValueError, tf.errors.OpError) as e:
            # TensorFlow's binding error lists every tensor; the names are what a user needs
            expected = sorted(fn.structured_input_signature[1])
            raise ModelError(
                f"{saved_model_dir}: the SavedModel cannot run on inputs "
                f"{', '.join(sorted(features))} (it takes {', '.join(expected)}): "
                f"{type(e).__name__}: {str(e)[:500]}"
            ) from e
        return np.asarray(out.numpy())

    return predict
