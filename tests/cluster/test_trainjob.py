"""train's distributed mode on the real API server: its TrainingRuntime and TrainJob, and its wait.

What the real server decides here: the TrainingRuntime of the installed overlay and the TrainJob
train builds are validated against their CRDs (structural schema and the CEL rules, e.g. the
RFC 1035 name), defaulted, and applied server-side; the TrainJob is applied by train's own code
with a TokenRequest token of the pipeline's ServiceAccount, so the RBAC authorizer judges every
call train makes (apply, get, list pods, read a log); the worker pods, built as Trainer, JobSet
and the Job controller would build them from that runtime and TrainJob
(:func:`.pods.trainer_pods`), are admitted by Pod Security ``restricted``.

What cannot run here: the Trainer and JobSet controllers and a kubelet (no pod ever runs, no log
can be read: the API server has no node to ask). :class:`ScriptedTrainer` stands in for them,
as the admin, between train's polls: it creates the worker pods, writes their statuses through
``pods/status`` and the TrainJob's conditions through its ``status`` subresource, and for the
successful run puts the chief's outputs where train's TrainJob told the chief to write them.
Train's wait then reads what the server returns: success, a failed worker with its own message,
a timeout.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from mlrail.components.train import distributed, multiworker, trainjob
from mlrail.errors import DataError
from tests.helpers import Trained

from .control_plane import ControlPlane
from .kube import report
from .pods import trainer_pods

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

RUNNER = "mlrail-pipeline-runner"
TRAINER_MANAGER = "trainer"  # the field manager the stand-in writes statuses as
_STAMP = "2026-01-01T00:10:00Z"


@pytest.fixture(scope="module")
def runner(control_plane: ControlPlane, kube_admin: ApiClient, installed: str) -> Iterator[Any]:
    """train's Kubernetes client as the pipeline's ServiceAccount (a TokenRequest token)."""
    from kubernetes import client, config

    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
    )
    token = (
        client.CoreV1Api(kube_admin)
        .create_namespaced_service_account_token(RUNNER, installed, request)
        .status.token
    )
    api = config.new_client_from_config(str(control_plane.kubeconfig_for("trainjob-runner", token)))
    try:
        yield api
    finally:
        api.close()


def _runtime(admin: ApiClient, namespace: str) -> dict[str, Any]:
    from kubernetes.client import CustomObjectsApi

    return dict(
        CustomObjectsApi(admin).get_namespaced_custom_object(
            trainjob.GROUP, trainjob.VERSION, namespace, "trainingruntimes", trainjob.RUNTIME
        )
    )


class ScriptedTrainer(trainjob.KubeTrainJobApi):
    """train's client (as the runner), with the controllers' and kubelet's work done by the
    admin before each of train's GETs: ``script(poll, self)``."""

    def __init__(
        self,
        runner: ApiClient,
        admin: ApiClient,
        namespace: str,
        script: Callable[[int, ScriptedTrainer], None],
    ) -> None:
        super().__init__(runner)
        self.admin, self.namespace, self.script = admin, namespace, script
        self.polls = 0
        self.log_reads = 0

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.script(self.polls, self)
        self.polls += 1
        return super().get(namespace, name)

    def log(self, namespace: str, pod: str, container: str, since_seconds: int | None) -> str:
        self.log_reads += 1
        return super().log(namespace, pod, container, since_seconds)

    # --- what the controllers and the kubelet would do, as the admin ---

    def job(self, name: str) -> dict[str, Any]:
        from kubernetes.client import CustomObjectsApi

        return dict(
            CustomObjectsApi(self.admin).get_namespaced_custom_object(
                trainjob.GROUP, trainjob.VERSION, self.namespace, trainjob.PLURAL, name
            )
        )

    def make_pods(self, job: dict[str, Any]) -> list[dict[str, Any]]:
        """The workers' pods, as JobSet would create them (Pod Security admission decides)."""
        from kubernetes.client import CoreV1Api

        made = []
        for body in trainer_pods(_runtime(self.admin, self.namespace), job):
            made.append(CoreV1Api(self.admin).create_namespaced_pod(self.namespace, body))
        return [self.admin.sanitize_for_serialization(p) for p in made]

    def pod_status(self, pod: dict[str, Any], phase: str, **terminated: Any) -> None:
        from kubernetes.client import CoreV1Api

        status: dict[str, Any] = {"phase": phase}
        if terminated:
            status["containerStatuses"] = [
                {
                    "name": trainjob.CONTAINER,
                    "image": pod["spec"]["containers"][0]["image"],
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "state": {
                        "terminated": {
                            "startedAt": _STAMP, "finishedAt": _STAMP, **terminated,
                        }
                    },
                }
            ]  # fmt: skip
        name = pod["metadata"]["name"]
        CoreV1Api(self.admin).patch_namespaced_pod_status(name, self.namespace, {"status": status})

    def condition(self, job: dict[str, Any], kind: str, reason: str, message: str) -> None:
        from kubernetes.client import CustomObjectsApi

        body = {
            "status": {
                "conditions": [
                    {
                        "type": kind, "status": "True", "reason": reason, "message": message,
                        "lastTransitionTime": _STAMP,
                    }
                ]
            }
        }  # fmt: skip
        CustomObjectsApi(self.admin).patch_namespaced_custom_object_status(
            trainjob.GROUP, trainjob.VERSION, self.namespace, trainjob.PLURAL,
            job["metadata"]["name"], body,
        )  # fmt: skip


def _uris(trained: Trained, store: Path) -> dict[str, str]:
    return {
        "examples": trained.examples.as_uri(),
        "schema": trained.schema.as_uri(),
        "statistics": trained.statistics.as_uri(),
        "model": (store / "train" / "model").as_uri(),
    }


def _output(job: dict[str, Any]) -> Path:
    args = job["spec"]["trainer"]["args"]
    return Path(args[args.index("--output") + 1].removeprefix("file://"))


def test_the_runtime_is_on_the_server_as_the_overlay_wrote_it(
    kube_admin: ApiClient, installed: str
) -> None:
    runtime = _runtime(kube_admin, installed)
    (job,) = runtime["spec"]["template"]["spec"]["replicatedJobs"]
    container = job["template"]["spec"]["template"]["spec"]["containers"][0]
    assert container["name"] == "node"
    assert container["command"] == ["python3", "-m", multiworker.MODULE]
    # what the server stored is what Trainer's webhook requires (one replica of the trainer Job)
    assert job["replicas"] == 1


def test_the_server_refuses_a_trainjob_its_crd_refuses(runner: ApiClient, installed: str) -> None:
    from mlrail import kube

    args = multiworker.worker_args(
        "s3://b/examples", "s3://b/schema", "s3://b/statistics", "s3://b/out", label="y",
        task="auto", hparams={}, module_file="", module_file_sha256="",
    )  # fmt: skip
    body = trainjob.trainjob("mlrail.train", installed, workers=2, args=args, timeout_seconds=60)
    with pytest.raises(kube.KubeError, match="metadata.name must match RFC 1035 DNS label format"):
        kube.apply(runner, body, plural=trainjob.PLURAL, field_manager=trainjob.FIELD_MANAGER)
    body = trainjob.trainjob("mlrail-train-x", installed, workers=2, args=args, timeout_seconds=60)
    body["spec"]["trainer"]["numProcPerNode"] = 0
    with pytest.raises(kube.KubeError, match="numProcPerNode must be greater than or equal to 1"):
        kube.apply(runner, body, plural=trainjob.PLURAL, field_manager=trainjob.FIELD_MANAGER)


def test_a_trainjob_that_completes_gives_the_step_the_chief_s_outputs(
    runner: ApiClient,
    kube_admin: ApiClient,
    installed: str,
    trained: Trained,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    seen: dict[str, Any] = {}
    uris = _uris(trained, tmp_path / "store")
    name = trainjob.job_name(uris["model"], "complete")

    def script(poll: int, kube: ScriptedTrainer) -> None:
        if poll == 0:  # JobSet's pods appear; they are admitted, and run
            seen["job"] = job = kube.job(name)
            seen["pods"] = pods = kube.make_pods(job)
            for pod in pods:
                kube.pod_status(pod, "Running")
        if poll == 1:  # the chief publishes its outputs; the workers end; the Trainer says so
            job = seen["job"]
            output = _output(job)
            shutil.copytree(trained.model, output / "model")
            (output / "curves.html").write_text("<html><svg></svg></html>")
            (output / "tensorboard").mkdir()
            (output / multiworker.DONE_FILE).write_text('{"workers": 2, "rows": 1}')
            for pod in seen["pods"]:
                kube.pod_status(pod, "Succeeded", exitCode=0, reason="Completed")
            kube.condition(job, "Complete", "JobSetCompleted", "jobset completed")

    api = ScriptedTrainer(runner, kube_admin, installed, script)
    out = tmp_path / "step"
    result = distributed.train(
        trained.examples, trained.schema, trained.statistics, out / "model", label="species",
        curves_file=out / "curves.html", tensorboard_dir=out / "tensorboard", workers=2,
        distribution={"launcher": "trainjob", "namespace": installed, "poll_seconds": 0.2},
        uris=uris, api=api, nonce="complete",
    )  # fmt: skip
    assert result.spec == distributed.read_result(trained.model).spec
    assert (out / "model" / "saved_model" / "saved_model.pb").is_file()
    job = seen["job"]
    # as the server stored it: the runner's apply, its defaults, train's arguments
    assert job["metadata"]["managedFields"][0]["manager"] == trainjob.FIELD_MANAGER
    assert job["spec"]["runtimeRef"] == {
        "apiGroup": "trainer.kubeflow.org", "kind": "TrainingRuntime", "name": "mlrail-train",
    }  # fmt: skip
    assert job["spec"]["trainer"]["numNodes"] == 2
    assert len(seen["pods"]) == 2
    # no kubelet: the chief's log was asked for and could not be had; the wait went on
    assert api.log_reads >= 1
    report(
        request.config,
        f"trainjob: a TrainJob built by train applied as {RUNNER} and completed "
        f"({len(seen['pods'])} worker pods admitted under Pod Security restricted)",
    )


def test_a_failed_worker_fails_the_step_with_that_pod_s_message(
    runner: ApiClient, kube_admin: ApiClient, installed: str, trained: Trained, tmp_path: Path
) -> None:
    message = "DataError: /tmp/w/examples/train/part-00000.parquet: column 'bill_length_mm' missing"
    name = trainjob.job_name(_uris(trained, tmp_path / "store")["model"], "failed")

    def script(poll: int, kube: ScriptedTrainer) -> None:
        if poll == 0:
            pods = kube.make_pods(kube.job(name))
            kube.pod_status(pods[0], "Running")
            kube.pod_status(
                pods[1], "Failed", exitCode=2, reason="Error",
                message=multiworker.FAILED + message,
            )  # fmt: skip

    api = ScriptedTrainer(runner, kube_admin, installed, script)
    with pytest.raises(DataError) as e:
        distributed.train(
            trained.examples, trained.schema, trained.statistics, tmp_path / "model",
            label="species", workers=2, uris=_uris(trained, tmp_path / "store"), api=api,
            distribution={"launcher": "trainjob", "namespace": installed, "poll_seconds": 0.2},
            nonce="failed",
        )  # fmt: skip
    assert str(e.value) == (
        f"TrainJob {installed}/{name}: worker 1 (pod {name}-node-0-1-x7k2p): "
        "/tmp/w/examples/train/part-00000.parquet: column 'bill_length_mm' missing"
    )
    assert api.polls == 1  # at once: the TrainJob itself is not marked Failed yet
    assert not (tmp_path / "model").exists()


def test_a_trainjob_that_never_finishes_times_out(
    runner: ApiClient, kube_admin: ApiClient, installed: str, trained: Trained, tmp_path: Path
) -> None:
    api = ScriptedTrainer(runner, kube_admin, installed, lambda poll, kube: None)
    with pytest.raises(trainjob.TrainJobFailed) as e:
        distributed.train(
            trained.examples, trained.schema, trained.statistics, tmp_path / "model",
            label="species", workers=2, uris=_uris(trained, tmp_path / "store"), api=api,
            distribution={
                "launcher": "trainjob", "namespace": installed, "poll_seconds": 0.5,
                "timeout_seconds": 2,
            },
            nonce="timeout",
        )  # fmt: skip
    name = trainjob.job_name(_uris(trained, tmp_path / "store")["model"], "timeout")
    assert str(e.value) == (
        f"TrainJob {installed}/{name} not complete in 2 s (conditions: none yet; pods: none yet)"
    )
    # the Trainer would stop it at the same deadline
    from kubernetes.client import CustomObjectsApi

    stored = CustomObjectsApi(kube_admin).get_namespaced_custom_object(
        trainjob.GROUP, trainjob.VERSION, installed, trainjob.PLURAL, name
    )
    assert stored["spec"]["activeDeadlineSeconds"] == 2


def test_applying_the_same_trainjob_again_changes_nothing(
    runner: ApiClient, installed: str
) -> None:
    from mlrail import kube

    args = multiworker.worker_args(
        "s3://b/examples", "s3://b/schema", "s3://b/statistics", "s3://b/out", label="y",
        task="auto", hparams={"epochs": 3}, module_file="", module_file_sha256="",
    )  # fmt: skip
    name = trainjob.job_name("s3://b/model", "again")
    body = trainjob.trainjob(name, installed, workers=3, args=args, timeout_seconds=600)
    first = kube.apply(runner, json.loads(json.dumps(body)), plural=trainjob.PLURAL,
                       field_manager=trainjob.FIELD_MANAGER)  # fmt: skip
    second = kube.apply(runner, body, plural=trainjob.PLURAL, field_manager=trainjob.FIELD_MANAGER)
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    assert second["metadata"]["generation"] == 1


@pytest.fixture(autouse=True, scope="module")
def _cleanup(kube_admin: ApiClient, installed: str) -> Iterator[None]:
    """Remove this module's TrainJobs and worker pods (no garbage collector runs here)."""
    yield
    from kubernetes.client import CoreV1Api, CustomObjectsApi

    CustomObjectsApi(kube_admin).delete_collection_namespaced_custom_object(
        trainjob.GROUP, trainjob.VERSION, installed, trainjob.PLURAL,
        label_selector="app.kubernetes.io/name=mlrail-train",
    )  # fmt: skip
    CoreV1Api(kube_admin).delete_collection_namespaced_pod(
        installed, label_selector="app.kubernetes.io/name=mlrail-trainer"
    )
