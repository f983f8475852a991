"""The training_gpu pipeline: the training pipeline plus one GPU for train, and nothing else.

Its golden is compared in test_goldens.py; these asserts say what the variant adds, so a failure
names it: the accelerator on train only, and every other field equal to the training pipeline's
(so train's node selector and tolerations, asserted in test_training.py, are the GPU pool's too).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from tests.pipelines.golden import compiled_once


@pytest.fixture(scope="module")
def gpu() -> list[dict[str, Any]]:
    """The compiled IR's two documents: the pipeline spec and its Kubernetes platform spec."""
    return list(yaml.safe_load_all(compiled_once("training_gpu")))


@pytest.fixture(scope="module")
def plain() -> list[dict[str, Any]]:
    return list(yaml.safe_load_all(compiled_once("training")))


def test_named_and_described_as_the_gpu_variant(gpu: list[dict[str, Any]]) -> None:
    info = gpu[0]["pipelineInfo"]
    assert info["name"] == "training-gpu"
    assert info["description"].endswith("One GPU for train.")


def test_requests_one_gpu_for_train_only(gpu: list[dict[str, Any]]) -> None:
    executors = gpu[0]["deploymentSpec"]["executors"]
    with_gpu = {n for n, e in executors.items() if "accelerator" in e["container"]["resources"]}
    assert with_gpu == {"exec-train"}
    accelerator = executors["exec-train"]["container"]["resources"]["accelerator"]
    assert accelerator["resourceType"] == "nvidia.com/gpu" and accelerator["resourceCount"] == "1"
    # the CPU and memory of train stay the training pipeline's
    resources = executors["exec-train"]["container"]["resources"]
    assert (resources["resourceCpuLimit"], resources["resourceMemoryLimit"]) == ("2", "4G")


def test_otherwise_the_training_pipeline(
    gpu: list[dict[str, Any]], plain: list[dict[str, Any]]
) -> None:
    spec = copy.deepcopy(gpu[0])
    del spec["deploymentSpec"]["executors"]["exec-train"]["container"]["resources"]["accelerator"]
    spec["pipelineInfo"] = plain[0]["pipelineInfo"]
    assert spec == plain[0], "training_gpu differs from training beyond the GPU and its name"
    assert gpu[1] == plain[1], "the Kubernetes settings (security, secrets, node pool) differ"
