"""monitor: does the model in production still see the data, and give the answers, it was
trained and checked on?

:func:`monitor` reads a window of payload logs (:mod:`.logs`: ``<root>/<model>/<day>/<hour>/``,
the window ``[end - window, end)`` ending at ``window_end`` or the run's scheduled time), decodes
the logged V2 requests back into the training table and the responses into predictions
(:mod:`.decode`, by the served version's model spec), and checks each (version, identity) that
answered against that version's own training evidence (:mod:`.baseline`; never two versions
mixed) with validate's statistics and comparators (:mod:`.checks`): serving skew, schema
anomalies, prediction drift, estimated accuracy without labels, realized figures when a
ground-truth file is given (:mod:`.truth`), and latency. Records it cannot read are skipped and
counted; a window with no traffic is reported as such (no alert).

Outputs (each written atomically)::

    statistics_dir/   TFX's ExampleStatistics (:mod:`mlrail.artifacts.tfmd`): per version
                      that answered, its inputs (``Split-serving-v<version>/FeatureStats.pb``)
                      and predictions (``Split-predictions-v<version>/FeatureStats.pb``);
                      statistics.json. (A version that answered under two identities: each
                      split name ends in ``-<the identity's first 12 hex digits>``.)
    anomalies_dir/    TFX's ExampleAnomalies: ``Split-serving-v<version>/SchemaDiff.pb``
                      (TFDV's Anomalies of the inputs, with every skew value) and
                      ``Split-predictions-v<version>/SchemaDiff.pb`` (every prediction drift
                      value); anomalies.json: {"healthy", "no_traffic",
                                      "window", "read", "versions": [{"version", "identity",
                                      "rows", "baseline", "healthy", "anomalies", "skew",
                                      "drift", "features", "estimated_accuracy",
                                      "eval_accuracy", "performance_drop", "realized",
                                      "trend", "latency_ms", "notes"}], "unresolved",
                                      "server", "events"}
    report_file       one HTML page (:mod:`.report`)

:func:`metrics_of` gives the scalar figures for KFP's ``Metrics``. The alert events
(``serving.skew_detected``, ``serving.drift_detected``, ``serving.performance_dropped``) are
sent once the outputs are written (:mod:`.lifecycle`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path

from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from mlrail.artifacts.modelspec import ModelSpec
from mlrail.artifacts.tfmd import write_anomalies, write_statistics
from mlrail.components.monitor.baseline import Baseline, BaselineSources, find_baseline
from mlrail.components.monitor.checks import VersionFindings, check_version
from mlrail.components.monitor.decode import decode_window
from mlrail.components.monitor.findings import MonitorReport, key_name, to_json, verdict
from mlrail.components.monitor.history import read_history, summary_of, write_summary
from mlrail.components.monitor.logs import GroupKey, log_window
from mlrail.components.monitor.server_metrics import scrape
from mlrail.components.monitor.truth import join_labels, read_truth
from mlrail.errors import DataError, MlrailError
from mlrail.io import atomic_write_text
from mlrail.redact import redact
from mlrail.validation.anomalies import to_proto
from mlrail.validation.statistics import summarize

__all__ = [
    "BaselineSources",
    "MonitorAlert",
    "MonitorReport",
    "metrics_of",
    "monitor",
    "to_json",
    "verdict",
]

log = logging.getLogger(__name__)


def monitor(
    logs: str,
    model_name: str,
    statistics_dir: str | Path,
    anomalies_dir: str | Path,
    report_file: str | Path,
    *,
    window: str = "24h",
    window_end: str = "",
    scheduled_time: str = "",
    sources: BaselineSources | None = None,
    ground_truth: str = "",
    max_accuracy_drop: float = 0.05,
    metrics_url: str = "",
    history: str = "",
    fail_on_alert: bool = False,
    events_sink: str = "",
    pipeline: str = "",
    run_id: str = "",
    run_name: str = "",
    event_links: Mapping[str, str] | None = None,
) -> MonitorReport:
    """Check a window of ``model_name``'s payload logs against its training evidence.

    Args:
        logs: The log root (a path or URI): ``<logs>/<model>/<YYYY-MM-DD>/<HH>/*.jsonl``.
        model_name: The model.
        statistics_dir: Where the window's statistics go.
        anomalies_dir: Where the anomalies (and the whole finding, as JSON) go.
        report_file: Where the HTML report goes.
        window: The window's length: ``1h``, ``24h``, ``7d``...
        window_end: Its end, RFC 3339; empty: the run's scheduled time, else now.
        scheduled_time: The run's scheduled time (KFP's placeholder).
        sources: Where baselines come from (:class:`.baseline.BaselineSources`).
        ground_truth: A labels file joined on request id (:mod:`.truth`); empty: none.
        max_accuracy_drop: The largest drop of accuracy below eval that is no alert.
        metrics_url: The server's ``/metrics`` URL, for its request and error counters.
        history: A folder or URI keeping one summary per window checked (:mod:`.history`),
            for the trend across windows; empty: none. One that cannot be written is noted,
            never fatal.
        fail_on_alert: Raise :class:`MonitorAlert` once everything is written and sent, when
            the window shows an alert (the step, and the run, fail).
        events_sink: Where the alert events go (:mod:`mlrail.events`).
        pipeline: The pipeline's name, for the events.
        run_id: The run's id, for the events.
        run_name: The run's name, for the events.
        event_links: Names to URIs of the outputs, for the events.

    Raises:
        ValueError: a bad ``window``, ``window_end`` or ``max_accuracy_drop``.
        DataError: the log root or the ground-truth file cannot be read.
        MonitorAlert: with ``fail_on_alert``, when the window shows an alert.
    """
    if not 0.0 <= max_accuracy_drop <= 1.0:
        raise ValueError(f"max_accuracy_drop={max_accuracy_drop} must be between 0 and 1")
    sources = sources or BaselineSources()
    span = log_window(
        logs, model_name, window=window, window_end=window_end, scheduled_time=scheduled_time
    )
    baselines: dict[GroupKey, Baseline] = {}
    unresolved: dict[str, str] = {}

    def spec_of(key: GroupKey) -> ModelSpec | None:
        try:
            baselines[key] = find_baseline(model_name, key[0], key[1], sources)
        except (DataError, MlrailError, OSError) as e:
            unresolved[key_name(key)] = str(e)
            log.warning("%s: %s", key_name(key), e)
            return None
        return baselines[key].spec

    decoded = decode_window(span, spec_of)
    labels = None
    if ground_truth:
        first = next(iter(baselines.values()), None)
        labels = read_truth(ground_truth, first.spec.label if first else "label")
    report = MonitorReport(model_name, decoded, unresolved=unresolved)
    for key, rows in decoded.groups.items():
        if not rows.rows:
            unresolved[key_name(key)] = "no record of it could be decoded"
            continue
        joined = join_labels(rows.keys, labels)[0] if labels is not None else None
        report.versions.append(
            check_version(
                key[0],
                key[1],
                rows.features,
                rows.outputs,
                rows.keys.column("timestamp").to_numpy(zero_copy_only=False),
                rows.latencies,
                baselines[key],
                max_accuracy_drop=max_accuracy_drop,
                labels=joined,
            )
        )
    if metrics_url:
        report.server = scrape(metrics_url, model_name)
    if history:
        _history(report, history)
    _write(report, statistics_dir, anomalies_dir, report_file)
    from mlrail.components.monitor.lifecycle import send_events

    report.deliveries = send_events(
        report,
        events_sink=events_sink,
        pipeline=pipeline,
        run_id=run_id,
        run_name=run_name,
        links=(
            event_links
            if event_links is not None
            else {
                "anomalies": str(anomalies_dir),
                "statistics": str(statistics_dir),
                "report": str(report_file),
            }
        ),
    )
    if report.deliveries:
        # the anomalies document says what became of the events, as validate's metadata does
        _write_json(report, anomalies_dir)
    if fail_on_alert and not report.healthy:
        raise MonitorAlert(f"{model_name}: {verdict(report)}")
    return report


class MonitorAlert(MlrailError):
    """The window showed an alert and the caller asked to fail on one."""


def _history(report: MonitorReport, history: str) -> None:
    """Keep this window's summary, then read every window's back for the trend."""
    summary = summary_of(report.window, to_json(report)["versions"])
    try:
        write_summary(history, report.model, summary)
    except (OSError, ValueError, DataError) as e:
        report.history_notes.append(f"history {redact(history)}: this window not kept: {e}")
    found, notes = read_history(history, report.model)
    report.history, report.history_notes = found, report.history_notes + notes


def _tag(v: VersionFindings, report: MonitorReport) -> str:
    """``v<version>``, with the identity's start when the version answered under two; any
    character TFX refuses in a split name (a logged version is the server's word) as ``_``."""
    tag = f"v{v.version}"
    if sum(w.version == v.version for w in report.versions) > 1:
        tag += "-" + ((v.identity or "").rpartition(":")[2][:12] or "unknown")
    return re.sub(r"[^A-Za-z0-9_-]", "_", tag)


def _statistics(report: MonitorReport) -> statistics_pb2.DatasetFeatureStatisticsList:
    """The window's statistics, a dataset per split (serving-v<N>, predictions-v<N>)."""
    out = statistics_pb2.DatasetFeatureStatisticsList()
    for v in report.versions:
        ds = out.datasets.add()
        ds.CopyFrom(v.serving)
        ds.name = f"serving-{_tag(v, report)}"
        if v.predictions is not None:
            ps = out.datasets.add()
            ps.CopyFrom(v.predictions)
            ps.name = f"predictions-{_tag(v, report)}"
    return out


def _anomalies(report: MonitorReport) -> dict[str, anomalies_pb2.Anomalies]:
    """Each split's Anomalies: the inputs' anomalies and skew, the predictions' drift."""
    out: dict[str, anomalies_pb2.Anomalies] = {}
    for v in report.versions:
        out[f"serving-{_tag(v, report)}"] = to_proto(v.anomalies, v.schema, v.skew)
        if v.predictions is not None:
            # the predictions are compared with eval's by distance only: no schema of their own
            out[f"predictions-{_tag(v, report)}"] = to_proto([], schema_pb2.Schema(), v.drift)
    return out


def _write_json(report: MonitorReport, anomalies_dir: str | Path) -> None:
    import json

    from mlrail.artifacts.tfmd import ANOMALIES_JSON

    text = json.dumps(to_json(report), indent=2, allow_nan=False)
    atomic_write_text(Path(anomalies_dir) / ANOMALIES_JSON, text + "\n")


def _write(
    report: MonitorReport,
    statistics_dir: str | Path,
    anomalies_dir: str | Path,
    report_file: str | Path,
) -> None:
    from mlrail.components.monitor.report import render_html

    stats = _statistics(report)
    write_statistics(statistics_dir, stats, summarize(stats))
    write_anomalies(anomalies_dir, _anomalies(report), to_json(report))
    atomic_write_text(report_file, render_html(report))


def metrics_of(report: MonitorReport) -> dict[str, float]:
    """The window's scalar figures for KFP's Metrics (per version when several answered)."""
    out: dict[str, float] = {
        "records": float(report.decoded.stats.records),
        "skipped_lines": float(report.decoded.stats.num_skipped),
        "healthy": float(report.healthy),
    }
    several = len(report.versions) > 1
    for v in report.versions:
        tag = f"_v{v.version}" if several else ""
        out[f"rows{tag}"] = float(v.rows)
        out[f"skewed_features{tag}"] = float(len(v.skewed))
        out[f"drifted_outputs{tag}"] = float(len(v.drifted))
        out[f"anomalies{tag}"] = float(len(v.anomalies))
        if v.estimated is not None:
            out[f"estimated_accuracy{tag}"] = v.estimated.value
        if v.eval_accuracy is not None:
            out[f"eval_accuracy{tag}"] = float(v.eval_accuracy)
        for name, value in (v.realized or {}).items():
            out[f"realized_{name}{tag}"] = float(value)
        if "p50" in v.latency_ms:
            out[f"latency_p50_ms{tag}"] = v.latency_ms["p50"]
            out[f"latency_p99_ms{tag}"] = v.latency_ms["p99"]
    return out
