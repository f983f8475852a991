"""Pod Security ``restricted`` in namespace ``mlrail`` is decided by the real API server.

Every pod is created with ``dry_run="All"`` in the namespace the dev overlay installed (the
``installed`` fixture), so admission runs in full and nothing is stored. Each pod-security
mutant of tests/manifests/test_policy.py (the same table, applied to the same prod render) is a
valid pod and must be refused by Pod Security admission: a 403 naming its violation, never the
422 of validation, which would say nothing of Pod Security. Every pod mlrail's objects lead to
(tests/cluster/pods.py says how each is built, from which controller's source) must be admitted.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from mlrail.components.deploy import core
from tests.manifests.kustomize import OVERLAYS, pinned_copy
from tests.manifests.policy import pod_security_violations
from tests.manifests.test_policy import MUTANTS, MUTATED_OVERLAY, Mutant
from tests.pipelines.golden import PIPELINES, compiled_once

from .control_plane import ControlPlane
from .kube import Obj, render, report
from .kube import create_pod_dry_run as _create
from .plugin import kubectl_path
from .pods import kfp_task_pods, pod, predictor_pod, runtime_pod_spec, trainer_pods

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

POLICY = 'violates PodSecurity "restricted:v1.31"'
FORBIDDEN = 403

#: What Pod Security admission says of each pod-security mutant of test_policy.py's table, in
#: its own words. Its keys must be exactly the table's pod-security mutants.
SERVER_SAYS: dict[str, tuple[int, str]] = {
    "privileged": (
        FORBIDDEN,
        'privileged (container "kserve-container" must not set securityContext.privileged=true)',
    ),
    "run-as-non-root-false": (
        FORBIDDEN,
        'runAsNonRoot != true (container "kserve-container" must not set '
        "securityContext.runAsNonRoot=false)",
    ),
    "run-as-uid-0": (
        FORBIDDEN,
        'runAsUser=0 (container "kserve-container" must not set runAsUser=0)',
    ),
    "allow-privilege-escalation": (
        FORBIDDEN,
        'allowPrivilegeEscalation != false (container "kserve-container" must set '
        "securityContext.allowPrivilegeEscalation=false)",
    ),
    "privilege-escalation-unset": (
        FORBIDDEN,
        'allowPrivilegeEscalation != false (container "kserve-container" must set '
        "securityContext.allowPrivilegeEscalation=false)",
    ),
    "missing-seccomp": (
        FORBIDDEN,
        'seccompProfile (pod or container "kserve-container" must set '
        'securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")',
    ),
    "seccomp-unconfined": (
        FORBIDDEN,
        'seccompProfile (container "kserve-container" must not set '
        'securityContext.seccompProfile.type to "Unconfined")',
    ),
    "capability-add-sys-admin": (
        FORBIDDEN,
        'unrestricted capabilities (container "kserve-container" must not include "SYS_ADMIN" '
        "in securityContext.capabilities.add)",
    ),
    "capabilities-not-dropped": (
        FORBIDDEN,
        'unrestricted capabilities (container "kserve-container" must set '
        'securityContext.capabilities.drop=["ALL"])',
    ),
    "proc-mount-unmasked": (
        FORBIDDEN,
        'procMount (container "kserve-container" must not set securityContext.procMount to '
        '"Unmasked")',
    ),
    "host-path-volume": (
        FORBIDDEN,
        'restricted volume types (volume "root" uses restricted volume type "hostPath")',
    ),
    "host-network": (FORBIDDEN, "host namespaces (hostNetwork=true)"),
    "host-ipc": (FORBIDDEN, "host namespaces (hostIPC=true)"),
    "host-port": (FORBIDDEN, 'hostPort (container "kserve-container" uses hostPort 8080)'),
    # train's workers (the TrainingRuntime's pod template, as its TrainJob's pods)
    "trainer-run-as-root": (FORBIDDEN, 'runAsUser=0 (container "node" must not set runAsUser=0)'),
    "trainer-privilege-escalation": (
        FORBIDDEN,
        'allowPrivilegeEscalation != false (container "node" must set '
        "securityContext.allowPrivilegeEscalation=false)",
    ),
    "trainer-host-network": (FORBIDDEN, "host namespaces (hostNetwork=true)"),
    "trainer-host-path-volume": (
        FORBIDDEN,
        'restricted volume types (volume "data" uses restricted volume type "hostPath")',
    ),
}


@pytest.fixture(scope="module")
def pinned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """manifests/ as a release build leaves it: beside a digest record."""
    return pinned_copy(tmp_path_factory.mktemp("release"))


def _runtime_spec(objs: list[Obj]) -> dict[str, Any]:
    (runtime,) = [o for o in objs if o["kind"] == "ServingRuntime"]
    return dict(runtime["spec"])


def _training_runtime(objs: list[Obj]) -> Obj:
    (runtime,) = [o for o in objs if o["kind"] == "TrainingRuntime"]
    return runtime


def _trainjob() -> Obj:
    """A TrainJob as train's distributed mode builds it (two workers)."""
    from mlrail.components.train import multiworker, trainjob

    args = multiworker.worker_args(
        "s3://mlpipeline/v2/artifacts/training/run/ingest/examples",
        "s3://mlpipeline/v2/artifacts/training/run/validate/schema",
        "s3://mlpipeline/v2/artifacts/training/run/validate/statistics",
        "s3://mlpipeline/v2/artifacts/training/run/train/trainjob-x",
        label="species", task="auto", hparams={}, module_file="", module_file_sha256="",
    )  # fmt: skip
    name = trainjob.job_name("s3://mlpipeline/v2/artifacts/training/run/train/model", "0")
    return trainjob.trainjob(name, "mlrail", workers=2, args=args, timeout_seconds=3600)


def _trainer_pod(objs: list[Obj]) -> Obj:
    """The chief's pod of train's TrainJob on the runtime of ``objs``."""
    return trainer_pods(_training_runtime(objs), _trainjob())[0]


def _is_pod_security(mutant: Mutant, objs: list[Obj]) -> bool:
    return any(mutant.expected in v for v in pod_security_violations(objs))


def _mutated(pinned: Path, mutant: Mutant) -> list[Obj]:
    objs = render(pinned / "overlays" / MUTATED_OVERLAY)
    mutant.mutate(objs)
    return objs


def test_the_server_table_names_every_pod_security_mutant(pinned: Path) -> None:
    policy = [m for m in MUTANTS if m.checker == "policy"]
    ids = {m.id for m in policy if _is_pod_security(m, _mutated(pinned, m))}
    assert ids == set(SERVER_SAYS)


def _mutant_pod(pinned: Path, mutant_id: str) -> Obj:
    """The mutant's ServingRuntime, read as a pod spec (as the policy checks read it).

    ``hostUsers`` is carried over too: the proc-mount mutant sets it so that its pod is valid
    (KServe's ServingRuntime has no such field, which server-side apply refuses: see below).
    """
    (mutant,) = [m for m in MUTANTS if m.id == mutant_id]
    if mutant_id.startswith("trainer-"):  # the TrainingRuntime's pod, as a worker's
        return dict(_trainer_pod(_mutated(pinned, mutant))["spec"])
    runtime = _runtime_spec(_mutated(pinned, mutant))
    spec = runtime_pod_spec(runtime)
    if "hostUsers" in runtime:
        spec["hostUsers"] = runtime["hostUsers"]
    return spec


def test_every_pod_security_mutant_is_refused_by_the_server(
    kube_admin: ApiClient, installed: str, pinned: Path, request: pytest.FixtureRequest
) -> None:
    # the prod runtimes without a mutant are admitted: each refusal below is its mutant's doing
    prod = render(pinned / "overlays" / MUTATED_OVERLAY)
    clean = runtime_pod_spec(_runtime_spec(prod))
    assert _create(kube_admin, installed, pod("unmutated", {"app": "mutant"}, clean)) == (201, "")
    worker = pod("unmutated-worker", {"app": "mutant"}, _trainer_pod(prod)["spec"])
    assert _create(kube_admin, installed, worker) == (201, "")
    wrong, refused = [], 0
    for mutant_id, (status, says) in SERVER_SAYS.items():
        body = pod(f"mutant-{mutant_id}", {"app": "mutant"}, _mutant_pod(pinned, mutant_id))
        got, message = _create(kube_admin, installed, body)
        # Pod Security's own refusal only: a 422 (an invalid pod) never reached admission
        if got == status == FORBIDDEN and POLICY in message and says in message:
            refused += 1
        else:
            wrong.append(f"{mutant_id}: {got} {message or '(admitted)'}")
    report(
        request.config,
        f"pod security: mutants refused by the real server's Pod Security admission "
        f"{refused}/{len(SERVER_SAYS)}",
    )
    assert not wrong, "\n".join(wrong)


def _ir(pipeline: str) -> list[Obj]:
    """The compiled pipeline's documents: the pipeline spec, then its platform spec."""
    return [d for d in yaml.safe_load_all(compiled_once(pipeline)) if d]


def _deploys_isvc(mode: str) -> Obj:
    """The InferenceService deploy (target kserve) applies, as core.deploy builds it."""
    return core.inference_service(
        "penguins",
        "mlrail",
        core.storage_uri("minio://mlpipeline/v2/artifacts/training/run/export-onnx/onnx_model"),
        service_account="mlrail-serving",
        deployment_mode=mode,
        model_sha256="0" * 64,
    )


def _templates(pinned: Path) -> Iterator[tuple[str, Obj]]:
    """Every pod mlrail's objects lead to, by a name that says where it comes from."""
    for overlay in OVERLAYS:
        spec = runtime_pod_spec(_runtime_spec(render(pinned / "overlays" / overlay)))
        yield f"ServingRuntime ({overlay})", pod(f"runtime-{overlay}", {"app": "m"}, spec)
    runtime = _runtime_spec(render(pinned / "overlays" / "dev"))
    # the storage initializer as KServe makes it once manifests/cluster is applied to its
    # ClusterStorageContainer `default` (test_storage_container.py: with KServe's own object)
    (storage,) = render(pinned / "cluster")
    predictors = {
        mode: predictor_pod(
            _deploys_isvc(mode), runtime, storage_container=storage["spec"]["container"]
        )
        for mode in core.DEPLOYMENT_MODES
    }
    # the modes differ in what KServe's controller makes around the pod (a Knative Service or
    # a Deployment), not in the pod spec it builds: one pod stands for both
    (predictor,) = {json.dumps(p, sort_keys=True) for p in predictors.values()}
    yield "predictor (deploy's InferenceService)", json.loads(predictor)
    # train's workers: the pods of the TrainJob train builds, on the overlay's runtime
    for i, worker in enumerate(
        trainer_pods(_training_runtime(render(pinned / "overlays" / "dev")), _trainjob())
    ):
        yield f"train's worker {i} (TrainJob on TrainingRuntime mlrail-train)", worker
    for pipeline in PIPELINES:
        for label, task in kfp_task_pods(_ir(pipeline), pipeline).items():
            yield f"{pipeline} {label}", task


def test_every_pod_mlrail_leads_to_is_admitted(
    kube_admin: ApiClient, installed: str, pinned: Path, request: pytest.FixtureRequest
) -> None:
    templates = list(_templates(pinned))
    executors = sum(
        1
        for p in PIPELINES
        for e in _ir(p)[0]["deploymentSpec"]["executors"].values()
        if "container" in e
    )
    # each overlay's runtime, deploy's predictor, train's two workers, every container executor
    # of every pipeline
    assert len(templates) == len(OVERLAYS) + 1 + 2 + executors
    assert executors >= 12
    refused = []
    for where, body in templates:
        status, message = _create(kube_admin, installed, body)
        if status != 201:
            refused.append(f"{where}: {status} {message}")
    admitted = len(templates) - len(refused)
    report(
        request.config, f"pod security: mlrail pod templates admitted {admitted}/{len(templates)}"
    )
    assert not refused, "\n".join(refused)


def test_kserves_storage_initializer_as_shipped_is_refused(
    kube_admin: ApiClient, installed: str, pinned: Path
) -> None:
    """KServe v0.20 gives its storage initializer no securityContext: under ``restricted`` the
    predictor pod of any ``storageUri`` model is refused unless the cluster's
    ClusterStorageContainer ``default`` gives it one, as manifests/cluster does
    (manifests/README.md, "Cluster prerequisite: storage initializer"; the server's refusal
    and admission with KServe's own object: test_storage_container.py)."""
    runtime = _runtime_spec(render(pinned / "overlays" / "dev"))
    isvc = core.inference_service(
        "penguins", "mlrail", "s3://bucket/model_repository", service_account="mlrail-serving"
    )
    status, message = _create(kube_admin, installed, predictor_pod(isvc, runtime, None))
    assert status == 403, message
    assert (
        'container "storage-initializer" must set securityContext.allowPrivilegeEscalation=false'
        in message
    )
    assert "kserve-container" not in message


def test_the_pipelines_own_security_context_is_what_admits_its_task_pods(
    kube_admin: ApiClient, installed: str
) -> None:
    # KFP 2.17 sets runAsNonRoot on neither the pod nor the user container (a user's image may
    # run as root): without the pipeline's set_security_context every task pod is refused.
    task = kfp_task_pods(_ir("training"), "training")["exec-train"]
    (main,) = [c for c in task["spec"]["containers"] if c["name"] == "main"]
    assert main["securityContext"]["runAsNonRoot"] is True
    assert main["securityContext"]["runAsUser"] == 10001
    for key in ("runAsNonRoot", "runAsUser", "runAsGroup"):
        del main["securityContext"][key]
    status, message = _create(kube_admin, installed, task)
    assert status == FORBIDDEN, message
    assert 'pod or container "main" must set securityContext.runAsNonRoot=true' in message


@pytest.mark.parametrize(
    ("mutant_id", "field"),
    [("host-network", "hostNetwork"), ("proc-mount-unmasked", "hostUsers")],
)
def test_a_serving_runtime_with_a_pod_field_kserve_lacks_is_refused_by_server_side_apply(
    control_plane: ControlPlane, installed: str, pinned: Path, mutant_id: str, field: str
) -> None:
    """These mutants set a pod field KServe's ServingRuntime does not have: server-side apply
    refuses the runtime itself, so no predictor pod could ever get it (the pod-shaped check
    above still shows Pod Security would refuse it too)."""
    objs = _mutated(pinned, next(m for m in MUTANTS if m.id == mutant_id))
    (runtime,) = [o for o in objs if o["kind"] == "ServingRuntime"]
    assert field in runtime["spec"]
    runtime["metadata"]["namespace"] = installed
    cmd = [kubectl_path(), "--kubeconfig", str(control_plane.kubeconfig), "apply"]
    cmd += ["--server-side", "--dry-run=server", "--field-manager=mlrail-test", "-f", "-"]
    proc = subprocess.run(cmd, input=json.dumps(runtime), capture_output=True, text=True)
    assert proc.returncode != 0
    assert f".spec.{field}: field not declared in schema" in proc.stderr
    # the same object without that field applies: the field is what the server refuses
    del runtime["spec"][field]
    proc = subprocess.run(cmd, input=json.dumps(runtime), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
