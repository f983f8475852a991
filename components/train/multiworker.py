"""Data-parallel training over several worker processes: TensorFlow's MultiWorkerMirroredStrategy.

Every worker runs the same program (:func:`worker_main`, ``python -m
mlrail.components.train.multiworker``) with the same arguments; what tells them apart is
``TF_CONFIG`` (TensorFlow's cluster description: every worker's ``host:port`` and this one's
index). Each builds the model under the strategy, streams its own shard of the train split's
Parquet row groups (:func:`.data.dataset`'s ``shard``: worker ``i`` of ``n`` takes the
``i``-th of ``n`` equal runs of the split's labelled rows, reading only the row groups its run
touches, :func:`.shards.plan_shard`), and the strategy all-reduces the gradients after every
step, so all workers hold the same weights. Worker 0 is the chief: its outputs are the ones
kept, and it publishes them last (the other workers' copies go to a scratch folder).

Where ``TF_CONFIG`` comes from:

- in a TrainJob's pods (:mod:`.trainjob`): from ``MLRAIL_TF_WORKERS`` (the workers'
  ``host:port``, comma-separated, which the TrainJob's env gives every pod: JobSet's stable DNS
  names ``<trainjob>-node-0-<i>.<trainjob>``) and ``JOB_COMPLETION_INDEX`` (the pod's index in
  its Indexed Job, which Kubernetes sets);
- on this machine (:func:`.local_workers.run_local`): set by the launcher, one process per
  worker on 127.0.0.1 with free ports.

Inputs and output are local paths or URIs (``s3://``, ``minio://`` as KFP names its MinIO
store, ``gs://``, ``file://``). A worker copies what it reads of a URI into a scratch folder:
of the ``train`` split only the bytes of the row groups its run touches, the label column and
the footers (:func:`.shards.stage_split`: ranged reads into sparse local copies; each worker
fetches about ``1/n`` of the split, plus the one or two row groups it shares with a
neighbour), the whole ``eval`` split, the schema and the statistics; the chief copies its
outputs to the output URI. The chief's output layout::

    <output>/
      model/          the model artifact (core.train's layout)
      curves.html     the training curves
      tensorboard/    TensorBoard event files
      done.json       written last: {"workers", "rows"}; its absence means "not finished"

A worker that fails prints one line ``mlrail train worker failed: <Error>: <message>`` and
writes the same to ``/dev/termination-log`` when it can (Kubernetes' termination message, which
the pod's status carries), then exits 2 (bad input) or 1.

Keras 3.15's ``fit`` under a multi-worker strategy needs :func:`strategy`'s adjustment (see
there): without it the first batch fails; and one step per call (core.compile_model compiles
so under this strategy: Keras' multi-step loop around collective ops fails).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlrail.errors import DataError, MlrailError, ModelError

__all__ = [
    "DONE_FILE",
    "FAILED",
    "INDEX_ENV",
    "MODULE",
    "PORT",
    "WORKERS_ENV",
    "WorkerFailed",
    "copy_tree",
    "failure_of",
    "pyarrow_uri",
    "relay",
    "strategy",
    "tf_config",
    "tf_config_from_env",
    "worker_args",
    "worker_main",
]

log = logging.getLogger("mlrail.components.train")
_progress = logging.getLogger("mlrail.progress.train")

#: The port every worker listens on in a pod (the Training Operator's TFJob convention).
PORT = 2222
#: The workers' ``host:port``, comma-separated, in index order (set by the TrainJob).
WORKERS_ENV = "MLRAIL_TF_WORKERS"
#: The pod's index in its Indexed Job (set by Kubernetes' Job controller).
INDEX_ENV = "JOB_COMPLETION_INDEX"
#: What a worker runs: ``python -m`` this module.
MODULE = "mlrail.components.train.multiworker"
#: The chief writes this last: its presence means the outputs are complete.
DONE_FILE = "done.json"
#: The line a failed worker prints (and writes as its termination message), before the error.
FAILED = "mlrail train worker failed: "
_TERMINATION_LOG = Path("/dev/termination-log")
#: How a worker's log lines name their logger; :func:`relay` reads it back.
_LOG_FORMAT = "%(name)s: %(message)s"
_PROGRESS_PREFIX = "mlrail.progress.train: "
#: Error classes a failed worker's line may name, raised again as themselves by the launcher.
_ERRORS: Mapping[str, type[Exception]] = {
    "DataError": DataError,
    "ModelError": ModelError,
    "ValueError": ValueError,
}


class WorkerFailed(MlrailError):
    """A worker failed, or the workers did not finish in time: the message says which and why."""


def tf_config(workers: Sequence[str], index: int) -> dict[str, Any]:
    """``TF_CONFIG`` for worker ``index`` of ``workers`` (each ``host:port``)."""
    if not 0 <= index < len(workers):
        raise ValueError(f"worker index {index}: expected 0 to {len(workers) - 1}")
    return {"cluster": {"worker": list(workers)}, "task": {"type": "worker", "index": index}}


def tf_config_from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """This worker's ``TF_CONFIG``: as given, else from ``MLRAIL_TF_WORKERS`` and
    ``JOB_COMPLETION_INDEX`` (a TrainJob's pod).

    Raises:
        ValueError: naming the variable that is missing or malformed.
    """
    given = environ.get("TF_CONFIG", "")
    if given:
        try:
            config = json.loads(given)
            workers, index = config["cluster"]["worker"], int(config["task"]["index"])
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"TF_CONFIG: not a cluster with workers and a task index: {e}") from e
        return tf_config(workers, index)
    hosts = [h.strip() for h in environ.get(WORKERS_ENV, "").split(",") if h.strip()]
    if not hosts:
        raise ValueError(f"neither TF_CONFIG nor {WORKERS_ENV} is set: which workers train?")
    try:
        index = int(environ.get(INDEX_ENV, ""))
    except ValueError as e:
        raise ValueError(
            f"{INDEX_ENV}={environ.get(INDEX_ENV, '')!r}: expected this pod's index "
            "(Kubernetes sets it in an Indexed Job)"
        ) from e
    return tf_config(hosts, index)


def strategy() -> Any:
    """A ``MultiWorkerMirroredStrategy`` (from ``TF_CONFIG``) that Keras 3's ``fit`` can use.

    Keras 3.15's TensorFlow trainer calls ``strategy.reduce`` twice in ways a multi-worker
    strategy refuses (keras-team/keras#20585): on the first data batch, a nest of per-replica
    values that may hold strings, only to learn its shapes; and on each step's scalar metrics
    with ``axis=0``. This subclass takes both: a nest gives the local values (the shapes are
    the same on every worker; nothing crosses the network), and a scalar is reduced with
    ``axis=None``, the mean over the workers that Keras asks for. Every other call is the
    strategy's own. Create it before any other TensorFlow work (the strategy configures the
    collective ops of the process).
    """
    import tensorflow as tf

    class KerasMultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
        def reduce(self, reduce_op: Any, value: Any, axis: Any = None) -> Any:
            if not isinstance(value, tf.distribute.DistributedValues) and tf.nest.is_nested(value):
                return tf.nest.map_structure(self._local, value)
            if axis == 0 and all(
                getattr(t, "shape", None) is not None and t.shape.rank == 0
                for t in self.experimental_local_results(value)
            ):
                axis = None
            return super().reduce(reduce_op, value, axis)

        def _local(self, value: Any) -> Any:
            if isinstance(value, tf.distribute.DistributedValues):
                return self.experimental_local_results(value)[0]
            return value

    return KerasMultiWorkerMirroredStrategy()


def _barrier(strat: Any) -> None:
    """Wait until every worker has reached this point (one all-reduce of a scalar)."""
    import tensorflow as tf

    strat.reduce(tf.distribute.ReduceOp.SUM, tf.constant(1.0), axis=None)


def _is_uri(location: str) -> bool:
    return "://" in location


def pyarrow_uri(location: str) -> str:
    """``location`` as pyarrow's filesystems name it: KFP names its bundled MinIO store
    ``minio://bucket/key``, and MinIO speaks S3 (``s3://bucket/key``)."""
    return (
        "s3://" + location.removeprefix("minio://") if location.startswith("minio://") else location
    )


def copy_tree(src: str, dst: str) -> None:
    """Copy the file or folder ``src`` to ``dst``; either may be a local path or a URI.

    Raises:
        DataError: naming ``src`` when it is missing or cannot be read, or ``dst`` when it
            cannot be written.
    """
    import pyarrow as pa
    import pyarrow.fs as pafs

    from mlrail.io import filesystem
    from mlrail.redact import redact

    src_fs, src_path = filesystem(pyarrow_uri(src))
    dst_fs, dst_path = filesystem(pyarrow_uri(dst))
    info = src_fs.get_file_info(src_path)
    if info.type == pafs.FileType.NotFound:
        raise DataError(f"{redact(src)}: no such file or folder")
    try:
        if info.type == pafs.FileType.Directory:
            dst_fs.create_dir(dst_path, recursive=True)
        else:
            dst_fs.create_dir(dst_path.rpartition("/")[0] or "/", recursive=True)
        pafs.copy_files(src_path, dst_path, src_fs, dst_fs)
    except (OSError, pa.ArrowException) as e:
        raise DataError(f"cannot copy {redact(src)} to {redact(dst)}: {e}") from e


def _exists(location: str) -> bool:
    import pyarrow.fs as pafs

    from mlrail.io import filesystem

    fs, path = filesystem(pyarrow_uri(location))
    return bool(fs.get_file_info(path).type != pafs.FileType.NotFound)


def _stage_inputs(
    args: argparse.Namespace, scratch: Path, shard: tuple[int, int]
) -> dict[str, str]:
    """The inputs as local paths: a URI's content copied into ``scratch``. Of the examples,
    the train split's bytes this worker reads (:func:`.shards.stage_split`: the footers, the
    label column, its own row groups) and the whole eval split (every worker takes part in
    each validation pass)."""
    from mlrail.artifacts.examples import EVAL, TRAIN
    from mlrail.components.train.shards import stage_split

    local: dict[str, str] = {}
    for name in ("examples", "schema", "statistics"):
        location = str(getattr(args, name))
        if not _is_uri(location):
            local[name] = location
            continue
        dest = scratch / name
        if name == "examples":
            base = location.rstrip("/")
            stage_split(
                pyarrow_uri(f"{base}/{TRAIN}"), dest / TRAIN, label=args.label, shard=shard,
                first=bool(args.module_file),  # a user module's outputs are checked on them
            )  # fmt: skip
            if _exists(f"{base}/{EVAL}"):
                copy_tree(f"{base}/{EVAL}", str(dest / EVAL))
        else:
            copy_tree(location, str(dest))
        local[name] = str(dest)
    return local


def _write_failure(message: str) -> None:
    line = FAILED + " ".join(message.split())
    print(line, file=sys.stderr, flush=True)
    try:  # Kubernetes shows it as the container's termination message
        with _TERMINATION_LOG.open("w") as f:
            f.write(line[:4000])
    except OSError:
        pass  # not in a pod, or not writable: the line above is the message


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"python -m {MODULE}", description="One worker of a data-parallel training."
    )
    for name in ("examples", "schema", "statistics", "output"):
        p.add_argument(f"--{name}", required=True, help="a local path or a URI")
    p.add_argument("--label", required=True)
    p.add_argument("--task", default="auto")
    p.add_argument("--hparams", default="{}", help="JSON object")
    p.add_argument("--module-file", default="")
    p.add_argument("--module-file-sha256", default="")
    return p


def worker_args(
    examples: str,
    schema: str,
    statistics: str,
    output: str,
    *,
    label: str,
    task: str,
    hparams: Mapping[str, Any],
    module_file: str,
    module_file_sha256: str,
) -> list[str]:
    """The command line arguments of :func:`worker_main` (every worker gets the same)."""
    args = ["--examples", examples, "--schema", schema, "--statistics", statistics]
    args += ["--output", output, "--label", label, "--task", task]
    args += ["--hparams", json.dumps(dict(hparams), sort_keys=True)]
    if module_file:
        args += ["--module-file", module_file, "--module-file-sha256", module_file_sha256]
    return args


def worker_main(argv: Sequence[str] | None = None) -> int:
    """One worker: train under the strategy on this worker's shard; the chief publishes.

    Returns:
        The exit status: 0 done, 2 bad input (a one-line error), 1 anything else.
    """
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=_LOG_FORMAT, stream=sys.stderr, force=True)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        hparams = json.loads(args.hparams)
        config = tf_config_from_env(os.environ)
        # read by the strategy when it is made: it must hold this worker's index
        os.environ["TF_CONFIG"] = json.dumps(config)
        index, count = config["task"]["index"], len(config["cluster"]["worker"])
        chief = index == 0
        log.info("worker %d of %d (%s)", index, count, "chief" if chief else "not the chief")
        from mlrail.components.train import core

        with tempfile.TemporaryDirectory(prefix="mlrail-worker-") as tmp:
            scratch = Path(tmp)
            inputs = _stage_inputs(args, scratch, (index, count))
            remote = _is_uri(args.output)
            # a worker other than the chief writes what it must (every worker saves: the
            # strategy's variables are read together) into its scratch folder
            out = scratch / "out" if remote or not chief else Path(args.output)
            out.mkdir(parents=True, exist_ok=True)
            strat = strategy()
            result = core.train(
                inputs["examples"], inputs["schema"], inputs["statistics"], out / "model",
                label=args.label, task=args.task, hparams=hparams,
                module_file=args.module_file, module_file_sha256=args.module_file_sha256,
                curves_file=out / "curves.html" if chief else None,
                tensorboard_dir=out / "tensorboard" if chief else None,
                strategy=strat,
            )  # fmt: skip
            # a barrier: no worker leaves while another still saves (a worker that exits
            # early is reported as crashed by TensorFlow's coordination service)
            _barrier(strat)
            if chief:
                from mlrail.io import atomic_write_json

                atomic_write_json(out / DONE_FILE, {"workers": count, "rows": result.rows})
                if remote:
                    for name in ("model", "curves.html", "tensorboard"):
                        copy_tree(str(out / name), args.output.rstrip("/") + "/" + name)
                    copy_tree(str(out / DONE_FILE), args.output.rstrip("/") + "/" + DONE_FILE)
        log.info("worker %d of %d done", index, count)
        return 0
    except (MlrailError, ValueError) as e:
        _write_failure(f"{type(e).__name__}: {e}")
        return 2
    except Exception as e:
        _write_failure(f"{type(e).__name__}: {e}")
        raise


def relay(line: str, who: str) -> None:
    """Pass on one log line of a worker: its epoch lines as train's progress, the rest as
    log records naming the worker."""
    line = line.rstrip("\n")
    if not line.strip():
        return
    if line.startswith(_PROGRESS_PREFIX):
        _progress.info("%s", line.removeprefix(_PROGRESS_PREFIX))
    else:
        log.info("%s: %s", who, line)


def failure_of(lines: Sequence[str]) -> tuple[type[Exception], str] | None:
    """The error a failed worker reported in ``lines`` (its class and message), if any."""
    for line in reversed(lines):
        text = line.strip()
        at = text.find(FAILED)
        if at < 0:
            continue
        what = text[at + len(FAILED) :]
        kind, _, message = what.partition(": ")
        return _ERRORS.get(kind, WorkerFailed), (message if kind in _ERRORS else what)
    return None


if __name__ == "__main__":
    sys.exit(worker_main())
