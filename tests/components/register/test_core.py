"""register's core on the real artifacts of a penguins run, into the embedded SQLite registry.

What the registry holds is read back with MLflow's own client.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from mlrail.components.register import core
from mlrail.errors import DataError
from mlrail.registry import RegistryError, embedded_uri
from tests.helpers import Trained
from tests.registry.models import tiny_model
from tests.registry.server import free_port, mlflow_client

from .evaluated import Evaluated

pytestmark = [
    # mlflow 3.17's own code, read here through MLflow's client (see tests/registry)
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning"),
]

PIPELINE = core.Pipeline("training", "v-abc", "run-uuid-1", "nightly 1", "https://kfp.example/")


@pytest.fixture(scope="module")
def registry_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    return embedded_uri(tmp_path_factory.mktemp("work"))


def _register(
    uri: str,
    out: Path,
    onnx_model: Path,
    trained: Trained,
    evaluated: Evaluated,
    ingested: tuple[Path, dict[str, Any]],
    **extra: Any,
) -> core.RegisterResult:
    examples, meta = ingested
    kwargs: dict[str, Any] = {
        "examples_uri": str(examples),
        "examples_metadata": meta,
        "schema_dir": trained.schema,
        "statistics_dir": trained.statistics,
        "metrics_path": evaluated.metrics,
        "blessing_dir": evaluated.blessing,
        "model_name": "penguins",
        "registry_uri": uri,
        "pipeline": PIPELINE,
        "image": "registry.example/mlrail:0.1.0",
        "requested_by": "ann@example.com",
        "reason": "weekly retrain",
    }
    kwargs.update(extra)
    return core.register(onnx_model, out, **kwargs)


def test_a_version_answers_what_data_evidence_how_and_who(
    registry_uri: str,
    tmp_path: Path,
    onnx_model: Path,
    trained: Trained,
    evaluated: Evaluated,
    ingested: tuple[Path, dict[str, Any]],
) -> None:
    result = _register(registry_uri, tmp_path / "out", onnx_model, trained, evaluated, ingested)
    assert result.created and result.version == "1"
    written = json.loads((tmp_path / "out" / core.OUTPUT_FILE).read_text())
    assert written["version"] == "1" and written["uri"] == "models:/penguins/1"

    client = mlflow_client(registry_uri)
    tags = client.get_model_version("penguins", "1").tags
    _, meta = ingested
    sha = hashlib.sha256((onnx_model / "model.onnx").read_bytes()).hexdigest()
    schema_sha = hashlib.sha256((trained.schema / "schema.pbtxt").read_bytes()).hexdigest()
    metrics = json.loads(evaluated.metrics.read_text())["metrics"]
    blessing = json.loads((evaluated.blessing / "blessing.json").read_text())
    parity = json.loads((onnx_model / "parity.json").read_text())
    assert tags["mlrail.model.sha256"] == sha
    assert tags["mlrail.identity"] == result.identity
    assert tags["mlrail.data.fingerprint"] == meta["fingerprint"]
    assert tags["mlrail.data.source"] == "bundled:penguins"
    assert tags["mlrail.data.rows.train"] == str(meta["rows_train"])
    assert tags["mlrail.data.rows.eval"] == str(meta["rows_eval"])
    assert tags["mlrail.data.schema_sha256"] == schema_sha
    assert float(tags["mlrail.eval.accuracy"]) == metrics["accuracy"]
    assert tags["mlrail.eval.blessed"] == str(blessing["blessed"]).lower()
    assert tags["mlrail.eval.baseline"] == "none"
    checks = json.loads(tags["mlrail.eval.thresholds"])
    assert len(checks) == len(blessing["checks"]) and checks[0].startswith("accuracy >= ")
    assert float(tags["mlrail.parity.max_abs_diff"]) == parity["max_abs_diff"]
    assert tags["mlrail.parity.ok"] == "true"
    assert tags["mlrail.pipeline.name"] == "training"
    assert tags["mlrail.pipeline.version"] == "v-abc"
    assert tags["mlrail.pipeline.run_id"] == "run-uuid-1"
    assert tags["mlrail.pipeline.run_name"] == "nightly 1"
    assert tags["mlrail.pipeline.run_url"] == "https://kfp.example/#/runs/details/run-uuid-1"
    assert tags["mlrail.image"] == "registry.example/mlrail:0.1.0"
    assert tags["mlrail.requested_by"] == "ann@example.com"
    assert tags["mlrail.reason"] == "weekly retrain"

    run = client.get_run(result.run_id)
    assert run.info.run_name == "nightly 1"
    assert run.data.metrics["accuracy"] == metrics["accuracy"]
    inputs = {i.dataset.name: i for i in run.inputs.dataset_inputs}
    assert set(inputs) == {"bundled:penguins/train", "bundled:penguins/eval"}
    train = inputs["bundled:penguins/train"]
    assert train.dataset.digest == str(meta["fingerprint"])[:36]
    assert json.loads(train.dataset.profile) == {"num_rows": meta["rows_train"]}
    assert json.loads(train.dataset.source) == {"uri": f"{ingested[0]}/train"}
    columns = {c["name"]: c["type"] for c in json.loads(train.dataset.schema)["mlflow_colspec"]}
    assert columns["bill_length_mm"] == "double" and columns["island"] == "string"
    assert {t.key: t.value for t in train.tags} == {"mlflow.data.context": "train"}


def test_the_same_model_again_is_the_same_version(
    registry_uri: str,
    tmp_path: Path,
    onnx_model: Path,
    trained: Trained,
    evaluated: Evaluated,
    ingested: tuple[Path, dict[str, Any]],
) -> None:
    first = _register(registry_uri, tmp_path / "a", onnx_model, trained, evaluated, ingested)
    again = _register(
        registry_uri, tmp_path / "b", onnx_model, trained, evaluated, ingested, reason="retry"
    )
    assert again.version == first.version and not again.created
    assert json.loads((tmp_path / "b" / core.OUTPUT_FILE).read_text())["created"] is False
    # the version keeps the evidence it was registered with
    tags = mlflow_client(registry_uri).get_model_version("penguins", again.version).tags
    assert tags["mlrail.reason"] == "weekly retrain"


def test_identity_metadata_then_model_prop_then_file_hash(tmp_path: Path) -> None:
    plain = tiny_model(tmp_path / "plain")
    sha = hashlib.sha256((plain / "model.onnx").read_bytes()).hexdigest()
    assert core.model_identity(plain) == f"sha256:{sha}"
    assert core.model_identity(plain, {"identity": "from-metadata"}) == "from-metadata"
    stamped = tiny_model(tmp_path / "stamped", identity="from-prop")
    assert core.model_identity(stamped) == "from-prop"
    assert core.model_identity(stamped, {"identity": ""}) == "from-prop"


def test_no_registry_configured_fails_before_writing(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    onnx_model: Path,
    trained: Trained,
    evaluated: Evaluated,
    ingested: tuple[Path, dict[str, Any]],
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(RegistryError, match="no model registry configured"):
        _register("", tmp_path / "out", onnx_model, trained, evaluated, ingested)
    assert not (tmp_path / "out").exists()


def test_registry_down_names_it_and_writes_nothing(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    onnx_model: Path,
    trained: Trained,
    evaluated: Evaluated,
    ingested: tuple[Path, dict[str, Any]],
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(RegistryError, match=f"^model registry {uri}: "):
        _register(uri, tmp_path / "out", onnx_model, trained, evaluated, ingested)
    assert not (tmp_path / "out").exists()


def test_a_missing_blessing_names_the_file(
    registry_uri: str,
    tmp_path: Path,
    onnx_model: Path,
    trained: Trained,
    evaluated: Evaluated,
    ingested: tuple[Path, dict[str, Any]],
) -> None:
    empty = tmp_path / "blessing"
    empty.mkdir()
    with pytest.raises(DataError, match=r"blessing\.json: no such file"):
        _register(
            registry_uri,
            tmp_path / "out",
            onnx_model,
            trained,
            evaluated,
            ingested,
            blessing_dir=empty,
        )
    assert not (tmp_path / "out").exists()
