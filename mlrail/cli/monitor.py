"""``mlrail monitor``: check a window of a served model's payload logs, on this machine.

    mlrail monitor --model-repository mlrail-work/models [--window 24h] [--logs DIR]

What it reads, by default (``mlrail run`` and ``mlrail serve``'s own places):

- the logs: ``<model repository>/_logs`` (where ``mlrail serve`` logs a model deploy switched
  logging on for), or ``--logs`` (a path or URI: ``<logs>/<model>/<YYYY-MM-DD>/<HH>/``);
- the model: ``--model``, or the one model the repository holds;
- the training evidence of each version that answered: the release store
  ``<workdir>/releases`` when it exists, then the registry (``--registry-uri``, else
  ``$MLFLOW_TRACKING_URI``, else ``<workdir>``'s embedded one when it exists); or
  ``--baseline-statistics`` (with ``--baseline-predictions``) for every version.

It writes the statistics, anomalies and HTML report to ``--output`` (default
``<workdir>/monitoring/<model>-<window end>``), prints a summary, and exits 0 when the window
shows no alert (or no traffic), 1 when it does, 2 for a usage or input error.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from mlrail.cli.options import DEFAULT_WORKDIR, Subcommands, number
from mlrail.errors import DataError

__all__ = ["add_monitor", "cmd_monitor"]

#: The log folder of a model repository (``mlrail serve`` writes there for deploy's switch).
LOGS_FOLDER = "_logs"


def _duration(text: str) -> str:
    from mlrail.components.monitor.logs import parse_duration

    try:
        parse_duration(text, "--window")
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def _end(text: str) -> str:
    """``--window-end``: an RFC 3339 time, checked here so the error names the flag."""
    from mlrail.components.monitor.logs import resolve_end

    if text:
        try:
            resolve_end(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not an RFC 3339 time (such as 2026-12-03T08:00:00Z)"
            ) from None
    return text


def _drop(text: str) -> float:
    value = number(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not between 0 and 1")
    return value


def add_monitor(sub: Subcommands) -> None:
    """``mlrail monitor``: a window of payload logs against the training data."""
    p = sub.add_parser(
        "monitor",
        help="compare a window of a served model's payload logs with its training data; "
        "exit 1 on skew, prediction drift or a performance drop",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    p.add_argument(
        "--model-repository",
        default="",
        metavar="DIR",
        help="the served model repository (default: <workdir>/models, as mlrail run deploys)",
    )
    p.add_argument(
        "--logs",
        default="",
        metavar="DIR|URI",
        help="the payload-log root (default: <model repository>/_logs)",
    )
    p.add_argument(
        "--model", default="", help="the model's name (default: the repository's only model)"
    )
    p.add_argument(
        "--window",
        type=_duration,
        default="24h",
        help="the window's length, ending at --window-end: 1h, 24h, 7d (default: 24h)",
    )
    p.add_argument(
        "--window-end",
        type=_end,
        default="",
        metavar="TIME",
        help="the window's end, RFC 3339; default: now",
    )
    p.add_argument(
        "--workdir",
        default=DEFAULT_WORKDIR,
        help=f"mlrail run's working folder (default: ./{DEFAULT_WORKDIR})",
    )
    p.add_argument(
        "--releases",
        default="",
        metavar="DIR",
        help="the release store (default: <workdir>/releases when it exists)",
    )
    p.add_argument(
        "--registry-uri",
        default="",
        metavar="URI",
        help="the model registry searched for the release of a version (default: "
        "$MLFLOW_TRACKING_URI, else <workdir>'s embedded registry when it exists)",
    )
    p.add_argument(
        "--baseline-statistics",
        default="",
        metavar="PATH",
        help="training statistics to compare every version with, instead of each version's own",
    )
    p.add_argument(
        "--baseline-predictions",
        default="",
        metavar="PATH",
        help="the eval predictions profile going with --baseline-statistics",
    )
    p.add_argument(
        "--ground-truth",
        default="",
        metavar="FILE",
        help="labels joined on the request id (columns id and the label): realized figures",
    )
    p.add_argument(
        "--max-accuracy-drop",
        type=_drop,
        default=0.05,
        help="largest fall of accuracy below eval that is no alert (default: 0.05)",
    )
    p.add_argument(
        "--metrics-url",
        default="",
        metavar="URL",
        help="the server's /metrics, for its request and error counters",
    )
    p.add_argument(
        "--output",
        default="",
        metavar="DIR",
        help="where the statistics, anomalies and report go "
        "(default: <workdir>/monitoring/<model>-<window end>)",
    )
    p.add_argument(
        "--events-sink",
        default="",
        metavar="SINK",
        help="where alert events go: an http(s) URL or a JSON Lines file (default: $K_SINK "
        "when set, else <workdir>/events.jsonl, as mlrail run)",
    )
    p.add_argument(
        "--history",
        default="",
        metavar="DIR|URI",
        help="where each window's summary is kept, for the accuracy trend across windows in "
        "the report (default: monitoring/history in --workdir)",
    )
    p.set_defaults(func=cmd_monitor)


def _model(repository: Path, logs: str, given: str) -> str:
    if given:
        return given
    models = (
        sorted(
            p.name for p in repository.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
        )
        if repository.is_dir()
        else []
    )
    if len(models) == 1:
        return models[0]
    if not models and "://" not in logs and Path(logs).is_dir():
        models = sorted(p.name for p in Path(logs).iterdir() if p.is_dir())
        if len(models) == 1:
            return models[0]
    found = ", ".join(models) or "none"
    raise DataError(f"{repository}: give --model (the repository holds: {found})")


def _registry(a: argparse.Namespace) -> str:
    if a.registry_uri:
        return str(a.registry_uri)
    if os.environ.get("MLFLOW_TRACKING_URI", "").strip():
        return os.environ["MLFLOW_TRACKING_URI"].strip()
    embedded = Path(a.workdir).expanduser() / "registry" / "mlflow.db"
    return f"sqlite:///{embedded.resolve()}" if embedded.is_file() else ""


def _events_sink(given: str, workdir: Path) -> str:
    """The sink as given, else ``$K_SINK``, else the working folder's events file (as for a
    local ``mlrail run``: a laptop's alerts are kept somewhere)."""
    from mlrail.events.sinks import resolve_sink

    return resolve_sink(given) or str(workdir / "events.jsonl")


def cmd_monitor(a: argparse.Namespace) -> int:
    """``mlrail monitor``: exit status 0 when the window shows no alert, 1 when it does."""
    from mlrail.components.monitor import core
    from mlrail.components.monitor.logs import resolve_end

    workdir = Path(a.workdir).expanduser()
    repository = Path(a.model_repository or workdir / "models").expanduser()
    logs = a.logs or str(repository / LOGS_FOLDER)
    model = _model(repository, logs, a.model)
    if not a.logs and not Path(logs).is_dir():
        # mlrail serve makes the repository's log folder with its first logged answer
        print(f"no traffic: {logs} does not exist yet (no answer has been logged)")
        return 0
    end = resolve_end(a.window_end)
    stamp = end.strftime("%Y%m%dT%H%M%SZ")
    out = Path(a.output or workdir / "monitoring" / f"{model}-{stamp}").expanduser()
    releases = a.releases or (str(workdir / "releases") if (workdir / "releases").is_dir() else "")
    report = core.monitor(
        logs,
        model,
        out / "statistics",
        out / "anomalies",
        out / "report.html",
        window=a.window,
        window_end=end.isoformat(),
        sources=core.BaselineSources(
            baseline_statistics=a.baseline_statistics,
            baseline_predictions=a.baseline_predictions,
            release_store=releases,
            registry_uri=_registry(a),
            model_repository=str(repository) if repository.is_dir() else "",
        ),
        ground_truth=a.ground_truth,
        max_accuracy_drop=a.max_accuracy_drop,
        metrics_url=a.metrics_url,
        history=a.history or str(workdir / "monitoring" / "history"),
        events_sink=_events_sink(a.events_sink, workdir),
        pipeline="mlrail-monitor",
    )
    print(summary(report, out))
    return 0 if report.healthy else 1


def summary(report: object, out: Path) -> str:
    """What ``mlrail monitor`` prints: the window, the verdict, per version the figures."""
    from mlrail.components.monitor.findings import MonitorReport, verdict

    assert isinstance(report, MonitorReport)
    w = report.window
    read = report.decoded.stats
    lines = [
        f"window     {w['start']} to {w['end']}  ({report.model})",
        f"read       {read.records} record(s) from {read.files} file(s); "
        f"{read.num_skipped} line(s) skipped",
        f"verdict    {'healthy' if report.healthy else 'ALERT'}: {verdict(report)}",
    ]
    for v in report.versions:
        lines.append(f"version {v.version}  {v.rows} row(s), compared with {v.baseline}")
        for c in v.skew:
            mark = "SKEW" if c.exceeded else "ok"
            limit = "none" if c.threshold is None else f"{c.threshold:.4g}"
            lines.append(
                f"  {mark:<5} {c.feature}: {c.measure.lower()} {c.value:.4f} (threshold {limit})"
            )
        for c in v.drifted:
            lines.append(f"  DRIFT {c.feature}: {c.measure.lower()} {c.value:.4f}")
        if v.estimated is not None:
            eval_acc = "n/a" if v.eval_accuracy is None else f"{v.eval_accuracy:.3f}"
            lines.append(
                f"  estimated accuracy {v.estimated.value:.3f} "
                f"[{v.estimated.low:.3f}, {v.estimated.high:.3f}] (eval {eval_acc})"
            )
        if v.realized and "accuracy" in v.realized:
            lines.append(f"  realized accuracy {v.realized['accuracy']:.3f}")
        for note in v.notes:
            lines.append(f"  note: {note}")
    for what, why in report.unresolved.items():
        lines.append(f"not compared: {what}: {why}")
    lines.append(f"report     {out / 'report.html'}")
    return "\n".join(lines)
