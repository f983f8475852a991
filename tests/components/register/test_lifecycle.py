"""register sends io.mlrail.model.registered for a new version, against a real ``mlflow
server`` and a real receiver; the same model again sends nothing; a sink that is down never
fails the step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kfp.dsl import Artifact, Dataset, Metrics, Model

from mlrail.components.register import lifecycle, register
from tests.events.receiver import Receiver, refusing_port
from tests.helpers import Trained
from tests.registry.server import MlflowServer

from .evaluated import Evaluated

pytestmark = [
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning"),
]


@pytest.fixture(autouse=True)
def _no_k_sink(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test names its sink: a K_SINK in the shell running the tests must not add one."""
    monkeypatch.delenv("K_SINK", raising=False)


def _register(
    tmp_path: Path,
    name: str,
    identity: str,
    mlflow_server: MlflowServer,
    onnx_model: Path,
    trained: Trained,
    evaluated: Evaluated,
    ingested: tuple[Path, dict[str, Any]],
    events_sink: str,
) -> tuple[str, Artifact]:
    examples_dir, meta = ingested
    registered = Artifact(name="registered_model", uri=str(tmp_path / name))
    version = register.python_func(
        onnx_model=Model(name="onnx_model", uri=str(onnx_model), metadata={"identity": identity}),
        examples=Dataset(name="examples", uri=str(examples_dir), metadata=dict(meta)),
        schema=Artifact(name="schema", uri=str(trained.schema)),
        statistics=Artifact(name="statistics", uri=str(trained.statistics)),
        metrics=Metrics(name="metrics", uri=str(evaluated.metrics)),
        blessing=Artifact(name="blessing", uri=str(evaluated.blessing)),
        registered_model=registered,
        model_name="penguins-events",
        registry_uri=mlflow_server.uri,
        pipeline_name="training",
        run_id="r-1",
        run_name="run one",
        kfp_ui_url="http://kfp.example",
        events_sink=events_sink,
    )
    return version, registered


def test_a_new_version_is_announced_once_and_the_same_model_again_is_not(
    mlflow_server: MlflowServer,
    tmp_path: Path,
    onnx_model: Path,
    trained: Trained,
    evaluated: Evaluated,
    ingested: tuple[Path, dict[str, Any]],
) -> None:
    common = (mlflow_server, onnx_model, trained, evaluated, ingested)
    with Receiver().running() as r:
        first, reg1 = _register(tmp_path, "first", "id-ev1", *common, r.url)
        again, reg2 = _register(tmp_path, "again", "id-ev1", *common, r.url)
    assert first == again  # the same identity is the same version
    (got,) = r.events  # only the version that was created was announced
    event = got.event
    assert event["type"] == "io.mlrail.model.registered"
    assert event["subject"] == "penguins-events"
    assert event["source"] == "/mlrail/pipelines/training/runs/r-1"
    assert event.get_data() == {
        "version": first,
        "created": True,
        "identity": "id-ev1",
        "model_uri": f"models:/penguins-events/{first}",
        "registry": mlflow_server.uri,
        "pipeline": "training",
        "run_id": "r-1",
        "run_name": "run one",
        "links": {
            "run": "http://kfp.example/#/runs/details/r-1",
            "registered_model": reg1.uri,
        },
    }
    assert reg1.metadata["created"] is True and reg1.metadata["events_not_delivered"] == 0
    assert reg1.metadata["events"] == [
        f"event io.mlrail.model.registered {event['id']}: delivered to {r.url}"
    ]
    assert reg2.metadata["created"] is False and reg2.metadata["events"] == []


def test_a_sink_that_is_down_never_fails_register(
    mlflow_server: MlflowServer,
    tmp_path: Path,
    onnx_model: Path,
    trained: Trained,
    evaluated: Evaluated,
    ingested: tuple[Path, dict[str, Any]],
) -> None:
    common = (mlflow_server, onnx_model, trained, evaluated, ingested)
    with refusing_port() as port:
        version, reg = _register(
            tmp_path, "down", "id-ev2", *common, f"http://127.0.0.1:{port}/events"
        )
    assert reg.metadata["version"] == version and reg.metadata["created"] is True
    assert reg.metadata["events_not_delivered"] == 1
    assert "NOT delivered" in reg.metadata["events"][0]
    written = json.loads((Path(reg.path) / "registered_model.json").read_text())
    assert written["version"] == version


def _version(created: bool, registry: str = "http://127.0.0.1:5000") -> dict[str, Any]:
    return {
        "model_name": "penguins",
        "version": "3",
        "created": created,
        "identity": "sha256:ab",
        "model_uri": "models:/penguins/3",
        "registry": registry,
    }


def test_a_jsonl_sink_gets_the_version_with_no_credentials(tmp_path: Path) -> None:
    sink = tmp_path / "events.jsonl"
    (d,) = lifecycle.send_events(
        **_version(True, "http://ann:s3cret@mlflow.example:5000"),
        events_sink=str(sink),
        pipeline="training",
        run_id="r-2",
        links={"run": ""},
    )
    assert d.delivered
    (line,) = sink.read_text().splitlines()
    assert "s3cret" not in line
    event = json.loads(line)
    assert event["source"] == "/mlrail/pipelines/training/runs/r-2"
    data = event["data"]
    assert data["version"] == "3" and data["created"] is True
    assert "links" not in data  # an empty link is left out
    assert data["registry"].startswith("http://") and "mlflow.example:5000" in data["registry"]


def test_no_event_for_a_version_that_existed_and_none_built_with_no_sink(tmp_path: Path) -> None:
    sink = tmp_path / "events.jsonl"
    assert lifecycle.send_events(**_version(False), events_sink=str(sink)) == []
    assert not sink.exists()
    (d,) = lifecycle.send_events(**_version(True), env={})
    assert (d.event_type, d.event_id, d.sink, d.attempts) == (
        "io.mlrail.model.registered",
        "",
        "",
        0,
    )
