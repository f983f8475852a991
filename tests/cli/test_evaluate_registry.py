"""``mlrail evaluate --registry-uri --model-name``: the registry's champion as the baseline, as a
person runs it on a laptop (an embedded SQLite registry; tiny ONNX models, nothing trained)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from mlrail.cli import main
from mlrail.registry import embedded_uri, open_registry
from mlrail.registry.aliases import promote
from tests.registry.models import CLASSES, tiny_model
from tests.registry.server import free_port

pytestmark = [
    # mlflow 3.17's own code (as in tests/registry): SQLAlchemy 2.1's noload deprecation, and
    # mlflow.pyfunc's schema inference of its agent types with Any fields
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning"),
]


def _csv_labelled_by(model: Path, path: Path) -> Path:
    """A CSV whose label ``y`` is ``model``'s own prediction (its accuracy on it is 1.0)."""
    import onnxruntime as ort

    rng = np.random.default_rng(3)
    x1, x2 = rng.normal(size=(2, 40)).astype(np.float32)
    island = rng.choice(["Biscoe", "Dream", "Torgersen"], size=40).astype(object)
    session = ort.InferenceSession(str(model / "model.onnx"), providers=["CPUExecutionProvider"])
    (probs,) = session.run(None, {"x1": x1[:, None], "x2": x2[:, None], "island": island[:, None]})
    y = [CLASSES[i] for i in np.argmax(probs, axis=1)]
    pacsv.write_csv(pa.table({"x1": x1, "x2": x2, "island": island.tolist(), "y": y}), path)
    return path


def test_evaluate_compares_with_the_champion_of_the_registry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    candidate, champion = (tiny_model(tmp_path / str(s), seed=s) for s in (0, 1))
    uri = embedded_uri(tmp_path / "work")
    registry = open_registry(uri)
    registry.register("tiny", champion, identity="1", tags={})
    data = _csv_labelled_by(champion, tmp_path / "eval.csv")
    args = ["evaluate", str(candidate), str(data), "--registry-uri", uri, "--model-name", "tiny",
            "--thresholds", '{"accuracy": ">= 0"}']  # fmt: skip

    # registered, no champion yet: the first release, blessed on the value threshold alone
    assert main([*args, "--out", str(tmp_path / "first")]) == 0
    assert "no baseline: no champion in the registry yet: first release" in capsys.readouterr().out

    promote(registry, "tiny", "1")
    code = main([*args, "--out", str(tmp_path / "e")])
    out = capsys.readouterr().out
    assert "baseline: models:/tiny@champion (version 1)" in out
    # the value threshold passes; the default change threshold against the champion fails
    assert code == 1 and "NOT blessed" in out and "is not >= -0.01" in out
    metrics = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert metrics["baseline"]["metrics"]["accuracy"] == 1.0


def test_a_registry_that_is_down_is_one_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    model = tiny_model(tmp_path / "m")
    data = _csv_labelled_by(model, tmp_path / "eval.csv")
    down = f"http://127.0.0.1:{free_port()}"
    code = main(
        ["evaluate", str(model), str(data), "--registry-uri", down, "--model-name", "tiny",
         "--out", str(tmp_path / "e")]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    (line,) = err.strip().splitlines()
    assert line.startswith(
        f"mlrail evaluate: error: evaluate's baseline models:/tiny@champion: model registry {down}"
    )
