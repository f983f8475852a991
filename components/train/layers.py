"""Custom Keras layers of mlrail's default model (registered so ``model.keras`` reloads)."""

from typing import Any

import keras


@keras.saving.register_keras_serializable(package="mlrail")
class Impute(keras.layers.Layer):
    """Replaces NaN (a missing number) and ±inf with a constant, the train mean."""

    def __init__(self, value: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.value = float(value)

    def call(self, x: Any) -> Any:
        return keras.ops.where(keras.ops.isfinite(x), x, self.value)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "value": self.value}
