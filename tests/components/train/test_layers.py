"""The default model's own layers: what a date becomes inside the model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlrail.components.train.layers import YEAR_DAYS, Calendar


def test_calendar_features_of_known_instants() -> None:
    # 1970-01-05 is a Monday (week fraction 0); noon is half a day; day 4.5 of the year
    days = np.array([[4.5], [4.5 + 3.0]], np.float64)  # Monday noon, Thursday noon
    out = np.asarray(Calendar(mean=4.5, std=2.0)(days))
    assert out.dtype == np.float32 and out.shape == (2, 7)
    monday, thursday = out
    season = 2 * math.pi * 4.5 / YEAR_DAYS
    want = [0.0, 0.0, math.sin(season), 0.0, 1.0, math.cos(season), -1.0]
    np.testing.assert_allclose(monday, want, atol=1e-6)
    assert thursday[0] == pytest.approx(1.5)  # (7.5 - 4.5) / 2
    week = 2 * math.pi * 3 / 7
    assert (thursday[1], thursday[4]) == (pytest.approx(math.sin(week), abs=1e-6),
                                          pytest.approx(math.cos(week), abs=1e-6))  # fmt: skip


def test_a_missing_or_infinite_date_is_the_train_mean() -> None:
    layer = Calendar(mean=19_000.25, std=300.0)
    out = np.asarray(layer(np.array([[np.nan], [np.inf], [-np.inf], [19_000.25]])))
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[:3], np.repeat(out[3:], 3, axis=0))


def test_the_time_of_day_survives_a_day_number_near_20000() -> None:
    """float32 would round 19,000 days + 1 minute to the whole day: the layer stays float64."""
    minute = 1 / 1440
    out = np.asarray(Calendar()(np.array([[19_000.0], [19_000.0 + minute]])))
    assert out[1, 3] - out[0, 3] == pytest.approx(math.sin(2 * math.pi * minute), rel=1e-3)
