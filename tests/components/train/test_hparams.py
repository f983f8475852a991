"""Batch size and learning rate grow with the data unless the run sets them; the ones used are
reported."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from mlrail.components.train.core import train
from mlrail.components.train.hparams import (
    AUTO,
    auto_batch_size,
    auto_learning_rate,
    check_hparams,
    resolve_hparams,
)
from tests.components.train._data import splits
from tests.helpers import Trained


@pytest.mark.parametrize(
    ("rows", "batch", "rate"),
    [
        (1, 32, 0.01),
        (275, 32, 0.01),  # the penguins: as before
        (31_999, 32, 0.01),
        (32_000, 64, 0.014142),
        (100_000, 128, 0.02),
        (800_000, 1024, 0.03),
        (2_048_000, 4096, 0.03),
        (10**9, 4096, 0.03),
    ],
)
def test_the_batch_grows_with_the_rows_and_the_rate_with_the_batch(
    rows: int, batch: int, rate: float
) -> None:
    assert auto_batch_size(rows) == batch
    assert auto_learning_rate(batch) == rate
    if batch < 4096:  # an epoch keeps at least 500 steps, and would not at twice the batch
        assert rows // batch >= 500 or batch == 32
        assert rows // (2 * batch) < 500


def test_auto_is_the_default_and_an_explicit_value_wins() -> None:
    assert check_hparams({})["batch_size"] == check_hparams({})["learning_rate"] == AUTO
    hp, chosen = resolve_hparams(check_hparams({}), 800_000)
    assert (hp["batch_size"], hp["learning_rate"], chosen) == (
        1024,
        0.03,
        ["batch_size", "learning_rate"],
    )
    hp, chosen = resolve_hparams(check_hparams({"batch_size": 64}), 800_000)
    assert (hp["batch_size"], hp["learning_rate"], chosen) == (64, 0.014142, ["learning_rate"])
    hp, chosen = resolve_hparams(check_hparams({"learning_rate": 0.001}), 800_000)
    assert (hp["batch_size"], hp["learning_rate"], chosen) == (1024, 0.001, ["batch_size"])
    hp, chosen = resolve_hparams(check_hparams({"batch_size": 7, "learning_rate": 0.5}), 10)
    assert (hp["batch_size"], hp["learning_rate"], chosen) == (7, 0.5, [])
    assert check_hparams({"batch_size": "auto", "learning_rate": "auto"}) == check_hparams({})


def test_an_automatic_batch_divides_over_the_replicas() -> None:
    hp, _ = resolve_hparams(check_hparams({}), 800_000, replicas=3)
    assert hp["batch_size"] == 1026 and hp["batch_size"] % 3 == 0


@pytest.mark.parametrize(
    ("hparams", "message"),
    [
        ({"batch_size": "big"}, r"batch_size='big': expected a whole number > 0 or \"auto\""),
        ({"learning_rate": "Auto"}, r"learning_rate='Auto': expected a number > 0 or \"auto\""),
        ({"batch_size": 0}, "batch_size=0: expected"),
    ],
)
def test_a_bad_batch_or_rate_is_named(hparams: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_hparams(hparams)


def test_the_penguins_keep_the_former_batch_and_rate(trained: Trained) -> None:
    facts = json.loads((trained.model / "training.json").read_text())
    assert (facts["batch_size"], facts["learning_rate"]) == (32, 0.01)
    assert facts["chosen"] == ["batch_size", "learning_rate"]


def _rows(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return pa.table({"x": x, "y": np.where(x > 0, "yes", "no")})


def test_the_values_used_are_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    p = splits(tmp_path, _rows(300, 0), _rows(60, 1))
    with caplog.at_level("INFO", logger="mlrail.progress.train"):
        result = train(
            p["examples"], p["schema"], p["statistics"], p["model"], label="y",
            hparams={"epochs": 1, "batch_size": 128},
        )  # fmt: skip
    facts = json.loads((p["model"] / "training.json").read_text())
    assert (facts["batch_size"], facts["learning_rate"], facts["chosen"]) == (
        128, 0.02, ["learning_rate"],
    )  # fmt: skip
    m = result.metrics()
    assert (m["batch_size"], m["learning_rate"]) == (128, 0.02)
    lines = [r.getMessage() for r in caplog.records]
    assert "batch size 128 (hparams), learning rate 0.02 (chosen for batch 128)" in lines
    import keras

    model = keras.models.load_model(p["model"] / "model.keras")
    assert float(model.optimizer.learning_rate) == pytest.approx(0.02)
