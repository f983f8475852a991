"""The register component: its Python function with real artifacts against a real
``mlflow server``, and its compiled form."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kfp.dsl import Artifact, Dataset, Metrics, Model

from mlrail.components.register import register
from tests.components._compile import compiled_container
from tests.helpers import Trained
from tests.registry.server import MlflowServer

from .evaluated import Evaluated

pytestmark = [
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning"),
]


def test_python_func_registers_on_a_server(
    mlflow_server: MlflowServer,
    tmp_path: Path,
    onnx_model: Path,
    trained: Trained,
    evaluated: Evaluated,
    ingested: tuple[Path, dict[str, Any]],
) -> None:
    examples_dir, meta = ingested
    examples = Dataset(name="examples", uri=str(examples_dir), metadata=dict(meta))
    registered = Artifact(name="registered_model", uri=str(tmp_path / "registered_model"))
    version = register.python_func(
        onnx_model=Model(name="onnx_model", uri=str(onnx_model), metadata={"identity": "id-c1"}),
        examples=examples,
        schema=Artifact(name="schema", uri=str(trained.schema)),
        statistics=Artifact(name="statistics", uri=str(trained.statistics)),
        metrics=Metrics(name="metrics", uri=str(evaluated.metrics)),
        blessing=Artifact(name="blessing", uri=str(evaluated.blessing)),
        registered_model=registered,
        model_name="penguins-component",
        registry_uri=mlflow_server.uri,
        requested_by="bob",
        reason="a component test",
        pipeline_name="training",
        pipeline_version="",
        run_id="r-1",
        run_name="run one",
        kfp_ui_url="",
        image="img",
    )
    assert version == "1"
    assert registered.metadata["version"] == "1" and registered.metadata["created"] is True
    assert registered.metadata["identity"] == "id-c1"
    written = json.loads((tmp_path / "registered_model" / "registered_model.json").read_text())
    assert written["registry"] == mlflow_server.uri

    client = mlflow_server.client()
    mv = client.get_model_version("penguins-component", "1")
    assert mv.tags["mlrail.identity"] == "id-c1"
    assert mv.tags["mlrail.requested_by"] == "bob"
    assert mv.tags["mlrail.pipeline.run_url"] == ""  # no UI URL given: no link
    names = {i.dataset.name for i in client.get_run(mv.run_id).inputs.dataset_inputs}
    assert names == {"bundled:penguins/train", "bundled:penguins/eval"}


def test_compiles_with_the_component_image(tmp_path: Path) -> None:
    spec = compiled_container(register, tmp_path)
    inputs = spec["root"]["inputDefinitions"]
    assert set(inputs["artifacts"]) == {
        "onnx_model",
        "examples",
        "schema",
        "statistics",
        "metrics",
        "blessing",
    }
    assert {"model_name", "registry_uri", "requested_by", "reason"} <= set(inputs["parameters"])
    outputs = spec["root"]["outputDefinitions"]
    assert set(outputs["artifacts"]) == {"registered_model"}
    assert outputs["parameters"]["Output"]["parameterType"] == "STRING"
