"""Train's progress lines: a long training is never silent for long, and the last epoch run is
always shown."""

from __future__ import annotations

import pytest

from mlrail.components.train.curves import PROGRESS_SECONDS, EpochProgress


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "mlrail.progress.train"]


def _epoch(cb: EpochProgress, clock: Clock, epoch: int, seconds: float, steps: int) -> None:
    cb.on_epoch_begin(epoch)
    for end in range(31, steps, 32):  # Keras calls back once per 32 steps (steps_per_execution)
        clock.now += seconds * 32 / steps
        cb.on_train_batch_end(end)
    cb.on_epoch_end(epoch, {"loss": 0.5, "val_loss": 0.25})


def test_quick_epochs_show_the_first_every_kth_and_the_last_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    cb = EpochProgress(60, 100, clock)
    with caplog.at_level("INFO", logger="mlrail.progress.train"):
        for e in range(10):  # stopped early after 10 of 60 epochs, a second each
            _epoch(cb, clock, e, 1.0, 100)
        cb.on_train_end()
    assert _lines(caplog) == [f"epoch {n}/60: loss 0.5, val_loss 0.25" for n in (1, 3, 6, 9, 10)]


def test_long_epochs_are_each_shown_and_report_their_steps(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    cb = EpochProgress(60, 2000, clock)
    with caplog.at_level("INFO", logger="mlrail.progress.train"):
        for e in range(2):
            _epoch(cb, clock, e, 2.5 * PROGRESS_SECONDS, 2000)
        cb.on_train_end()
    lines = _lines(caplog)
    epochs = [line for line in lines if "loss" in line]
    assert epochs == ["epoch 1/60: loss 0.5, val_loss 0.25", "epoch 2/60: loss 0.5, val_loss 0.25"]
    steps = [line for line in lines if "step" in line]
    # every PROGRESS_SECONDS within an epoch of 2.5 of them: two step lines each
    assert len(steps) == 4 and steps[0].startswith("epoch 1/60: step ")
    assert steps[0].endswith(" of 2000") and steps[2].startswith("epoch 2/60: step ")
    assert lines.index(epochs[0]) < lines.index(steps[2])  # in the order they happened
