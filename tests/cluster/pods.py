"""The pods other controllers would create from what mlrail ships, built here for admission tests.

No KServe, Knative, Argo or KFP controller runs against the test API server, so the pods they
would make from mlrail's objects are rebuilt here, from their sources at the versions named
below, as far as Pod Security admission can see (security contexts, host namespaces, volumes,
ports, the service account). Names, images and commands are theirs where they matter and
placeholders where they do not (nothing pulls an image here).

- KServe v0.20.0 (``pkg/controller/v1beta1/inferenceservice/components/predictor.go``
  ``buildPodSpec``; ``utils.MergePodSpec``; the storage initializer of
  ``pkg/webhook/admission/pod/storage_initializer_injector.go`` (``GetStorageContainerSpec``,
  ``CommonStorageInitialization``), ``pkg/utils/storage.go`` (``CreateInitContainerWithConfig``)
  and ``pkg/utils/container_merge.go`` (``MergeContainerWithPatch``)).
- KFP 2.17.0 (``backend/src/v2/compiler/argocompiler/container.go`` and ``security_context.go``;
  ``backend/src/v2/driver/driver.go`` ``initPodSpecPatch`` and ``k8s.go``), with Argo's executor
  containers as KFP's manifests configure them (``manifests/kustomize/third-party/argo/base/
  workflow-controller-configmap-patch.yaml``: ``executor.securityContext``).
- Kubeflow Trainer (commit 8c0f505) on JobSet: the worker pods of a TrainJob on mlrail's
  TrainingRuntime (:func:`trainer_pods`).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "JOBSET_NAME_LABEL",
    "JOB_INDEX_LABEL",
    "KFP_EXECUTOR_SECURITY",
    "KSERVE_VERSION",
    "RESTRICTED_CONTAINER",
    "SERVING_ACCOUNT",
    "kfp_task_pods",
    "pod",
    "predictor_pod",
    "runtime_pod_spec",
    "storage_container_for",
    "trainer_pods",
]

Obj = dict[str, Any]
#: The KServe release whose pods are rebuilt here (its Go module holds the sources cited).
KSERVE_VERSION = "v0.20.0"
SERVING_ACCOUNT = "mlrail-serving"
PIPELINE_ACCOUNT = "mlrail-pipeline-runner"
_ISVC_LABEL = "serving.kserve.io/inferenceservice"

#: What a container needs of its own under ``restricted`` when the pod sets runAsNonRoot and
#: seccomp: what manifests/cluster gives KServe's storage initializer through the
#: ClusterStorageContainer ``default`` (with the image's uid besides).
RESTRICTED_CONTAINER: Mapping[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}

# --- KServe -------------------------------------------------------------------------------

# The pod-level fields of a runtime's spec, read as a pod spec (the view of the policy checks in
# tests/manifests/policy.py, which treat a ServingRuntime's spec as pod-shaped).
_RUNTIME_POD_FIELDS = (
    "containers",
    "volumes",
    "nodeSelector",
    "affinity",
    "tolerations",
    "imagePullSecrets",
    "schedulerName",
    "hostIPC",
    "hostNetwork",
    "hostPID",
    "securityContext",
)
# What KServe's MergePodSpec takes from the runtime into the predictor pod, besides containers.
_KSERVE_RUNTIME_FIELDS = (
    "volumes",
    "nodeSelector",
    "affinity",
    "tolerations",
    "imagePullSecrets",
    "schedulerName",
)
# Predictor keys that are the component's own settings, not pod spec fields.
_PREDICTOR_COMPONENT_KEYS = frozenset(
    {
        "minReplicas",
        "maxReplicas",
        "model",
        "containers",
        "annotations",
        "labels",
        "scaleTarget",
        "scaleMetric",
        "scaleMetricType",
        "canaryTrafficPercent",
        "timeout",
        "deploymentStrategy",
        "autoScaling",
    }
)
_POD_SPEC_KEYS = frozenset(
    {
        "securityContext",
        "serviceAccountName",
        "automountServiceAccountToken",
        "nodeSelector",
        "tolerations",
        "affinity",
        "volumes",
        "imagePullSecrets",
        "priorityClassName",
        "runtimeClassName",
        "hostNetwork",
        "hostIPC",
        "hostPID",
        "initContainers",
    }
)
# The model spec's keys that are not container fields.
_MODEL_KEYS = frozenset(
    {"modelFormat", "protocolVersion", "runtime", "runtimeVersion", "storageUri"}
)
_MODEL_MOUNT = "/mnt/models"
_PROVISION_VOLUME = "kserve-provision-location"


def runtime_pod_spec(runtime_spec: Mapping[str, Any]) -> Obj:
    """A ServingRuntime's spec as the pod spec of a predictor that serves from it alone.

    Its containers and volumes as they are, the serving account without a token (as deploy's
    InferenceService asks), and its pod-level fields as a pod spec would read them.
    """
    spec = {k: copy.deepcopy(runtime_spec[k]) for k in _RUNTIME_POD_FIELDS if k in runtime_spec}
    spec["serviceAccountName"] = SERVING_ACCOUNT
    spec["automountServiceAccountToken"] = False
    return spec


def _merge(base: Any, override: Any) -> Any:
    """Maps merge key by key (the override wins); anything else is replaced.

    Strategic merge as KServe's MergeRuntimeContainers does it, for the fields an mlrail
    model spec sets (securityContext, resources: maps all the way down).
    """
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        merged = dict(copy.deepcopy(base))
        for key, value in override.items():
            merged[key] = _merge(base.get(key), value)
        return merged
    return copy.deepcopy(override)


# Container lists a strategic merge patch merges by key (k8s.io/api core/v1 Container's
# patchMergeKey tags); every other list is replaced.
_CONTAINER_MERGE_KEYS = {
    "env": "name",
    "ports": "containerPort",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
}


def _merge_container(base: Mapping[str, Any], patch: Mapping[str, Any]) -> Obj:
    """``patch`` over ``base`` as KServe's ``MergeContainerWithPatch`` does it: a strategic
    merge patch of two ``corev1.Container`` (maps merge key by key, keyed lists item by item).

    No ``$patch`` directives or nulls: a ClusterStorageContainer read from the server has none.
    """
    merged = _merge(base, {k: v for k, v in patch.items() if k not in _CONTAINER_MERGE_KEYS})
    for field, key in _CONTAINER_MERGE_KEYS.items():
        if field not in patch:
            continue
        items = [copy.deepcopy(i) for i in base.get(field) or []]
        for item in patch[field]:
            same = [i for i, old in enumerate(items) if old.get(key) == item.get(key)]
            if same:
                items[same[0]] = _merge(items[same[0]], item)
            else:
                items.append(copy.deepcopy(item))
        merged[field] = items
    return merged


def storage_container_for(
    storage_containers: Iterable[Mapping[str, Any]], storage_uri: str
) -> Obj | None:
    """The ``spec.container`` KServe's webhook takes for ``storage_uri``, or None.

    KServe's ``GetStorageContainerSpec`` without an explicit name: the first
    ClusterStorageContainer, in the order the API lists them (by name), that is not disabled,
    has ``workloadType: initContainer`` and has a ``supportedUriFormats`` entry whose prefix
    starts the URI or whose regex matches in it (Go's ``regexp.MatchString``: unanchored).

    Args:
        storage_containers: ClusterStorageContainers as the API server lists them.
        storage_uri: The model's ``storageUri``.
    """
    for csc in storage_containers:
        spec = csc["spec"]
        if csc.get("disabled") or spec.get("workloadType") != "initContainer":
            continue
        for uri_format in spec["supportedUriFormats"]:
            prefix, regex = uri_format.get("prefix"), uri_format.get("regex")
            if (prefix and storage_uri.startswith(prefix)) or (
                not prefix and regex and re.search(regex, storage_uri)
            ):
                return copy.deepcopy(dict(spec["container"]))
    return None


def predictor_pod(
    isvc: Mapping[str, Any],
    runtime_spec: Mapping[str, Any],
    storage_initializer_security: Mapping[str, Any] | None = None,
    *,
    storage_container: Mapping[str, Any] | None = None,
) -> Obj:
    """The predictor pod KServe v0.20 makes for ``isvc`` served by ``runtime_spec``.

    Reproduced: the ``kserve-container`` (the runtime's container with the InferenceService's
    model spec merged over it), the pod-level fields of the predictor and those MergePodSpec
    takes from the runtime, KServe's labels, and for a ``storageUri`` the storage initializer
    init container with the model volume (read-only in the server). Not reproduced: placeholder
    substitution in args (mlrail's runtime has none), the credential env the initializer gets
    from the service account's Secrets (env does not matter to Pod Security), and in Serverless
    mode Knative's queue-proxy sidecar (its security context is Knative's configuration,
    ``secure-pod-defaults``, a cluster prerequisite in manifests/README.md).

    Args:
        isvc: The InferenceService (v1beta1, a ``predictor.model`` naming the runtime).
        runtime_spec: The ServingRuntime's spec.
        storage_initializer_security: A securityContext set on the storage initializer as
            it is made. KServe sets none (None).
        storage_container: The ``spec.container`` of the ClusterStorageContainer KServe picks
            for the URI (:func:`storage_container_for`): merged over the initializer after its
            volume mount, as ``CommonStorageInitialization`` does with
            ``utils.MergeContainerWithPatch``. None: no ClusterStorageContainer matched.
    """
    predictor = isvc["spec"]["predictor"]
    unknown = set(predictor) - _PREDICTOR_COMPONENT_KEYS - _POD_SPEC_KEYS
    # a new predictor field must be placed here on purpose, not dropped without notice
    assert not unknown, f"predictor fields this builder does not place: {sorted(unknown)}"
    model = predictor["model"]
    (runtime_container,) = [
        c for c in runtime_spec["containers"] if c["name"] == "kserve-container"
    ]
    container = _merge(runtime_container, {k: v for k, v in model.items() if k not in _MODEL_KEYS})
    if "args" in model:
        # MergeRuntimeContainers: "Strategic merge patch will replace args but more useful
        # behaviour here is to concatenate" (the runtime's, then the InferenceService's)
        container["args"] = [*runtime_container.get("args", []), *model["args"]]
    spec: Obj = {
        k: copy.deepcopy(runtime_spec[k]) for k in _KSERVE_RUNTIME_FIELDS if k in runtime_spec
    }
    spec.update({k: copy.deepcopy(v) for k, v in predictor.items() if k in _POD_SPEC_KEYS})
    spec["containers"] = [container]
    if "storageUri" in model:
        initializer: Obj = {
            "name": "storage-initializer",
            "image": f"kserve/storage-initializer:{KSERVE_VERSION}",
            "args": [model["storageUri"], _MODEL_MOUNT],
            "terminationMessagePolicy": "FallbackToLogsOnError",
            # KServe's default StorageInitializerConfig
            "resources": {
                "requests": {"cpu": "100m", "memory": "100Mi"},
                "limits": {"cpu": "1", "memory": "1Gi"},
            },
            "volumeMounts": [{"name": _PROVISION_VOLUME, "mountPath": _MODEL_MOUNT}],
        }
        if storage_initializer_security is not None:
            initializer["securityContext"] = copy.deepcopy(dict(storage_initializer_security))
        if storage_container is not None:
            initializer = _merge_container(initializer, storage_container)
        spec["initContainers"] = [*spec.get("initContainers", []), initializer]
        spec["volumes"] = [*spec.get("volumes", []), {"name": _PROVISION_VOLUME, "emptyDir": {}}]
        mount = {"name": _PROVISION_VOLUME, "mountPath": _MODEL_MOUNT, "readOnly": True}
        container["volumeMounts"] = [*container.get("volumeMounts", []), mount]
    meta = isvc["metadata"]
    labels = {
        **(meta.get("labels") or {}),
        **(predictor.get("labels") or {}),
        _ISVC_LABEL: meta["name"],
        "component": "predictor",
    }
    return pod(f"{meta['name']}-predictor", labels, spec)


def pod(name: str, labels: Mapping[str, str], spec: Mapping[str, Any]) -> Obj:
    """A v1 Pod (no namespace: the create call names it)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": copy.deepcopy(dict(spec)),
    }


# --- KFP on Argo --------------------------------------------------------------------------

#: Argo's executor containers (init, wait) as KFP's manifests configure the workflow controller.
KFP_EXECUTOR_SECURITY: Mapping[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
_ARGOEXEC = "quay.io/argoproj/argoexec:v4.0.5"
_LAUNCHER = "ghcr.io/kubeflow/kfp-launcher:2.17.0"
# KFP's executor template: emptyDir volumes and where the user container mounts them.
_KFP_SCRATCH = {
    "kfp-launcher": "/kfp-launcher",
    "gcs-scratch": "/gcs",
    "s3-scratch": "/s3",
    "minio-scratch": "/minio",
    "dot-local-scratch": "/.local",
    "dot-cache-scratch": "/.cache",
    "dot-config-scratch": "/.config",
}
_ARGO_VOLUME = ("var-run-argo", "/var/run/argo")
# argocompiler's defaultContainerSecurityContext (the launcher init container) and
# defaultUserContainerSecurityContext (the user container, before the task's own settings).
_KFP_SYSTEM_SECURITY = {
    "allowPrivilegeEscalation": False,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
_KFP_USER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
# The IR container's resource fields, by where the driver puts them in the user container.
_RESOURCE_FIELDS = {
    ("limits", "cpu"): "resourceCpuLimit",
    ("requests", "cpu"): "resourceCpuRequest",
    ("limits", "memory"): "resourceMemoryLimit",
    ("requests", "memory"): "resourceMemoryRequest",
}


def _resources(spec: Mapping[str, Any]) -> Obj:
    """The driver's ResourceRequirements from the IR container's ``resources``."""
    found: Obj = {"limits": {}, "requests": {}}
    for (kind, name), key in _RESOURCE_FIELDS.items():
        if spec.get(key):
            found[kind][name] = str(spec[key])
    accelerator = spec.get("accelerator") or {}
    if accelerator.get("resourceType"):
        found["limits"][accelerator["resourceType"]] = str(accelerator["resourceCount"])
    return {k: v for k, v in found.items() if v}


def _task_security(platform: Mapping[str, Any]) -> Obj:
    """The user container's securityContext: KFP's defaults, then the task's own (driver k8s.go)."""
    security = copy.deepcopy(_KFP_USER_SECURITY)
    for key, value in (platform.get("securityContext") or {}).items():
        # the IR carries int64 as a string (protobuf JSON)
        security[key] = int(value) if key in ("runAsUser", "runAsGroup") else value
    return security


def _secret_name(entry: Mapping[str, Any], defaults: Mapping[str, Any]) -> str:
    """The Secret a ``secretAsEnv``/``secretAsVolume`` entry names, as the driver resolves it.

    ``secretNameParameter`` first (kfp-kubernetes writes it for a literal too, as a constant),
    then the deprecated ``secretName``. A pipeline parameter resolves to its default, which
    stands in for the run's value; inside a sub-DAG it is the root's, behind KFP's
    ``pipelinechannel--`` prefix.
    """
    parameter = entry.get("secretNameParameter")
    if parameter is None:
        return str(entry["secretName"])
    if "runtimeValue" in parameter:
        return str(parameter["runtimeValue"]["constant"])
    name = parameter["componentInputParameter"].removeprefix("pipelinechannel--")
    return str(defaults[name])


def _secret_env(platform: Mapping[str, Any], defaults: Mapping[str, Any]) -> list[Obj]:
    env = []
    for entry in platform.get("secretAsEnv") or []:
        name = _secret_name(entry, defaults)
        for key in entry["keyToEnv"]:
            ref = {"name": name, "key": key["secretKey"], "optional": bool(entry.get("optional"))}
            env.append({"name": key["envVar"], "valueFrom": {"secretKeyRef": ref}})
    return env


def _secret_volumes(
    platform: Mapping[str, Any], defaults: Mapping[str, Any]
) -> tuple[list[Obj], list[Obj]]:
    """The volumes and the user container's mounts of the task's ``secretAsVolume`` entries.

    As the driver's "Get secret mount information" loop builds them: the volume is named after
    the Secret, ``optional`` is always set (false when the entry has none), and the mount sets
    no ``readOnly`` (the driver sets none; the kubelet mounts a Secret read-only anyway).
    """
    volumes, mounts = [], []
    for entry in platform.get("secretAsVolume") or []:
        name = _secret_name(entry, defaults)
        optional = bool(entry.get("optional"))
        volumes.append({"name": name, "secret": {"secretName": name, "optional": optional}})
        mounts.append({"name": name, "mountPath": entry["mountPath"]})
    return volumes, mounts


def kfp_task_pods(ir_docs: Iterable[Mapping[str, Any]], pipeline: str) -> dict[str, Obj]:
    """The pod of each container executor of a compiled pipeline, as KFP 2.17 on Argo runs it.

    Reproduced: KFP's executor template (the ``kfp-launcher`` init container, the scratch
    emptyDirs, seccomp RuntimeDefault at pod level, argocompiler's security defaults on every
    container), the driver's pod spec patch of the ``main`` container (the IR's image, command
    and args behind the launcher, its resources and accelerator, its secrets as env and as
    volumes (``secretAsVolume``: a volume named after the Secret, mounted in the user
    container), its ``platforms.kubernetes`` securityContext), Argo's ``init`` and ``wait``
    containers with the executor securityContext KFP's manifests give them, and the run's
    service account. Not reproduced: node selectors and tolerations (run-time parameters; no
    scheduling here), the launcher's and Argo's exact arguments, the driver pod (KFP's own, not
    mlrail's).

    Returns:
        ``{executor label: pod}`` for every executor with a container.
    """
    docs = list(ir_docs)
    (spec,) = [d for d in docs if "deploymentSpec" in d]
    platforms = [d for d in docs if "platforms" in d]
    executors_k8s = (
        platforms[0]["platforms"]["kubernetes"]["deploymentSpec"]["executors"] if platforms else {}
    )
    defaults = {
        name: p.get("defaultValue")
        for name, p in spec["root"]["inputDefinitions"]["parameters"].items()
    }
    argo_mount = {"name": _ARGO_VOLUME[0], "mountPath": _ARGO_VOLUME[1]}
    pods = {}
    for label, executor in spec["deploymentSpec"]["executors"].items():
        container = executor.get("container")
        if container is None:
            continue
        platform = executors_k8s.get(label, {})
        secret_volumes, secret_mounts = _secret_volumes(platform, defaults)
        main: Obj = {
            "name": "main",
            "image": container["image"],
            "command": ["/kfp-launcher/launch"],
            "args": [*container.get("command", []), *container.get("args", [])],
            "resources": _resources(container.get("resources") or {}),
            "securityContext": _task_security(platform),
            "volumeMounts": [
                *({"name": n, "mountPath": p} for n, p in _KFP_SCRATCH.items()),
                argo_mount,
                *secret_mounts,
            ],
        }
        env = _secret_env(platform, defaults)
        if env:
            main["env"] = env
        argo = {"image": _ARGOEXEC, "securityContext": dict(KFP_EXECUTOR_SECURITY)}
        spec_: Obj = {
            "serviceAccountName": PIPELINE_ACCOUNT,
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "initContainers": [
                {
                    "name": "init",
                    "command": ["argoexec", "init"],
                    "volumeMounts": [argo_mount],
                    **argo,
                },
                {
                    "name": "kfp-launcher",
                    "image": _LAUNCHER,
                    "command": ["launcher-v2", "--copy", "/kfp-launcher/launch"],
                    "volumeMounts": [{"name": "kfp-launcher", "mountPath": "/kfp-launcher"}],
                    "securityContext": copy.deepcopy(_KFP_SYSTEM_SECURITY),
                },
            ],
            "containers": [
                {
                    "name": "wait",
                    "command": ["argoexec", "wait"],
                    "volumeMounts": [argo_mount],
                    **argo,
                },
                main,
            ],
            "volumes": [
                *({"name": n, "emptyDir": {}} for n in [*_KFP_SCRATCH, _ARGO_VOLUME[0]]),
                *secret_volumes,
            ],
        }
        name = f"{pipeline}-{label.removeprefix('exec-')}".replace("_", "-")
        labels = {
            "workflows.argoproj.io/workflow": pipeline.replace("_", "-"),
            "pipelines.kubeflow.org/v2_component": "true",
        }
        pods[label] = pod(name, labels, spec_)
    return pods


# --- Kubeflow Trainer on JobSet -------------------------------------------------------------

#: The labels a TrainJob's worker pod carries, and where they come from: JobSet's controller
#: (kubernetes-sigs/jobset pkg/controllers/jobset_controller.go ``constructJob``,
#: ``labelAndAnnotateObject``) and Kubernetes' Job controller for an Indexed Job.
JOBSET_NAME_LABEL = "jobset.sigs.k8s.io/jobset-name"
JOB_INDEX_LABEL = "batch.kubernetes.io/job-completion-index"


def _upsert_env(env: list[Obj], more: Iterable[Mapping[str, Any]]) -> list[Obj]:
    out = [dict(e) for e in env]
    for e in more:
        out = [o for o in out if o["name"] != e["name"]] + [dict(e)]
    return out


def trainer_pods(runtime: Mapping[str, Any], trainjob: Mapping[str, Any]) -> list[Obj]:
    """The worker pods of ``trainjob`` on TrainingRuntime ``runtime``, one per node, as the
    Trainer (commit 8c0f505: ``plainml.go`` EnforceMLPolicy, ``jobset/builder.go`` Trainer,
    ``jobset.go`` Build), JobSet and the Job controller would build them.

    The trainer's replicated Job gets ``numNodes`` as parallelism and completions, its ``node``
    container the TrainJob's image, command, args, env and resources; JobSet labels each pod
    with its JobSet, sets ``subdomain`` to the JobSet's name (DNS hostnames are on by default),
    and the Indexed Job names each pod's host ``<job>-<index>`` and gives it
    ``JOB_COMPLETION_INDEX``.
    """
    name = trainjob["metadata"]["name"]
    trainer = trainjob["spec"].get("trainer") or {}
    template_spec = runtime["spec"]["template"]["spec"]
    (job,) = [
        j
        for j in template_spec["replicatedJobs"]
        if (j["template"].get("metadata") or {})
        .get("labels", {})
        .get("trainer.kubeflow.org/trainjob-ancestor-step")
        == "trainer"
    ]
    nodes = int(trainer.get("numNodes") or runtime["spec"]["mlPolicy"].get("numNodes", 1))
    job_name = f"{name}-{job['name']}-0"
    pods = []
    for index in range(nodes):
        template = copy.deepcopy(job["template"]["spec"]["template"])
        spec = template["spec"]
        for container in spec["containers"]:
            if container["name"] != "node":
                continue
            for key in ("image", "command", "args"):
                if key in trainer:
                    container[key] = copy.deepcopy(trainer[key])
            if "resourcesPerNode" in trainer:
                container["resources"] = copy.deepcopy(trainer["resourcesPerNode"])
            container["env"] = _upsert_env(container.get("env") or [], trainer.get("env") or [])
            # the Job controller's, for an Indexed Job (from the pod's annotation)
            container["env"].append(
                {
                    "name": "JOB_COMPLETION_INDEX",
                    "valueFrom": {
                        "fieldRef": {"fieldPath": f"metadata.annotations['{JOB_INDEX_LABEL}']"}
                    },
                }
            )
        spec["subdomain"] = name
        spec["hostname"] = f"{job_name}-{index}"
        labels = {
            **(template.get("metadata") or {}).get("labels", {}),
            JOBSET_NAME_LABEL: name,
            "jobset.sigs.k8s.io/replicatedjob-name": job["name"],
            "jobset.sigs.k8s.io/job-index": "0",
            "batch.kubernetes.io/job-name": job_name,
            JOB_INDEX_LABEL: str(index),
        }
        body = pod(f"{job_name}-{index}-x7k2p", labels, spec)
        body["metadata"]["annotations"] = {JOB_INDEX_LABEL: str(index)}
        pods.append(body)
    return pods
