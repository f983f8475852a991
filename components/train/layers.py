"""Custom Keras layers of mlrail's default model (registered so ``model.keras`` reloads)."""

import math
from typing import Any

import keras

#: Days in the mean Gregorian year: the period of the season features.
YEAR_DAYS = 365.2425
#: 1970-01-01 (day 0) was a Thursday; ``floor(day) + 3`` is 0 on Mondays.
_MONDAY_OFFSET = 3.0


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


def _fraction(x: Any) -> Any:
    return x - keras.ops.floor(x)


@keras.saving.register_keras_serializable(package="mlrail")
class Calendar(keras.layers.Layer):
    """A date or timestamp (float64 days since 1970-01-01 UTC, ``[batch, 1]``) as 7 features.

    NaN and ±inf (a missing date) become the train mean first. Then, as float32 ``[batch, 7]``:
    the normalised day number ``(d - mean) / std`` (the trend), and the sine and cosine of three
    cycles, each a fraction of its period turned into an angle: the day of the week
    ``((floor(d) + 3) mod 7) / 7`` (0 on Mondays), the season ``(d mod 365.2425) / 365.2425``
    and the time of day ``d - floor(d)``.

    The fractions are computed in float64 with Floor, Sub and Div only, which are exact in both
    TensorFlow and ONNX Runtime, so the converted graph gives the same fractions bit for bit;
    only the float32 sine and cosine may differ in their last bit. A float32 day number would
    lose the time of day (its 24 bits hold a day number near 20,000 to about 3 minutes).

    Args:
        mean: The train mean of the day numbers.
        std: Their standard deviation (1 when it is 0).
    """

    def __init__(self, mean: float = 0.0, std: float = 1.0, **kwargs: Any) -> None:
        # float64 all through: the default float32 policy would cast the input down on entry
        kwargs.setdefault("dtype", "float64")
        super().__init__(**kwargs)
        self.mean = float(mean)
        self.std = float(std) or 1.0

    def call(self, x: Any) -> Any:
        ops = keras.ops
        d = ops.where(ops.isnan(x - x), self.mean, x)  # see Impute for why IsNaN(x - x)
        trend = (d - self.mean) / self.std
        week = _fraction((ops.floor(d) + _MONDAY_OFFSET) / 7.0)
        season = _fraction(d / YEAR_DAYS)
        day = _fraction(d)
        angles = ops.cast(ops.concatenate([week, season, day], axis=-1), "float32")
        angles = angles * (2.0 * math.pi)
        return ops.concatenate(
            [ops.cast(trend, "float32"), ops.sin(angles), ops.cos(angles)], axis=-1
        )

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        return (*tuple(input_shape)[:-1], 7)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mean": self.mean, "std": self.std}
