"""Custom Keras layers of mlrail's default model (registered so ``model.keras`` reloads)."""

from typing import Any

import keras


@keras.saving.register_keras_serializable(package="mlrail")
class Impute(keras.layers.Layer):
    """Replaces NaN (a missing number) and ±inf with the train mean, per column.

    Args:
        value: One number for every column, or one per column of the last axis.
    """

    def __init__(self, value: float | list[float] = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.value = [float(v) for v in value] if isinstance(value, list | tuple) else float(value)

    def call(self, x: Any) -> Any:
        # x - x is NaN exactly where x is NaN or ±inf. The condition must be an IsNaN for tf2onnx
        # to emit a Where: for any other condition (isfinite's Not(Or(IsNaN, IsInf)) included) it
        # writes cond * x + (1 - cond) * value, and 0 * NaN is NaN, so a missing number would
        # come out of the ONNX model as NaN.
        return keras.ops.where(keras.ops.isnan(x - x), self.value, x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "value": self.value}
