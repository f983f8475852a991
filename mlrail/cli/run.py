"""``mlrail run``: the training pipeline on this machine, through ``kfp.local``.

``--shards`` runs the sharded variant (:mod:`mlrail.pipelines.training_sharded`): the data's
files are read side by side, at most ``--parallelism`` at once, and merged.

``--workers N`` trains data-parallel on N worker processes on this machine (the pipelines'
``train_workers``, with ``train_distribution`` launcher ``local``: ``mlrail run`` never starts
a TrainJob, even when it runs in a pod such as a notebook server's).

The terminal shows each step as it starts and its progress as it happens (rows read, each
epoch's loss and metrics, the parity rows checked: :mod:`mlrail.local.progress`), a line as
each step ends, then the summary; ``--quiet`` prints the summary alone. ``--summary-json``
writes the summary's facts as JSON too (:func:`mlrail.local.summary_record`).

Every setting that a step would refuse after others have run (hyperparameters, thresholds,
columns the data does not have, a module file and its pin) is checked first.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mlrail.artifacts.parity import DEFAULT_TOLERANCE
from mlrail.cli.options import (
    DEFAULT_WORKDIR,
    Subcommands,
    evaluation_args,
    fraction,
    integer,
    json_object,
    non_negative,
    output_file,
    sha256_hex,
    writable_folder,
)
from mlrail.cli.provenance import add_provenance_args, requested_by
from mlrail.errors import MlrailError
from mlrail.redact import redact

__all__ = ["LOCAL_PARALLELISM", "add_run", "cmd_run", "run_arguments"]

#: Shards read at once by ``mlrail run --shards`` unless ``--parallelism`` says: kfp.local
#: runs at most two tasks of a loop at once, and the machines it runs on have two cores or more.
LOCAL_PARALLELISM = 2


def add_run(sub: Subcommands) -> None:
    """``mlrail run``: the training pipeline on this machine."""
    p = sub.add_parser("run", help="run the training pipeline locally (kfp.local, no cluster)")
    p.add_argument(
        "--data",
        help="CSV, Parquet or JSON Lines: a file, folder, glob or URI (default: the bundled "
        "penguins)",
    )
    p.add_argument("--label", help="column to predict (default with the penguins: species)")
    p.add_argument(
        "--task",
        default="auto",
        choices=["auto", "binary", "multiclass", "regression"],
        help="what the model predicts; auto decides from the label's values (a few whole or "
        "text values: classes, else regression) (default: auto)",
    )
    p.add_argument(
        "--model-name", help="model name in the repository (default: from the file name)"
    )
    p.add_argument(
        "--workdir",
        default=DEFAULT_WORKDIR,
        help=f"artifacts, model repository and logs (default: ./{DEFAULT_WORKDIR})",
    )
    p.add_argument(
        "--eval-ratio",
        type=fraction,
        default=0.2,
        help="share of rows held out for evaluation, between 0 and 1 (default: 0.2)",
    )
    p.add_argument("--key-column", default="", help="column whose hash decides the split")
    p.add_argument(
        "--shards",
        action="store_true",
        help="read --data in shards side by side, one per file of the folder or glob, then "
        "merge them (the training_sharded pipeline: plan, ingest and statistics per shard, "
        "merge)",
    )
    p.add_argument(
        "--parallelism",
        type=integer(1),
        default=None,
        metavar="N",
        help="with --shards: most shards read at once, 1 or more (default: 2; kfp.local runs "
        "at most 2 tasks at once whatever the limit)",
    )
    p.add_argument(
        "--workers",
        dest="train_workers",
        type=_workers,
        default=1,
        metavar="N",
        help="train data-parallel on N worker processes on this machine (TensorFlow's "
        "MultiWorkerMirroredStrategy, each reading its share of the train split; a batch_size "
        "in --hparams is the global batch and must divide by N); with --shards too (default: 1)",
    )
    p.add_argument(
        "--events-sink",
        type=_events_sink,
        default="",
        help="where lifecycle events go: an http(s) URL (#structured for structured mode) or a "
        "JSON Lines file (default: $K_SINK when set, else <workdir>/events.jsonl)",
    )
    p.add_argument(
        "--registry-uri",
        default="",
        metavar="URI",
        help="MLflow tracking URI of the model registry a blessed model is registered in "
        "(default: $MLFLOW_TRACKING_URI when set, else an embedded one in <workdir>/registry)",
    )
    add_provenance_args(p, token=False)
    p.add_argument("--schema", default="", help="curated schema.pbtxt to validate against")
    p.add_argument("--epochs", type=integer(1), help="training epochs (shortcut for --hparams)")
    p.add_argument("--hparams", type=json_object, help="JSON, e.g. '{\"epochs\": 30}'")
    evaluation_args(p)
    p.add_argument(
        "--module-file",
        default="",
        help="Python file (path or URI) with build_model(schema, statistics, hparams): it is "
        "RUN, with your permissions and credentials; use only code you trust, and pin it",
    )
    p.add_argument(
        "--module-file-sha256",
        type=sha256_hex,
        default=None,
        metavar="HEX",
        help="refuse the --module-file unless its SHA-256 is this (checked before any step runs, "
        "and by train on the very bytes it runs)",
    )
    p.add_argument(
        "--baseline-statistics", default="", help="statistics of earlier data, for drift"
    )
    p.add_argument(
        "--no-baseline",
        action="store_true",
        help="bless on value thresholds alone, not against the registry's champion (what serves)",
    )
    p.add_argument(
        "--parity-tolerance",
        type=non_negative,
        default=DEFAULT_TOLERANCE,
        help="absolute part of the ONNX Runtime vs SavedModel bound per value, 0 or more "
        "(default: 1e-4)",
    )
    p.add_argument(
        "--optimize", action="store_true", help="also write an ONNX Runtime-optimised graph"
    )
    p.add_argument(
        "--quantize",
        action="store_true",
        help="also write a dynamically int8-quantised model (kept only within its accuracy gate)",
    )
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="print only the summary: no line per step, no progress (rows, epochs, parity)",
    )
    p.add_argument(
        "--summary-json",
        metavar="PATH",
        default="",
        help="also write the summary as JSON to PATH: each step's status, time, figures and "
        "artifact paths, the verdicts, the model and log files (written whole or not at all)",
    )
    p.set_defaults(func=cmd_run)


def _workers(text: str) -> int:
    """``--workers``: a whole number from 1 to train's most (a step would refuse more, but only
    after ingest and validate had run)."""
    from mlrail.components.train.distributed import MAX_WORKERS

    value = integer(1)(text)
    if value > MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"must be {MAX_WORKERS} or fewer, got {text}")
    return value


def _check_workers(workers: int, hparams: dict[str, object]) -> None:
    """A batch size given in ``--hparams`` is the global batch: each worker takes an equal
    share of it, so it must divide by ``--workers`` (train would refuse it after ingest and
    validate)."""
    from mlrail.components.train.hparams import check_hparams

    batch = check_hparams(hparams)["batch_size"]
    if workers > 1 and isinstance(batch, int) and batch % workers:
        raise MlrailError(
            f"--workers {workers}: batch_size {batch} (--hparams) is the global batch and must "
            f"divide by the workers (each takes batch_size / workers rows a step)"
        )


def _events_sink(text: str) -> str:
    """``--events-sink``: a sink :mod:`mlrail.events.sinks` can send to (a step would only log
    one it cannot parse, and the run's events would be lost)."""
    from mlrail.events.sinks import parse_sink

    if text.strip():
        try:
            parse_sink(text.strip())
        except MlrailError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    return text.strip()


def _check_evaluation(a: argparse.Namespace, task: str) -> None:
    """Refuse thresholds that evaluate would refuse after training: unreadable bounds, metrics
    no task computes (or, with ``--task`` given, not this task), slices and columns that are
    not among ``--slices`` / ``--sensitive-columns``."""
    from mlrail.artifacts.modelspec import ModelSpec
    from mlrail.components.evaluate.core import check_threshold_names
    from mlrail.components.evaluate.metrics import is_metric, task_metrics
    from mlrail.components.evaluate.thresholds import parse_thresholds

    try:
        check_threshold_names(a.thresholds or {}, None, slices=a.slices or [])
    except ValueError as e:
        raise MlrailError(f"--thresholds: {e}") from e
    try:
        check_threshold_names(
            None, a.fairness_thresholds or {}, sensitive_columns=a.sensitive_columns or []
        )
    except ValueError as e:
        raise MlrailError(f"--fairness-thresholds: {e}") from e
    if a.fairness_thresholds and not a.sensitive_columns:
        # else nothing would check them: a silent pass
        raise MlrailError("--fairness-thresholds needs --sensitive-columns: which columns?")
    if task == "auto":
        return
    for t in parse_thresholds(a.thresholds or {}):
        # a per-class figure such as recall[Adelie]: the classes are known only after training
        cls = t.metric[:-1].partition("[")[2] if t.metric.endswith("]") else ""
        if not is_metric(ModelSpec(task, "", [], "", [cls] if cls else []), t.metric):
            raise MlrailError(
                f"--thresholds: no metric {t.metric!r} for a {task} task; there are: "
                f"{', '.join(task_metrics(task))}"
            )


def _check_module_file(path: str, sha256: str | None) -> None:
    """The module file exists and, with a pin, has that SHA-256 (checked again in train)."""
    from mlrail.components.train.user_module import check_sha256
    from mlrail.errors import DataError
    from mlrail.io import read_uri_bytes

    try:
        data = read_uri_bytes(path)
    except DataError as e:
        raise MlrailError(f"--module-file {e}") from e
    if sha256:
        check_sha256(path, data, sha256)


def run_arguments(
    a: argparse.Namespace, data: str, label: str, hparams: dict[str, Any]
) -> dict[str, Any]:
    """The pipeline parameters of a run of ``mlrail run`` (training or training_sharded: they
    take the same), from its checked options."""
    from mlrail.local import model_name_for

    arguments = {
        "source": data,
        "label": label,
        "task": a.task,
        "eval_ratio": a.eval_ratio,
        "key_column": a.key_column,
        "curated_schema": a.schema,
        "optimize": a.optimize,
        "quantize": a.quantize,
        "hparams": hparams,
        "thresholds": a.thresholds or {},
        "parity_tolerance": a.parity_tolerance,
        "model_name": a.model_name or model_name_for(data),
        "module_file": a.module_file,
        # checked by cmd_run and again by train on the bytes it runs (the file may change)
        "module_file_sha256": a.module_file_sha256 or "",
        "baseline_statistics": a.baseline_statistics,
        "slices": a.slices,
        "sensitive_columns": a.sensitive_columns,
        "fairness_thresholds": a.fairness_thresholds or {},
        "events_sink": a.events_sink,
        "registry_uri": a.registry_uri,
        "requested_by": requested_by(a.requested_by),
        "reason": a.reason,
    }
    if a.no_baseline:
        # "" would mean the registry's champion
        arguments["baseline_model"] = "none"
    arguments["train_workers"] = a.train_workers
    if a.train_workers > 1:
        # processes here: train's "auto" would submit a TrainJob when this runs in a pod (a
        # notebook server's), whose workers cannot read kfp.local's local artifacts
        arguments["train_distribution"] = {"launcher": "local"}
    return arguments


def cmd_run(a: argparse.Namespace) -> int:
    """``mlrail run``: exit status 0 when the run succeeded, else 1."""
    from mlrail.local import (
        check_columns,
        format_summary,
        run_training,
        write_summary_json,
    )

    if a.parallelism is not None and not a.shards:
        raise MlrailError("--parallelism is for --shards: how many shards to read at once")
    if a.data is None:
        data, label = "bundled:penguins", a.label or "species"
    elif a.label is None:
        raise MlrailError("--label is required with --data: which column should the model predict?")
    else:
        data, label = a.data, a.label
    from mlrail.components.train.hparams import check_hparams

    hparams = dict(a.hparams or {})
    if a.epochs is not None:
        hparams["epochs"] = a.epochs
    # refuse bad settings now, not after ingest, validate and a whole training run
    check_hparams(hparams)
    _check_workers(a.train_workers, hparams)
    _check_evaluation(a, a.task)
    if a.module_file_sha256 and not a.module_file:
        raise MlrailError("--module-file-sha256 pins a --module-file: give the file too")
    if a.module_file:
        _check_module_file(a.module_file, a.module_file_sha256)
    for flag, path in (("--schema", a.schema), ("--baseline-statistics", a.baseline_statistics)):
        if path and "://" not in path and not Path(path).expanduser().exists():
            raise MlrailError(f"{flag} {path}: no such file")
    # the data's header: the label and every column named in a setting must be in it
    check_columns(
        data,
        {
            "--label": [label],
            "--key-column": [a.key_column] if a.key_column else [],
            "--slices": list(a.slices or []),
            "--sensitive-columns": list(a.sensitive_columns or []),
        },
    )
    writable_folder("--workdir", Path(a.workdir).expanduser())
    if a.summary_json:
        output_file("--summary-json", str(Path(a.summary_json).expanduser()))
    arguments = run_arguments(a, data, label, hparams)
    pipeline, what = None, "training pipeline"
    if a.shards:
        from mlrail.pipelines.training_sharded import sharded_pipeline

        parallelism = a.parallelism or LOCAL_PARALLELISM
        pipeline = sharded_pipeline(parallelism)
        what = f"sharded training pipeline ({parallelism} shard(s) at once)"
    if not a.quiet:
        workers = f", {a.train_workers} training workers" if a.train_workers > 1 else ""
        print(
            redact(f"mlrail run: {what} on {data} (label {label!r}) through kfp.local{workers}"),
            flush=True,
        )
    run = run_training(
        workdir=a.workdir,
        arguments=arguments,
        echo=None if a.quiet else sys.stdout,
        pipeline=pipeline,
    )
    print(format_summary(run))
    if a.summary_json:
        write_summary_json(run, a.summary_json)
    return 0 if run.ok else 1
