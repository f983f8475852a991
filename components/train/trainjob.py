"""train's workers as pods: a Kubeflow Trainer v2 TrainJob, and the wait for it.

**Why a TrainJob, and how TensorFlow runs in it.** Kubeflow Trainer v2 (TrainJob) is the
Kubeflow engine for distributed training; the Training Operator's TFJob is the v1 API it
replaces, and the Trainer's maintainers chose not to write a TensorFlow ML policy for v2
(kubeflow/trainer#2699): a runtime without a framework policy (Trainer's ``PlainML`` plugin)
runs the pods as a JobSet and leaves ``TF_CONFIG`` to the image. mlrail's runtime
(``manifests/base/trainingruntime.yaml``, TrainingRuntime ``mlrail-train``) is such a one: one
replicated Job ``node`` of ``numNodes`` pods running mlrail's image. JobSet makes that Job
Indexed and gives each pod a stable DNS name, ``<trainjob>-node-0-<i>.<trainjob>`` (the same
names Trainer's torch plugin builds for its master address), so the TrainJob built here lists
those names in ``MLRAIL_TF_WORKERS`` and each pod derives its ``TF_CONFIG`` from them and its
``JOB_COMPLETION_INDEX`` (:mod:`.multiworker`). Worker 0 is the chief.

**The wait** (:func:`wait`), polling with GET (the Role grants ``get``, not ``watch``):

- the TrainJob's conditions, as the Trainer controller copies them from the JobSet:
  ``Complete`` True ends the wait; ``Failed`` True fails it;
- its pods, listed by JobSet's label ``jobset.sigs.k8s.io/jobset-name=<trainjob>``: a pod that
  failed (a worker cannot be replaced mid-training: the runtime's Job has ``backoffLimit: 0``)
  fails the step at once with that pod's message: the container's termination message (a
  worker writes its error there, :data:`.multiworker.FAILED`), exit code and reason
  (``OOMKilled``...), or the pod's own reason and message (``Evicted``...);
- the chief's log (pod index 0, container ``node``), read with timestamps each poll and passed
  on line by line (:func:`.multiworker.relay`): its epoch lines are train's progress;
- ``timeout`` seconds: the TrainJob carries the same ``activeDeadlineSeconds``, so the Trainer
  stops the pods itself; the step fails with the TrainJob's last state.

API errors that may pass (:class:`mlrail.kube.Transient`) are polled through until the deadline.

Kubernetes API calls (each allowed by a rule of the ``mlrail-pipeline-runner`` Role,
``manifests/base/rbac.yaml``): create and patch ``trainjobs.trainer.kubeflow.org`` (one
server-side apply, field manager ``mlrail-train``), get ``trainjobs`` (each poll), list
``pods`` (each poll, by label) and get ``pods/log`` (the chief's). Nothing else: no watch,
delete or status write.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from mlrail.components.train.multiworker import PORT, WORKERS_ENV, WorkerFailed, failure_of

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

__all__ = [
    "CONTAINER",
    "FIELD_MANAGER",
    "GROUP",
    "INDEX_LABEL",
    "JOBSET_LABEL",
    "KIND",
    "PLURAL",
    "RUNTIME",
    "VERSION",
    "KubeTrainJobApi",
    "TrainJobApi",
    "TrainJobFailed",
    "job_name",
    "pod_failure",
    "trainjob",
    "wait",
    "worker_hosts",
]

log = logging.getLogger("mlrail.components.train")

GROUP = "trainer.kubeflow.org"
VERSION = "v1alpha1"
KIND = "TrainJob"
PLURAL = "trainjobs"
#: The TrainingRuntime mlrail ships (manifests/base/trainingruntime.yaml).
RUNTIME = "mlrail-train"
FIELD_MANAGER = "mlrail-train"
#: The trainer's container (Trainer requires this name) and replicated Job.
CONTAINER = "node"
_REPLICATED_JOB = "node"
#: JobSet's label on every pod of a JobSet (the TrainJob's JobSet has its name).
JOBSET_LABEL = "jobset.sigs.k8s.io/jobset-name"
#: Kubernetes' label on a pod of an Indexed Job: its index.
INDEX_LABEL = "batch.kubernetes.io/job-completion-index"
#: JobSet refuses a pod name over 63 characters: <name>-node-0-<index>-<5 random>.
_MAX_NAME = 40


class TrainJobFailed(WorkerFailed):
    """The TrainJob failed or did not finish in time; the message names it and says why."""


class TrainJobApi(Protocol):
    """The calls :func:`wait` makes (dicts in, dicts out; errors as :mod:`mlrail.kube`'s)."""

    def apply(self, body: dict[str, Any]) -> dict[str, Any]: ...

    def get(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def pods(self, namespace: str, selector: str) -> list[dict[str, Any]]: ...

    def log(self, namespace: str, pod: str, container: str, since_seconds: int | None) -> str: ...


class KubeTrainJobApi:
    """:class:`TrainJobApi` on a cluster, through :mod:`mlrail.kube`."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client

    def apply(self, body: dict[str, Any]) -> dict[str, Any]:
        from mlrail import kube

        return kube.apply(self.client, body, plural=PLURAL, field_manager=FIELD_MANAGER)

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        from mlrail import kube

        return kube.get(
            self.client, group=GROUP, version=VERSION, plural=PLURAL, namespace=namespace,
            name=name,
        )  # fmt: skip

    def pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        from mlrail import kube

        return kube.list_pods(self.client, namespace, selector)

    def log(self, namespace: str, pod: str, container: str, since_seconds: int | None) -> str:
        from mlrail import kube

        return kube.pod_log(self.client, namespace, pod, container, since_seconds=since_seconds)


def job_name(model_uri: str, nonce: str) -> str:
    """A TrainJob name for the model at ``model_uri`` (RFC 1035, short enough for JobSet's pod
    names); ``nonce`` tells two attempts of one step apart."""
    digest = hashlib.sha256(f"{model_uri}\n{nonce}".encode()).hexdigest()[:12]
    name = f"mlrail-train-{digest}"
    assert len(name) <= _MAX_NAME
    return name


def worker_hosts(name: str, workers: int, port: int = PORT) -> list[str]:
    """The workers' ``host:port`` by index: JobSet's DNS names for TrainJob ``name``'s pods."""
    return [f"{name}-{_REPLICATED_JOB}-0-{i}.{name}:{port}" for i in range(workers)]


def trainjob(
    name: str,
    namespace: str,
    *,
    workers: int,
    args: Sequence[str],
    timeout_seconds: int,
    runtime: str = RUNTIME,
    image: str = "",
    resources: Mapping[str, Mapping[str, str]] | None = None,
    port: int = PORT,
) -> dict[str, Any]:
    """The TrainJob that runs ``workers`` pods of ``runtime``, each ``python -m
    mlrail.components.train.multiworker <args>``.

    Args:
        name: The TrainJob's name (:func:`job_name`).
        namespace: Where it runs (the runtime must be there).
        workers: The number of pods (``numNodes``), worker 0 the chief.
        args: The workers' arguments (:func:`.multiworker.worker_args`).
        timeout_seconds: ``activeDeadlineSeconds``: the Trainer stops the pods after it.
        runtime: The TrainingRuntime's name.
        image: The workers' image; empty: the runtime's (an overlay sets it, by digest in prod).
        resources: ``resourcesPerNode`` (``requests``/``limits`` by resource); None: the
            runtime's.
        port: The port the workers listen on (the runtime's container port).
    """
    trainer: dict[str, Any] = {
        "numNodes": workers,
        "args": list(args),
        "env": [{"name": WORKERS_ENV, "value": ",".join(worker_hosts(name, workers, port))}],
    }
    if image:
        trainer["image"] = image
    if resources:
        trainer["resourcesPerNode"] = {k: dict(v) for k, v in resources.items()}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/name": "mlrail-train",
                "app.kubernetes.io/part-of": "mlrail",
                "app.kubernetes.io/managed-by": "mlrail",
            },
        },
        "spec": {
            "runtimeRef": {"apiGroup": GROUP, "kind": "TrainingRuntime", "name": runtime},
            "activeDeadlineSeconds": int(timeout_seconds),
            "trainer": trainer,
        },
    }


def _conditions(job: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    status = job.get("status") or {}
    return {str(c.get("type")): c for c in status.get("conditions") or []}


def _true(conditions: Mapping[str, Mapping[str, Any]], kind: str) -> Mapping[str, Any] | None:
    c = conditions.get(kind)
    return c if c is not None and c.get("status") == "True" else None


def _index(pod: Mapping[str, Any]) -> str:
    return str(((pod.get("metadata") or {}).get("labels") or {}).get(INDEX_LABEL, "?"))


def _terminated(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The trainer container's failed termination (this run's, else the last), if any."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") != CONTAINER:
            continue
        for key in ("state", "lastState"):
            done = (status.get(key) or {}).get("terminated")
            if done and int(done.get("exitCode", 0)) != 0:
                return dict(done)
    return None


def _failed(pod: Mapping[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") == "Failed" or _terminated(pod) is not None


def pod_failure(pod: Mapping[str, Any]) -> tuple[type[Exception], str]:
    """What a failed worker pod says: the error class to raise and the message.

    The worker's own one-line error (its termination message) when it wrote one, raised as its
    class (``DataError``, ``ModelError``, ``ValueError``); else the exit code, reason and
    message Kubernetes recorded.
    """
    name = (pod.get("metadata") or {}).get("name", "?")
    where = f"worker {_index(pod)} (pod {name})"
    done = _terminated(pod)
    if done is not None:
        message = str(done.get("message") or "").strip()
        found = failure_of(message.splitlines()) if message else None
        if found is not None:
            kind, text = found
            return kind, f"{where}: {text}"
        what = f"exit code {done.get('exitCode')}"
        if done.get("reason"):
            what += f" ({done['reason']})"
        tail = " | ".join(line for line in message.splitlines()[-5:] if line.strip())
        return TrainJobFailed, f"{where}: {what}" + (f": {tail}" if tail else "")
    status = pod.get("status") or {}
    reason = status.get("reason") or "Failed"
    message = status.get("message") or "no message"
    return TrainJobFailed, f"{where}: {reason}: {message}"


def _state(job: Mapping[str, Any] | None, pods: Sequence[Mapping[str, Any]]) -> str:
    """The TrainJob's last state in a few words: its conditions and its pods' phases."""
    if job is None:
        return "not seen"
    conds = [
        f"{c.get('type')}={c.get('status')}"
        + (f" ({c.get('reason')}: {c.get('message')})" if c.get("reason") else "")
        for c in _conditions(job).values()
    ]
    phases = [
        f"worker {_index(p)} {(p.get('status') or {}).get('phase', 'Unknown')}"
        for p in sorted(pods, key=_index)
    ]
    return "; ".join(
        [
            "conditions: " + (", ".join(conds) if conds else "none yet"),
            "pods: " + (", ".join(phases) if phases else "none yet"),
        ]
    )


def _log_time(stamp: str) -> int | None:
    """An RFC 3339 timestamp of a log line (nanoseconds, any number of fraction digits) as
    integer nanoseconds since the epoch."""
    head, _, frac = stamp.rstrip("Z").partition(".")
    try:
        when = dt.datetime.fromisoformat(head).replace(tzinfo=dt.UTC)
    except ValueError:
        return None
    digits = (frac + "000000000")[:9]
    if not digits.isdigit():
        return None
    return int(when.timestamp()) * 1_000_000_000 + int(digits)


class _ChiefLog:
    """The chief's log, read again each poll from a little before the last line seen, and
    passed on once per line."""

    def __init__(self, api: TrainJobApi, namespace: str, on_line: Callable[[str], None]) -> None:
        self.api, self.namespace, self.on_line = api, namespace, on_line
        self.pod = ""
        self.last: int | None = None  # the newest line's timestamp (ns)
        self.at_last: set[str] = set()  # the lines seen with that timestamp
        self.lines = 0

    def poll(self, pods: Sequence[Mapping[str, Any]], now: float) -> None:
        from mlrail.kube import KubeError

        chiefs = [p for p in pods if _index(p) == "0"]
        if not chiefs:
            return
        chief = max(chiefs, key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp")))
        name = str((chief.get("metadata") or {}).get("name"))
        if name != self.pod:
            self.pod, self.last, self.at_last = name, None, set()
        since = None
        if self.last is not None:  # margin: the node's clock and ours may differ a little
            since = max(1, math.ceil(now - self.last / 1e9) + 30)
        try:
            text = self.api.log(self.namespace, name, CONTAINER, since)
        except KubeError as e:  # no node yet, the container not started: next poll
            log.debug("log of %s not readable yet: %s", name, e)
            return
        for raw in text.splitlines():
            stamp, _, line = raw.partition(" ")
            when = _log_time(stamp)
            if when is None:
                continue
            if self.last is not None and (
                when < self.last or (when == self.last and raw in self.at_last)
            ):
                continue
            if self.last is None or when > self.last:
                self.last, self.at_last = when, set()
            self.at_last.add(raw)
            self.lines += 1
            self.on_line(line)


@dataclass
class _Seen:
    job: dict[str, Any] | None = None
    pods: list[dict[str, Any]] | None = None


def wait(
    api: TrainJobApi,
    namespace: str,
    name: str,
    *,
    timeout: float,
    poll: float = 10.0,
    on_line: Callable[[str], None] = lambda line: None,
    clock: Callable[[], float] = time.monotonic,
    wall: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Wait for TrainJob ``namespace/name`` to complete (module doc); the TrainJob when it has.

    Raises:
        DataError, ModelError, ValueError: a worker failed on bad input (its own message).
        TrainJobFailed: a worker failed otherwise, the TrainJob failed, vanished, or did not
            complete within ``timeout`` seconds (its last state in the message).
        mlrail.kube.KubeError: the API refused a call (403 names the Role).
    """
    from mlrail.kube import Transient

    where = f"TrainJob {namespace}/{name}"
    selector = f"{JOBSET_LABEL}={name}"
    chief_log = _ChiefLog(api, namespace, on_line)
    deadline = clock() + timeout
    seen = _Seen()
    while True:
        try:
            job = api.get(namespace, name)
            if job is None:
                raise TrainJobFailed(f"{where} is gone: deleted while the step waited for it")
            seen.job = job
            seen.pods = api.pods(namespace, selector)
            chief_log.poll(seen.pods, wall())
        except Transient as e:
            log.warning("%s: %s (trying again)", where, e)
        else:
            conditions = _conditions(job)
            failed_pods = sorted((p for p in seen.pods if _failed(p)), key=_index)
            if _true(conditions, "Complete") and not failed_pods:
                log.info("%s complete (%d log lines of the chief)", where, chief_log.lines)
                return job
            failed = _true(conditions, "Failed")
            if failed_pods:
                kind, message = pod_failure(failed_pods[0])
                raise kind(f"{where}: {message}")
            if failed is not None:
                raise TrainJobFailed(
                    f"{where} failed: {failed.get('reason')}: {failed.get('message')}"
                )
        if clock() >= deadline:
            raise TrainJobFailed(
                f"{where} not complete in {timeout:g} s ({_state(seen.job, seen.pods or [])})"
            )
        sleep(max(0.0, min(poll, deadline - clock())))
