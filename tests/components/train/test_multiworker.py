"""Two workers train for real: processes on 127.0.0.1 under TensorFlow's MultiWorkerMirroredStrategy
(TF_CONFIG, free ports), each streaming its own shard of the penguins train split, same seed.

The chief's model reaches the single-worker eval accuracy within :data:`TOLERANCE` and passes
the same ONNX parity gate (export_onnx's real conversion and ONNX Runtime comparison, run in a
process of its own as a pipeline's next step would). A worker that fails stops the run with
that worker's own error; workers that are not done in time are stopped.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from mlrail.components.train import distributed, multiworker
from mlrail.components.train.results import TrainResult
from mlrail.errors import ModelError

from ._data import prepared, splits

#: Eval accuracy may differ from the single worker's by at most this much (penguins' eval split
#: has 74 rows: 0.05 is about 4 of them). The workers see the same rows per epoch in another
#: order (each its own half, per-replica batches of 16 summed into the global 32), so the
#: weights differ from the single worker's; the accuracy must not.
TOLERANCE = 0.05
#: Short, so the two-worker run stays near a minute on 2 cores: penguins is learnt by then.
HPARAMS = {"epochs": 6, "batch_size": 32, "early_stopping_patience": 0, "seed": 7}
LOCAL = {"launcher": "local", "timeout_seconds": 900}

# export_onnx as the pipeline runs it after train: its own process (TensorFlow loaded afresh)
_EXPORT = textwrap.dedent(
    """
    import sys
    from mlrail.components.export_onnx.core import export_onnx
    export_onnx(sys.argv[1], sys.argv[2], sys.argv[3], model_name="penguins")
    """
)


@pytest.fixture(scope="module")
def penguins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The bundled penguins through ingest and validate."""
    import pyarrow.csv as pv

    from tests.helpers import PENGUINS

    return prepared(tmp_path_factory.mktemp("penguins"), pv.read_csv(PENGUINS))


def _train(p: dict[str, Path], out: Path, workers: int, **kwargs: object) -> TrainResult:
    return distributed.train(
        p["examples"], p["schema"], p["statistics"], out / "model", label="species",
        hparams=HPARAMS, curves_file=out / "curves.html", tensorboard_dir=out / "tensorboard",
        workers=workers, distribution=LOCAL, **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


def _accuracy(result: TrainResult) -> float:
    return result.metrics()["eval_accuracy"]


def _component(p: dict[str, Path], out: Path, workers: int) -> dict[str, Any]:
    """The train component's function (the step's adapter) with ``workers``; its metrics."""
    from kfp.dsl import HTML, Artifact, Dataset, Metrics, Model

    from mlrail.components.train import train

    metrics = Metrics(name="training_metrics", uri=str(out / "training_metrics"))
    train.python_func(
        examples=Dataset(name="examples", uri=str(p["examples"])),
        schema=Artifact(name="schema", uri=str(p["schema"])),
        statistics=Artifact(name="statistics", uri=str(p["statistics"])),
        model=Model(name="model", uri=str(out / "model")),
        training_metrics=metrics,
        curves=HTML(name="curves", uri=str(out / "curves.html")),
        tensorboard=Artifact(name="tensorboard", uri=str(out / "tensorboard")),
        label="species", hparams=HPARAMS, workers=workers, distribution=LOCAL,
    )  # fmt: skip
    return dict(metrics.metadata)


def test_two_workers_reach_the_single_worker_accuracy_and_pass_the_parity_gate(
    penguins: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    one = _train(penguins, tmp_path / "one", 1)
    with caplog.at_level(logging.INFO, logger="mlrail"):
        started = time.monotonic()
        # through the step's own adapter, as a pipeline runs it
        two = _component(penguins, tmp_path / "two", 2)
        took = time.monotonic() - started
    print(
        f"eval accuracy: 1 worker {_accuracy(one):.4f}, 2 workers {two['eval_accuracy']:.4f} "
        f"(2 workers took {took:.0f} s)"
    )
    assert _accuracy(one) >= 0.9, "the baseline itself did not learn penguins"
    assert abs(two["eval_accuracy"] - _accuracy(one)) <= TOLERANCE
    # the same outputs as one worker's: the step's files, not the workers' scratch
    model = tmp_path / "two" / "model"
    for name in ("saved_model/saved_model.pb", "model.keras", "model_spec.json", "history.json"):
        assert (model / name).is_file(), name
    facts = json.loads((model / "training.json").read_text())
    assert facts["rows"] == one.rows and facts["epochs"] == HPARAMS["epochs"]
    assert two["rows"] == one.rows and two["epochs"] == HPARAMS["epochs"]
    assert distributed.read_result(model).spec == one.spec
    assert "<svg" in (tmp_path / "two" / "curves.html").read_text()
    assert list((tmp_path / "two" / "tensorboard").rglob("events.out.tfevents.*"))
    # nothing of the workers' left beside the outputs
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == [
        "curves.html", "model", "tensorboard",
    ]  # fmt: skip
    # the chief's epoch lines came through as train's progress, as they come
    progress = [r.getMessage() for r in caplog.records if r.name == "mlrail.progress.train"]
    assert any(m.startswith(f"epoch {HPARAMS['epochs']}/{HPARAMS['epochs']}: ") for m in progress)
    # the same ONNX parity gate as every model: the real conversion, ONNX Runtime on eval rows
    onnx = tmp_path / "onnx_model"
    proc = subprocess.run(
        [sys.executable, "-c", _EXPORT, str(model), str(penguins["examples"]), str(onnx)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    parity = json.loads((onnx / "parity.json").read_text())
    assert parity["ok"] is True and parity["rows"] > 0
    assert parity["max_abs_diff"] <= parity["tolerance"] + parity["rtol"] * parity["scale"]


def _rows(start: int, n: int) -> Any:
    import numpy as np
    import pyarrow as pa

    x = np.random.default_rng(start).normal(size=n)
    return pa.table({"x": x, "c": [f"c{i % 5}" for i in range(n)], "y": np.where(x > 0, "a", "b")})


def test_workers_given_uris_fetch_only_their_own_row_groups(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # 2 parts x 4 row groups of 250 rows, in a store the workers read by file:// URIs (as a
    # TrainJob's workers read s3:// ones): each fetches the 4 row groups of its run of 1000
    # rows (the first or second half), not the whole split
    p = splits(tmp_path / "store", [_rows(0, 1000), _rows(1000, 1000)], _rows(9, 200), 250)
    with caplog.at_level(logging.INFO, logger="mlrail"):
        result = distributed.train(
            p["examples"].as_uri(), p["schema"].as_uri(), p["statistics"].as_uri(),
            tmp_path / "out" / "model", label="y", workers=2, distribution=LOCAL,
            hparams={"epochs": 1, "batch_size": 32, "early_stopping_patience": 0, "seed": 7},
        )  # fmt: skip
    assert result.rows == 2000 and result.eval_rows == 200
    # the chief's own line (worker 0's lines are passed on)
    staged = [
        m for m in (r.getMessage() for r in caplog.records) if "/examples/train: staged " in m
    ]
    assert len(staged) == 1, staged
    found = re.search(r"staged (\d+) of (\d+) bytes \(\d+%; 4 of 8 row groups whole\)", staged[0])
    assert found, staged[0]
    assert int(found[1]) < 0.6 * int(found[2])


def _failing_module(tmp_path: Path) -> Path:
    module = tmp_path / "fails_on_worker_1.py"
    module.write_text(
        textwrap.dedent(
            """
            import json, os

            # a module that breaks on one worker only: the run must fail with its error
            if json.loads(os.environ["TF_CONFIG"])["task"]["index"] == 1:
                raise RuntimeError("no GPU on worker 1")

            from mlrail.components.train.model import default_model

            def build_model(schema, statistics, hparams):
                return default_model(schema, statistics, hparams)
            """
        )
    )
    return module


def test_a_failed_worker_fails_the_step_with_its_own_error(
    penguins: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(ModelError) as e:
        _train(penguins, tmp_path, 2, module_file=str(_failing_module(tmp_path)))
    message = str(e.value)
    assert message.startswith("worker 1 of 2 (exit status 2): module_file ")
    assert "raised on import: RuntimeError: no GPU on worker 1" in message
    # nothing half-written where the step's outputs go, no worker left running
    assert not (tmp_path / "model").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fails_on_worker_1.py"]
    assert not _workers_running(tmp_path)


def test_workers_not_done_in_time_are_stopped(penguins: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(multiworker.WorkerFailed, match=r"^2 workers not done in 2 s \(still "):
        distributed.train(
            penguins["examples"], penguins["schema"], penguins["statistics"],
            tmp_path / "model", label="species", hparams=HPARAMS, workers=2,
            distribution={"launcher": "local", "timeout_seconds": 2},
        )  # fmt: skip
    assert not (tmp_path / "model").exists()
    assert not _workers_running(tmp_path)


def _workers_running(folder: Path) -> list[str]:
    """Worker processes whose arguments name ``folder`` (none once a run is over)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if multiworker.MODULE in cmdline and str(folder) in cmdline:
            found.append(cmdline)
    return found
