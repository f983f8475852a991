"""Every pipeline in mlrail.pipelines against its golden file: a new pipeline without one fails.

The focused asserts of each pipeline live beside it (test_training.py, test_training_gpu.py);
this file keeps the set of goldens and the set of pipelines the same.
"""

from __future__ import annotations

import pytest
import yaml
from google.protobuf import json_format
from kfp.kubernetes import kubernetes_executor_config_pb2
from kfp.pipeline_spec import pipeline_spec_pb2

from tests.pipelines.golden import GOLDEN_DIR, PIPELINES, compiled, compiled_once, normalise

REGENERATE = "regenerate with: .venv/bin/python -m tests.pipelines.golden"


def test_pipelines_are_found() -> None:
    # the discovery itself is what guards a new pipeline; it must see the ones we know
    assert {"training", "training_gpu"} <= set(PIPELINES)


@pytest.mark.parametrize("name", PIPELINES)
def test_matches_the_golden_file(name: str) -> None:
    path = GOLDEN_DIR / f"{name}.yaml"
    assert path.is_file(), f"mlrail.pipelines.{name} has no golden {path}: {REGENERATE}"
    assert normalise(compiled_once(name)) == path.read_text(encoding="utf-8"), REGENERATE


@pytest.mark.parametrize("name", PIPELINES)
def test_compiles_byte_identically(name: str) -> None:
    assert compiled(name) == compiled_once(name)  # compiled twice: fresh, and cached


def test_every_golden_file_is_a_pipeline() -> None:
    stale = sorted(p.stem for p in GOLDEN_DIR.glob("*.yaml") if p.stem not in PIPELINES)
    assert stale == [], f"goldens of no pipeline in mlrail.pipelines: {stale}"


@pytest.mark.parametrize("name", PIPELINES)
def test_parses_strictly_as_a_pipeline_spec(name: str) -> None:
    spec, platform = yaml.safe_load_all(compiled_once(name))
    parsed = json_format.ParseDict(
        spec, pipeline_spec_pb2.PipelineSpec(), ignore_unknown_fields=False
    )
    assert parsed.pipeline_info.name == name.replace("_", "-")
    json_format.ParseDict(platform, pipeline_spec_pb2.PlatformSpec(), ignore_unknown_fields=False)
    for config in platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"].values():
        json_format.ParseDict(
            config,
            kubernetes_executor_config_pb2.KubernetesExecutorConfig(),
            ignore_unknown_fields=False,
        )


@pytest.mark.parametrize("name", PIPELINES)
def test_every_input_is_described_in_the_ui(name: str) -> None:
    """The Kubeflow UI shows each input's description, copied from the pipeline's and each
    component's docstring ``Args:``: an input left out of a docstring shows none."""
    ir = next(yaml.safe_load_all(compiled_once(name)))
    undescribed = [
        f"pipeline {name}: {n}"
        for n, p in ir["root"]["inputDefinitions"]["parameters"].items()
        if not p.get("description")
    ]
    for ref, component in ir["components"].items():
        if "executorLabel" not in component:
            continue  # a dsl.If sub-DAG: its inputs are the pipeline's, passed through
        for group in ("parameters", "artifacts"):
            for n, p in component.get("inputDefinitions", {}).get(group, {}).items():
                if not p.get("description"):
                    undescribed.append(f"{ref}: {n}")
    assert undescribed == []
