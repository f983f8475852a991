"""Batch size and early stopping patience follow the data unless the run sets them; the values
used are reported."""

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
    auto_patience,
    check_hparams,
    resolve_hparams,
)
from tests.components.train._data import splits
from tests.helpers import Trained


@pytest.mark.parametrize(
    ("rows", "batch", "patience"),
    [
        (1, 32, 10),
        (275, 32, 10),  # the penguins: as before
        (31_999, 32, 10),
        (32_000, 64, 10),
        (100_000, 128, 10),
        (200_000, 256, 7),
        (800_000, 1024, 4),
        (2_048_000, 4096, 2),
        (10**9, 4096, 2),
    ],
)
def test_the_batch_grows_and_the_patience_shrinks_with_the_rows(
    rows: int, batch: int, patience: int
) -> None:
    assert auto_batch_size(rows) == batch
    assert auto_patience(rows) == patience
    if batch < 4096:  # an epoch keeps at least 500 steps, and would not at twice the batch
        assert rows // batch >= 500 or batch == 32
        assert rows // (2 * batch) < 500


def test_auto_is_the_default_and_an_explicit_value_wins() -> None:
    defaults = check_hparams({})
    assert defaults["batch_size"] == defaults["early_stopping_patience"] == AUTO
    assert defaults["learning_rate"] == 0.01
    hp, chosen = resolve_hparams(defaults, 800_000)
    assert (hp["batch_size"], hp["early_stopping_patience"]) == (1024, 4)
    assert chosen == ["batch_size", "early_stopping_patience"]
    hp, chosen = resolve_hparams(check_hparams({"batch_size": 64}), 800_000)
    assert (hp["batch_size"], hp["early_stopping_patience"], chosen) == (
        64, 4, ["early_stopping_patience"],
    )  # fmt: skip
    hp, chosen = resolve_hparams(check_hparams({"early_stopping_patience": 0}), 800_000)
    assert (hp["batch_size"], hp["early_stopping_patience"], chosen) == (1024, 0, ["batch_size"])
    given = {"batch_size": 7, "early_stopping_patience": 3}
    hp, chosen = resolve_hparams(check_hparams(given), 10**7)
    assert (hp["batch_size"], hp["early_stopping_patience"], chosen) == (7, 3, [])
    both = {"batch_size": "auto", "early_stopping_patience": "auto"}
    assert check_hparams(both) == defaults


def test_an_automatic_batch_divides_over_the_replicas() -> None:
    hp, _ = resolve_hparams(check_hparams({}), 800_000, replicas=3)
    assert hp["batch_size"] == 1026 and hp["batch_size"] % 3 == 0


@pytest.mark.parametrize(
    ("hparams", "message"),
    [
        ({"batch_size": "big"}, r"batch_size='big': expected a whole number > 0 or \"auto\""),
        ({"early_stopping_patience": "Auto"}, r"early_stopping_patience='Auto': expected a whole"),
        ({"learning_rate": "auto"}, "learning_rate='auto': expected a number > 0"),
        ({"batch_size": 0}, "batch_size=0: expected"),
    ],
)
def test_a_bad_batch_or_patience_is_named(hparams: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_hparams(hparams)


def test_the_penguins_keep_the_former_defaults(trained: Trained) -> None:
    facts = json.loads((trained.model / "training.json").read_text())
    assert (facts["batch_size"], facts["learning_rate"], facts["early_stopping_patience"]) == (
        32, 0.01, 10,
    )  # fmt: skip
    assert facts["chosen"] == ["batch_size", "early_stopping_patience"]


def _rows(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return pa.table({"x": x, "y": np.where(x > 0, "yes", "no")})


def test_the_values_used_are_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    p = splits(tmp_path, _rows(300, 0), _rows(60, 1))
    with caplog.at_level("INFO", logger="mlrail.progress.train"):
        result = train(
            p["examples"], p["schema"], p["statistics"], p["model"], label="y",
            hparams={"epochs": 1, "batch_size": 128, "learning_rate": 0.02},
        )  # fmt: skip
    facts = json.loads((p["model"] / "training.json").read_text())
    assert (facts["batch_size"], facts["learning_rate"], facts["chosen"]) == (
        128, 0.02, ["early_stopping_patience"],
    )  # fmt: skip
    m = result.metrics()
    assert (m["batch_size"], m["learning_rate"], m["early_stopping_patience"]) == (128, 0.02, 10)
    lines = [r.getMessage() for r in caplog.records]
    assert (
        "batch size 128, learning rate 0.02, early stopping patience 10 "
        "(patience chosen for 300 train rows)"
    ) in lines
    import keras

    model = keras.models.load_model(p["model"] / "model.keras")
    assert float(model.optimizer.learning_rate) == pytest.approx(0.02)
