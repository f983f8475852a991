"""tensorflow-metadata files: the statistics, schema and anomalies artifacts, read and written.

validate writes them and train reads them; TFX tools and TFDV read them too, since they are
tensorflow-metadata's own protos. Layouts (each artifact is a folder)::

    statistics/
      statistics.pb      DatasetFeatureStatisticsList (binary), one dataset per split
      statistics.json    the headline figures as plain JSON (validate's ``summarize``)
    schema/
      schema.pbtxt       Schema, text format
    anomalies/
      anomalies.pbtxt    Anomalies, text format
      anomalies.json     the anomalies and comparisons as plain JSON (validate's report)

A reader takes the file itself, the folder holding it, or a URI of either (see
:func:`resolve_file`), so a user can point at an earlier run's artifact as it is stored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
from google.protobuf import text_format
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
    "SCHEMA_FILE",
    "STATISTICS_FILE",
    "STATISTICS_JSON",
    "load_schema",
    "load_statistics",
    "resolve_file",
    "schema_text",
    "write_anomalies",
    "write_schema",
    "write_statistics",
]

STATISTICS_FILE = "statistics.pb"
STATISTICS_JSON = "statistics.json"
SCHEMA_FILE = "schema.pbtxt"
ANOMALIES_FILE = "anomalies.pbtxt"
ANOMALIES_JSON = "anomalies.json"


def resolve_file(source: str, name: str) -> str:
    """``source`` itself, or ``source/name`` when ``source`` is a folder (local or a URI)."""
    if "://" not in source:
        return str(Path(source) / name) if Path(source).is_dir() else source
    fs, path = filesystem(source)  # a DataError naming source when no filesystem reads it
    try:
        is_dir = fs.get_file_info(path).type == pafs.FileType.Directory
    except (OSError, pa.ArrowException) as e:
        raise DataError(f"{source}: cannot read: {e}") from e
    return source.rstrip("/") + "/" + name if is_dir else source


def load_statistics(path: str | Path) -> statistics_pb2.DatasetFeatureStatisticsList:
    """Read statistics from a ``statistics.pb`` file, a folder holding one, or a URI."""
    source = resolve_file(str(path), STATISTICS_FILE)
    data = read_uri_bytes(source)
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    try:
        stats.ParseFromString(data)
    except Exception as e:  # protobuf raises DecodeError, a bare Exception subclass
        raise DataError(f"{source}: not a DatasetFeatureStatisticsList: {e}") from e
    return stats


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


def write_statistics(
    folder: str | Path,
    stats: statistics_pb2.DatasetFeatureStatisticsList,
    summary: dict[str, Any],
) -> None:
    """Write the statistics artifact (atomically): the proto and its JSON ``summary``."""
    with atomic_dir(folder) as tmp:
        atomic_write_bytes(tmp / STATISTICS_FILE, stats.SerializeToString(deterministic=True))
        atomic_write_json(tmp / STATISTICS_JSON, summary)


def write_schema(folder: str | Path, schema: schema_pb2.Schema) -> None:
    """Write the schema artifact (atomically)."""
    with atomic_dir(folder) as tmp:
        atomic_write_text(tmp / SCHEMA_FILE, schema_text(schema))


def write_anomalies(
    folder: str | Path, anomalies: anomalies_pb2.Anomalies, summary: dict[str, Any]
) -> None:
    """Write the anomalies artifact (atomically): the proto and its JSON ``summary``."""
    with atomic_dir(folder) as tmp:
        atomic_write_text(tmp / ANOMALIES_FILE, text_format.MessageToString(anomalies))
        atomic_write_json(tmp / ANOMALIES_JSON, summary)
