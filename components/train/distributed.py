"""train on one worker or several: where the workers run, and the outputs their chief leaves.

:func:`train` is what the component calls. With ``workers=1`` it is :func:`.core.train`: this
step trains, as it always has. With more, the workers train data-parallel with TensorFlow's
MultiWorkerMirroredStrategy (:mod:`.multiworker`: each streams its own shard of the train
split's row groups, gradients are all-reduced every step), either

- as a **TrainJob** of Kubeflow Trainer v2 in the cluster (:mod:`.trainjob`): the workers read
  the artifacts from the artifact store by their URIs, the chief writes its outputs to a
  staging folder beside this step's outputs (``<task folder>/trainjob-<name>/``), and this step
  waits, passing on the chief's log lines; or
- as **processes on this machine** (``launcher: local``), on 127.0.0.1 with free ports: what
  ``mlrail run`` and the tests do.

Either way the chief's outputs are then copied into this step's ``model``, ``curves`` and
``tensorboard`` outputs (atomically), and the :class:`~.results.TrainResult` is read back from
the model's ``training.json``, ``history.json`` and ``model_spec.json``: the step's outputs are
the same files as a single-worker run's.

``distribution`` settings (all optional; :func:`check_distribution`):

- ``launcher``: ``auto`` (a TrainJob when this step runs in a Kubernetes pod, processes on this
  machine otherwise), ``trainjob`` or ``local``;
- ``timeout_seconds``: how long the workers may take (default 6 hours); the TrainJob's
  ``activeDeadlineSeconds`` too;
- ``namespace``: the TrainJob's (default: this step's own);
- ``runtime``: the TrainingRuntime (default ``mlrail-train``, from ``manifests/``);
- ``image``: the workers' image (default: the runtime's, which each overlay sets);
- ``cpu``, ``memory``: each worker's requests and limits (default: the runtime's);
- ``poll_seconds``: how often the TrainJob is read (default 10).
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlrail.components.train.results import TrainResult

__all__ = [
    "DEFAULT_DISTRIBUTION",
    "LAUNCHERS",
    "MAX_WORKERS",
    "Distribution",
    "check_distribution",
    "train",
]

log = logging.getLogger("mlrail.components.train")

LAUNCHERS = ("auto", "trainjob", "local")
DEFAULT_DISTRIBUTION: dict[str, Any] = {
    "launcher": "auto",
    "timeout_seconds": 6 * 3600,
    "namespace": "",
    "runtime": "mlrail-train",
    "image": "",
    "cpu": "",
    "memory": "",
    "poll_seconds": 10,
}
#: More workers than this is a typo, not a plan (and JobSet's pod names stay short).
MAX_WORKERS = 256
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# a Kubernetes quantity: 2, 500m, 1.5, 4Gi, 512M
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")


@dataclass(frozen=True)
class Distribution:
    """Checked ``distribution`` settings (module doc)."""

    launcher: str
    timeout_seconds: int
    namespace: str
    runtime: str
    image: str
    cpu: str
    memory: str
    poll_seconds: float

    def resources(self) -> dict[str, dict[str, str]] | None:
        """The TrainJob's ``resourcesPerNode`` (requests = limits), or None: the runtime's."""
        given = {k: v for k, v in (("cpu", self.cpu), ("memory", self.memory)) if v}
        return {"requests": dict(given), "limits": dict(given)} if given else None


def _whole(v: Any) -> Any:
    return int(v) if isinstance(v, float) and v.is_integer() else v


_CHECKS: dict[str, tuple[Any, str]] = {
    "launcher": (lambda v: v in LAUNCHERS, f"one of {', '.join(LAUNCHERS)}"),
    "timeout_seconds": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0,
        "a whole number of seconds > 0",
    ),
    "namespace": (
        lambda v: isinstance(v, str) and (not v or bool(_DNS_LABEL.match(v))),
        "a namespace name, or empty for this step's own",
    ),
    "runtime": (
        lambda v: isinstance(v, str) and bool(_DNS_LABEL.match(v)),
        "a TrainingRuntime's name",
    ),
    "image": (lambda v: isinstance(v, str) and " " not in v, "an image reference, or empty"),
    "cpu": (
        lambda v: isinstance(v, str) and (not v or bool(_QUANTITY.match(v))),
        'a Kubernetes quantity such as "2" or "500m", or empty',
    ),
    "memory": (
        lambda v: isinstance(v, str) and (not v or bool(_QUANTITY.match(v))),
        'a Kubernetes quantity such as "4Gi", or empty',
    ),
    "poll_seconds": (
        lambda v: isinstance(v, int | float) and not isinstance(v, bool) and 0 < v <= 600,
        "a number of seconds in (0, 600]",
    ),
}


def check_distribution(settings: Mapping[str, Any] | None) -> Distribution:
    """The defaults overlaid with ``settings``, each checked.

    Raises:
        ValueError: naming the unknown or the bad setting and what was expected.
    """
    given = {k: _whole(v) for k, v in (settings or {}).items()}
    unknown = set(given) - set(DEFAULT_DISTRIBUTION)
    if unknown:
        raise ValueError(
            f"unknown distribution setting(s): {', '.join(sorted(unknown))} "
            f"(known: {', '.join(DEFAULT_DISTRIBUTION)})"
        )
    for key, value in given.items():
        ok, expected = _CHECKS[key]
        if not ok(value):
            raise ValueError(f"distribution {key}={value!r}: expected {expected}")
    return Distribution(**{**DEFAULT_DISTRIBUTION, **given})


def _check_workers(workers: int, hparams: Mapping[str, Any] | None) -> None:
    from mlrail.components.train.hparams import check_hparams

    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS:
        raise ValueError(f"workers={workers!r}: expected a whole number from 1 to {MAX_WORKERS}")
    batch = check_hparams(dict(hparams or {}))["batch_size"]
    # a batch train chooses ("auto") is made a multiple of the workers; a given one must be
    if isinstance(batch, int) and batch % workers:
        raise ValueError(
            f"hyperparameter batch_size={batch}: must divide by workers={workers} (it is the "
            "global batch: each worker takes batch_size / workers rows a step)"
        )


def read_result(model_dir: str | Path) -> TrainResult:
    """A finished model artifact's :class:`TrainResult` (its ``training.json``, ``history.json``
    and ``model_spec.json``)."""
    from mlrail.artifacts.modelspec import ModelSpec
    from mlrail.io import read_json

    folder = Path(model_dir)
    facts = read_json(folder / "training.json")
    return TrainResult(
        spec=ModelSpec.read(folder),
        history=read_json(folder / "history.json"),
        rows=int(facts["rows"]),
        dropped_unlabelled=int(facts["dropped_unlabelled"]),
        eval_rows=int(facts.get("eval_rows", 0)),
        best_epoch=int(facts.get("best_epoch", 0)),
        stopped_early=bool(facts.get("stopped_early", False)),
        eval_dropped_unlabelled=int(facts.get("eval_dropped_unlabelled", 0)),
    )


def _collect(
    staged: Path, model_dir: str | Path, curves_file: Any, tensorboard_dir: Any
) -> TrainResult:
    """The chief's outputs in ``staged`` copied into this step's outputs (each atomically)."""
    from mlrail.components.train.multiworker import DONE_FILE, WorkerFailed
    from mlrail.io import atomic_dir, atomic_write_text

    if not (staged / DONE_FILE).is_file():
        raise WorkerFailed(f"{staged}: the chief left no {DONE_FILE}: its outputs are incomplete")
    with atomic_dir(model_dir) as tmp:
        shutil.copytree(staged / "model", tmp, dirs_exist_ok=True)
    if curves_file is not None:
        atomic_write_text(curves_file, (staged / "curves.html").read_text())
    if tensorboard_dir is not None:
        with atomic_dir(tensorboard_dir) as tmp:
            shutil.copytree(staged / "tensorboard", tmp, dirs_exist_ok=True)
    return read_result(model_dir)


@contextlib.contextmanager
def _scratch(beside: Path) -> Iterator[Path]:
    """A hidden folder beside this step's outputs (same file system), gone afterwards."""
    from mlrail.io import staging_dir

    beside.mkdir(parents=True, exist_ok=True)
    folder = staging_dir(beside, ".train-workers.")
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _parent_uri(uri: str) -> str:
    return uri.rstrip("/").rpartition("/")[0]


def train(
    examples_dir: str | Path,
    schema_dir: str | Path,
    statistics_dir: str | Path,
    model_dir: str | Path,
    *,
    label: str,
    task: str = "auto",
    hparams: dict[str, Any] | None = None,
    module_file: str = "",
    module_file_sha256: str = "",
    curves_file: str | Path | None = None,
    tensorboard_dir: str | Path | None = None,
    workers: int = 1,
    distribution: Mapping[str, Any] | None = None,
    uris: Mapping[str, str] | None = None,
    api: Any = None,
    nonce: str = "",
) -> TrainResult:
    """Train with ``workers`` workers (module doc); the outputs are :func:`.core.train`'s.

    Args:
        examples_dir, schema_dir, statistics_dir, model_dir, label, task, hparams,
            module_file, module_file_sha256, curves_file, tensorboard_dir: As
            :func:`.core.train`'s.
        workers: 1: this step trains (``distribution`` is checked, not used); more: that
            many data-parallel workers.
        distribution: Where and how the workers run (module doc).
        uris: The artifacts' URIs in the artifact store (``examples``, ``schema``,
            ``statistics``, ``model``), which a TrainJob's workers read and write.
        api: The Kubernetes calls of the TrainJob launcher (:class:`.trainjob.TrainJobApi`);
            None: the cluster this runs in.
        nonce: Tells the TrainJobs of two attempts apart (random when empty).

    Raises:
        DataError, ModelError, ValueError: bad input, as :func:`.core.train` (a worker's own
            message, naming the worker).
        WorkerFailed: a worker or the TrainJob failed, or did not finish in time.
        mlrail.kube.KubeError: the Kubernetes API refused a call.
    """
    settings = check_distribution(distribution)
    _check_workers(workers, hparams)
    if workers == 1:  # this step trains: the distribution settings do not apply
        from mlrail.components.train import core

        return core.train(
            examples_dir, schema_dir, statistics_dir, model_dir, label=label, task=task,
            hparams=hparams, module_file=module_file, module_file_sha256=module_file_sha256,
            curves_file=curves_file, tensorboard_dir=tensorboard_dir,
        )  # fmt: skip
    from mlrail import kube
    from mlrail.components.train import local_workers

    launcher = settings.launcher
    if launcher == "auto":
        launcher = "trainjob" if kube.in_cluster() else "local"
    common: dict[str, Any] = {
        "label": label, "task": task, "hparams": dict(hparams or {}), "module_file": module_file,
        "module_file_sha256": module_file_sha256,
    }  # fmt: skip
    with _scratch(Path(model_dir).parent) as scratch:
        staged = scratch / "chief"
        if launcher == "local":
            local_workers.run_local(
                str(examples_dir), str(schema_dir), str(statistics_dir), str(staged),
                workers=workers, timeout=settings.timeout_seconds, **common,
            )  # fmt: skip
        else:
            _run_trainjob(workers, settings, uris or {}, staged, common, api, nonce)
        return _collect(staged, model_dir, curves_file, tensorboard_dir)


def _run_trainjob(
    workers: int,
    settings: Distribution,
    uris: Mapping[str, str],
    staged: Path,
    common: Mapping[str, Any],
    api: Any,
    nonce: str,
) -> None:
    """Submit the TrainJob, wait for it, and copy the chief's outputs into ``staged``."""
    from mlrail import kube
    from mlrail.components.train import multiworker, trainjob

    missing = [
        k for k in ("examples", "schema", "statistics", "model") if "://" not in uris.get(k, "")
    ]
    if missing:
        raise ValueError(
            f"a TrainJob's workers read and write the artifact store: the URIs of "
            f"{', '.join(missing)} are needed (artifact.uri in a pipeline step)"
        )
    if common["module_file"] and "://" not in str(common["module_file"]):
        raise ValueError(
            f"module_file {common['module_file']}: a TrainJob's workers read it themselves: "
            "give its URI (s3://, gs://...)"
        )
    namespace = settings.namespace or kube.current_namespace()
    if not namespace:
        raise ValueError(
            "distribution namespace: not running in a pod, so the TrainJob's namespace must "
            "be given"
        )
    name = trainjob.job_name(uris["model"], nonce or secrets.token_hex(4))
    output = f"{_parent_uri(uris['model'])}/trainjob-{name}"
    args = multiworker.worker_args(
        uris["examples"], uris["schema"], uris["statistics"], output, **common
    )
    body = trainjob.trainjob(
        name, namespace, workers=workers, args=args, timeout_seconds=settings.timeout_seconds,
        runtime=settings.runtime, image=settings.image, resources=settings.resources(),
    )  # fmt: skip
    client = api if api is not None else trainjob.KubeTrainJobApi(kube.connect())
    client.apply(body)
    log.info("TrainJob %s/%s: %d workers of runtime %s", namespace, name, workers, settings.runtime)
    trainjob.wait(
        client, namespace, name, timeout=settings.timeout_seconds, poll=settings.poll_seconds,
        on_line=lambda line: multiworker.relay(line, "chief"),
    )  # fmt: skip
    multiworker.copy_tree(output, str(staged))
    _remove(output)


def _remove(uri: str) -> None:
    """Delete the staging folder in the artifact store (best effort: a leftover costs space)."""
    import pyarrow as pa

    from mlrail.components.train.multiworker import pyarrow_uri
    from mlrail.io import filesystem
    from mlrail.redact import redact

    try:
        fs, path = filesystem(pyarrow_uri(uri))
        fs.delete_dir(path)
    except (OSError, pa.ArrowException, ValueError) as e:
        log.warning("could not remove the TrainJob's staging folder %s: %s", redact(uri), e)
