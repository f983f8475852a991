"""tensorflow-metadata files: the statistics, schema and anomalies artifacts, read and written.

validate (and monitor) write them, train and monitor read them; TFX tools and TFDV read them as
they are, since the layouts are TFX's own artifact types' and the files tensorflow-metadata's
protos. This module is the only place that knows the layouts (each artifact is a folder)::

    statistics/                    TFX's ExampleStatistics
      Split-<split>/FeatureStats.pb  DatasetFeatureStatisticsList (binary) holding exactly one
                                     dataset, named <split>: what TFDV's load_stats_binary reads
                                     (its viewer and validate_statistics refuse several datasets)
      Split-<split>/mlrail_partial.bin
                                     the split's mergeable statistics state (versioned bytes,
                                     :mod:`mlrail.validation.partial`), from which statistics of
                                     several shards merge (:mod:`mlrail.validation.merge`); TFX
                                     readers look only at FeatureStats.pb
      statistics.json                the headline figures of every split as plain JSON
                                     (validate's ``summarize``), for people and the release record
    schema/
      schema.pbtxt                   Schema, text format
    anomalies/                     TFX's ExampleAnomalies
      Split-<split>/SchemaDiff.pb    Anomalies (binary): that split's anomalies and skew/drift
      anomalies.json                 the whole finding as plain JSON (the writer's summary)

A split's name is letters, digits, ``-`` and ``_``, starting with a letter or digit, as TFX
requires (validate: train, eval, test; ``mlrail validate``: data; monitor: serving-v<N>,
predictions-v<N>). The artifact's ``split_names`` property is TFX's: the splits as
a JSON list in a string (:func:`split_names_property`, e.g. ``'["train", "eval"]'``).

A statistics or anomalies reader takes the artifact folder (every ``Split-*`` in it), one
``Split-<split>`` folder, or one ``FeatureStats.pb``/``SchemaDiff.pb`` file (its split is the
``Split-<split>`` folder holding it, else the name of the dataset in it), local or a URI, so a
user can point at an earlier run's artifact as it is stored. Splits are read in the order
train, eval, test, then the others by name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

import pyarrow as pa
import pyarrow.fs as pafs
from google.protobuf import message, text_format
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from mlrail.errors import DataError
from mlrail.io import (
    atomic_dir,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    filesystem,
    read_uri_bytes,
)

__all__ = [
    "ANOMALIES_FILE",
    "ANOMALIES_JSON",
    "PARTIAL_FILE",
    "SCHEMA_FILE",
    "SPLIT_PREFIX",
    "STATISTICS_FILE",
    "STATISTICS_JSON",
    "anomalies_file",
    "load_schema",
    "load_statistics",
    "ordered_splits",
    "partial_file",
    "read_anomalies",
    "read_partials",
    "read_statistics",
    "resolve_file",
    "schema_text",
    "split_names",
    "split_names_metadata",
    "split_names_property",
    "statistics_file",
    "write_anomalies",
    "write_schema",
    "write_split_statistics",
    "write_statistics",
]

SPLIT_PREFIX = "Split-"
STATISTICS_FILE = "FeatureStats.pb"
PARTIAL_FILE = "mlrail_partial.bin"
STATISTICS_JSON = "statistics.json"
SCHEMA_FILE = "schema.pbtxt"
ANOMALIES_FILE = "SchemaDiff.pb"
ANOMALIES_JSON = "anomalies.json"

#: The splits read first, in this order (the examples artifact's); the others follow by name.
_ORDER = ("train", "eval", "test")

_Message = TypeVar("_Message", bound=message.Message)
DatasetStatistics: TypeAlias = statistics_pb2.DatasetFeatureStatistics


def _join(source: str | Path, *names: str) -> str:
    if "://" in str(source):
        return "/".join([str(source).rstrip("/"), *names])
    return str(Path(source, *names))


#: TFX's rule for a split name (``artifact_utils.encode_split_names`` refuses any other).
_SPLIT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def _check_split(split: str) -> str:
    if not _SPLIT_NAME.fullmatch(split):
        raise ValueError(
            f"split {split!r}: TFX's split names are letters, digits, '-' and '_', "
            "starting with a letter or digit"
        )
    return split


def statistics_file(folder: str | Path, split: str) -> str:
    """Where a statistics artifact keeps ``split``: ``<folder>/Split-<split>/FeatureStats.pb``."""
    return _join(folder, SPLIT_PREFIX + _check_split(split), STATISTICS_FILE)


def partial_file(folder: str | Path, split: str) -> str:
    """Where a statistics artifact keeps ``split``'s mergeable state:
    ``<folder>/Split-<split>/mlrail_partial.bin``."""
    return _join(folder, SPLIT_PREFIX + _check_split(split), PARTIAL_FILE)


def anomalies_file(folder: str | Path, split: str) -> str:
    """Where an anomalies artifact keeps ``split``: ``<folder>/Split-<split>/SchemaDiff.pb``."""
    return _join(folder, SPLIT_PREFIX + _check_split(split), ANOMALIES_FILE)


def ordered_splits(splits: Iterable[str]) -> list[str]:
    """``splits`` in the order the readers return them: train, eval, test, then by name."""
    return sorted(splits, key=lambda s: (_ORDER.index(s) if s in _ORDER else len(_ORDER), s))


def split_names_property(splits: Iterable[str]) -> str:
    """TFX's ``split_names`` artifact property: the splits as a JSON list, e.g. '["train", "eval"]'.

    TFX writes it so (``artifact_utils.encode_split_names``) and its components read it back
    with ``json.loads``; KFP keeps it as a string in the artifact's metadata.
    """
    return json.dumps([_check_split(s) for s in splits])


def split_names_metadata(folder: str | Path) -> str:
    """TFX's ``split_names`` property of the statistics or anomalies artifact written in
    ``folder``: its splits (:func:`split_names`) as :func:`split_names_property` encodes them.

    For a component adapter, once the core has written the artifact::

        statistics.metadata["split_names"] = tfmd.split_names_metadata(statistics.path)
    """
    return split_names_property(split_names(folder))


def _type_of(source: str) -> pafs.FileType:
    fs, path = filesystem(source)  # a DataError naming source when no filesystem reads it
    try:
        return fs.get_file_info(path).type
    except (OSError, pa.ArrowException) as e:
        raise DataError(f"{source}: cannot read: {e}") from e


def split_names(folder: str | Path) -> list[str]:
    """The splits of a statistics or anomalies artifact folder: its ``Split-<split>`` folders.

    Raises:
        DataError: naming ``folder`` when it cannot be listed.
    """
    source = str(folder)
    fs, path = filesystem(source)
    try:
        infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    except (OSError, pa.ArrowException) as e:
        raise DataError(f"{source}: cannot list: {e}") from e
    names = [
        i.base_name[len(SPLIT_PREFIX) :]
        for i in infos
        if i.type == pafs.FileType.Directory
        and i.base_name.startswith(SPLIT_PREFIX)
        and len(i.base_name) > len(SPLIT_PREFIX)
    ]
    return ordered_splits(names)


def _parse(file: str, proto: _Message, what: str) -> _Message:
    data = read_uri_bytes(file)  # a DataError naming the file when it is missing
    try:
        proto.ParseFromString(data)
    except Exception as e:  # protobuf raises DecodeError, a bare Exception subclass
        raise DataError(f"{file}: not {what}: {e}") from e
    return proto


def _files(
    source: str | Path, file_name: str, kind: str, splits: Iterable[str] | None
) -> dict[str, str]:
    """Split → file, for an artifact folder (only ``splits`` when given), one
    ``Split-<split>`` folder, or one file ("" for a file outside a ``Split-`` folder: the
    caller names it from its content)."""
    text = str(source)
    found = _type_of(text)
    if found == pafs.FileType.NotFound:
        raise DataError(f"{text}: no such file or folder")
    if found != pafs.FileType.Directory:
        parent = Path(text.rstrip("/")).parent.name
        return {parent[len(SPLIT_PREFIX) :] if parent.startswith(SPLIT_PREFIX) else "": text}
    leaf = Path(text.rstrip("/")).name
    if leaf.startswith(SPLIT_PREFIX) and len(leaf) > len(SPLIT_PREFIX):
        return {leaf[len(SPLIT_PREFIX) :]: _join(text, file_name)}
    names = split_names(text) if splits is None else list(splits)
    if not names:
        raise DataError(
            f"{text}: no {SPLIT_PREFIX}<split>/{file_name} in it (not {kind} in TFX's layout)"
        )
    return {s: _join(text, SPLIT_PREFIX + s, file_name) for s in names}


def read_statistics(
    source: str | Path, splits: Iterable[str] | None = None
) -> dict[str, DatasetStatistics]:
    """Read a statistics artifact: split → its one dataset (named by its split).

    Args:
        source: The artifact folder, one ``Split-<split>`` folder or one ``FeatureStats.pb``,
            local or a URI (see the module doc).
        splits: Only these splits of an artifact folder (each must be there); None: all.

    Raises:
        DataError: naming the file, when a split's file is missing or unreadable, is not a
            ``DatasetFeatureStatisticsList``, or holds other than one dataset; naming the
            folder, when it has no ``Split-<split>`` folder.
    """
    out: dict[str, DatasetStatistics] = {}
    files = _files(source, STATISTICS_FILE, "an ExampleStatistics artifact", splits)
    for split, file in files.items():
        stats = _parse(
            file, statistics_pb2.DatasetFeatureStatisticsList(), "a DatasetFeatureStatisticsList"
        )
        if len(stats.datasets) != 1:
            raise DataError(
                f"{file}: holds {len(stats.datasets)} datasets; TFX's layout has exactly one "
                f"per file ({SPLIT_PREFIX}<split>/{STATISTICS_FILE})"
            )
        ds = stats.datasets[0]
        ds.name = split or ds.name
        out[ds.name] = ds
    return out


def load_statistics(source: str | Path) -> statistics_pb2.DatasetFeatureStatisticsList:
    """:func:`read_statistics` (all splits) as one ``DatasetFeatureStatisticsList``, a dataset
    per split in split order: the in-memory form validate's checks and a user module's
    ``build_model`` take."""
    out = statistics_pb2.DatasetFeatureStatisticsList()
    out.datasets.extend(read_statistics(source).values())
    return out


def _by_split(
    stats: Mapping[str, DatasetStatistics] | statistics_pb2.DatasetFeatureStatisticsList,
) -> dict[str, DatasetStatistics]:
    if isinstance(stats, statistics_pb2.DatasetFeatureStatisticsList):
        out: dict[str, DatasetStatistics] = {}
        for ds in stats.datasets:
            if ds.name in out:
                raise ValueError(f"two datasets named {ds.name!r}: one per split")
            out[ds.name] = ds
        return out
    return dict(stats)


def write_statistics(
    folder: str | Path,
    stats: Mapping[str, DatasetStatistics] | statistics_pb2.DatasetFeatureStatisticsList,
    summary: dict[str, Any],
    partials: Mapping[str, bytes] | None = None,
) -> None:
    """Write a statistics artifact (atomically): one ``Split-<split>/FeatureStats.pb`` per split,
    each split's mergeable state beside it when given, and the JSON ``summary``.

    Args:
        folder: The artifact's folder.
        stats: Split → its dataset's statistics; or a list of datasets, each split named by
            its dataset. Each file's dataset is named by its split.
        summary: ``statistics.json``'s content.
        partials: Split → its mergeable state's bytes (``PartialStatistics.to_bytes``), one
            for every split of ``stats``; None: the artifact cannot be merged with others.

    Raises:
        ValueError: a split name TFX would refuse (the module doc), two datasets of one
            name, or ``partials`` for other splits than ``stats``'.
    """
    splits = _by_split(stats)
    if partials is not None and set(partials) != set(splits):
        raise ValueError(
            f"mergeable states for splits {sorted(partials)}, statistics for {sorted(splits)}"
        )
    with atomic_dir(folder) as tmp:
        write_split_statistics(tmp, splits)
        for split, data in (partials or {}).items():
            atomic_write_bytes(partial_file(tmp, split), data)
        atomic_write_json(tmp / STATISTICS_JSON, summary)


def write_split_statistics(
    folder: str | Path,
    stats: Mapping[str, DatasetStatistics] | statistics_pb2.DatasetFeatureStatisticsList,
) -> None:
    """Write only the ``Split-<split>/FeatureStats.pb`` files into ``folder``, each file
    atomically: for a writer that stages a folder of its own (the eval predictions profile).

    Raises:
        ValueError: as :func:`write_statistics`.
    """
    for split, ds in _by_split(stats).items():
        one = statistics_pb2.DatasetFeatureStatisticsList()
        one.datasets.add().CopyFrom(ds)
        one.datasets[0].name = split
        atomic_write_bytes(
            statistics_file(folder, split), one.SerializeToString(deterministic=True)
        )


def read_partials(source: str | Path) -> dict[str, bytes]:
    """The mergeable states of a statistics artifact: split → its ``mlrail_partial.bin``.

    Args:
        source: The artifact folder (every split) or one ``Split-<split>`` folder of it,
            local or a URI.

    Raises:
        DataError: naming the folder, when it is not a statistics artifact, or a split there
            has no mergeable state (statistics written without one cannot be merged); naming
            the file, when it cannot be read.
    """
    text = str(source)
    found = _type_of(text)
    if found == pafs.FileType.NotFound:
        raise DataError(f"{text}: no such file or folder")
    if found != pafs.FileType.Directory:
        raise DataError(f"{text}: not a statistics artifact folder")
    out: dict[str, bytes] = {}
    for split, file in _files(text, PARTIAL_FILE, "an ExampleStatistics artifact", None).items():
        if _type_of(file) != pafs.FileType.File:
            raise DataError(
                f"{text}: split {split!r} has no mergeable statistics state "
                f"({SPLIT_PREFIX}{split}/{PARTIAL_FILE}): these statistics cannot be merged"
            )
        out[split] = read_uri_bytes(file)
    return out


def write_anomalies(
    folder: str | Path, anomalies: Mapping[str, anomalies_pb2.Anomalies], summary: dict[str, Any]
) -> None:
    """Write an anomalies artifact (atomically): one ``Split-<split>/SchemaDiff.pb`` per split and
    the JSON ``summary`` (``anomalies.json``) beside them.

    Raises:
        ValueError: a split name TFX would refuse (the module doc).
    """
    with atomic_dir(folder) as tmp:
        for split, proto in anomalies.items():
            atomic_write_bytes(
                anomalies_file(tmp, split), proto.SerializeToString(deterministic=True)
            )
        atomic_write_json(tmp / ANOMALIES_JSON, summary)


def read_anomalies(source: str | Path) -> dict[str, anomalies_pb2.Anomalies]:
    """Read an anomalies artifact: split → its ``Anomalies``.

    Args:
        source: The artifact folder, one ``Split-<split>`` folder or one ``SchemaDiff.pb``,
            local or a URI (a file outside a ``Split-`` folder is the split "").

    Raises:
        DataError: naming the file, when it is missing, unreadable or not ``Anomalies``;
            naming the folder, when it has no ``Split-<split>`` folder.
    """
    return {
        split: _parse(file, anomalies_pb2.Anomalies(), "an Anomalies proto")
        for split, file in _files(
            source, ANOMALIES_FILE, "an ExampleAnomalies artifact", None
        ).items()
    }


def resolve_file(source: str, name: str) -> str:
    """``source`` itself, or ``source/name`` when ``source`` is a folder (local or a URI)."""
    if "://" not in source:
        return str(Path(source) / name) if Path(source).is_dir() else source
    is_dir = _type_of(source) == pafs.FileType.Directory
    return source.rstrip("/") + "/" + name if is_dir else source


def load_schema(path: str | Path) -> schema_pb2.Schema:
    """Read a Schema (text format) from a ``schema.pbtxt`` file, a folder holding one, or a URI.

    Raises:
        DataError: naming the file when it is missing, not UTF-8 or not a valid Schema.
    """
    source = resolve_file(str(path), SCHEMA_FILE)
    try:
        text = read_uri_bytes(source).decode("utf-8")
        return text_format.Parse(text, schema_pb2.Schema())
    except UnicodeDecodeError as e:
        raise DataError(f"{source}: not UTF-8 text: {e}") from e
    except text_format.ParseError as e:
        raise DataError(f"{source}: not a valid Schema in text format: {e}") from e


def schema_text(schema: schema_pb2.Schema) -> str:
    """The schema in text format, as ``schema.pbtxt`` holds it."""
    return str(text_format.MessageToString(schema))


def write_schema(folder: str | Path, schema: schema_pb2.Schema) -> None:
    """Write the schema artifact (atomically)."""
    with atomic_dir(folder) as tmp:
        atomic_write_text(tmp / SCHEMA_FILE, schema_text(schema))
