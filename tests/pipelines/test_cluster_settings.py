"""cluster_settings in a user's own pipeline: components loaded from their component.yaml,
wired, given the cluster settings with one call per task, compiled; the IR carries the non-root
security context, the resources and the Secrets' environment to the cluster."""

# No `from __future__ import annotations`: KFP reads the pipeline's parameter types from the
# annotations themselves.
from pathlib import Path
from typing import Any

import yaml
from kfp import compiler, components, dsl

from mlrail.pipelines import cluster_settings
from mlrail.pipelines._cluster import MLFLOW_KEYS, OBJECT_STORE_KEYS, UID

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str) -> Any:
    return components.load_component_from_file(str(ROOT / "components" / name / "component.yaml"))


@dsl.pipeline(name="user-pipeline")
def user_pipeline(source: str = "bundled:penguins", mlflow_secret: str = "my-mlflow") -> None:
    ingest, validate, train = _load("ingest"), _load("validate"), _load("train")
    store = "mlpipeline-minio-artifact"
    ingest_task = cluster_settings(
        ingest(source=source), cpu="1", memory="2G", object_store_secret=store
    ).set_retry(num_retries=1)
    validate_task = cluster_settings(
        validate(examples=ingest_task.outputs["examples"]), cpu="500m", memory="1G"
    )
    with dsl.If(validate_task.outputs["Output"] == True):  # noqa: E712 (KFP condition)
        cluster_settings(
            train(
                examples=ingest_task.outputs["examples"],
                schema=validate_task.outputs["schema"],
                statistics=validate_task.outputs["statistics"],
                label="species",
            ),
            cpu="2",
            memory="4G",
            object_store_secret=store,
            mlflow_secret=mlflow_secret,  # a pipeline parameter: the run names the Secret
        )


def _compiled(tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    out = tmp_path / "user_pipeline.yaml"
    compiler.Compiler().compile(user_pipeline, str(out))
    ir, platform = yaml.safe_load_all(out.read_text(encoding="utf-8"))
    return ir, platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


def test_every_task_runs_as_the_images_non_root_user(tmp_path: Path) -> None:
    _, executors = _compiled(tmp_path)
    assert set(executors) == {"exec-ingest", "exec-validate", "exec-train"}
    for executor in executors.values():
        assert executor["securityContext"] == {
            "runAsUser": str(UID),
            "runAsGroup": str(UID),
            "runAsNonRoot": True,
        }


def test_each_task_gets_its_resources_as_request_and_limit(tmp_path: Path) -> None:
    ir, _ = _compiled(tmp_path)
    resources = {
        name: executor["container"]["resources"]
        for name, executor in ir["deploymentSpec"]["executors"].items()
    }
    assert {
        name: (r["resourceCpuRequest"], r["resourceCpuLimit"], r["resourceMemoryRequest"])
        for name, r in resources.items()
    } == {
        "exec-ingest": ("1", "1", "2G"),
        "exec-validate": ("500m", "500m", "1G"),
        "exec-train": ("2", "2", "4G"),
    }
    assert all(r["resourceMemoryLimit"] == r["resourceMemoryRequest"] for r in resources.values())


def test_the_secrets_become_optional_environment_variables(tmp_path: Path) -> None:
    _, executors = _compiled(tmp_path)

    def env(executor: str) -> list[tuple[Any, dict[str, str], bool]]:
        return [
            (
                s.get("secretName") or s["secretNameParameter"],
                {k["secretKey"]: k["envVar"] for k in s["keyToEnv"]},
                s["optional"],
            )
            for s in executors[executor].get("secretAsEnv", [])
        ]

    store = ("mlpipeline-minio-artifact", OBJECT_STORE_KEYS, True)
    assert env("exec-ingest") == [store]
    assert env("exec-validate") == []  # no Secret named: none
    # in the dsl.If sub-DAG, the parameter reaches the task through the condition's inputs
    mlflow = ({"componentInputParameter": "pipelinechannel--mlflow_secret"}, MLFLOW_KEYS, True)
    assert env("exec-train") == [store, mlflow]


def test_it_returns_the_task_for_chaining(tmp_path: Path) -> None:
    ir, _ = _compiled(tmp_path)
    assert ir["root"]["dag"]["tasks"]["ingest"]["retryPolicy"]["maxRetryCount"] == 1
