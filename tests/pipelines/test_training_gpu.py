"""The training_gpu pipeline: the training pipeline plus one GPU for train, and nothing else.

Its golden is compared in test_goldens.py; these asserts say what the variant adds, so a failure
names it: the accelerator on train only, train's node selector and tolerations for the GPU pool,
and every other field equal to the training pipeline's.
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


def test_train_takes_the_gpu_pools_node_selector_and_tolerations(
    gpu: list[dict[str, Any]],
) -> None:
    platform = gpu[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    train = platform["exec-train"]
    assert train["nodeSelector"]["nodeSelectorJson"]["componentInputParameter"].endswith(
        "train_node_selector"
    )
    assert train["tolerations"][0]["tolerationJson"]["componentInputParameter"].endswith(
        "train_tolerations"
    )
    assert all("nodeSelector" not in c for n, c in platform.items() if n != "exec-train")
    parameters = gpu[0]["root"]["inputDefinitions"]["parameters"]
    assert {"train_node_selector", "train_tolerations"} <= set(parameters)


def test_otherwise_the_training_pipeline(
    gpu: list[dict[str, Any]], plain: list[dict[str, Any]]
) -> None:
    spec = copy.deepcopy(gpu[0])
    del spec["deploymentSpec"]["executors"]["exec-train"]["container"]["resources"]["accelerator"]
    spec["pipelineInfo"] = plain[0]["pipelineInfo"]
    assert spec == plain[0], "training_gpu differs from training beyond the GPU and its name"
    assert gpu[1] == plain[1], "the Kubernetes settings (security, secrets, node pool) differ"
