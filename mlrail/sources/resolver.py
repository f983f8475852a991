"""Resolving a source to its files: a file, a folder, a glob, a URI, ``bundled:<name>``, spans.

What a source may name, and which files of a folder or glob are read, is in the package doc
(:mod:`mlrail.sources`).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import importlib.resources
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from mlrail.errors import DataError
from mlrail.io import filesystem
from mlrail.redact import redact
from mlrail.sources.spans import SPAN_TOKENS, fill, span_day

__all__ = ["BUNDLED", "Resolved", "SourceFile", "redacted", "resolve", "resolve_source"]

log = logging.getLogger("mlrail.sources")  # the package's one logger, named as users set it

#: Data sets shipped inside the package, addressable as ``bundled:<name>``.
BUNDLED = {"penguins": "penguins.csv"}

_EXTENSIONS = {
    ".csv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
_KNOWN = ", ".join(sorted(_EXTENSIONS))  # for errors: the extensions read
_GLOB_PATH = re.compile(r"[*?\[]")
_GLOB_URI = re.compile(r"[*\[]")  # in a URI, "?" starts the query (endpoint_override=...)


@dataclass(frozen=True)
class SourceFile:
    """One file of a source.

    Attributes:
        name: The file as a user would write it (a path or URI, credentials masked by
            :func:`mlrail.redact.redact`); errors name it.
        path: Its path inside ``filesystem``.
        relpath: Its name relative to the source (``""`` when the source is this file).
        size: Its size in bytes when it was listed.
        filesystem: The pyarrow filesystem holding it.
    """

    name: str
    path: str
    relpath: str
    size: int
    filesystem: Any = field(compare=False, repr=False)


@dataclass(frozen=True)
class Resolved:
    """A source resolved to its files.

    Attributes:
        source: The source as given.
        files: The files to read, in order (spans oldest first, files sorted within a span).
        format: ``csv``, ``parquet`` or ``jsonl``.
        span: The span date (``YYYY-MM-DD``, the last day of the window); "" without a pattern.
        spans: The days of the window that had files, oldest first.
        missing_spans: The days of the window that had none.
        patterns: What was looked up: the source with each span's date filled in.
    """

    source: str
    files: tuple[SourceFile, ...]
    format: str
    span: str = ""
    spans: tuple[str, ...] = ()
    missing_spans: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()


def resolve_source(source: str) -> str:
    """Map ``bundled:<name>`` to the packaged file; return anything else unchanged."""
    if source.startswith("bundled:"):
        name = source.removeprefix("bundled:")
        if name not in BUNDLED:
            raise DataError(f"{source}: no bundled data set {name!r} (have: {', '.join(BUNDLED)})")
        return str(importlib.resources.files("mlrail") / "data" / BUNDLED[name])
    return source


def resolve(
    source: str, *, span_date: str = "", scheduled_time: str = "", span_window: int = 1
) -> Resolved:
    """Resolve ``source`` (see :mod:`mlrail.sources`) to the files to read.

    Args:
        source: A path, URI, glob or folder, or ``bundled:<name>``; may hold a span pattern.
        span_date: ``YYYY-MM-DD`` filling the span pattern (backfills).
        scheduled_time: The run's scheduled time (RFC 3339); fills the pattern when
            ``span_date`` is empty.
        span_window: How many daily spans to read, ending at the span date (inclusive).

    Returns:
        The files, their format and the spans found and missing.

    Raises:
        DataError: no file matches (naming every pattern tried), a file of unknown type, or
            files of several formats.
        ValueError: a span pattern without a date, or ``span_window`` < 1.
    """
    try:
        return _resolve(source, span_date, scheduled_time, span_window)
    except DataError as e:
        raise redacted(e) from e.__cause__


def redacted(error: DataError) -> DataError:
    """``error`` with the credentials of any URI in its message masked (see mlrail.redact)."""
    text = str(error)
    masked = redact(text)
    return error if masked == text else DataError(masked)


def _resolve(source: str, span_date: str, scheduled_time: str, span_window: int) -> Resolved:
    if span_window < 1:
        raise ValueError(f"span_window={span_window} must be at least 1")
    path = resolve_source(source)
    if not SPAN_TOKENS.search(path):
        files = _expand(path, _root(path), required=True)
        return Resolved(source, tuple(files), _format_of(source, files), patterns=(path,))
    end = span_day(source, span_date, scheduled_time)
    root = _root(path)
    found: list[SourceFile] = []
    spans: list[str] = []
    missing: list[str] = []
    patterns: list[str] = []
    for back in range(span_window - 1, -1, -1):
        day = end - dt.timedelta(days=back)
        pattern = fill(path, day)
        patterns.append(pattern)
        files = _expand(pattern, root, required=False)
        (spans if files else missing).append(day.isoformat())
        found += files
    if not found:
        raise DataError(f"{source}: no files for its span(s); tried: {', '.join(patterns)}")
    if missing:
        log.warning("%s: no files for span(s) %s", redact(source), ", ".join(missing))
    return Resolved(
        source,
        tuple(found),
        _format_of(source, found),
        span=end.isoformat(),
        spans=tuple(spans),
        missing_spans=tuple(missing),
        patterns=tuple(patterns),
    )


def _wildcards(pattern: str) -> re.Pattern[str]:
    """The wildcards of ``pattern``: a URI's ``?`` starts its query, a path's is a wildcard."""
    return _GLOB_URI if "://" in pattern else _GLOB_PATH


def _root(pattern: str) -> str:
    """The folder fingerprint names are relative to: the pattern up to its first wildcard."""
    base = _split(pattern)[0]
    if not SPAN_TOKENS.search(base) and not _wildcards(base).search(base):
        return base  # a file (relpath "") or a folder
    parts = base.split("/")
    glob = _wildcards(pattern)
    first = next(i for i, p in enumerate(parts) if glob.search(p) or SPAN_TOKENS.search(p))
    return "/".join(parts[:first])


def _split(pattern: str) -> tuple[str, str]:
    """A URI's path and its query (kept for the filesystem: endpoint_override=...)."""
    if "://" in pattern and "?" in pattern:
        base, query = pattern.split("?", 1)
        return base, "?" + query
    return pattern, ""


def _hidden(name: str) -> bool:
    return name.startswith((".", "_"))


def _expand(pattern: str, root: str, *, required: bool) -> list[SourceFile]:
    """The data files ``pattern`` names: itself, a folder's files, or a glob's matches."""
    base, query = _split(pattern)
    parts = base.split("/")
    glob = _wildcards(base)
    # a URI's scheme and bucket are never globbed ("s3:", "", "bucket")
    lead = 3 if "://" in base else 0
    first = next((i for i, p in enumerate(parts) if i >= lead and glob.search(p)), len(parts))
    static, wild = "/".join(parts[:first]), parts[first:]
    fs, fs_path = filesystem((static or ".") + query)
    try:
        if not wild:
            info = fs.get_file_info(fs_path)
            if info.type == pafs.FileType.NotFound:
                if required:
                    raise DataError(f"{pattern}: no such file")
                return []
            matches = [(info, static)]
        else:
            matches = _walk(fs, fs_path, static, wild)
            if not matches and required:
                raise DataError(f"{pattern}: matches no file")
        files: list[SourceFile] = []
        for info, name in matches:
            if info.type == pafs.FileType.Directory:
                listed = sorted(
                    fs.get_file_info(pafs.FileSelector(info.path)), key=lambda i: i.base_name
                )
                data = [
                    (i, f"{name.rstrip('/')}/{i.base_name}")
                    for i in listed
                    if i.type == pafs.FileType.File
                    and not _hidden(i.base_name)
                    and _extension(i.base_name) in _EXTENSIONS
                ]
                if not data and required:
                    raise DataError(f"{name}: a folder with no data files ({_KNOWN})")
                files += [_file(fs, i, n, root) for i, n in data]
            elif not wild or _extension(info.base_name) in _EXTENSIONS:
                files.append(_file(fs, info, name, root))
    except (OSError, pa.ArrowException) as e:
        raise DataError(f"{pattern}: cannot list: {e}") from e
    if wild and not files and required:
        raise DataError(f"{pattern}: matches no data file ({_KNOWN})")
    return files


def _walk(fs: Any, fs_path: str, name: str, wild: list[str]) -> list[tuple[Any, str]]:
    level: list[tuple[Any, str]] = [(None, name)]
    paths = [fs_path]
    for depth, segment in enumerate(wild):
        last = depth == len(wild) - 1
        found: list[tuple[Any, str]] = []
        found_paths: list[str] = []
        for (_, parent), path in zip(level, paths, strict=True):
            infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
            for info in sorted(infos, key=lambda i: i.base_name):
                if not fnmatch.fnmatchcase(info.base_name, segment):
                    continue
                if _hidden(info.base_name) and not _hidden(segment):
                    continue
                if not last and info.type != pafs.FileType.Directory:
                    continue
                prefix = parent.rstrip("/") + "/" if parent else ""
                found.append((info, prefix + info.base_name))
                found_paths.append(info.path)
        level, paths = found, found_paths
    return level


def _extension(name: str) -> str:
    name = name.lower()
    return name[name.rfind(".") :] if "." in name else ""


def _file(fs: Any, info: Any, name: str, root: str) -> SourceFile:
    rel = name[len(root) :].lstrip("/") if name.startswith(root) else name
    # the name is for people (errors, logs, metadata): never with the URI's credentials
    return SourceFile(
        name=redact(name), path=info.path, relpath=rel, size=info.size or 0, filesystem=fs
    )


def _format_of(source: str, files: list[SourceFile]) -> str:
    formats: dict[str, str] = {}
    for f in files:
        fmt = _EXTENSIONS.get(_extension(_split(f.name)[0]))
        if fmt is None:
            raise DataError(
                f"{f.name}: unknown file type; expected {_KNOWN} (CSV, Parquet or JSON Lines)"
            )
        formats.setdefault(fmt, f.name)
    if len(formats) > 1:
        listed = ", ".join(f"{fmt} ({name})" for fmt, name in formats.items())
        raise DataError(f"{source}: mixes file formats: {listed}; one source is one format")
    return next(iter(formats))
