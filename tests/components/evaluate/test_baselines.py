"""evaluate's baseline from the model registry (components/evaluate/baselines.py): the champion by
default, ``models:/`` references, the first release, a registry that is down, and no registry at
all (today's behaviour, MLflow never imported). Real registries: the session's ``mlflow server``
and an embedded SQLite one; tiny ONNX models (tests/registry/models.py), so nothing is trained.

The eval data's labels are one registered version's own predictions: that version scores an
accuracy of 1.0, so the baseline's figures in the outputs say which version was compared with.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from mlrail.components.evaluate.baselines import FIRST_RELEASE, NO_BASELINE
from mlrail.components.evaluate.core import evaluate_table
from mlrail.registry import CHAMPION, ENV_URI, RegistryError, embedded_uri, open_registry
from mlrail.registry.aliases import promote
from tests.registry.models import CLASSES, tiny_model
from tests.registry.server import MlflowServer, free_port

pytestmark = [
    # mlflow 3.17's own code (as in tests/registry): its SQL store's relationships use
    # lazy="noload" (deprecated by SQLAlchemy 2.1), and importing mlflow.pyfunc infers schemas
    # of MLflow's agent types with Any fields
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning"),
]

FAST = {"importance_repeats": 0}


def _features(n: int = 60) -> dict[str, list[object]]:
    rng = np.random.default_rng(7)
    return {
        "x1": rng.normal(size=n).tolist(),
        "x2": rng.normal(size=n).tolist(),
        "island": rng.choice(["Biscoe", "Dream", "Torgersen"], size=n).tolist(),
    }


def _labelled_by(model: Path) -> pa.Table:
    """Rows whose label is ``model``'s own prediction (its accuracy on them is 1.0)."""
    import onnxruntime as ort

    cols = _features()
    session = ort.InferenceSession(str(model / "model.onnx"), providers=["CPUExecutionProvider"])
    feeds = {
        "x1": np.array(cols["x1"], dtype=np.float32)[:, None],
        "x2": np.array(cols["x2"], dtype=np.float32)[:, None],
        "island": np.array(cols["island"], dtype=object)[:, None],
    }
    (probs,) = session.run(None, feeds)
    return pa.table({**cols, "y": [CLASSES[i] for i in np.argmax(probs, axis=1)]})


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """Tiny models by seed: 0 is the candidate evaluated, 1 and 2 are registered versions."""
    root = tmp_path_factory.mktemp("tiny")
    return {seed: tiny_model(root / str(seed), seed=seed) for seed in (0, 1, 2)}


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> str:
    return embedded_uri(tmp_path_factory.mktemp("work"))


@pytest.fixture(params=["server", "embedded"])
def registry_uri(request: pytest.FixtureRequest, embedded: str) -> Iterator[str]:
    if request.param == "server":
        server: MlflowServer = request.getfixturevalue("mlflow_server")
        yield server.uri
    else:
        yield embedded


@pytest.fixture
def name() -> str:
    """A registered model name of this test's own (the registries are shared)."""
    return f"m-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def scratch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The temporary folder evaluate copies fetched baselines into, to see it emptied."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _register(uri: str, name: str, models: dict[int, Path], champion: str | None) -> None:
    registry = open_registry(uri)
    for seed in (1, 2):
        registry.register(name, models[seed], identity=f"id-{seed}", tags={})
    if champion:
        promote(registry, name, champion)


def _read(path: Path) -> dict:
    return json.loads(path.read_text())


def test_the_champion_is_the_default_baseline(
    registry_uri: str,
    name: str,
    models: dict[int, Path],
    scratch: Path,
    tmp_path: Path,
) -> None:
    _register(registry_uri, name, models, champion="2")
    ev = evaluate_table(
        models[0],
        _labelled_by(models[2]),
        "eval",
        tmp_path / "metrics.json",
        tmp_path / "blessing",
        registry_uri=registry_uri,
        model_name=name,
        **FAST,
    )
    ref = f"models:/{name}@{CHAMPION}"
    blessing = _read(tmp_path / "blessing" / "blessing.json")
    assert blessing["baseline"] == {
        "requested": ref,
        "model": f"{ref} (version 2)",
        "format": "onnx",
        "version": "2",
        "reason": "",
    }
    metrics = _read(tmp_path / "metrics.json")
    assert metrics["baseline"]["model"] == f"{ref} (version 2)"
    assert metrics["baseline"]["metrics"]["accuracy"] == 1.0  # the champion's own labels
    assert ev.metrics["accuracy"] < 1.0
    # the default change threshold compared the candidate with the champion, and failed it
    (change,) = [c for c in blessing["checks"] if c["kind"] == "change"]
    assert change["baseline_value"] == 1.0 and change["verdict"] == "fail"
    assert not ev.blessed
    assert f"against the baseline {ref} (version 2)" in blessing["decided_on"]
    assert list(scratch.iterdir()) == []  # the fetched champion was removed


def test_the_registry_from_the_environment_as_on_a_cluster(
    mlflow_server: MlflowServer,
    name: str,
    models: dict[int, Path],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _register(mlflow_server.uri, name, models, champion="1")
    monkeypatch.setenv(ENV_URI, mlflow_server.uri)
    ev = evaluate_table(models[0], _labelled_by(models[1]), "eval", model_name=name, **FAST)
    assert ev.baseline is not None and ev.baseline.version == "1"
    assert ev.baseline.metrics.scalars["accuracy"] == 1.0


@pytest.mark.parametrize("registered", [True, False], ids=["no-champion", "not-registered"])
def test_no_champion_yet_is_the_first_release(
    registry_uri: str, name: str, models: dict[int, Path], registered: bool, tmp_path: Path
) -> None:
    if registered:
        _register(registry_uri, name, models, champion=None)
    ev = evaluate_table(
        models[0],
        _labelled_by(models[0]),
        "eval",
        tmp_path / "metrics.json",
        tmp_path / "blessing",
        registry_uri=registry_uri,
        model_name=name,
        **FAST,
    )
    assert ev.blessed and ev.baseline is None
    blessing = _read(tmp_path / "blessing" / "blessing.json")
    assert blessing["baseline"] == {
        "requested": f"models:/{name}@{CHAMPION}",
        "model": None,
        "format": None,
        "version": None,
        "reason": FIRST_RELEASE,
    }
    assert blessing["decided_on"] == f"value thresholds only: no baseline ({FIRST_RELEASE})"
    assert _read(tmp_path / "metrics.json")["baseline"] is None


def test_none_compares_with_nothing_even_with_a_champion(
    registry_uri: str, name: str, models: dict[int, Path], tmp_path: Path
) -> None:
    """``baseline_model="none"`` (``mlrail run --no-baseline``) beats the champion default."""
    _register(registry_uri, name, models, champion="2")
    ev = evaluate_table(
        models[0],
        _labelled_by(models[2]),
        "eval",
        tmp_path / "metrics.json",
        tmp_path / "blessing",
        baseline_model=NO_BASELINE,
        registry_uri=registry_uri,
        model_name=name,
        **FAST,
    )
    assert ev.baseline is None
    blessing = _read(tmp_path / "blessing" / "blessing.json")
    assert blessing["baseline"]["requested"] == NO_BASELINE
    assert blessing["baseline"]["model"] is None
    assert [c for c in blessing["checks"] if c["kind"] == "change"] == []


def test_an_explicit_version_wins_over_the_champion(
    registry_uri: str, name: str, models: dict[int, Path], tmp_path: Path
) -> None:
    _register(registry_uri, name, models, champion="2")
    ref = f"models:/{name}/1"
    ev = evaluate_table(
        models[0],
        _labelled_by(models[1]),
        "eval",
        blessing_dir=tmp_path / "blessing",
        baseline_model=ref,
        registry_uri=registry_uri,
        model_name=name,
        **FAST,
    )
    assert ev.baseline is not None and ev.baseline.metrics.scalars["accuracy"] == 1.0
    baseline = _read(tmp_path / "blessing" / "blessing.json")["baseline"]
    assert (baseline["requested"], baseline["model"], baseline["version"]) == (
        ref,
        f"{ref} (version 1)",
        "1",
    )


def test_a_version_that_does_not_exist_fails(
    registry_uri: str, name: str, models: dict[int, Path], tmp_path: Path
) -> None:
    _register(registry_uri, name, models, champion="2")
    with pytest.raises(RegistryError, match=f"evaluate's baseline models:/{name}/9: .*version 9"):
        evaluate_table(
            models[0],
            _labelled_by(models[0]),
            "eval",
            tmp_path / "metrics.json",
            baseline_model=f"models:/{name}/9",
            registry_uri=registry_uri,
            **FAST,
        )
    assert not (tmp_path / "metrics.json").exists()


def test_a_registry_that_is_down_fails_evaluate_in_one_line(
    models: dict[int, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    down = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(RegistryError) as e:
        evaluate_table(
            models[0],
            _labelled_by(models[0]),
            "eval",
            tmp_path / "metrics.json",
            tmp_path / "blessing",
            registry_uri=down,
            model_name="penguins",
            **FAST,
        )
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith(
        f"evaluate's baseline models:/penguins@champion: model registry {down}"
    )
    assert not (tmp_path / "metrics.json").exists() and not (tmp_path / "blessing").exists()


def test_a_registry_reference_without_a_registry_names_the_parameter(
    models: dict[int, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_URI, raising=False)
    with pytest.raises(RegistryError, match=r"pass registry_uri or set MLFLOW_TRACKING_URI"):
        evaluate_table(
            models[0], _labelled_by(models[0]), "eval", baseline_model="models:/m@champion"
        )


def test_a_path_baseline_is_read_as_before_with_a_registry_configured(
    models: dict[int, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the registry is down: a path baseline must not contact it
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    ev = evaluate_table(
        models[0],
        _labelled_by(models[1]),
        "eval",
        baseline_model=str(models[1]),
        registry_uri=f"http://127.0.0.1:{free_port()}",
        model_name="penguins",
        **FAST,
    )
    assert ev.baseline is not None and ev.baseline.source == str(models[1])
    assert ev.baseline.version == "" and ev.baseline.metrics.scalars["accuracy"] == 1.0


_NO_REGISTRY = """
import json, sys
from pathlib import Path
import pyarrow as pa
from mlrail.components.evaluate.core import evaluate_table

rows = json.loads(sys.argv[2])
ev = evaluate_table(sys.argv[1], pa.table(rows), "eval", model_name="penguins",
                    importance_repeats=0)
print(json.dumps([ev.baseline is None, ev.baseline_requested, ev.baseline_reason,
                  "mlflow" in sys.modules]))
"""


def test_no_registry_is_todays_behaviour_and_never_imports_mlflow(
    models: dict[int, Path],
) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k != ENV_URI}
    rows = _labelled_by(models[0]).to_pydict()
    out = subprocess.run(
        [sys.executable, "-c", _NO_REGISTRY, str(models[0]), json.dumps(rows)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    no_baseline, requested, reason, mlflow_imported = json.loads(out.stdout.splitlines()[-1])
    assert no_baseline and requested == "" and reason == "no baseline model was given"
    assert mlflow_imported is False
