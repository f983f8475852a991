"""The training evidence of the version that answered: what monitor compares a window with.

For each (version, identity) that answered in a window, :func:`find_baseline` finds:

- the **training statistics** (validate's ``statistics`` artifact: the ``train`` split), and the
  **schema** (validate's ``schema`` artifact when the release links it, else inferred from those
  statistics as validate infers it, so the comparators are the same);
- the **eval predictions profile** (evaluate's ``blessing/predictions/``), for prediction drift
  and the estimated accuracy (None when the release predates it: those checks are skipped and
  the report says why);
- the **model spec** (``model_spec.json``), which turns the logged V2 tensors back into columns.

Where, in this order (the first that answers wins; the report names it):

1. ``baseline_statistics`` (and ``baseline_predictions``) given explicitly: used for every
   version (each version is still reported on its own);
2. the **release store** (``<store>/<model>/<NNNNNN>-<time>/release.json``): the newest release
   of that identity, else of that version;
3. the **model registry**: the registry version tagged with that identity (register's
   ``mlrail.identity``) or numbered as the version, and the release record kept with it.

The release record's ``links`` name the artifacts (``statistics``, ``schema``, ``blessing``,
``onnx_model``). The spec comes from the served version folder when a model repository is
given, else from the release's ``onnx_model`` artifact.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from mlrail.artifacts import release
from mlrail.artifacts.model_repository import SPEC_FILE
from mlrail.artifacts.modelspec import InputSpec, ModelSpec
from mlrail.artifacts.tfmd import load_schema, load_statistics
from mlrail.errors import DataError, MlrailError
from mlrail.io import read_uri_bytes
from mlrail.redact import redact
from mlrail.validation.predictions import PROFILE_DIR, PredictionsProfile, read_profile
from mlrail.validation.schema import infer_schema

__all__ = ["Baseline", "BaselineSources", "find_baseline", "read_spec"]

log = logging.getLogger(__name__)

#: The split of the training statistics a window is compared with.
TRAIN_SPLIT = "train"


@dataclass(frozen=True)
class BaselineSources:
    """Where baselines may come from (the module doc's order); empty strings: not given."""

    baseline_statistics: str = ""
    baseline_schema: str = ""
    baseline_predictions: str = ""
    release_store: str = ""
    registry_uri: str = ""
    model_repository: str = ""


@dataclass(frozen=True)
class Baseline:
    """The training evidence of one version.

    Attributes:
        train: The training split's statistics.
        schema: The schema its comparators and domains come from.
        predictions: The eval predictions profile, or None (``predictions_note`` says why).
        spec: The model's input/output contract.
        source: Where it came from, in words (the report's "compared with").
        release_number: The release record's number, when one was used.
        predictions_note: Why there is no predictions profile ("" when there is one).
    """

    train: statistics_pb2.DatasetFeatureStatistics
    schema: schema_pb2.Schema
    predictions: PredictionsProfile | None
    spec: ModelSpec
    source: str
    release_number: int | None = None
    predictions_note: str = ""


def _join(base: str, *names: str) -> str:
    return "/".join([base.rstrip("/"), *names])


def read_spec(folder: str) -> ModelSpec:
    """The model spec in ``folder`` (a path or URI of a folder holding ``model_spec.json``)."""
    if "://" not in folder:
        return ModelSpec.read(folder)
    where = _join(folder, SPEC_FILE)
    try:
        raw = json.loads(read_uri_bytes(where))
        return ModelSpec(
            task=raw["task"],
            label=raw["label"],
            output=raw["output"],
            classes=list(raw.get("classes", [])),
            inputs=[InputSpec(**i) for i in raw["inputs"]],
        )
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"{redact(where)}: cannot read the model spec: {e}") from e


def _train_split(
    stats: statistics_pb2.DatasetFeatureStatisticsList, where: str
) -> statistics_pb2.DatasetFeatureStatistics:
    for ds in stats.datasets:
        if ds.name == TRAIN_SPLIT:
            return ds
    if len(stats.datasets) == 1:
        return stats.datasets[0]
    names = ", ".join(repr(d.name) for d in stats.datasets)
    raise DataError(f"{where}: no {TRAIN_SPLIT!r} split in the statistics (it has {names})")


def _profile(folder: str) -> tuple[PredictionsProfile | None, str]:
    try:
        return read_profile(folder), ""
    except DataError as e:
        return None, str(e)


def _from_paths(
    statistics: str,
    schema: str,
    predictions: str,
    spec: ModelSpec,
    source: str,
    number: int | None = None,
) -> Baseline:
    stats = load_statistics(statistics)
    train = _train_split(stats, redact(statistics))
    if schema:
        chosen = load_schema(schema)
    else:
        only = statistics_pb2.DatasetFeatureStatisticsList()
        only.datasets.add().CopyFrom(train)
        chosen = infer_schema(only)
    profile, note = (None, "no eval predictions profile given")
    if predictions:
        profile, note = _profile(predictions)
    return Baseline(train, chosen, profile, spec, source, number, note)


def _records(sources: BaselineSources, model: str) -> tuple[list[release.Record], str]:
    """The candidate release records, newest first, and where they came from."""
    if sources.release_store and Path(sources.release_store).expanduser().is_dir():
        store = str(Path(sources.release_store).expanduser())
        found = release.list_releases(store, model)
        if found:
            return list(reversed(found)), f"release store {store}"
    if sources.registry_uri:
        from mlrail.registry import open_registry
        from mlrail.registry.releases import kept_records

        registry = open_registry(sources.registry_uri)
        return list(reversed(kept_records(registry, model))), f"model registry {registry.uri}"
    return [], ""


def _match(
    records: list[release.Record], version: str, identity: str | None
) -> release.Record | None:
    if identity:
        for r in records:
            if r.model.identity == identity:
                return r
    for r in records:
        if r.where.version is not None and str(r.where.version) == version:
            return r
    return None


def find_baseline(
    model: str, version: str, identity: str | None, sources: BaselineSources
) -> Baseline:
    """The training evidence of ``model`` ``version`` (``identity``), from ``sources``.

    Raises:
        DataError: naming the model, version and identity, when no source has it, or an
            artifact it names cannot be read.
    """
    spec_folder = (
        _join(sources.model_repository, model, version) if sources.model_repository else ""
    )
    if sources.baseline_statistics:
        if not spec_folder:
            raise MlrailError(
                "baseline_statistics needs the model repository the version is served from "
                "(model_repository), to read its model_spec.json"
            )
        return _from_paths(
            sources.baseline_statistics,
            sources.baseline_schema,
            sources.baseline_predictions,
            read_spec(spec_folder),
            f"baseline statistics {redact(sources.baseline_statistics)}",
        )
    records, where = _records(sources, model)
    record = _match(records, version, identity)
    who = f"{model!r} version {version}" + (f" ({identity})" if identity else "")
    if record is None:
        tried = where or "no release store or registry given"
        raise DataError(
            f"no training statistics for {who}: no release of it in {tried}; give "
            "baseline_statistics, a release store or a registry"
        )
    links = dict(record.links)
    if "statistics" not in links:
        raise DataError(f"release #{record.number} of {who}: links no statistics artifact")
    if spec_folder and Path(spec_folder).is_dir():
        spec = read_spec(spec_folder)
    elif "onnx_model" in links:
        spec = read_spec(links["onnx_model"])
    else:
        raise DataError(f"release #{record.number} of {who}: links no onnx_model (for its spec)")
    predictions = _join(links["blessing"], PROFILE_DIR) if "blessing" in links else ""
    baseline = _from_paths(
        links["statistics"],
        links.get("schema", ""),
        predictions,
        spec,
        f"release #{record.number} in {where}",
        record.number,
    )
    if not predictions:
        baseline = Baseline(
            baseline.train,
            baseline.schema,
            None,
            spec,
            baseline.source,
            record.number,
            f"release #{record.number} links no blessing (evaluate's predictions profile)",
        )
    return baseline
