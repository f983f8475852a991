"""The ``mlrail`` command: run, compile, submit, schedule, validate, evaluate, serve.

Heavy libraries (TensorFlow, kfp, ONNX Runtime) are imported inside the subcommands that need
them, so ``mlrail --help`` starts in well under a second.

Usage errors exit 2 with one line on stderr, ``mlrail <command>: error: <what>``, naming the
flag, file or field, before any step runs: values out of range (negative or NaN tolerances,
ratios outside (0, 1)), thresholds on metrics that do not exist, columns the data does not
have (its header is read first), an output path that cannot be written. Nothing the command
prints (errors, the run's lines, its summary and log) shows credentials from a URI.

The KFP token (``submit``, ``schedule``): ``--token-file PATH`` (a projected service account
token, say) or ``--token`` (visible to other users in the process list: avoid it on shared
machines), else the ``MLRAIL_KFP_TOKEN`` environment variable. It is never printed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shlex
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from mlrail import __version__
from mlrail.errors import MlrailError
from mlrail.redact import redact

__all__ = ["TOKEN_ENV", "build_parser", "main", "parse_args"]

DEFAULT_WORKDIR = "mlrail-local"
DEFAULT_PIPELINE = "training"
#: The environment variable holding the KFP API's bearer token.
TOKEN_ENV = "MLRAIL_KFP_TOKEN"


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error on one line (the usage is one ``--help`` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {redact(message)}\n")


# --- values ------------------------------------------------------------------------------------


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def _non_negative(text: str) -> float:
    """A tolerance: a negative bound would let every difference through (0 is allowed)."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _fraction(text: str) -> float:
    """A share of rows held out: 0 would leave nothing to evaluate on, 1 nothing to train on."""
    value = _number(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (both excluded), got {text}")
    return value


def _seconds(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def _integer(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be {low} or more, got {text}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def _sha256(text: str) -> str:
    if not re.fullmatch(r"[0-9a-fA-F]{64}", text.strip()):
        raise argparse.ArgumentTypeError(f"not a SHA-256 (64 hexadecimal digits): {text!r}")
    return text.strip().lower()


#: Pipeline parameters whose values are bounds or shares (``--param`` of submit and schedule):
#: name → (lowest, highest, whether the lowest is allowed, whether the highest is allowed).
_PARAMETER_RANGES = {
    "eval_ratio": (0.0, 1.0, False, False),
    "test_ratio": (0.0, 1.0, True, False),
    "parity_tolerance": (0.0, math.inf, True, False),
    "max_accuracy_drop": (0.0, math.inf, True, False),
    "max_rmse_increase": (0.0, math.inf, True, False),
}


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not valid JSON ({e.msg}): {text}") from e
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object such as '{{\"a\": 1}}': {text}")
    return value


def _names(text: str) -> list[str]:
    """``a,b`` as ``["a", "b"]``."""
    return [n.strip() for n in text.split(",") if n.strip()]


def _params(pairs: Sequence[str] | None) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; a value is JSON when it parses as JSON, else a string.

    Bounds and shares of mlrail's pipelines (:data:`_PARAMETER_RANGES`) are checked here: a
    negative tolerance turns a gate off, and NaN passes every comparison.
    """
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise MlrailError(f"--param {pair!r}: expected KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
        if key in _PARAMETER_RANGES and isinstance(out[key], int | float):
            low, high, low_ok, high_ok = _PARAMETER_RANGES[key]
            x = float(out[key])
            if not (
                math.isfinite(x)
                and (low < x or (low_ok and x == low))
                and (x < high or (high_ok and x == high))
            ):
                ends = f"{'[' if low_ok else '('}{low:g}, {high:g}{']' if high_ok else ')'}"
                raise MlrailError(f"--param {key}={value}: must be in {ends}")
    return out


def _token(a: argparse.Namespace) -> str | None:
    """The KFP token: --token or --token-file, else $MLRAIL_KFP_TOKEN (see the module doc)."""
    if a.token and a.token_file:
        raise MlrailError("give --token or --token-file, not both")
    if a.token_file:
        try:
            token = Path(a.token_file).read_text(encoding="utf-8").strip()
        except OSError as e:
            raise MlrailError(f"--token-file {a.token_file}: {e.strerror or e}") from e
        except UnicodeDecodeError as e:
            raise MlrailError(f"--token-file {a.token_file}: not a text file") from e
        if not token:
            raise MlrailError(f"--token-file {a.token_file}: the file is empty")
        return token
    return a.token or os.environ.get(TOKEN_ENV) or None


def _output_file(flag: str, path: str) -> None:
    """Refuse an output file that cannot be written, before any work: a folder, a parent
    that is a file or cannot be created or written (checked by writing there: root ignores
    file modes, not a read-only file system)."""
    target = Path(path)
    if target.is_dir():
        raise MlrailError(f"{flag} {path}: is a folder; give a file name in it")
    _writable_folder(flag, target.parent, shown=path)


def _writable_folder(flag: str, folder: Path, *, shown: str | None = None) -> None:
    """Create ``folder`` if needed and check a file can be created in it."""
    shown = shown or str(folder)
    existing = next((p for p in [folder, *folder.parents] if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise MlrailError(f"{flag} {shown}: {existing} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        where = e.filename or folder
        raise MlrailError(f"{flag} {shown}: cannot write in {where}: {e.strerror or e}") from e


def _package(target: str, tmp: str) -> str:
    """A compiled YAML path as given, or a pipeline name compiled into ``tmp``."""
    if target.endswith((".yaml", ".yml", ".json")) or Path(target).is_file():
        if not Path(target).is_file():
            raise MlrailError(f"{target}: no such pipeline package")
        return target
    from mlrail.compiler import compile_pipeline

    return str(compile_pipeline(target, Path(tmp) / f"{target}.yaml"))


# --- subcommands -------------------------------------------------------------------------------


def _check_evaluation(a: argparse.Namespace, task: str) -> None:
    """Refuse thresholds that evaluate would refuse after training: unreadable bounds, metrics
    no task computes (or, with ``--task`` given, not this task), slices and columns that are
    not among ``--slices`` / ``--sensitive-columns``."""
    from mlrail.artifacts.modelspec import ModelSpec
    from mlrail.components.evaluate.core import check_threshold_names, parse_thresholds
    from mlrail.components.evaluate.metrics import is_metric, task_metrics

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


def _cmd_run(a: argparse.Namespace) -> int:
    from mlrail.local import check_columns, format_summary, model_name_for, run_training

    if a.data is None:
        data, label = "bundled:penguins", a.label or "species"
    elif a.label is None:
        raise MlrailError("--label is required with --data: which column should the model predict?")
    else:
        data, label = a.data, a.label
    from mlrail.components.train.core import check_hparams

    hparams = dict(a.hparams or {})
    if a.epochs is not None:
        hparams["epochs"] = a.epochs
    # refuse bad settings now, not after ingest, validate and a whole training run
    check_hparams(hparams)
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
    _writable_folder("--workdir", Path(a.workdir).expanduser())
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
        # checked above and again by train on the bytes it runs (the file may change between)
        "module_file_sha256": a.module_file_sha256 or "",
        "baseline_statistics": a.baseline_statistics,
        "slices": a.slices,
        "sensitive_columns": a.sensitive_columns,
        "fairness_thresholds": a.fairness_thresholds or {},
    }
    if a.no_baseline:
        arguments["baseline_model"] = ""
    print(
        redact(f"mlrail run: training pipeline on {data} (label {label!r}) through kfp.local"),
        flush=True,
    )
    run = run_training(workdir=a.workdir, arguments=arguments, echo=sys.stdout)
    print(format_summary(run))
    return 0 if run.ok else 1


def _cmd_compile(a: argparse.Namespace) -> int:
    from mlrail.compiler import compile_manifests, compile_pipeline

    if a.format == "manifests":
        folder = a.output or "pipeline-manifests"
        _writable_folder("-o", Path(folder))
        out = compile_manifests(a.pipeline, folder, namespace=a.namespace)
    else:
        _output_file("-o", a.output or "pipeline.yaml")
        out = compile_pipeline(a.pipeline, a.output or "pipeline.yaml")
    print(f"wrote {out}")
    return 0


def _cmd_submit(a: argparse.Namespace) -> int:
    from mlrail import kfp as kfp_client

    token, arguments = _token(a), _params(a.param)  # usage errors before the pipeline compiles
    with tempfile.TemporaryDirectory() as tmp:
        result = kfp_client.submit(
            a.host,
            _package(a.pipeline, tmp),
            arguments=arguments,
            experiment=a.experiment,
            run_name=a.run_name,
            namespace=a.namespace,
            existing_token=token,
            enable_caching=False if a.no_cache else None,
            timeout=a.timeout,
        )
    print(f"run {result.run_id} created in experiment {a.experiment!r}")
    return 0


def _cmd_schedule(a: argparse.Namespace) -> int:
    from datetime import datetime

    from mlrail import kfp as kfp_client

    def when(flag: str, text: str | None) -> datetime | None:
        try:
            return datetime.fromisoformat(text) if text else None
        except ValueError:
            raise MlrailError(f"{flag} {text!r}: not an ISO 8601 time") from None

    start, end = when("--start", a.start), when("--end", a.end)
    token, arguments = _token(a), _params(a.param)
    with tempfile.TemporaryDirectory() as tmp:
        result = kfp_client.schedule(
            a.host,
            _package(a.pipeline, tmp),
            name=a.name,
            cron=a.cron,
            interval_seconds=a.interval,
            max_concurrency=a.max_concurrency,
            catchup=a.catchup,
            start=start,
            end=end,
            arguments=arguments,
            experiment=a.experiment,
            namespace=a.namespace,
            existing_token=token,
            enable_caching=False if a.no_cache else None,
            timeout=a.timeout,
        )
    what = {
        "created": "created",
        "unchanged": "unchanged",
        "replaced": f"replaced {', '.join(result.removed_ids)} ({', '.join(result.changed)} "
        "changed)",
    }[result.action]
    print(f"recurring run {result.recurring_run_id} ({result.name!r}) {what}")
    if result.action == "unchanged" and result.removed_ids:
        print(
            f"deleted the other recurring run(s) named {result.name!r}: "
            + ", ".join(result.removed_ids)
        )
    if not result.enabled:
        again = f"mlrail schedule resume --host {a.host} --name {shlex.quote(result.name)}"
        if a.experiment != "Default":
            again += f" --experiment {shlex.quote(a.experiment)}"
        print(redact(f"it is paused, as it was: `{again}` starts it again"))
    return 0


# `mlrail schedule ACTION ...`: argparse cannot put sub-commands beside the optional PIPELINE of
# `mlrail schedule [PIPELINE] ...`, so main() hands these to their own small parsers.
_SCHEDULE_ACTIONS = {
    "list": "list recurring runs with their status, trigger and pipeline version",
    "pause": "disable a recurring run by name (it starts no run until resumed)",
    "resume": "enable a paused recurring run by name",
    "delete": "delete a recurring run by name (the runs it started are kept)",
}


def _schedule_action_args(argv: Sequence[str]) -> argparse.Namespace | None:
    """The parsed `mlrail schedule ACTION ...`, or None for any other command line."""
    if len(argv) < 2 or argv[0] != "schedule" or argv[1] not in _SCHEDULE_ACTIONS:
        return None
    action = argv[1]
    p = _Parser(prog=f"mlrail schedule {action}", description=_SCHEDULE_ACTIONS[action])
    p.add_argument("--host", required=True, help="KFP API endpoint, e.g. http://localhost:8888")
    if action != "list":
        p.add_argument("--name", required=True, help="the recurring run's name")
    p.add_argument(
        "--experiment",
        default=None,
        help="only in this experiment (default: every experiment"
        + ("" if action == "list" else "; several matches are refused")
        + ")",
    )
    p.add_argument("--namespace", default=None, help="Kubeflow profile namespace")
    _connection_args(p)
    args = p.parse_args(argv[2:])
    args.command = f"schedule {action}"
    args.func = _cmd_schedule_list if action == "list" else _cmd_schedule_change
    args.action = action
    return args


def _cmd_schedule_list(a: argparse.Namespace) -> int:
    from mlrail import kfp as kfp_client

    found = kfp_client.list_schedules(
        a.host,
        experiment=a.experiment,
        namespace=a.namespace,
        existing_token=_token(a),
        timeout=a.timeout,
    )
    if not found:
        where = f" in experiment {a.experiment!r}" if a.experiment else ""
        print(f"no recurring runs{where}")
        return 0
    rows = [("NAME", "ID", "STATUS", "TRIGGER", "PIPELINE VERSION", "EXPERIMENT")]
    rows += [
        (
            rr.name,
            rr.recurring_run_id,
            "enabled" if rr.enabled else "disabled",
            rr.trigger,
            rr.pipeline_version_name or rr.pipeline_version_id or "(inline spec)",
            rr.experiment_name or rr.experiment_id or "",
        )
        for rr in found
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


def _cmd_schedule_change(a: argparse.Namespace) -> int:
    from mlrail import kfp as kfp_client

    act, done = {
        "pause": (kfp_client.pause_schedule, "paused"),
        "resume": (kfp_client.resume_schedule, "resumed"),
        "delete": (kfp_client.delete_schedule, "deleted"),
    }[a.action]
    rr = act(
        a.host,
        a.name,
        experiment=a.experiment,
        namespace=a.namespace,
        existing_token=_token(a),
        timeout=a.timeout,
    )
    print(f"recurring run {rr.recurring_run_id} ({rr.name!r}) {done}")
    return 0


def _cmd_validate(a: argparse.Namespace) -> int:
    from mlrail.components.validate.files import validate_source
    from mlrail.components.validate.report import render_markdown

    _writable_folder("--out", Path(a.out))
    report = validate_source(
        a.data,
        a.out,
        curated_schema=a.schema,
        baseline_statistics=a.baseline,
        baseline_split=a.baseline_split,
        min_examples=a.min_examples,
    )
    print(redact(render_markdown(report)))
    print(f"Report: {Path(a.out) / 'report.html'}")
    return 0 if report.ok else 1


def _cmd_evaluate(a: argparse.Namespace) -> int:
    from mlrail.components.evaluate import core

    out = Path(a.out)
    _writable_folder("--out", out)
    options: Any = {
        "report_path": out / "report.html",
        "thresholds": a.thresholds,
        "slices": a.slices,
        "sensitive_columns": a.sensitive_columns,
        "fairness_thresholds": a.fairness_thresholds,
        "baseline_model": a.baseline,
    }
    metrics, blessing = out / "metrics.json", out / "blessing"
    if Path(a.data).is_dir():  # an examples artifact: its eval split
        ev = core.evaluate(a.model, a.data, metrics, blessing, **options)
    else:
        ev = core.evaluate_file(a.model, a.data, metrics, blessing, **options)
    print(f"{ev.task}, {ev.rows} rows")
    for name, value in ev.metrics.items():
        print(f"  {name:<20} {value:.4f}")
    failed = [c.reason or c.describe() for c in ev.checks if not c.passed]
    print(redact("blessed" if ev.blessed else "NOT blessed: " + "; ".join(failed)))
    print(f"Report: {out / 'report.html'}")
    return 0 if ev.blessed else 1


def _cmd_schema(a: argparse.Namespace) -> int:
    from mlrail.components.validate.files import infer_source_schema, schema_text
    from mlrail.io import atomic_write_text

    if a.output != "-":
        _output_file("-o", a.output)
    text = schema_text(infer_source_schema(a.data, ranges=not a.no_ranges))
    if a.output == "-":
        sys.stdout.write(text)
    else:
        atomic_write_text(a.output, text)
        print(f"wrote {a.output}: review it, then pass it as --schema")
    return 0


def _cmd_serve(a: argparse.Namespace) -> int:
    from mlrail.serving.server import serve

    # serve() prints the banner itself once the socket is bound (with the port really bound),
    # so nothing is announced before a start-up error
    limits = {
        key: value
        for key in (
            "max_body_bytes",
            "max_header_bytes",
            "header_timeout",
            "body_timeout",
            "max_connections",
            "max_bytes_in_flight",
        )
        if (value := getattr(a, key)) is not None
    }
    serve(
        a.model_repository,
        host=a.host,
        port=a.port,
        workers=a.workers,
        model_version=a.model_version,
        log_payloads=a.log_payloads,
        log_sample_rate=a.log_sample_rate,
        **limits,
    )
    return 0


# --- parser ------------------------------------------------------------------------------------


def _kfp_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "pipeline",
        nargs="?",
        default=DEFAULT_PIPELINE,
        help="compiled pipeline YAML, or a pipeline name in mlrail.pipelines "
        f"(default: {DEFAULT_PIPELINE})",
    )
    p.add_argument("--host", required=True, help="KFP API endpoint, e.g. http://localhost:8888")
    p.add_argument("--experiment", default="Default", help="experiment name (created if absent)")
    p.add_argument("--namespace", default=None, help="Kubeflow profile namespace")
    p.add_argument(
        "--param",
        action="append",
        metavar="KEY=VALUE",
        help="pipeline parameter; VALUE is JSON when it parses as JSON (repeatable)",
    )
    _connection_args(p)
    p.add_argument(
        "--no-cache", action="store_true", help="turn caching off for every task of this run"
    )


def _connection_args(p: argparse.ArgumentParser) -> None:
    """How to reach and authenticate to the KFP API."""
    p.add_argument(
        "--token-file",
        metavar="PATH",
        default=None,
        help="file holding the bearer token for the KFP API, e.g. a projected service account "
        f"token (default: ${TOKEN_ENV})",
    )
    p.add_argument(
        "--token",
        default=None,
        help="bearer token for the KFP API; other users can read it in the process list: "
        f"prefer --token-file or ${TOKEN_ENV}",
    )
    p.add_argument(
        "--timeout",
        type=_seconds,
        default=60.0,
        metavar="SECONDS",
        help="seconds to wait for each answer of the KFP API (default: 60; connecting: at most 10)",
    )


def _evaluation_args(p: argparse.ArgumentParser) -> None:
    """What evaluate checks: for ``run`` and ``evaluate``."""
    p.add_argument("--thresholds", type=_json_object, help='JSON, e.g. \'{"accuracy": ">= 0.9"}\'')
    p.add_argument("--slices", type=_names, default=[], help="columns to slice metrics by: a,b")
    p.add_argument(
        "--sensitive-columns", type=_names, default=[], help="columns for fairness metrics: a,b"
    )
    p.add_argument(
        "--fairness-thresholds",
        type=_json_object,
        help='JSON, e.g. \'{"demographic_parity_difference": "<= 0.1"}\'',
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mlrail",
        description="Kubeflow Pipelines components from a data file to a served ONNX model.",
    )
    parser.add_argument("--version", action="version", version=f"mlrail {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="run the training pipeline locally (kfp.local, no cluster)")
    p.add_argument(
        "--data",
        help="CSV, Parquet or JSON Lines: a file, folder, glob or URI (default: the bundled "
        "penguins)",
    )
    p.add_argument("--label", help="column to predict (default with the penguins: species)")
    p.add_argument("--task", default="auto", choices=["auto", "binary", "multiclass", "regression"])
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
        type=_fraction,
        default=0.2,
        help="share of rows held out for evaluation, between 0 and 1 (default: 0.2)",
    )
    p.add_argument("--key-column", default="", help="column whose hash decides the split")
    p.add_argument("--schema", default="", help="curated schema.pbtxt to validate against")
    p.add_argument("--epochs", type=_integer(1), help="training epochs (shortcut for --hparams)")
    p.add_argument("--hparams", type=_json_object, help="JSON, e.g. '{\"epochs\": 30}'")
    _evaluation_args(p)
    p.add_argument(
        "--module-file",
        default="",
        help="Python file (path or URI) with build_model(schema, statistics, hparams): it is "
        "RUN, with your permissions and credentials; use only code you trust, and pin it",
    )
    p.add_argument(
        "--module-file-sha256",
        type=_sha256,
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
        help="bless on value thresholds alone, not against the newest deployed version",
    )
    p.add_argument(
        "--parity-tolerance",
        type=_non_negative,
        default=1e-4,
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
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("compile", help="compile a pipeline to KFP IR YAML")
    p.add_argument("pipeline", nargs="?", default=DEFAULT_PIPELINE)
    p.add_argument(
        "-o",
        "--output",
        help="the IR file (default pipeline.yaml), or with --format manifests a kustomize folder "
        "(default pipeline-manifests/)",
    )
    p.add_argument(
        "--format",
        choices=["ir", "manifests"],
        default="ir",
        help="ir: KFP IR YAML for the UI and the client; manifests: KFP Pipeline and "
        "PipelineVersion resources (Kubernetes-native mode) for GitOps",
    )
    p.add_argument(
        "--namespace", default="kubeflow", help="namespace of the resources (--format manifests)"
    )
    p.set_defaults(func=_cmd_compile)

    p = sub.add_parser("submit", help="create a run on a Kubeflow Pipelines server")
    _kfp_args(p)
    p.add_argument("--run-name", default=None)
    p.set_defaults(func=_cmd_submit)

    p = sub.add_parser(
        "schedule",
        help="create or update a recurring run; also: schedule list|pause|resume|delete",
        description="Create a recurring run of a pipeline, or bring the one with this name up to "
        "date: an identical one is left unchanged, a different one is replaced.",
        epilog="Manage recurring runs by name (each has --help):\n"
        + "\n".join(
            f"  mlrail schedule {action:<6}  {text}" for action, text in _SCHEDULE_ACTIONS.items()
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _kfp_args(p)
    p.add_argument(
        "--name",
        required=True,
        help="recurring run name, its identity in the experiment: a second call updates it",
    )
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", help="cron expression, 5 fields or KFP's 6 (with seconds)")
    when.add_argument("--interval", type=_integer(1), metavar="SECONDS", help="run every SECONDS")
    p.add_argument("--max-concurrency", type=int, default=1)
    p.add_argument("--catchup", action="store_true", help="run missed intervals (off by default)")
    p.add_argument("--start", help="ISO 8601 start time")
    p.add_argument("--end", help="ISO 8601 end time")
    p.set_defaults(func=_cmd_schedule)

    p = sub.add_parser(
        "validate",
        help="validate data files: statistics, anomalies, drift; exit 1 when anything is found",
    )
    p.add_argument("data", help="a CSV, Parquet or JSON Lines file, a folder, a glob or a URI")
    p.add_argument("--schema", default="", help="curated schema.pbtxt (default: infer one)")
    p.add_argument(
        "--baseline", default="", help="statistics.pb (or its folder) of earlier data, for drift"
    )
    p.add_argument("--baseline-split", default="train", help="the baseline's split to compare with")
    p.add_argument(
        "--min-examples",
        type=_integer(0),
        default=1,
        help="fewest rows a split may have before it is flagged (default: 1)",
    )
    p.add_argument(
        "--out",
        default="mlrail-validate",
        help="statistics, schema, anomalies, report.html, summary.md (default: ./mlrail-validate)",
    )
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser(
        "evaluate", help="evaluate a model on data, against thresholds and a baseline model"
    )
    p.add_argument("model", help="a train output (saved_model/) or an ONNX model folder")
    p.add_argument(
        "data",
        help="CSV, Parquet or JSON Lines data with the label (a file, folder, glob or URI), "
        "or an examples folder",
    )
    p.add_argument("--baseline", default="", help="the model to compare with (its folder)")
    _evaluation_args(p)
    p.add_argument("--out", default="mlrail-evaluate", help="metrics.json, blessing/, report.html")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("schema", help="infer a schema from data files, for a person to edit")
    p.add_argument("data", help="a CSV, Parquet or JSON Lines file, a folder, a glob or a URI")
    p.add_argument("-o", "--output", default="schema.pbtxt", help="the file, or - for stdout")
    p.add_argument(
        "--no-ranges", action="store_true", help="leave out the observed min/max of numbers"
    )
    p.set_defaults(func=_cmd_schema)

    p = sub.add_parser("serve", help="serve a model repository over the Open Inference Protocol v2")
    p.add_argument("--model-repository", default=f"{DEFAULT_WORKDIR}/models")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default: 127.0.0.1 only)")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--model-version", type=int, default=None, help="pin this version")
    p.add_argument(
        "--log-payloads",
        metavar="PATH_OR_URL",
        default=None,
        help="log sampled inference inputs and outputs: append JSON Lines to PATH, or POST "
        "CloudEvents (KServe's logger format) to an http(s):// URL (default: off)",
    )
    p.add_argument(
        "--log-sample-rate",
        type=float,
        default=1.0,
        metavar="0..1",
        help="fraction of answered inferences logged with --log-payloads (default: 1.0)",
    )
    # limits against careless and hostile clients (defaults and reasons: mlrail.serving.limits);
    # None keeps serve()'s default, which is not imported here to keep --help fast
    limit = p.add_argument_group("limits per server process")
    limit.add_argument(
        "--max-body-bytes", type=_integer(1), help="largest request body (413 above; 16 MiB)"
    )
    limit.add_argument(
        "--max-header-bytes",
        type=_integer(1024),
        help="request line and headers together (431 above; 64 KiB)",
    )
    limit.add_argument(
        "--header-timeout", type=_seconds, help="seconds to receive the headers (408; 10)"
    )
    limit.add_argument("--body-timeout", type=_seconds, help="seconds to receive a body (408; 30)")
    limit.add_argument(
        "--max-connections",
        type=_integer(1),
        help="open connections (1024, always kept below the open-file limit)",
    )
    limit.add_argument(
        "--max-bytes-in-flight",
        type=_integer(1),
        help="request bodies being read or answered at once (503 + Retry-After above; "
        "16 MiB, or --max-body-bytes if larger)",
    )
    p.set_defaults(func=_cmd_serve)
    return parser


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The command line parsed: ``schedule list|pause|resume|delete`` or any other command."""
    return _schedule_action_args(argv) or build_parser().parse_args(argv)


def _os_error(e: OSError) -> str:
    """An OSError on one line, naming the path(s): ``PATH: Permission denied``."""
    what = e.strerror or str(e)
    if e.filename is None:
        return what
    where = str(e.filename) + (f" -> {e.filename2}" if e.filename2 is not None else "")
    return f"{where}: {what}"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        return int(args.func(args))
    except (MlrailError, ValueError, OSError) as e:
        message = _os_error(e) if isinstance(e, OSError) else str(e)
        # one line: a library's message may span several
        message = " ".join(message.split()) or type(e).__name__
        print(f"mlrail {args.command}: error: {redact(message)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
