"""Writing, reading and listing release records.

One record is a folder of three files, written together or not at all (:func:`write`)::

    release.json    the record (:mod:`.record`; its schema ``release.schema.json``)
    release.md      the page in Markdown
    release.html    the page as one self-contained HTML file (the Kubeflow UI)

The local layout keeps every release of a model, numbered from 1 in the order they were stored
(:func:`store`)::

    <releases>/<model>/<NNNNNN>-<YYYYMMDDTHHMMSSZ>/release.json, release.md, release.html

``<releases>`` is ``<workdir>/releases`` for ``mlrail run``; ``<model>`` is the model's name
percent-encoded (``/``, ``%``, a leading ``.`` and anything outside letters, digits and
``-_.~`` become ``%XX``), so any name is one folder inside ``<releases>``. ``NNNNNN`` is the
release number, zero-padded so the folders sort in order; the time is the record's. Two
writers storing at once each get their own number: the folder appears by one rename, which
fails if the number was taken, and the writer then takes the next.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from mlrail.artifacts.release.codec import from_json, to_json
from mlrail.artifacts.release.pages import render_html, render_markdown
from mlrail.artifacts.release.record import Record
from mlrail.errors import DataError
from mlrail.io import atomic_dir, atomic_write_text, fsync_dir, fsync_tree, staging_dir

__all__ = [
    "HTML_FILE",
    "JSON_FILE",
    "MARKDOWN_FILE",
    "latest",
    "list_releases",
    "load",
    "model_folder",
    "show",
    "store",
    "write",
]

JSON_FILE = "release.json"
MARKDOWN_FILE = "release.md"
HTML_FILE = "release.html"

_FOLDER = re.compile(r"^(?P<number>\d{6,})-\d{8}T\d{6}Z$")
_ATTEMPTS = 1000  # numbers tried before giving up (only as many writers at once could need)


def _checked(record: Record) -> str:
    """release.json's text, after the record passed the same checks a reader makes."""
    doc = to_json(record)
    from_json(Record, doc, where=f"release of {record.model.name!r}")
    # ASCII: a lone surrogate (a non-UTF-8 byte in a command-line reason) stays a valid \u escape
    return json.dumps(doc, indent=2, ensure_ascii=True, allow_nan=False) + "\n"


def _write_files(record: Record, folder: Path) -> None:
    atomic_write_text(folder / JSON_FILE, _checked(record))
    atomic_write_text(folder / MARKDOWN_FILE, render_markdown(record))
    atomic_write_text(folder / HTML_FILE, render_html(record))


def write(record: Record, folder: str | os.PathLike[str]) -> None:
    """Write the record's three files into ``folder`` (a KFP artifact's path, say), atomically.

    The record is checked first (:func:`.record.from_json`): nothing is written for one that a
    reader would refuse, and a failure half-way leaves ``folder`` as it was.

    Raises:
        DataError: naming the field, for a record a reader would refuse.
    """
    _checked(record)
    with atomic_dir(folder) as tmp:
        _write_files(record, tmp)


def model_folder(releases: str | os.PathLike[str], model: str) -> Path:
    """The folder holding ``model``'s releases (the name encoded as in the module doc)."""
    if not model:
        raise DataError("releases: the model name is empty")
    name = quote(model, safe="-_.~")
    if name.startswith("."):
        name = "%2E" + name[1:]
    return Path(releases) / name


def _numbered(folder: Path) -> list[tuple[int, Path]]:
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        m = _FOLDER.match(p.name)
        if m and p.is_dir():
            found.append((int(m["number"]), p))
    return sorted(found)


def store(record: Record, releases: str | os.PathLike[str]) -> tuple[Record, Path]:
    """Keep ``record`` as ``model``'s next release under ``releases`` (layout in the module doc).

    Returns:
        The record with its number, and its folder.

    Raises:
        DataError: naming the field, for a record a reader would refuse.
    """
    _checked(record)
    parent = model_folder(releases, record.model.name)
    parent.mkdir(parents=True, exist_ok=True)
    created = datetime.fromisoformat(record.created.replace("Z", "+00:00"))
    stamp = created.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    taken = _numbered(parent)
    number = (taken[-1][0] if taken else 0) + 1
    for _ in range(_ATTEMPTS):
        numbered = replace(record, number=number)
        dest = parent / f"{number:06d}-{stamp}"
        tmp = staging_dir(parent, prefix=f".{dest.name}.")
        try:
            _write_files(numbered, tmp)
            fsync_tree(tmp)
            os.rename(tmp, dest)  # refused when dest exists and is not empty: the number is taken
        except OSError as e:
            shutil.rmtree(tmp, ignore_errors=True)
            if e.errno in (errno.EEXIST, errno.ENOTEMPTY) and dest.exists():
                number += 1
                continue
            raise
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        fsync_dir(parent)
        return numbered, dest
    raise DataError(f"{parent}: no free release number after {_ATTEMPTS} tries")


def load(path: str | os.PathLike[str]) -> Record:
    """The record in ``path`` (a ``release.json`` or the folder holding one), checked.

    Raises:
        DataError: naming the file and the field, for a missing file, bad JSON or a record
            that does not match the schema.
    """
    p = Path(path)
    file = p / JSON_FILE if p.is_dir() else p
    if not file.is_file():
        raise DataError(f"{file}: no release record")
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{file}: not valid JSON: {e}") from e
    return from_json(Record, doc, where=str(file))


def list_releases(releases: str | os.PathLike[str], model: str) -> list[Record]:
    """Every stored release of ``model``, oldest first (none: an empty list).

    Raises:
        DataError: naming the file, for a record that cannot be read.
    """
    return [load(p) for _, p in _numbered(model_folder(releases, model))]


def latest(releases: str | os.PathLike[str], model: str) -> Record | None:
    """``model``'s newest stored release (the previous one for the next record), or None."""
    found = _numbered(model_folder(releases, model))
    return load(found[-1][1]) if found else None


def show(releases: str | os.PathLike[str], model: str, version: str | None = None) -> Record:
    """``model``'s newest release, or its newest release of ``version`` (the registry's
    version, else the local repository's; ``#N`` for release number N).

    Raises:
        DataError: naming the model (and version) when there is no such release.
    """
    records = list_releases(releases, model)
    if version is not None:
        if version.startswith("#"):
            records = [r for r in records if str(r.number) == version[1:]]
        else:
            records = [r for r in records if r.version == version]
    if not records:
        what = f"{model!r}" + (f" version {version}" if version is not None else "")
        raise DataError(f"{model_folder(releases, model)}: no release of {what}")
    return records[-1]
