"""The training pipeline: its compiled IR (focused asserts; the golden is compared in
test_goldens.py) and a real local run."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlrail.local import format_summary, run_training
from mlrail.local.steps import RECORD_FILE
from mlrail.local.summary import read_outputs
from tests.pipelines.golden import compiled_once


@pytest.fixture(scope="module")
def ir_text() -> str:
    return compiled_once("training")


@pytest.fixture(scope="module")
def ir(ir_text: str) -> dict[str, Any]:
    return next(yaml.safe_load_all(ir_text))


@pytest.fixture(scope="module")
def platform(ir_text: str) -> dict[str, Any]:
    """The Kubernetes settings of each executor (the IR's second document)."""
    _, second = yaml.safe_load_all(ir_text)
    return second["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


def _tasks(ir: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every task of every DAG, by task name."""
    out = dict(ir["root"]["dag"]["tasks"])
    for comp in ir["components"].values():
        out.update(comp.get("dag", {}).get("tasks", {}))
    return out


def test_every_task_runs_as_the_image_user_not_root(platform: dict[str, Any]) -> None:
    assert set(platform) == {
        f"exec-{n}"
        for n in (
            "ingest",
            "validate",
            "train",
            "evaluate",
            "export-onnx",
            "register",
            "deploy",
            "notify",
        )
    }
    for name, config in platform.items():
        assert config["securityContext"] == {
            "runAsUser": "10001",
            "runAsGroup": "10001",
            "runAsNonRoot": True,
        }, name


def test_object_store_secret_reaches_only_the_steps_that_read_uris(
    platform: dict[str, Any],
) -> None:
    readers = {
        n
        for n, c in platform.items()
        for s in c.get("secretAsEnv", [])
        if s["secretNameParameter"]["componentInputParameter"].endswith("object_store_secret")
    }
    # data, a curated schema or baseline statistics, a module file, a baseline model, the
    # examples register records, a registry whose artifact store is s3:// (register, deploy)
    assert readers == {
        "exec-ingest",
        "exec-validate",
        "exec-train",
        "exec-evaluate",
        "exec-register",
        "exec-deploy",
    }
    (secret,) = platform["exec-ingest"]["secretAsEnv"]
    assert secret["optional"] is True  # a cluster without the Secret still runs local sources
    assert secret["secretNameParameter"]["componentInputParameter"].endswith("object_store_secret")
    assert {k["envVar"] for k in secret["keyToEnv"]} == {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_ENDPOINT_URL",
    }


def test_mlflow_secret_reaches_evaluate_register_and_deploy_only(
    platform: dict[str, Any],
) -> None:
    readers = {}
    for name, config in platform.items():
        for secret in config.get("secretAsEnv", []):
            if secret["secretNameParameter"]["componentInputParameter"].endswith("mlflow_secret"):
                readers[name] = secret
    # evaluate's baseline is the champion; register adds versions; deploy moves the aliases
    assert set(readers) == {"exec-evaluate", "exec-register", "exec-deploy"}
    for secret in readers.values():
        assert secret["optional"] is True  # registry_uri alone, or no registry, still runs
        keys = {k["secretKey"]: k["envVar"] for k in secret["keyToEnv"]}
        assert keys == {
            k: k
            for k in (
                "MLFLOW_TRACKING_URI",
                "MLFLOW_TRACKING_TOKEN",
                "MLFLOW_TRACKING_USERNAME",
                "MLFLOW_TRACKING_PASSWORD",
                "MLFLOW_TRACKING_SERVER_CERT_PATH",
                "MLFLOW_S3_ENDPOINT_URL",
            )
        }


def _root_parameter(ir: dict[str, Any], executor: str, parameter: str) -> str:
    """The root parameter that feeds ``parameter``, an input of the DAG running ``executor``.

    KFP's driver resolves a ``componentInputParameter`` against the DAG the task runs in; each
    condition gets it from the DAG above it, up to the pipeline's own parameters.
    """
    dags = {"root": ir["root"], **{n: c for n, c in ir["components"].items() if "dag" in c}}
    (component,) = [n for n, c in ir["components"].items() if c.get("executorLabel") == executor]
    while True:
        (owner,) = [
            n
            for n, d in dags.items()
            for t in d["dag"]["tasks"].values()
            if t["componentRef"]["name"] == component
        ]
        if owner == "root":
            assert parameter in ir["root"]["inputDefinitions"]["parameters"], parameter
            return parameter
        (feeding,) = [
            t
            for d in dags.values()
            for t in d["dag"]["tasks"].values()
            if t["componentRef"]["name"] == owner
        ]
        parameter = feeding["inputs"]["parameters"][parameter]["componentInputParameter"]
        component = owner


def test_key_secrets_are_mounted_in_export_onnx_and_deploy_only(
    ir: dict[str, Any], platform: dict[str, Any]
) -> None:
    mounts = {
        label: [
            (
                _root_parameter(ir, label, s["secretNameParameter"]["componentInputParameter"]),
                s["mountPath"],
                s["optional"],
            )
            for s in config["secretAsVolume"]
        ]
        for label, config in platform.items()
        if "secretAsVolume" in config
    }
    # the private key reaches the step that signs, the public one the step that verifies;
    # optional: a cluster without the Secrets still runs (the mounts turn nothing on)
    assert mounts == {
        "exec-export-onnx": [("signing_key_secret", "/var/run/secrets/mlrail/signing", True)],
        "exec-deploy": [("verify_key_secret", "/var/run/secrets/mlrail/verify", True)],
    }


def test_train_takes_a_node_selector_and_tolerations(platform: dict[str, Any]) -> None:
    train = platform["exec-train"]
    assert train["nodeSelector"]["nodeSelectorJson"]["componentInputParameter"].endswith(
        "train_node_selector"
    )
    assert train["tolerations"][0]["tolerationJson"]["componentInputParameter"].endswith(
        "train_tolerations"
    )
    assert all("nodeSelector" not in c for n, c in platform.items() if n != "exec-train")


def _fed_into(ir: dict[str, Any], task_name: str) -> dict[str, str]:
    """Each input parameter of ``task_name`` → the pipeline parameter that feeds it, traced
    through the sub-DAGs (exit handler, ``dsl.If``) that hold the task."""

    def walk(dag: dict[str, Any], outer: dict[str, str]) -> dict[str, str] | None:
        for name, task in dag["tasks"].items():
            fed = {
                param: outer[spec["componentInputParameter"]]
                for param, spec in task.get("inputs", {}).get("parameters", {}).items()
                if spec.get("componentInputParameter") in outer
            }
            if name == task_name:
                return fed
            inner = ir["components"][task["componentRef"]["name"]].get("dag")
            if inner and (found := walk(inner, fed)) is not None:
                return found
        return None

    root = ir["root"]["inputDefinitions"]["parameters"]
    found = walk(ir["root"]["dag"], {p: p for p in root})
    assert found is not None, f"no task {task_name}"
    return found


@pytest.mark.parametrize("pipeline", ["training", "training_sharded", "training_gpu"])
def test_train_workers_and_distribution_are_pipeline_parameters_fed_to_train(
    pipeline: str,
) -> None:
    ir = next(yaml.safe_load_all(compiled_once(pipeline)))
    params = ir["root"]["inputDefinitions"]["parameters"]
    assert params["train_workers"]["parameterType"] == "NUMBER_INTEGER"
    assert params["train_workers"]["defaultValue"] == 1  # train alone unless asked
    assert params["train_distribution"]["parameterType"] == "STRUCT"
    assert params["train_distribution"]["defaultValue"] == {}
    # the docstrings reach the Kubeflow UI
    assert "MultiWorkerMirroredStrategy" in params["train_workers"]["description"]
    assert "TrainJob" in params["train_distribution"]["description"]
    fed = _fed_into(ir, "train")
    assert fed["workers"] == "train_workers"
    assert fed["distribution"] == "train_distribution"


def test_ingest_gets_the_scheduled_time(ir: dict[str, Any]) -> None:
    args = _tasks(ir)["ingest"]["inputs"]["parameters"]
    assert args["scheduled_time"]["runtimeValue"]["constant"] == (
        "{{$.pipeline_job_schedule_time_utc}}"
    )
    # inside the exit handler's group: the pipeline's parameter, passed in as a channel
    assert args["span_date"]["componentInputParameter"] == "pipelinechannel--span_date"


def test_gates(ir: dict[str, Any]) -> None:
    tasks = _tasks(ir)
    data_ok = tasks["condition-2"]["triggerPolicy"]["condition"]
    assert data_ok == "inputs.parameter_values['pipelinechannel--validate-Output'] == true"
    assert tasks["condition-2"]["taskInfo"]["name"] == "data-ok"
    blessed = tasks["condition-3"]["triggerPolicy"]["condition"]
    assert blessed == "inputs.parameter_values['pipelinechannel--evaluate-Output'] == true"
    assert tasks["condition-3"]["taskInfo"]["name"] == "model-blessed"
    body = ir["components"]["comp-exit-handler-1"]["dag"]["tasks"]
    assert set(body) == {"ingest", "validate", "condition-2"}
    inner = ir["components"]["comp-condition-2"]["dag"]["tasks"]
    # every trained model is exported (and so parity-checked); the blessing gates the release
    assert {"train", "export-onnx", "evaluate", "condition-3"} == set(inner)
    assert {"register", "deploy"} == set(ir["components"]["comp-condition-3"]["dag"]["tasks"])


def test_notify_runs_after_the_whole_run_however_it_ends(ir: dict[str, Any]) -> None:
    root = ir["root"]["dag"]["tasks"]
    assert set(root) == {"exit-handler-1", "notify"}
    notify = root["notify"]
    assert notify["dependentTasks"] == ["exit-handler-1"]
    assert notify["triggerPolicy"] == {"strategy": "ALL_UPSTREAM_TASKS_COMPLETED"}
    args = notify["inputs"]["parameters"]
    assert args["status"] == {"taskFinalStatus": {"producerTask": "exit-handler-1"}}
    assert args["events_sink"] == {"componentInputParameter": "events_sink"}
    assert args["pipeline_name"]["runtimeValue"]["constant"] == "training"
    assert args["run_id"]["runtimeValue"]["constant"] == "{{$.pipeline_job_uuid}}"
    assert args["run_name"]["runtimeValue"]["constant"] == "{{$.pipeline_job_name}}"


def test_validate_sends_its_events_to_the_runs_sink(ir: dict[str, Any]) -> None:
    args = _tasks(ir)["validate"]["inputs"]["parameters"]
    assert args["events_sink"] == {"componentInputParameter": "pipelinechannel--events_sink"}
    assert args["model_name"] == {"componentInputParameter": "pipelinechannel--model_name"}
    assert args["pipeline"]["runtimeValue"]["constant"] == "training"
    assert args["run_id"]["runtimeValue"]["constant"] == "{{$.pipeline_job_uuid}}"


def test_a_blessed_model_is_registered_with_its_evidence_before_deploy(
    ir: dict[str, Any],
) -> None:
    tasks = _tasks(ir)
    register, deploy = tasks["register"], tasks["deploy"]
    assert deploy["dependentTasks"] == ["register"]  # what is served was registered first

    def producer(arg: dict[str, Any], gates: list[str]) -> dict[str, str]:
        """The task output an input comes from, through the gates' sub-DAG inputs."""
        if "taskOutputArtifact" in arg:
            return dict(arg["taskOutputArtifact"])
        outer = tasks[gates[0]]["inputs"]["artifacts"][arg["componentInputArtifact"]]
        return producer(outer, gates[1:])

    evidence = {
        name: producer(arg, ["condition-3", "condition-2"])
        for name, arg in register["inputs"]["artifacts"].items()
    }
    assert evidence == {
        "onnx_model": {"outputArtifactKey": "onnx_model", "producerTask": "export-onnx"},
        "examples": {"outputArtifactKey": "examples", "producerTask": "ingest"},
        "schema": {"outputArtifactKey": "schema", "producerTask": "validate"},
        "statistics": {"outputArtifactKey": "statistics", "producerTask": "validate"},
        "metrics": {"outputArtifactKey": "metrics", "producerTask": "evaluate"},
        "blessing": {"outputArtifactKey": "blessing", "producerTask": "evaluate"},
    }
    params = register["inputs"]["parameters"]
    for name in ("requested_by", "reason", "pipeline_version", "kfp_ui_url", "registry_uri"):
        assert params[name]["componentInputParameter"] == f"pipelinechannel--{name}", name
    assert params["run_id"]["runtimeValue"]["constant"] == "{{$.pipeline_job_uuid}}"
    assert params["image"]["runtimeValue"]["constant"].startswith("ghcr.io/")
    # evaluate compares with the same registry's champion
    assert tasks["evaluate"]["inputs"]["parameters"]["registry_uri"] == {
        "componentInputParameter": "pipelinechannel--registry_uri"
    }


def test_evaluate_measures_the_onnx_model_that_deploy_serves(ir: dict[str, Any]) -> None:
    tasks = _tasks(ir)
    assert tasks["export-onnx"]["inputs"]["artifacts"]["model"]["taskOutputArtifact"] == {
        "outputArtifactKey": "model",
        "producerTask": "train",
    }
    measured = tasks["evaluate"]["inputs"]["artifacts"]["onnx_model"]["taskOutputArtifact"]
    assert measured == {"outputArtifactKey": "onnx_model", "producerTask": "export-onnx"}
    assert "model" not in tasks["evaluate"]["inputs"]["artifacts"]  # never the SavedModel
    # deploy gets the same artifact, through the blessing's sub-DAG
    served = tasks["deploy"]["inputs"]["artifacts"]["onnx_model"]["componentInputArtifact"]
    into_gate = tasks["condition-3"]["inputs"]["artifacts"][served]["taskOutputArtifact"]
    assert into_gate == measured


def test_retries_caching_and_resources(ir: dict[str, Any]) -> None:
    tasks = _tasks(ir)
    assert tasks["ingest"]["retryPolicy"]["maxRetryCount"] == 2
    assert tasks["ingest"]["retryPolicy"]["backoffDuration"] == "10s"
    for name in ("export-onnx", "evaluate", "register", "deploy", "notify"):
        assert tasks[name]["cachingOptions"] == {}, f"{name} must never be served from cache"
    assert tasks["train"]["cachingOptions"] == {"enableCache": True}
    executors = ir["deploymentSpec"]["executors"]
    for name, limits in {
        "train": ("2", "4G"),
        "register": ("500m", "1G"),
        "notify": ("100m", "256M"),
    }.items():
        res = executors[f"exec-{name}"]["container"]["resources"]
        assert (res["resourceCpuLimit"], res["resourceMemoryLimit"]) == limits, name
    for name, executor in executors.items():
        res = executor["container"]["resources"]
        assert res["resourceCpuRequest"] == res["resourceCpuLimit"], name


def test_every_parameter_has_a_default(ir: dict[str, Any]) -> None:
    params = ir["root"]["inputDefinitions"]["parameters"]
    assert len(params) == 58
    missing = [n for n, p in params.items() if "defaultValue" not in p and not p.get("isOptional")]
    assert missing == []


# --- the real thing: the whole pipeline through kfp.local --------------------------------------


def _event_types(workdir: Path) -> list[str]:
    """The types of the events a local run appended to its working folder's events.jsonl."""
    lines = (workdir / "events.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["type"] for line in lines]


@pytest.fixture(scope="module")
def penguins_run(tmp_path_factory: pytest.TempPathFactory):
    workdir = tmp_path_factory.mktemp("local")
    return run_training(workdir=workdir, arguments={"model_name": "penguins"})


def test_penguins_end_to_end(penguins_run) -> None:
    run = penguins_run
    assert run.ok, run.error
    assert [(s.name, s.status) for s in run.steps] == [
        (n, "SUCCESS")
        for n in (
            "ingest",
            "validate",
            "train",
            "export_onnx",
            "evaluate",
            "register",
            "deploy",
            "notify",
        )
    ]
    assert all(s.seconds is not None and s.seconds > 0 for s in run.steps)
    assert run.figures["anomalies"] == 0
    assert sum(run.figures["rows"].values()) == 344
    assert run.figures["metrics"]["accuracy"] >= 0.95
    assert run.figures["parity_max_abs_diff"] <= 1e-5
    assert run.onnx_model == run.model_repository / "penguins" / "1" / "model.onnx"
    assert run.onnx_model.is_file()


# mlflow 3.17's own code, read here through MLflow's client (as in tests/registry)
@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning")
def test_the_deployed_model_was_registered_and_the_run_heard(penguins_run) -> None:
    from mlflow import MlflowClient

    workdir = penguins_run.model_repository.parent
    uri = f"sqlite:///{workdir / 'registry' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    (version,) = client.search_model_versions("name='penguins'")
    registered = read_outputs(penguins_run.run_dir / "register").metadata["registered_model"]
    assert (registered["version"], registered["created"]) == (str(version.version), True)
    deployed = read_outputs(penguins_run.run_dir / "deploy").metadata["deployment"]
    assert version.tags["mlrail.identity"] == deployed["identity"]  # the one that serves
    assert len(version.tags["mlrail.pipeline.version"]) == 64  # the compiled IR's SHA-256
    summary = {s.name: s.summary for s in penguins_run.steps}
    assert summary["register"] == f"penguins version {version.version} (created)"
    assert summary["notify"] == f"run.succeeded -> {workdir / 'events.jsonl'}"
    # a clean run: no data event from validate; a new version, deployed; the final status last
    assert _event_types(workdir) == [
        "io.mlrail.model.registered",
        "io.mlrail.model.deployed",
        "io.mlrail.run.succeeded",
    ]
    release = read_outputs(penguins_run.run_dir / "deploy").paths["release"]
    record = json.loads((release / "release.json").read_text(encoding="utf-8"))
    assert (record["number"], record["model"]["registry_version"]) == (1, str(version.version))
    assert client.get_registered_model("penguins").aliases == {"champion": int(version.version)}


def test_deploy_starts_after_register_ended_and_notify_after_all(penguins_run) -> None:
    def attempt(task: str) -> dict[str, dt.datetime]:
        record = json.loads((penguins_run.run_dir / task / RECORD_FILE).read_text())
        last = record["attempts"][-1]
        return {k: dt.datetime.fromisoformat(last[k]) for k in ("started", "ended")}

    assert attempt("register")["ended"] <= attempt("deploy")["started"]
    last = max(attempt(s.task)["ended"] for s in penguins_run.steps if s.name != "notify")
    assert last <= attempt("notify")["started"]


def test_the_run_measured_the_exported_model(penguins_run) -> None:
    run_dir = penguins_run.run_dir
    exported = read_outputs(run_dir / "export-onnx").paths["onnx_model"]
    metrics = read_outputs(run_dir / "evaluate").paths["metrics"]
    assert json.loads(metrics.read_text(encoding="utf-8"))["model"] == str(exported)
    assert (exported / "model.onnx").is_file()


def test_data_with_anomalies_stops_before_training(tmp_path: Path) -> None:
    # every row has its own id string: eval rows carry ids the schema's domain has never seen
    rows = [f"id{i},{i % 7},{'a' if i % 2 else 'b'}" for i in range(60)]
    data = tmp_path / "d.csv"
    data.write_text("id,x,y\n" + "\n".join(rows) + "\n")
    run = run_training(
        workdir=tmp_path / "w", arguments={"source": str(data), "label": "y", "model_name": "d"}
    )
    assert run.status == "STOPPED"
    assert [s.status for s in run.steps] == ["SUCCESS", "SUCCESS"] + ["SKIPPED"] * 5 + ["SUCCESS"]
    assert run.figures["anomalies"] >= 1
    assert "ENUM" not in run.steps[1].summary and "'id'" in run.steps[1].summary
    assert not (tmp_path / "w" / "models").exists()
    assert not (tmp_path / "w" / "registry" / "artifacts").exists()  # nothing registered
    # validate's event as it decided, then the run's final status: a gate closing is a success
    assert _event_types(tmp_path / "w") == [
        "io.mlrail.data.anomalies_found",
        "io.mlrail.run.succeeded",
    ]


def test_unblessed_model_is_exported_and_measured_but_not_deployed(tmp_path: Path) -> None:
    run = run_training(
        workdir=tmp_path,
        arguments={
            "model_name": "penguins",
            "thresholds": {"accuracy": "> 1.0"},
            "hparams": {"epochs": 2},
        },
    )
    assert run.status == "STOPPED" and run.figures["blessed"] is False
    assert [(s.name, s.status) for s in run.steps][-5:] == [
        ("export_onnx", "SUCCESS"),
        ("evaluate", "SUCCESS"),
        ("register", "SKIPPED"),  # only a blessed model is registered
        ("deploy", "SKIPPED"),
        ("notify", "SUCCESS"),
    ]
    assert not (tmp_path / "models").exists()
    # the model that was measured and refused, for a look at it
    assert run.onnx_model is not None and run.onnx_model.is_file()
    assert f"Not deployed: {run.onnx_model}" in format_summary(run)
    assert _event_types(tmp_path) == ["io.mlrail.model.not_blessed", "io.mlrail.run.succeeded"]


def test_a_failing_step_fails_the_run_once_with_its_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"")
    run = run_training(workdir=tmp_path / "w", arguments={"source": str(bad), "label": "y"})
    assert run.status == "FAILURE"
    assert run.steps[0].status == "FAILURE" and run.steps[0].attempts == 1  # no local retries
    assert f"{bad}: the file is empty" in run.error
    assert all(s.status == "NOT RUN" for s in run.steps[1:-1])
    assert run.steps[-1].name == "notify" and run.steps[-1].status == "SUCCESS"
    assert run.steps[-1].summary == f"run.failed -> {tmp_path / 'w' / 'events.jsonl'}"
    assert _event_types(tmp_path / "w") == ["io.mlrail.run.failed"]
