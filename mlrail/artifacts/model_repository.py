"""The model repository: its layout, the one rule for a version, the newest version, a push.

Layout (Triton's model repository: what ``mlrail serve`` and KServe's Triton runtime read)::

    <repository>/<name>/config.pbtxt               Triton's model configuration (triton_config)
    <repository>/<name>/<version>/model.onnx       version = 1, 2, 3, ...
    <repository>/<name>/<version>/model_spec.json  mlrail's input contract
    <repository>/<name>/<version>/model_config.pbtxt, model.sig   a signed version's (optional)

A version is a folder whose name is a canonical positive integer (:func:`version_number`): ``1``,
``2``, ``10``; not ``0``, not ``01`` (beside ``1`` it would be a second folder for one version),
not ``latest``, not a hidden staging folder. export_onnx and deploy write versions, the server
and evaluate's baseline read them, all by this one rule.

A version is pushed atomically (:func:`push`): its files are copied into a hidden staging folder
in the model's folder, flushed to disk, and the folder is renamed to the next version number. So
a version folder that exists is complete, and a running server may load it at once. A rename
onto an existing version fails instead of replacing it, so two concurrent pushes never share a
number: the loser takes the next one. ``config.pbtxt`` is written after the version, so a failed
push never leaves the old versions under a new configuration.

A signed version (:mod:`mlrail.artifacts.signing`) carries its signature and the configuration
it was signed with; a push copies both with it and writes ``config.pbtxt`` from that signed copy
under the model's name, so the signature still verifies at the new version number and name.

Nothing heavy is imported here (no numpy, pyarrow or ONNX): the server imports this module, and
so does ``mlrail serve --help``.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Protocol

from mlrail.artifacts.pbtxt import pbtxt_string
from mlrail.artifacts.signing import SIGNATURE_FILE, SIGNED_CONFIG_FILE, config_for
from mlrail.io import atomic_write_text, fsync_dir, fsync_tree, staging_dir

__all__ = [
    "CONFIG_FILE",
    "MAX_BATCH_SIZE",
    "MODEL_FILE",
    "SPEC_FILE",
    "latest_version",
    "newest_version",
    "next_version",
    "pbtxt_string",
    "push",
    "triton_config",
    "version_number",
    "versions",
]

MODEL_FILE = "model.onnx"
SPEC_FILE = "model_spec.json"
CONFIG_FILE = "config.pbtxt"

#: The prefix of a push's staging folder (hidden, so no reader takes it for a model or version).
_STAGING_PREFIX = ".incoming-"
#: How many version numbers a push tries before giving up (each lost to a concurrent push).
_PUSH_ATTEMPTS = 100


class _Input(Protocol):
    @property
    def column(self) -> str: ...

    @property
    def dtype(self) -> str: ...


class _Contract(Protocol):
    """What the Triton configuration needs of a :class:`mlrail.artifacts.modelspec.ModelSpec`.

    Structural, so this module does not import the model spec (which imports pyarrow).
    """

    @property
    def inputs(self) -> Sequence[_Input]: ...

    @property
    def output(self) -> str: ...

    @property
    def classes(self) -> Sequence[str]: ...


def version_number(name: str) -> int | None:
    """The version a folder called ``name`` holds, or None if the name is not a version.

    Only canonical positive integers: ``01`` beside ``1`` would be two folders for one version,
    and ``0`` is not a version Triton serves.
    """
    if not (name.isascii() and name.isdigit()) or name != str(int(name)) or int(name) < 1:
        return None
    return int(name)


def versions(model_folder: str | os.PathLike[str]) -> list[int]:
    """The versions of a model: its version folders' numbers, ascending ([] if none or no folder).

    Hidden folders (a push in progress) and other names are not versions.
    """
    try:
        entries = list(os.scandir(model_folder))
    except OSError:
        return []
    return sorted(v for e in entries if (v := version_number(e.name)) is not None and e.is_dir())


def newest_version(names: Iterable[str], has_model: Callable[[int], bool]) -> int | None:
    """The highest version among the folder ``names`` whose folder holds a model, or None.

    For a repository on any file system: ``has_model(version)`` says whether that version's
    folder holds ``model.onnx``; it is asked newest first, and only until one does.
    """
    numbers = sorted((v for n in names if (v := version_number(n)) is not None), reverse=True)
    return next((v for v in numbers if has_model(v)), None)


def latest_version(model_folder: str | os.PathLike[str]) -> Path | None:
    """The newest version folder of a model that holds a ``model.onnx``, or None.

    A push renames a version folder into place complete, so one that exists is whole; a version
    folder without a model (made by hand) is passed over, as the server passes over a version
    that does not load.
    """
    folder = Path(model_folder)
    found = newest_version(
        (str(v) for v in versions(folder)), lambda v: (folder / str(v) / MODEL_FILE).is_file()
    )
    return None if found is None else folder / str(found)


def next_version(model_folder: str | os.PathLike[str]) -> int:
    """One more than the model's highest version (1 if it has none)."""
    return max(versions(model_folder), default=0) + 1


def _push_version(model_folder: Path, source: Path) -> int:
    """Copy the model into a hidden folder, then claim the next version by one rename.

    Its files are flushed to disk before the rename, so a crash after it cannot leave a version
    folder of empty files. A rename onto an existing (non-empty) version fails instead of
    replacing it, so two concurrent pushes never share a number: the loser takes the next one.
    """
    staging = staging_dir(model_folder, prefix=_STAGING_PREFIX)
    try:
        shutil.copyfile(source / MODEL_FILE, staging / MODEL_FILE)
        # the server's input contract travels with the version (KServe mounts only the repository)
        shutil.copyfile(source / SPEC_FILE, staging / SPEC_FILE)
        # a signed version's signature and signed configuration travel with it
        for signed in (SIGNED_CONFIG_FILE, SIGNATURE_FILE):
            if (source / signed).is_file():
                shutil.copyfile(source / signed, staging / signed)
        fsync_tree(staging)
        for _ in range(_PUSH_ATTEMPTS):
            version = next_version(model_folder)
            try:
                os.rename(staging, model_folder / str(version))
            except OSError as e:
                if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
                continue
            fsync_dir(model_folder)
            return version
        raise RuntimeError(f"{model_folder}: could not claim a new version folder")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def push(
    model_folder: str | os.PathLike[str], source: str | os.PathLike[str], spec: _Contract
) -> int:
    """Push the model in ``source`` as the next version of the model in ``model_folder``.

    Args:
        model_folder: The model's folder in a repository (``<repository>/<name>``; made if
            missing). Its name is the model's name, in ``config.pbtxt`` too.
        source: A folder holding ``model.onnx`` and ``model_spec.json`` (export_onnx's output),
            and for a signed version also ``model_config.pbtxt`` and ``model.sig`` (a signed
            version folder of export_onnx's model repository).
        spec: The model's contract (``source``'s ``model_spec.json``), for ``config.pbtxt``
            when ``source`` carries no signed configuration.

    Returns:
        The new version's number.

    Raises:
        FileNotFoundError: ``source`` lacks one of the two files; nothing is pushed.
        ModelError: ``source``'s signed configuration has no top-level ``name:`` line.
    """
    folder = Path(model_folder)
    src = Path(source)
    signed_config = src / SIGNED_CONFIG_FILE
    # read before the push, so a config that cannot be used fails with nothing pushed
    config = (
        config_for(signed_config.read_text(encoding="utf-8"), folder.name)
        if signed_config.is_file()
        else triton_config(folder.name, spec)
    )
    folder.mkdir(parents=True, exist_ok=True)
    version = _push_version(folder, src)
    # after the push: a failed push must not leave the old version under a new config
    atomic_write_text(folder / CONFIG_FILE, config)
    return version


_TRITON_TYPES = {"float32": "TYPE_FP32", "datetime": "TYPE_FP64", "string": "TYPE_STRING"}

#: ``max_batch_size`` in ``config.pbtxt``: above 0, so Triton (kserve-tritonserver) may batch
#: requests with its dynamic batcher; the graph's batch dimension is free, so any size runs.
#: 1,024 rows is far above what one online request carries and far below the 16 MiB body limit.
MAX_BATCH_SIZE = 1024


def triton_config(name: str, spec: _Contract) -> str:
    """A Triton ``config.pbtxt`` for the ONNX Runtime backend (KServe's Triton runtime reads it).

    Inputs are named by column (the graph's names), every name escaped by :func:`pbtxt_string`.
    ``max_batch_size`` is :data:`MAX_BATCH_SIZE` and ``dynamic_batching`` is on, so ``dims`` are
    per request row, the batch dimension left out as Triton requires: ``[ 1 ]`` for an input
    (the graph's ``[batch, 1]``), ``[ classes ]`` probabilities for a classifier and ``[ 1 ]``
    for a regression (a spec with no classes): train checks its models, its own and a user
    module's, against exactly that shape. (mlrail's own server reads the graph, not this file.)
    """
    width = len(spec.classes) or 1
    lines = [
        f"name: {pbtxt_string(name)}",
        'platform: "onnxruntime_onnx"',
        f"max_batch_size: {MAX_BATCH_SIZE}",
    ]
    for i in spec.inputs:
        lines += [
            "input {",
            f"  name: {pbtxt_string(i.column)}",
            f"  data_type: {_TRITON_TYPES[i.dtype]}",
            "  dims: [ 1 ]",
            "}",
        ]
    lines += [
        "output {",
        f"  name: {pbtxt_string(spec.output)}",
        "  data_type: TYPE_FP32",
        f"  dims: [ {width} ]",
        "}",
        # Batches what is queued when an instance frees up (no added delay: Triton's default
        # max_queue_delay_microseconds is 0), so batch-1 latency is unchanged.
        "dynamic_batching { }",
    ]
    return "\n".join(lines) + "\n"
