"""The sharded training pipeline: its compiled IR (focused asserts; the golden is compared in
test_goldens.py) and real local runs over the penguins split into three files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlrail.artifacts.examples import open_split
from mlrail.artifacts.tfmd import load_statistics
from mlrail.local import LocalRun, format_summary, run_training, summary_record
from mlrail.local.summary import read_outputs
from mlrail.pipelines.training_sharded import PARALLELISM, sharded_pipeline
from tests.components.merge.shards import penguin_shards
from tests.pipelines.golden import compiled_once


@pytest.fixture(scope="module")
def ir_text() -> str:
    return compiled_once("training_sharded")


@pytest.fixture(scope="module")
def ir(ir_text: str) -> dict[str, Any]:
    return next(yaml.safe_load_all(ir_text))


def _tasks(ir: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every task of every DAG, by task name."""
    out = dict(ir["root"]["dag"]["tasks"])
    for comp in ir["components"].values():
        out.update(comp.get("dag", {}).get("tasks", {}))
    return out


def _producer(task: dict[str, Any], artifact: str) -> tuple[str, str]:
    found = task["inputs"]["artifacts"][artifact]["taskOutputArtifact"]
    return found["producerTask"], found["outputArtifactKey"]


def test_it_takes_the_training_pipelines_parameters(ir: dict[str, Any]) -> None:
    training = next(yaml.safe_load_all(compiled_once("training")))
    assert ir["root"]["inputDefinitions"] == training["root"]["inputDefinitions"]
    assert ir["pipelineInfo"]["name"] == "training-sharded"


def test_plan_fans_out_ingest_and_statistics_per_shard_and_merge_gathers(
    ir: dict[str, Any],
) -> None:
    tasks = _tasks(ir)
    loop = tasks["for-loop-2"]
    assert loop["parameterIterator"]["items"]["inputParameter"] == "pipelinechannel--plan-Output"
    assert loop["iteratorPolicy"]["parallelismLimit"] == PARALLELISM
    assert loop["taskInfo"]["name"] == "shards"
    body = ir["components"]["comp-for-loop-2"]["dag"]["tasks"]
    assert set(body) == {"ingest", "statistics"}
    source = body["ingest"]["inputs"]["parameters"]["source"]
    assert source["parameterExpressionSelector"] == 'parseJson(string_value)["source"]'
    # a shard names its files: no span pattern left to fill in the shard's ingest
    assert "span_date" not in body["ingest"]["inputs"]["parameters"]
    assert _producer(body["statistics"], "examples") == ("ingest", "examples")
    merge = tasks["merge"]
    # dsl.Collected: the loop's outputs, every iteration's
    assert _producer(merge, "shard_examples") == ("for-loop-2", "pipelinechannel--ingest-examples")
    assert _producer(merge, "shard_statistics") == (
        "for-loop-2",
        "pipelinechannel--statistics-statistics",
    )
    assert merge["inputs"]["parameters"]["shards"]["taskOutputParameter"]["producerTask"] == "plan"


def test_every_step_after_merge_reads_its_artifacts(ir: dict[str, Any]) -> None:
    tasks = _tasks(ir)
    assert _producer(tasks["validate"], "examples") == ("merge", "examples")
    # the merged statistics: validate reads no row again
    assert _producer(tasks["validate"], "precomputed_statistics") == ("merge", "statistics")
    # inside the gates, merge's examples come in through the sub-DAGs' inputs
    assert _producer(tasks["condition-3"], "pipelinechannel--merge-examples") == (
        "merge",
        "examples",
    )
    for name in ("train", "export-onnx", "evaluate", "register", "deploy"):
        given = tasks[name]["inputs"]["artifacts"]["examples"]["componentInputArtifact"]
        assert given == "pipelinechannel--merge-examples", name
    assert "ingest" not in ir["root"]["dag"]["tasks"]


def test_retries_and_the_object_store_secret_go_to_the_steps_that_read_the_source(
    ir: dict[str, Any], ir_text: str
) -> None:
    tasks = _tasks(ir)
    assert tasks["plan"]["retryPolicy"]["maxRetryCount"] == 2
    assert tasks["ingest"]["retryPolicy"]["maxRetryCount"] == 2
    assert "retryPolicy" not in tasks["merge"] and "retryPolicy" not in tasks["statistics"]
    _, platform = yaml.safe_load_all(ir_text)
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    with_secret = {n for n, c in executors.items() if "secretAsEnv" in c}
    assert {"exec-plan", "exec-ingest"} <= with_secret
    assert not {"exec-statistics", "exec-merge"} & with_secret
    for name in ("exec-plan", "exec-ingest", "exec-statistics", "exec-merge"):
        assert executors[name]["securityContext"]["runAsNonRoot"] is True


def test_parallelism_is_fixed_when_compiled(tmp_path: Path) -> None:
    from kfp import compiler

    compiler.Compiler().compile(sharded_pipeline(3), str(tmp_path / "p.yaml"))
    spec = next(yaml.safe_load_all((tmp_path / "p.yaml").read_text()))
    assert _tasks(spec)["for-loop-2"]["iteratorPolicy"]["parallelismLimit"] == 3
    with pytest.raises(ValueError, match="parallelism=0 must be at least 1"):
        sharded_pipeline(0)


# --- the real thing: the sharded pipeline through kfp.local ---------------------------------


@pytest.fixture(scope="module")
def sharded_run(tmp_path_factory: pytest.TempPathFactory) -> LocalRun:
    root = tmp_path_factory.mktemp("sharded")
    penguin_shards(root / "data", 3)
    return run_training(
        workdir=root / "w",
        arguments={
            "source": str(root / "data"),
            "label": "species",
            "model_name": "penguins",
            "hparams": {"epochs": 10},
        },
        pipeline=sharded_pipeline(2),
    )


def test_penguins_in_three_shards_end_to_end(sharded_run: LocalRun) -> None:
    run = sharded_run
    assert run.ok, run.error
    assert [(s.name, s.status) for s in run.steps] == [
        (n, "SUCCESS")
        for n in (
            "plan",
            "ingest",
            "statistics",
            "merge",
            "validate",
            "train",
            "export_onnx",
            "evaluate",
            "register",
            "deploy",
            "notify",
        )
    ]
    steps = {s.name: s for s in run.steps}
    for name in ("ingest", "statistics"):
        shards = steps[name].shards
        assert [s.name for s in shards] == [f"{name}[{i}]" for i in range(3)]
        assert all(s.status == "SUCCESS" and s.seconds for s in shards)
        assert steps[name].seconds == pytest.approx(sum(s.seconds or 0 for s in shards))
        assert steps[name].summary.startswith("3 shard(s), slowest ")
    assert steps["plan"].summary.startswith("3 shard(s), ")
    assert steps["merge"].summary.startswith("3 shard(s); rows: ")
    assert sum(run.figures["rows"].values()) == 344
    assert run.figures["anomalies"] == 0
    assert run.figures["metrics"]["accuracy"] >= 0.9
    assert run.onnx_model is not None and run.onnx_model.is_file()
    assert "ingest[2]" in json.dumps(summary_record(run))
    assert run.log_file.name.startswith("training-sharded-")
    assert "FAILED" not in format_summary(run)


def test_train_read_the_union_of_the_shards_and_validate_the_merged_statistics(
    sharded_run: LocalRun,
) -> None:
    run_dir = sharded_run.run_dir
    assert run_dir is not None
    merged = read_outputs(run_dir / "merge")
    examples = merged.paths["examples"]
    assert merged.metadata["examples"]["num_shards"] == 3
    for split in ("train", "eval"):
        parts = open_split(examples / split).files
        assert len(parts) == 3  # a part per shard
    train_rows = open_split(examples / "train").rows
    model = read_outputs(run_dir / "train").metadata["model"]
    assert int(model["rows"]) == train_rows == merged.metadata["examples"]["rows_train"]
    validated = read_outputs(run_dir / "validate").paths["statistics"]
    assert load_statistics(validated) == load_statistics(merged.paths["statistics"])
    # each shard's examples were ingest's own, in its iteration's folder
    for i in range(3):
        shard = read_outputs(run_dir / f"for-loop-2-iteration-{i}" / "ingest")
        assert shard.metadata["examples"]["source"].endswith(f"penguins-{i}.csv")


def test_a_failing_shard_fails_the_run_naming_it(tmp_path: Path) -> None:
    penguin_shards(tmp_path / "data", 2)
    (tmp_path / "data" / "penguins-2.csv").write_bytes(b"")
    run = run_training(
        workdir=tmp_path / "w",
        arguments={"source": str(tmp_path / "data"), "label": "species", "model_name": "p"},
        pipeline=sharded_pipeline(2),
    )
    assert run.status == "FAILURE"
    steps = {s.name: s for s in run.steps}
    assert steps["plan"].status == "SUCCESS"
    assert steps["ingest"].status == "FAILURE"
    assert [s.status for s in steps["ingest"].shards][2] == "FAILURE"
    assert "ingest[2]: " in run.error and "penguins-2.csv: the file is empty" in run.error
    assert steps["merge"].status == "NOT RUN" and steps["train"].status == "NOT RUN"
    assert steps["notify"].status == "SUCCESS"
    event = json.loads((tmp_path / "w" / "events.jsonl").read_text().splitlines()[-1])
    assert event["type"] == "io.mlrail.run.failed"
    assert "for-loop-2-iteration-2/ingest" in json.dumps(event["data"])
