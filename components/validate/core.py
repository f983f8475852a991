"""validate: statistics per split, an inferred (or curated) schema, anomalies, skew and drift.

All use TFX's own formats (tensorflow-metadata protos, read and written by
:mod:`mlrail.artifacts.tfmd`), so TFDV and TFX tools read them. The work is split over
:mod:`.statistics` (one streaming pass per split), :mod:`.schema` (inference),
:mod:`.anomalies` (statistics against the schema), :mod:`.comparisons` (skew and drift, with
the distances of :mod:`.drift`) and :mod:`.report` (the pages); what they find is
:mod:`.findings`. This module runs the whole check and writes the artifacts and the pages.

Output layouts (TFX's ``ExampleStatistics`` and ``ExampleAnomalies``, written and read only
through :mod:`mlrail.artifacts.tfmd`)::

    statistics/
      Split-<split>/FeatureStats.pb
                         DatasetFeatureStatisticsList with the split's one dataset (named by
                         the split), for each split of the examples
      Split-<split>/mlrail_partial.bin
                         the split's mergeable statistics state (:mod:`mlrail.validation.merge`
                         merges the statistics of shards from these), for each split
      statistics.json    the headline figures of every split as plain JSON (see
                         ``summarize``); non-finite numbers as the strings "nan", "inf", "-inf"
    schema/
      schema.pbtxt       Schema, text format
    anomalies/
      Split-<split>/SchemaDiff.pb
                         Anomalies of the split, for each split: per feature, every reason
                         found in it, and drift_skew_info with every skew/drift value measured
                         on it (with its threshold); empty when nothing was found there
      anomalies.json     {"ok", "num_anomalies", "anomalies": [{split, feature (null for the
                          whole split), type, description}], "comparisons": [{feature, kind,
                          measure, split, against, value, threshold, exceeded, test
                          ("chi2", "z", "fixed" or "" with no comparator), p_value,
                          alpha (per feature), sizes ([n, m] values behind each side),
                          allowance (for the histograms' alignment; chi2 only)}],
                          "drift_detected",
                          "drift_baseline" (where the baseline came from, or null)}

Semantics follow TFDV: types, presence, string domains, numeric ranges and NaN/inf rules from
the schema; skew (each split against train) and drift (each split against the same split of a
baseline statistics artifact) by L-infinity distance for string features and Jensen–Shannon
divergence for numeric ones, against each feature's ``skew_comparator``/``drift_comparator``
threshold; an inferred schema's comparators have none, which means the distance's critical
value at the sizes compared, at a 5% false-alarm rate over all features, with a floor
(:mod:`mlrail.validation.thresholds`). Unlike TFDV, an empty split (no rows, e.g. a
header-only file) is an anomaly (``DATASET_LOW_NUM_EXAMPLES``), and an inferred schema refuses
±inf.

mlrail's markers (see :mod:`.statistics` and :func:`.schema.infer_schema`): a date or
timestamp column is checked and compared like a number (its days since 1970 UTC), and a
curated schema's ``time_domain`` must meet dates (and dates a ``time_domain``); a column of a
type no step uses is an ``UNEXPECTED_DATA_TYPE`` anomaly naming the column and its Arrow type,
whatever the schema says (the artifacts are still written; the gate closes); an
identifier-like column (annotation ``mlrail.identifier``) is not compared for skew or drift
and is no anomaly: the reports list it as left out of the default model, and why.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

import pyarrow as pa
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from mlrail import events
from mlrail.artifacts.examples import open_split, split_names
from mlrail.artifacts.tfmd import (
    load_schema,
    load_statistics,
    write_anomalies,
    write_schema,
    write_statistics,
)
from mlrail.components.validate.findings import ValidationReport
from mlrail.components.validate.lifecycle import anomaly_lines, send_events
from mlrail.components.validate.report import render_html, render_markdown
from mlrail.errors import DataError
from mlrail.io import atomic_write_text
from mlrail.redact import redact
from mlrail.validation.anomalies import find_anomalies, to_proto, to_protos
from mlrail.validation.comparisons import compare_all
from mlrail.validation.findings import Anomaly, Comparison
from mlrail.validation.merge import read_partial_statistics
from mlrail.validation.partial import PartialStatistics
from mlrail.validation.schema import MAX_STRING_DOMAIN_SIZE, infer_schema
from mlrail.validation.statistics import (
    EXACT_VALUES,
    KLL_K,
    compute_partials,
    compute_statistics,
    json_number,
    partial_from_batches,
    statistics_from_batches,
    summaries,
    summarize,
)

# The validate package's API, one import away (its pieces live in the modules named above).
__all__ = [
    "EXACT_VALUES",
    "KLL_K",
    "MAX_STRING_DOMAIN_SIZE",
    "Anomaly",
    "Comparison",
    "ValidationReport",
    "anomaly_lines",
    "compute_statistics",
    "find_anomalies",
    "infer_schema",
    "send_events",
    "statistics_from_batches",
    "summarize",
    "to_proto",
    "validate",
    "validate_tables",
    "write_pages",
    "write_report",
]

log = logging.getLogger(__name__)


def write_report(
    report: ValidationReport,
    *,
    statistics_dir: str | Path | None = None,
    schema_dir: str | Path | None = None,
    anomalies_dir: str | Path | None = None,
    partials: Mapping[str, PartialStatistics] | None = None,
) -> None:
    """Write the report's artifacts (each folder atomically; None: not written).

    The layouts are in this module's docstring; ``partials`` (split → the mergeable state the
    report's statistics were summarised from; default: the report's own) go beside the
    statistics, so they can be merged with other shards'.
    """
    if statistics_dir is not None:
        states = report.partials if partials is None else partials
        write_statistics(
            statistics_dir,
            report.statistics,
            summarize(report.statistics),
            {s: p.to_bytes() for s, p in states.items()} or None,
        )
    if schema_dir is not None:
        write_schema(schema_dir, report.schema)
    if anomalies_dir is not None:
        splits = [ds.name for ds in report.statistics.datasets]
        protos = to_protos(report.anomalies, report.schema, report.comparisons, splits)
        write_anomalies(
            anomalies_dir,
            protos,
            {
                "ok": report.ok,
                "num_anomalies": report.num_anomalies,
                "anomalies": [a.__dict__ for a in report.anomalies],
                "comparisons": [
                    {
                        "feature": c.feature,
                        "kind": c.kind,
                        "measure": c.measure,
                        "split": c.split,
                        "against": c.against,
                        "value": json_number(c.value),
                        "threshold": json_number(c.threshold),
                        "exceeded": c.exceeded,
                        "test": c.test,
                        "p_value": json_number(c.p_value),
                        "alpha": json_number(c.alpha),
                        "sizes": None if c.sizes is None else [json_number(x) for x in c.sizes],
                        "allowance": json_number(c.allowance),
                    }
                    for c in report.comparisons
                ],
                "drift_detected": report.drift_detected,
                "drift_baseline": report.baseline or None,
            },
        )


def write_pages(
    report: ValidationReport,
    *,
    html_file: str | Path | None = None,
    markdown_file: str | Path | None = None,
    title: str = "Data validation",
) -> None:
    """Write the report's pages (each atomically; None: not written).

    Args:
        report: What validation found.
        html_file: Where the self-contained HTML page goes.
        markdown_file: Where the Markdown summary goes.
        title: The HTML page's heading.
    """
    if html_file is not None:
        atomic_write_text(html_file, render_html(report, title=title))
    if markdown_file is not None:
        atomic_write_text(markdown_file, render_markdown(report))


def _check(
    stats: statistics_pb2.DatasetFeatureStatisticsList,
    schema: schema_pb2.Schema,
    *,
    baseline_statistics: str | Path,
    baseline_split: str,
    skew_against: str,
    min_examples: int,
) -> ValidationReport:
    baseline = load_statistics(baseline_statistics) if baseline_statistics else None
    anomalies = find_anomalies(stats, schema, min_examples=min_examples)
    comparisons, over = compare_all(stats, schema, baseline, baseline_split, skew_against)
    report = ValidationReport(stats, schema, anomalies + over, comparisons)
    report.baseline = redact(str(baseline_statistics))  # shown in reports and metadata
    for a in report.anomalies:
        log.warning("[%s] %s: %s", a.split, a.type, a.description)
    return report


def validate(
    examples_dir: str | Path,
    statistics_dir: str | Path,
    schema_dir: str | Path,
    anomalies_dir: str | Path,
    *,
    curated_schema: str | Path = "",
    baseline_statistics: str | Path = "",
    min_examples: int = 1,
    report_file: str | Path | None = None,
    summary_file: str | Path | None = None,
    events_sink: str = "",
    model_name: str = "",
    pipeline: str = "",
    run_id: str = "",
    run_name: str = "",
    event_links: Mapping[str, str] | None = None,
    event_retry: events.Retry | None = None,
    precomputed_statistics: str | Path = "",
) -> ValidationReport:
    """Compute statistics, infer (or load) the schema, find anomalies, skew and drift; write all;
    send ``data.anomalies_found`` and ``data.drift_detected`` when found (:mod:`.lifecycle`).

    Args:
        examples_dir: The examples artifact: ``<split>/*.parquet``.
        statistics_dir: Where the statistics artifact goes.
        schema_dir: Where the schema artifact goes: the curated schema unchanged, or the one
            inferred from the train split.
        anomalies_dir: Where the anomalies artifact goes.
        curated_schema: Path or URI of a ``schema.pbtxt`` (or a folder holding one) to check
            against instead of inferring one; used as given.
        baseline_statistics: Path or URI of an earlier run's statistics artifact (its folder,
            one ``Split-<split>`` folder of it or one ``FeatureStats.pb``): each split is
            compared with the same split there (drift). Empty: no drift check.
        min_examples: Fewest rows a split may have (an empty split is always an anomaly).
        report_file: Where the HTML page goes (:func:`.report.render_html`); None: none.
        summary_file: Where the Markdown summary goes (:func:`.report.render_markdown`);
            None: none.
        events_sink: Where the lifecycle events go (:mod:`mlrail.events.sinks`); empty:
            ``K_SINK``, then none (then no event is built).
        model_name: The events' subject.
        pipeline: The pipeline's name, for the events' source and data.
        run_id: The run's id, for the events' source and data.
        run_name: The run's name, for the events' data.
        event_links: Names to URIs of the evidence for the events' ``links``; None: the
            anomalies and statistics folders and the report page as given here.
        event_retry: Delivery bounds (default :class:`mlrail.events.Retry`).
        precomputed_statistics: A statistics artifact of these examples with its mergeable
            states (merge's, in the sharded pipeline), read instead of a pass over every row;
            its splits and rows must be the examples' (their Parquet footers). Empty: computed.

    Returns:
        The report; ``report.ok`` is the gate; ``report.deliveries`` says what became of the
        events (a sink that is down is recorded there, never raised).

    Raises:
        DataError: naming the file, when the examples, the curated schema or the baseline
            cannot be read. Nothing is written then.
    """
    try:
        if precomputed_statistics:
            partials = _precomputed(precomputed_statistics, examples_dir)
        else:
            partials = compute_partials(examples_dir)
        stats = summaries(partials.values())
        schema = load_schema(curated_schema) if curated_schema else infer_schema(stats)
        report = _check(
            stats,
            schema,
            baseline_statistics=baseline_statistics,
            baseline_split="",
            skew_against="train",
            min_examples=min_examples,
        )
        report.partials = partials
    except DataError as e:
        raise _redacted(e) from e.__cause__
    write_report(
        report,
        statistics_dir=statistics_dir,
        schema_dir=schema_dir,
        anomalies_dir=anomalies_dir,
    )
    write_pages(report, html_file=report_file, markdown_file=summary_file)
    # after the artifacts are written: the events' links point at files that exist
    report.deliveries = send_events(
        report,
        events_sink=events_sink,
        model_name=model_name,
        pipeline=pipeline,
        run_id=run_id,
        run_name=run_name,
        links=(
            event_links
            if event_links is not None
            else {
                "anomalies": str(anomalies_dir),
                "statistics": str(statistics_dir),
                "report": str(report_file or ""),
            }
        ),
        retry=event_retry,
    )
    return report


def _precomputed(statistics: str | Path, examples_dir: str | Path) -> dict[str, PartialStatistics]:
    """The mergeable states of ``statistics``, refused unless they describe the examples."""
    partials = read_partial_statistics(statistics)
    rows = {s: open_split(Path(examples_dir) / s).rows for s in split_names(examples_dir)}
    have = {s: p.rows for s, p in partials.items()}
    if have != rows:
        raise DataError(
            f"{statistics}: the statistics of other examples: rows per split {have}, "
            f"the examples' {rows}"
        )
    return partials


def validate_tables(
    datasets: Mapping[str, Iterable[pa.RecordBatch | pa.Table]],
    *,
    curated_schema: str | Path | schema_pb2.Schema = "",
    infer_from: str = "",
    baseline_statistics: str | Path = "",
    baseline_split: str = "",
    min_examples: int = 1,
) -> ValidationReport:
    """Validate data that is not an examples artifact: raw files streamed as Arrow batches.

    For the ``mlrail`` CLI and notebooks. Each dataset is read once, batch by batch
    (``statistics_from_batches``), so a file larger than memory can be checked. Nothing is
    written: pass the report to ``write_report`` for the artifacts.

    Example::

        report = validate_tables(
            {"data": batches_of("new.csv")},           # any iterable of batches or tables
            baseline_statistics="gs://runs/42/validate/statistics",
            baseline_split="train",                     # compare "data" with last run's train
            curated_schema="gs://runs/42/validate/schema",
        )

    Args:
        datasets: Name → batches, in order (e.g. ``{"data": ...}``, or ``{"train": ...,
            "eval": ...}``). With a "train" dataset, every other one is compared with it (skew).
        curated_schema: A Schema, or the path/URI of a ``schema.pbtxt`` (or a folder holding
            one), used as given. Empty: infer one from ``infer_from``.
        infer_from: The dataset to infer the schema from; default "train" if there is one, else
            the first dataset.
        baseline_statistics: Path or URI of an earlier run's statistics artifact (its folder,
            one ``Split-<split>`` folder of it or one ``FeatureStats.pb``) to measure drift
            against. Empty: no drift check.
        baseline_split: The baseline dataset every dataset is compared with; default: the one
            of the same name (a dataset with no counterpart is not compared).
        min_examples: Fewest rows a dataset may have (an empty one is always an anomaly).

    Returns:
        The report: statistics (one dataset per name), the schema, anomalies, comparisons.

    Raises:
        DataError: when a dataset's column changes type between batches, or the schema or the
            baseline cannot be read. (A column of a type mlrail does not support is an
            anomaly, not an error.)
    """
    try:
        return _validate_tables(
            datasets, curated_schema, infer_from, baseline_statistics, baseline_split, min_examples
        )
    except DataError as e:
        raise _redacted(e) from e.__cause__


def _redacted(error: DataError) -> DataError:
    """``error`` with the credentials of any URI in its message masked."""
    text = str(error)
    return error if redact(text) == text else DataError(redact(text))


def _validate_tables(
    datasets: Mapping[str, Iterable[pa.RecordBatch | pa.Table]],
    curated_schema: str | Path | schema_pb2.Schema,
    infer_from: str,
    baseline_statistics: str | Path,
    baseline_split: str,
    min_examples: int,
) -> ValidationReport:
    partials = {name: partial_from_batches(name, batches) for name, batches in datasets.items()}
    stats = summaries(partials.values())
    if isinstance(curated_schema, schema_pb2.Schema):
        schema = curated_schema
    elif curated_schema:
        schema = load_schema(curated_schema)
    else:
        names = list(datasets)
        if not names:
            raise DataError("no data to validate")
        schema = infer_schema(stats, infer_from or ("train" if "train" in names else names[0]))
    report = _check(
        stats,
        schema,
        baseline_statistics=baseline_statistics,
        baseline_split=baseline_split,
        skew_against="train",
        min_examples=min_examples,
    )
    report.partials = partials
    return report
