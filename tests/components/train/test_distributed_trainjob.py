"""train's TrainJob: the object it builds (against the real CRD schema and Trainer's and JobSet's
own rules), and its wait, driven by a scripted stand-in for the Trainer controller and the
kubelet: the chief's log passed on line by line, a failed worker's own message, a timeout.

The same wait against the real API server, as the pipeline's ServiceAccount, is
tests/cluster/test_trainjob.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlrail.components.train import distributed, multiworker, trainjob
from mlrail.errors import DataError
from mlrail.kube import KubeError, Transient
from tests.helpers import Trained
from tests.manifests.kube_schema import CrdSchemas, crd_errors
from tests.manifests.kustomize import REPO

NS = "mlrail"
MODEL_URI = "minio://mlpipeline/v2/artifacts/training/run-1/train/model"


def _args() -> list[str]:
    return multiworker.worker_args(
        "minio://mlpipeline/v2/artifacts/training/run-1/ingest/examples",
        "minio://mlpipeline/v2/artifacts/training/run-1/validate/schema",
        "minio://mlpipeline/v2/artifacts/training/run-1/validate/statistics",
        "minio://mlpipeline/v2/artifacts/training/run-1/train/trainjob-x",
        label="species", task="auto", hparams={"epochs": 3}, module_file="",
        module_file_sha256="",
    )  # fmt: skip


def _job(workers: int = 2, **kwargs: Any) -> dict[str, Any]:
    name = trainjob.job_name(MODEL_URI, "0")
    return trainjob.trainjob(name, NS, workers=workers, args=_args(), timeout_seconds=600, **kwargs)


# --- the object ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def crd_schemas() -> CrdSchemas:
    """The CRDs of $MLRAIL_CRDS_DIR or ../shared/crds, as tests/manifests reads them."""
    override = os.environ.get("MLRAIL_CRDS_DIR")
    directory = Path(override) if override else REPO.parent / "shared" / "crds"
    if not directory.is_dir():
        if override:
            pytest.fail(f"MLRAIL_CRDS_DIR={override} is not a directory")
        pytest.skip(f"CRD folder {directory} is absent (set MLRAIL_CRDS_DIR): not schema-checked")
    return CrdSchemas(directory)


@pytest.mark.parametrize("k8s", ["1.31", "1.35"])
def test_the_trainjob_matches_the_trainjob_crd(crd_schemas: CrdSchemas, k8s: str) -> None:
    resources = {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}
    for body in (_job(), _job(8, image="ghcr.io/mlrail/mlrail:0.1.0", resources=resources)):
        assert crd_errors(body, crd_schemas, k8s) == []
    typo = _job()
    typo["spec"]["trainer"]["numNode"] = typo["spec"]["trainer"].pop("numNodes")
    assert any("numNode" in e for e in crd_errors(typo, crd_schemas, k8s))


def test_names_suit_trainer_and_jobset() -> None:
    names = {trainjob.job_name(MODEL_URI, str(i)) for i in range(50)}
    assert len(names) == 50, "each attempt gets its own TrainJob"
    for name in names:
        # the TrainJob CRD's own rules (x-kubernetes-validations)
        assert re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", name) and len(name) <= 63
        # JobSet's webhook: the longest pod name, <jobset>-<rjob>-<job index>-<pod index>-<5>,
        # is a DNS-1035 label (here for up to distributed.MAX_WORKERS workers)
        longest = f"{name}-node-0-{distributed.MAX_WORKERS - 1}-abcde"
        assert len(longest) <= 63
    assert trainjob.job_name(MODEL_URI, "0") == trainjob.job_name(MODEL_URI, "0")


def test_the_trainjob_runs_train_s_workers_on_mlrail_s_runtime() -> None:
    body = _job(3)
    name = body["metadata"]["name"]
    spec = body["spec"]
    assert spec["runtimeRef"] == {
        "apiGroup": "trainer.kubeflow.org",
        "kind": "TrainingRuntime",
        "name": "mlrail-train",
    }
    assert spec["activeDeadlineSeconds"] == 600
    assert spec["trainer"]["numNodes"] == 3
    assert spec["trainer"]["args"] == _args()
    # JobSet's DNS names for the pods, as Trainer's torch plugin builds its master address
    # (pkg/runtime/framework/plugins/jobset/jobset.go syncPodNetwork: %s-%s-%d-%d.%s)
    (env,) = spec["trainer"]["env"]
    assert env == {
        "name": "MLRAIL_TF_WORKERS",
        "value": ",".join(f"{name}-node-0-{i}.{name}:2222" for i in range(3)),
    }
    # the image and resources stay the runtime's unless given
    assert "image" not in spec["trainer"] and "resourcesPerNode" not in spec["trainer"]


def test_a_pod_derives_its_tf_config_from_the_trainjob_and_its_index() -> None:
    body = _job(2)
    (env,) = body["spec"]["trainer"]["env"]
    config = multiworker.tf_config_from_env(
        {env["name"]: env["value"], "JOB_COMPLETION_INDEX": "1"}
    )
    name = body["metadata"]["name"]
    assert config == {
        "cluster": {"worker": [f"{name}-node-0-0.{name}:2222", f"{name}-node-0-1.{name}:2222"]},
        "task": {"type": "worker", "index": 1},
    }
    # a TF_CONFIG already set (the local launcher's) wins
    given = multiworker.tf_config(["127.0.0.1:1", "127.0.0.1:2"], 0)
    assert (
        multiworker.tf_config_from_env({"TF_CONFIG": json.dumps(given), env["name"]: "x"}) == given
    )


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "neither TF_CONFIG nor MLRAIL_TF_WORKERS is set"),
        ({"MLRAIL_TF_WORKERS": "a:1,b:1"}, "JOB_COMPLETION_INDEX='': expected this pod's index"),
        ({"MLRAIL_TF_WORKERS": "a:1,b:1", "JOB_COMPLETION_INDEX": "2"}, "worker index 2: expected"),
        ({"TF_CONFIG": '{"cluster": {}}'}, "TF_CONFIG: not a cluster with workers"),
    ],
)
def test_a_pod_without_its_cluster_says_which_variable(environ: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        multiworker.tf_config_from_env(environ)


# --- the wait, against a scripted Trainer and kubelet ---------------------------------------


class Clock:
    """Seconds that pass only when the wait sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _pod(name: str, index: int, phase: str = "Running", **container: Any) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase}
    if container:
        status["containerStatuses"] = [{"name": "node", **container}]
    return {
        "metadata": {
            "name": f"{name}-node-0-{index}-x7k2p",
            "labels": {
                trainjob.JOBSET_LABEL: name,
                trainjob.INDEX_LABEL: str(index),
            },
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "status": status,
    }


def _condition(kind: str, reason: str, message: str) -> dict[str, str]:
    return {
        "type": kind, "status": "True", "reason": reason, "message": message,
        "lastTransitionTime": "2026-01-01T00:10:00Z",
    }  # fmt: skip


class FakeKube:
    """:class:`trainjob.TrainJobApi` over a dict of TrainJobs, with pods and the chief's log.

    ``script(poll, kube)`` runs before each GET: the stand-in for the Trainer controller
    (conditions), JobSet and the kubelet (pods, their statuses, the log).
    """

    def __init__(self, script: Callable[[int, FakeKube], None]) -> None:
        self.script = script
        self.jobs: dict[tuple[str, str], dict[str, Any]] = {}
        self.pods_: list[dict[str, Any]] = []
        self.log_lines: list[str] = []  # "<timestamp> <line>", the chief's
        self.log_calls: list[int | None] = []
        self.polls = 0
        self.fail_next: Exception | None = None

    def apply(self, body: dict[str, Any]) -> dict[str, Any]:
        meta = body["metadata"]
        self.jobs[(meta["namespace"], meta["name"])] = json.loads(json.dumps(body))
        return body

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.script(self.polls, self)
        self.polls += 1
        if self.fail_next is not None:
            e, self.fail_next = self.fail_next, None
            raise e
        return self.jobs.get((namespace, name))

    def pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        key, _, value = selector.partition("=")
        return [p for p in self.pods_ if p["metadata"]["labels"].get(key) == value]

    def log(self, namespace: str, pod: str, container: str, since_seconds: int | None) -> str:
        assert container == "node" and pod.endswith("-node-0-0-x7k2p")
        self.log_calls.append(since_seconds)
        if not self.log_lines:
            raise KubeError(
                f'get pods/log {namespace}/{pod}: HTTP 400: container "node" is waiting'
            )
        return "\n".join(self.log_lines) + "\n"

    def set_status(self, name: str, *conditions: dict[str, str]) -> None:
        self.jobs[(NS, name)]["status"] = {"conditions": list(conditions)}


NAME = trainjob.job_name(MODEL_URI, "0")


def _wait(kube: FakeKube, timeout: float = 600.0, lines: list[str] | None = None) -> dict[str, Any]:
    kube.apply(_job())
    clock = Clock()
    on_line = lines.append if lines is not None else lambda line: None
    return trainjob.wait(
        kube, NS, NAME, timeout=timeout, poll=10, clock=clock,
        wall=lambda: 1767225600.0 + clock.now, sleep=clock.sleep, on_line=on_line,
    )  # fmt: skip


def _stamp(second: int, nanos: str = "123456789") -> str:
    return f"2026-01-01T00:00:{second:02d}.{nanos}Z"


def test_the_wait_ends_when_the_trainjob_completes_and_passes_the_chief_log_on_once() -> None:
    def script(poll: int, kube: FakeKube) -> None:
        if poll == 1:  # JobSet made the pods; the chief has not started
            kube.pods_ = [_pod(NAME, 0, "Pending"), _pod(NAME, 1, "Pending")]
        if poll == 2:
            kube.pods_ = [_pod(NAME, 0), _pod(NAME, 1)]
            kube.log_lines = [f"{_stamp(1)} mlrail.components.train: worker 0 of 2 (chief)"]
        if poll == 3:  # the log is read again from a little before: no line twice
            kube.log_lines += [
                f"{_stamp(5, '5')} mlrail.progress.train: epoch 1/2: loss 0.5",
                f"{_stamp(5, '5')} mlrail.progress.train: epoch 2/2: loss 0.1",  # same instant
            ]
        if poll == 4:
            kube.log_lines += [f"{_stamp(9)} mlrail.components.train: worker 0 of 2 done"]
            kube.pods_ = [_pod(NAME, 0, "Succeeded"), _pod(NAME, 1, "Succeeded")]
            kube.set_status(NAME, _condition("Complete", "AllJobsCompleted", "jobset completed"))

    kube, lines = FakeKube(script), []
    job = _wait(kube, lines=lines)
    assert job["status"]["conditions"][0]["type"] == "Complete"
    assert lines == [
        "mlrail.components.train: worker 0 of 2 (chief)",
        "mlrail.progress.train: epoch 1/2: loss 0.5",
        "mlrail.progress.train: epoch 2/2: loss 0.1",
        "mlrail.components.train: worker 0 of 2 done",
    ]
    assert kube.polls == 5
    # the log is read whole until a read succeeds (the chief was pending: no log yet), then
    # only its recent part
    assert kube.log_calls[:2] == [None, None]
    assert all(s is not None and s >= 1 for s in kube.log_calls[2:])


def test_a_failed_worker_fails_the_step_with_its_own_error_at_once() -> None:
    message = (
        "mlrail train worker failed: DataError: /tmp/x/examples/train/part-00000.parquet: "
        "label column 'species' is not in the data"
    )

    def script(poll: int, kube: FakeKube) -> None:
        kube.pods_ = [
            _pod(NAME, 0),
            _pod(
                NAME, 1, "Failed",
                state={"terminated": {"exitCode": 2, "reason": "Error", "message": message}},
            ),
        ]  # fmt: skip

    kube = FakeKube(script)
    with pytest.raises(DataError) as e:
        _wait(kube)
    # the TrainJob is not marked Failed yet: the failed pod alone ends the wait
    assert str(e.value) == (
        f"TrainJob {NS}/{NAME}: worker 1 (pod {NAME}-node-0-1-x7k2p): "
        "/tmp/x/examples/train/part-00000.parquet: label column 'species' is not in the data"
    )
    assert kube.polls == 1


def test_a_worker_killed_by_the_kubelet_is_named_with_its_reason() -> None:
    def script(poll: int, kube: FakeKube) -> None:
        kube.pods_ = [
            _pod(
                NAME, 0, "Failed",
                state={"terminated": {"exitCode": 137, "reason": "OOMKilled", "message": ""}},
            ),
            _pod(NAME, 1),
        ]  # fmt: skip

    with pytest.raises(trainjob.TrainJobFailed) as e:
        _wait(FakeKube(script))
    assert str(e.value) == (
        f"TrainJob {NS}/{NAME}: worker 0 (pod {NAME}-node-0-0-x7k2p): exit code 137 (OOMKilled)"
    )


def test_an_evicted_pod_and_a_failed_trainjob_say_why() -> None:
    def evicted(poll: int, kube: FakeKube) -> None:
        pod = _pod(NAME, 1, "Failed")
        pod["status"].update(reason="Evicted", message="The node was low on resource: memory.")
        kube.pods_ = [_pod(NAME, 0), pod]

    with pytest.raises(trainjob.TrainJobFailed, match=r"worker 1 \(pod .*\): Evicted: The node"):
        _wait(FakeKube(evicted))

    def deadline(poll: int, kube: FakeKube) -> None:
        kube.pods_ = []  # the Trainer removed them
        kube.set_status(
            NAME, _condition("Failed", "DeadlineExceeded", "TrainJob exceeded its active deadline")
        )

    with pytest.raises(trainjob.TrainJobFailed) as e:
        _wait(FakeKube(deadline))
    assert str(e.value) == (
        f"TrainJob {NS}/{NAME} failed: DeadlineExceeded: TrainJob exceeded its active deadline"
    )


def test_a_trainjob_not_done_in_time_fails_with_its_last_state() -> None:
    def script(poll: int, kube: FakeKube) -> None:
        kube.pods_ = [_pod(NAME, 0, "Pending"), _pod(NAME, 1, "Running")]

    kube = FakeKube(script)
    with pytest.raises(trainjob.TrainJobFailed) as e:
        _wait(kube, timeout=35)
    assert str(e.value) == (
        f"TrainJob {NS}/{NAME} not complete in 35 s (conditions: none yet; "
        "pods: worker 0 Pending, worker 1 Running)"
    )
    assert kube.polls == 5  # at 0, 10, 20, 30 and 35 s


def test_api_errors_that_may_pass_are_polled_through_and_others_stop_the_wait() -> None:
    def flaky(poll: int, kube: FakeKube) -> None:
        if poll == 0:
            kube.fail_next = Transient("get trainjobs: HTTP 503: etcd leader changed")
        if poll == 1:
            kube.set_status(NAME, _condition("Complete", "AllJobsCompleted", "done"))

    assert _wait(FakeKube(flaky))["status"]["conditions"][0]["type"] == "Complete"

    def refused(poll: int, kube: FakeKube) -> None:
        kube.fail_next = KubeError("get trainjobs.trainer.kubeflow.org: HTTP 403: forbidden")

    with pytest.raises(KubeError, match="HTTP 403"):
        _wait(FakeKube(refused))

    def deleted(poll: int, kube: FakeKube) -> None:
        kube.jobs.clear()

    with pytest.raises(trainjob.TrainJobFailed, match="is gone: deleted while the step waited"):
        _wait(FakeKube(deleted))


# --- the step: submit, wait, collect the chief's outputs ------------------------------------


def _output(body: dict[str, Any]) -> Path:
    """Where the TrainJob's chief writes (a file:// URI here), from the workers' arguments."""
    args = body["spec"]["trainer"]["args"]
    return Path(args[args.index("--output") + 1].removeprefix("file://"))


def test_the_step_submits_waits_and_takes_the_chief_s_outputs(
    trained: Trained, tmp_path: Path
) -> None:
    store = tmp_path / "store"  # the artifact store, as file:// URIs
    uris = {
        "examples": trained.examples.as_uri(),
        "schema": trained.schema.as_uri(),
        "statistics": trained.statistics.as_uri(),
        "model": (store / "train" / "model").as_uri(),
    }
    submitted: list[dict[str, Any]] = []

    def chief(poll: int, kube: FakeKube) -> None:
        (body,) = kube.jobs.values()
        if poll == 0:
            submitted.append(body)
        if poll == 1:  # the chief publishes its outputs, then the TrainJob completes
            output = _output(body)
            shutil.copytree(trained.model, output / "model")
            (output / "curves.html").write_text("<html><svg></svg></html>")
            (output / "tensorboard" / "train").mkdir(parents=True)
            (output / multiworker.DONE_FILE).write_text('{"workers": 2, "rows": 270}')
            kube.set_status(body["metadata"]["name"], _condition("Complete", "Done", "done"))

    out = tmp_path / "step"
    result = distributed.train(
        trained.examples, trained.schema, trained.statistics, out / "model", label="species",
        curves_file=out / "curves.html", tensorboard_dir=out / "tensorboard", workers=2,
        distribution={"launcher": "trainjob", "namespace": NS, "poll_seconds": 0.01},
        uris=uris, api=FakeKube(chief), nonce="0",
    )  # fmt: skip
    (body,) = submitted
    args = body["spec"]["trainer"]["args"]
    name = trainjob.job_name(uris["model"], "0")
    assert body["metadata"] == {**body["metadata"], "name": name, "namespace": NS}
    # the workers read the artifacts by URI and the chief writes beside the step's outputs
    assert args[args.index("--examples") + 1] == uris["examples"]
    assert args[args.index("--output") + 1] == f"{(store / 'train').as_uri()}/trainjob-{name}"
    # the step's outputs are the chief's, read back as a single worker's would be
    assert (out / "model" / "saved_model" / "saved_model.pb").is_file()
    assert result.spec == distributed.read_result(trained.model).spec
    assert result.rows == json.loads((trained.model / "training.json").read_text())["rows"]
    assert (out / "curves.html").read_text() == "<html><svg></svg></html>"
    # the staging folder in the store is gone, and nothing is left beside the outputs
    assert sorted(p.name for p in (store / "train").iterdir()) == []
    assert sorted(p.name for p in out.iterdir()) == ["curves.html", "model", "tensorboard"]


def test_a_chief_that_published_nothing_fails_the_step(trained: Trained, tmp_path: Path) -> None:
    uris = {k: getattr(trained, k).as_uri() for k in ("examples", "schema", "statistics")}
    uris["model"] = (tmp_path / "store" / "train" / "model").as_uri()

    def complete_without_outputs(poll: int, kube: FakeKube) -> None:
        (body,) = kube.jobs.values()
        output = _output(body)
        output.mkdir(parents=True, exist_ok=True)
        kube.set_status(body["metadata"]["name"], _condition("Complete", "Done", "done"))

    with pytest.raises(multiworker.WorkerFailed, match="the chief left no done.json"):
        distributed.train(
            trained.examples, trained.schema, trained.statistics, tmp_path / "model",
            label="species", workers=2, uris=uris, api=FakeKube(complete_without_outputs),
            distribution={"launcher": "trainjob", "namespace": NS, "poll_seconds": 0.01},
        )  # fmt: skip
    assert not (tmp_path / "model").exists()


# --- settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("workers", "distribution", "hparams", "message"),
    [
        (2, {"launcher": "slurm"}, {}, "distribution launcher='slurm': expected one of auto"),
        (2, {"timeout": 5}, {}, "unknown distribution setting(s): timeout (known: launcher"),
        (2, {"timeout_seconds": 0}, {}, "distribution timeout_seconds=0: expected a whole"),
        (2, {"cpu": "two"}, {}, "distribution cpu='two': expected a Kubernetes quantity"),
        (2, {"namespace": "Team A"}, {}, "distribution namespace='Team A': expected a namespace"),
        (0, {}, {}, "workers=0: expected a whole number from 1 to 256"),
        (3, {}, {"batch_size": 32}, "hyperparameter batch_size=32: must divide by workers=3"),
    ],
)
def test_bad_settings_fail_before_anything_runs(
    tmp_path: Path, workers: int, distribution: dict, hparams: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        distributed.train(
            tmp_path / "examples", tmp_path / "schema", tmp_path / "statistics",
            tmp_path / "model", label="y", hparams=hparams, workers=workers,
            distribution=distribution,
        )  # fmt: skip


def test_a_trainjob_needs_the_artifact_uris_and_a_module_by_uri(tmp_path: Path) -> None:
    settings = {"launcher": "trainjob", "namespace": NS}
    kwargs: dict[str, Any] = {"label": "y", "workers": 2, "distribution": settings}
    paths = [tmp_path / n for n in ("examples", "schema", "statistics", "model")]
    with pytest.raises(ValueError, match="the URIs of examples, schema, statistics, model"):
        distributed.train(*paths, uris={}, **kwargs)
    uris = {n: f"s3://b/{n}" for n in ("examples", "schema", "statistics", "model")}
    with pytest.raises(ValueError, match="module_file /tmp/m.py: a TrainJob's workers read it"):
        distributed.train(*paths, uris=uris, module_file="/tmp/m.py", **kwargs)


def test_copy_tree_takes_kfp_s_minio_uris_as_s3() -> None:
    assert multiworker.pyarrow_uri("minio://mlpipeline/v2/x") == "s3://mlpipeline/v2/x"
    assert multiworker.pyarrow_uri("gs://b/x") == "gs://b/x"


def test_the_component_takes_workers_and_distribution_defaulted(tmp_path: Path) -> None:
    from mlrail.components.train import train
    from tests.components._compile import compiled_container

    params = compiled_container(train, tmp_path)["root"]["inputDefinitions"]["parameters"]
    assert params["workers"]["parameterType"] == "NUMBER_INTEGER"
    assert params["workers"]["defaultValue"] == 1 and params["workers"]["isOptional"]
    assert params["distribution"]["parameterType"] == "STRUCT"
    assert params["distribution"]["defaultValue"] == {}
