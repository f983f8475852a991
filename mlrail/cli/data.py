"""The commands on data files: ``validate``, ``evaluate`` and ``schema``.

Each runs a component's core directly on files, with no pipeline: the same checks the
``validate`` and ``evaluate`` steps make, for data and models at hand.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mlrail.cli.options import Subcommands, evaluation_args, integer, output_file, writable_folder
from mlrail.redact import redact

__all__ = [
    "add_evaluate",
    "add_schema",
    "add_validate",
    "cmd_evaluate",
    "cmd_schema",
    "cmd_validate",
]


def add_validate(sub: Subcommands) -> None:
    """``mlrail validate``: statistics, anomalies and drift of data files."""
    p = sub.add_parser(
        "validate",
        help="validate data files: statistics, anomalies, drift; exit 1 when anything is found",
    )
    p.add_argument("data", help="a CSV, Parquet or JSON Lines file, a folder, a glob or a URI")
    p.add_argument("--schema", default="", help="curated schema.pbtxt (default: infer one)")
    p.add_argument(
        "--baseline",
        default="",
        help="statistics of earlier data, for drift: the artifact folder or a FeatureStats.pb",
    )
    p.add_argument("--baseline-split", default="train", help="the baseline's split to compare with")
    p.add_argument(
        "--min-examples",
        type=integer(0),
        default=1,
        help="fewest rows a split may have before it is flagged (default: 1)",
    )
    p.add_argument(
        "--out",
        default="mlrail-validate",
        help="statistics, schema, anomalies, report.html, summary.md (default: ./mlrail-validate)",
    )
    p.set_defaults(func=cmd_validate)


def add_evaluate(sub: Subcommands) -> None:
    """``mlrail evaluate``: a model on data, against thresholds and a baseline."""
    p = sub.add_parser(
        "evaluate", help="evaluate a model on data, against thresholds and a baseline model"
    )
    p.add_argument("model", help="a train output (saved_model/) or an ONNX model folder")
    p.add_argument(
        "data",
        help="CSV, Parquet or JSON Lines data with the label (a file, folder, glob or URI), "
        "or an examples folder",
    )
    p.add_argument(
        "--baseline",
        default="",
        help="the model to compare with: its folder, or models:/NAME@ALIAS or models:/NAME/VERSION "
        "from the registry (default: the registry's champion of --model-name, when a registry "
        "is configured)",
    )
    p.add_argument(
        "--registry-uri",
        default="",
        help="the model registry (an MLflow tracking URI; default: $MLFLOW_TRACKING_URI)",
    )
    p.add_argument(
        "--model-name",
        default="",
        help="the registered model whose champion is the default baseline",
    )
    evaluation_args(p)
    p.add_argument("--out", default="mlrail-evaluate", help="metrics.json, blessing/, report.html")
    p.set_defaults(func=cmd_evaluate)


def add_schema(sub: Subcommands) -> None:
    """``mlrail schema``: a schema inferred from data files, to edit."""
    p = sub.add_parser("schema", help="infer a schema from data files, for a person to edit")
    p.add_argument("data", help="a CSV, Parquet or JSON Lines file, a folder, a glob or a URI")
    p.add_argument("-o", "--output", default="schema.pbtxt", help="the file, or - for stdout")
    p.add_argument(
        "--no-ranges", action="store_true", help="leave out the observed min/max of numbers"
    )
    p.set_defaults(func=cmd_schema)


def cmd_validate(a: argparse.Namespace) -> int:
    """``mlrail validate``: exit status 0 when nothing was found, 1 when anything was."""
    from mlrail.components.validate.files import validate_source
    from mlrail.components.validate.report import render_markdown

    writable_folder("--out", Path(a.out))
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


def cmd_evaluate(a: argparse.Namespace) -> int:
    """``mlrail evaluate``: exit status 0 when the model is blessed, else 1."""
    from mlrail.components.evaluate import core

    out = Path(a.out)
    writable_folder("--out", out)
    options: Any = {
        "report_path": out / "report.html",
        "thresholds": a.thresholds,
        "slices": a.slices,
        "sensitive_columns": a.sensitive_columns,
        "fairness_thresholds": a.fairness_thresholds,
        "baseline_model": a.baseline,
        "registry_uri": a.registry_uri,
        "model_name": a.model_name,
    }
    metrics, blessing = out / "metrics.json", out / "blessing"
    if Path(a.data).is_dir():  # an examples artifact: its eval split
        ev = core.evaluate(a.model, a.data, metrics, blessing, **options)
    else:
        ev = core.evaluate_file(a.model, a.data, metrics, blessing, **options)
    print(f"{ev.task}, {ev.rows} rows")
    base = ev.baseline
    print(redact(f"baseline: {base.source}" if base else f"no baseline: {ev.baseline_reason}"))
    for name, value in ev.metrics.items():
        print(f"  {name:<20} {value:.4f}")
    failed = [c.reason or c.describe() for c in ev.checks if not c.passed]
    print(redact("blessed" if ev.blessed else "NOT blessed: " + "; ".join(failed)))
    print(f"Report: {out / 'report.html'}")
    return 0 if ev.blessed else 1


def cmd_schema(a: argparse.Namespace) -> int:
    """``mlrail schema``: writes the inferred schema (or prints it); exit status 0."""
    from mlrail.artifacts.tfmd import schema_text
    from mlrail.components.validate.files import infer_source_schema
    from mlrail.io import atomic_write_text

    if a.output != "-":
        output_file("-o", a.output)
    text = schema_text(infer_source_schema(a.data, ranges=not a.no_ranges))
    if a.output == "-":
        sys.stdout.write(text)
    else:
        atomic_write_text(a.output, text)
        print(f"wrote {a.output}: review it, then pass it as --schema")
    return 0
