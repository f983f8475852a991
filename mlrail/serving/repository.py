"""A local model repository in the Triton layout, loaded into ONNX Runtime sessions.

The layout and what a version is (a canonical positive integer folder: ``1``, ``2``, ``10``) are
:mod:`mlrail.artifacts.model_repository`'s::

    <repository>/<model_name>/config.pbtxt               (read by Triton, not by us)
    <repository>/<model_name>/<version>/model.onnx
    <repository>/<model_name>/<version>/model_spec.json  mlrail's input contract (optional here)

Each model serves one version: the pinned one, or else the highest version that loads. A version
that fails to load (missing or corrupt ``model.onnx``, a ``model_spec.json`` that disagrees with
the graph) is recorded with an error naming the file and never crashes the server: the model keeps
serving the version it had (a bad deploy must not take a working model down), or is reported not
ready if it has none. Other models are not affected.

New versions and models are picked up without a restart: :meth:`Repository.poll`, called on every
request, starts a background re-scan at most once per ``poll_interval`` seconds, and a new session
replaces the old one only once it has loaded, so requests never wait for a load. Version folders
appear atomically (:func:`mlrail.artifacts.model_repository.push` renames a finished hidden
folder to the version's number), so a version folder that exists is complete; hidden folders
(the rename's source) are not versions.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlrail.artifacts import model_repository
from mlrail.artifacts.model_repository import MODEL_FILE, SPEC_FILE
from mlrail.artifacts.tensors import TensorSpec
from mlrail.errors import ModelError

if TYPE_CHECKING:
    # Both are imported where they are used: onnxruntime costs ~0.3 s and
    # mlrail.artifacts.modelspec pulls in pyarrow, and neither is needed to import the server
    # module (`mlrail serve --help`).
    import onnxruntime as ort

    from mlrail.artifacts.modelspec import ModelSpec

__all__ = ["LoadedModel", "ModelEntry", "Repository", "load_model"]

logger = logging.getLogger("mlrail.serving")

# ONNX tensor element types and their Open Inference Protocol v2 datatype and numpy dtype.
_ORT_TYPES: dict[str, tuple[str, np.dtype[Any]]] = {
    "tensor(float)": ("FP32", np.dtype(np.float32)),
    "tensor(double)": ("FP64", np.dtype(np.float64)),
    "tensor(float16)": ("FP16", np.dtype(np.float16)),
    "tensor(int8)": ("INT8", np.dtype(np.int8)),
    "tensor(int16)": ("INT16", np.dtype(np.int16)),
    "tensor(int32)": ("INT32", np.dtype(np.int32)),
    "tensor(int64)": ("INT64", np.dtype(np.int64)),
    "tensor(uint8)": ("UINT8", np.dtype(np.uint8)),
    "tensor(uint16)": ("UINT16", np.dtype(np.uint16)),
    "tensor(uint32)": ("UINT32", np.dtype(np.uint32)),
    "tensor(uint64)": ("UINT64", np.dtype(np.uint64)),
    "tensor(bool)": ("BOOL", np.dtype(np.bool_)),
    "tensor(string)": ("BYTES", np.dtype(object)),
}
# model_spec.json dtypes and the V2 datatype the graph must take for them. A date or timestamp
# is FP64 days since 1970-01-01 UTC (mlrail.datetimes); the server also takes ISO 8601 strings.
_SPEC_DATATYPES = {"float32": "FP32", "string": "BYTES", "datetime": "FP64"}


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """One version of a model, loaded and ready to run.

    Attributes:
        name: The model's name (its folder in the repository).
        version: The version number (its folder under the model).
        folder: The version folder.
        session: The ONNX Runtime session.
        inputs: The inputs in contract order (``model_spec.json``'s, else the graph's).
        outputs: The graph's outputs.
        spec: The model's contract, or None if the version has no ``model_spec.json``.
        fingerprint: Identity of the files it was loaded from, to notice a replaced folder.
    """

    name: str
    version: int
    folder: Path
    session: ort.InferenceSession
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    spec: ModelSpec | None = None
    fingerprint: tuple[int, ...] = ()
    # Lookups the request path needs, computed once here instead of per request.
    input_index: dict[str, TensorSpec] = field(init=False, repr=False)
    output_index: dict[str, TensorSpec] = field(init=False, repr=False)
    output_names: tuple[str, ...] = field(init=False, repr=False)
    batched: bool = field(init=False, repr=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen dataclass: derived fields are set once, here
        set_(self, "input_index", {t.name: t for t in self.inputs})
        set_(self, "output_index", {t.name: t for t in self.outputs})
        set_(self, "output_names", tuple(t.name for t in self.outputs))
        # Every mlrail input is [batch, 1]: when all inputs have a free first dimension it is
        # the batch, and requests must agree on it (or ONNX Runtime fails inside the graph).
        set_(
            self,
            "batched",
            bool(self.inputs) and all(len(t.shape) >= 1 and t.shape[0] == -1 for t in self.inputs),
        )


@dataclass
class ModelEntry:
    """A model folder of the repository and what it serves.

    Attributes:
        name: The model's name (its folder).
        folder: The model folder.
        served: The version being served, or None when the model is not ready.
        error: Why the model is not ready (None when it is).
        versions: The version numbers found on disk at the last scan, ascending.
        failures: Versions that failed to load, each with its fingerprint and error message.
        reported: The last "still serving an older version" state logged, so a broken newest
            version is logged once, not at every re-scan while it stays.

    Error messages name files relative to the repository (``penguins/3/model.onnx``): they are
    sent to clients, who have no business knowing the server's file system. The server log has
    the full paths.
    """

    name: str
    folder: Path
    served: LoadedModel | None = None
    error: str | None = None
    versions: tuple[int, ...] = ()
    failures: dict[int, tuple[tuple[int, ...], str]] = field(default_factory=dict)
    reported: tuple[Any, ...] | None = None

    @property
    def ready(self) -> bool:
        """Whether a version of this model is loaded and serving."""
        return self.served is not None

    def version_error(self, version: int) -> str | None:
        """The load error of ``version``, if it failed to load."""
        failure = self.failures.get(version)
        return failure[1] if failure else None


class Repository:
    """The models of a local model repository, each served at one version.

    Args:
        root: The repository folder (one sub-folder per model).
        model_version: Serve this version of every model instead of the highest one.
        intra_op_threads: ONNX Runtime threads per session run. One by default: requests are
            small batches, concurrency comes from requests and workers, and ORT's default pool
            (one thread per core, spinning between runs) burns CPU the server needs for HTTP.
        poll_interval: Seconds between re-scans for new versions triggered by :meth:`poll`.

    Raises:
        ModelError: ``root`` is not a folder.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        model_version: int | None = None,
        *,
        intra_op_threads: int = 1,
        poll_interval: float = 1.0,
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise ModelError(f"{self.root}: model repository not found (not a folder)")
        if model_version is not None and (isinstance(model_version, bool) or model_version < 1):
            raise ModelError(f"model_version must be a version number >= 1, got {model_version!r}")
        if intra_op_threads < 0:
            raise ModelError(
                f"intra_op_threads must be >= 0 (0: ONNX Runtime's default), got {intra_op_threads}"
            )
        self.model_version = model_version
        self.intra_op_threads = intra_op_threads
        self.poll_interval = poll_interval
        self._models: dict[str, ModelEntry] = {}
        self._repository_problem: str | None = None  # the last one logged, to log it once
        self._root_prefix = re.compile(r"(?<![\w./-])" + re.escape(str(self.root) + os.sep))
        self._refresh_lock = threading.Lock()
        self.refresh()
        self._next_poll = time.monotonic() + poll_interval  # it has just scanned

    # -- reading (request path: no locks, no I/O) ------------------------------------------------

    def model(self, name: str) -> ModelEntry | None:
        """The model called ``name``, or None if the repository has no such model folder."""
        return self._models.get(name)

    def names(self) -> list[str]:
        """The names of the models in the repository, sorted."""
        return sorted(self._models)

    def not_ready(self) -> dict[str, str]:
        """Each model that is not ready, with the reason."""
        return {n: m.error or "not loaded" for n, m in self._models.items() if not m.ready}

    # -- scanning ----------------------------------------------------------------------------------

    def poll(self) -> None:
        """Start a background re-scan if ``poll_interval`` has passed since the last one.

        Cheap enough for every request (a clock read); the scan and any model load run in a
        thread, and the model being served keeps serving until its replacement has loaded.
        """
        now = time.monotonic()
        if now < self._next_poll:
            return
        self._next_poll = now + self.poll_interval
        if not self._refresh_lock.acquire(blocking=False):
            return  # a scan is running; it will see the same files
        threading.Thread(
            target=self._refresh_in_background, name="mlrail-model-refresh", daemon=True
        ).start()

    def wait_idle(self, timeout: float = -1) -> bool:
        """Wait until no re-scan is running (for tests and tools that need a settled state).

        Args:
            timeout: Seconds to wait at most; negative waits as long as it takes.

        Returns:
            True if no re-scan is running, False on timeout.
        """
        if not self._refresh_lock.acquire(timeout=timeout):
            return False
        self._refresh_lock.release()
        return True

    def refresh(self) -> None:
        """Re-scan the repository now, loading new or changed versions (blocks until done)."""
        with self._refresh_lock:
            self._refresh()

    def _refresh_in_background(self) -> None:
        try:
            self._refresh()
        except Exception:  # a thread's exception would vanish; keep serving and say why
            logger.exception("re-scanning model repository %s failed", self.root)
        finally:
            self._refresh_lock.release()

    def _refresh(self) -> None:
        try:
            names = sorted(
                e.name for e in os.scandir(self.root) if not e.name.startswith(".") and e.is_dir()
            )
        except OSError as e:
            # Keep serving what is loaded: the folder may be re-mounted or replaced.
            self._report_once(f"{self.root}: cannot list the model repository: {e}", logging.ERROR)
            return
        models: dict[str, ModelEntry] = {}
        for name in names:
            entry = self._models.get(name) or ModelEntry(name=name, folder=self.root / name)
            self._refresh_model(entry)
            models[name] = entry
        for gone in self._models.keys() - models.keys():
            logger.warning("model %r was removed from %s; no longer serving it", gone, self.root)
        if not models:
            self._report_once(f"{self.root}: the model repository holds no model folders")
        else:
            self._repository_problem = None
        # One assignment, so readers see either the old or the new set of models.
        self._models = models

    def _report_once(self, message: str, level: int = logging.WARNING) -> None:
        if message != self._repository_problem:
            logger.log(level, "%s", message)
            self._repository_problem = message

    def _relative(self, message: str) -> str:
        """``message`` with the repository's own path cut from the paths it names.

        Only where a path starts (not inside a longer one: a model folder may share the
        repository's name), and never a bare ``.``.
        """
        return self._root_prefix.sub("", message)

    def _refresh_model(self, entry: ModelEntry) -> None:
        versions = model_repository.versions(entry.folder)
        entry.versions = tuple(versions)
        name = entry.name
        if not versions:
            entry.served, entry.failures = None, {}
            entry.error = f"{name}: no version folders (expected {name}/1/{MODEL_FILE})"
            return
        if self.model_version is not None:
            if self.model_version not in versions:
                entry.served = None
                entry.error = (
                    f"{name}: version {self.model_version} (pinned) not found; "
                    f"versions present: {', '.join(map(str, versions))}"
                )
                return
            candidates: Iterable[int] = [self.model_version]
        else:
            candidates = reversed(versions)

        failures = {v: f for v, f in entry.failures.items() if v in versions}
        chosen: LoadedModel | None = None
        for version in candidates:
            folder = entry.folder / str(version)
            fingerprint = _fingerprint(folder)
            current = entry.served
            if current and current.version == version and current.fingerprint == fingerprint:
                chosen = current
                break
            known = failures.get(version)
            if known and known[0] == fingerprint:
                continue  # failed before and unchanged: don't re-read a corrupt file every scan
            try:
                chosen = load_model(
                    folder, entry.name, version, self.intra_op_threads, fingerprint=fingerprint
                )
            except ModelError as e:
                # Logged once per distinct failure: an unchanged file is not re-read (above).
                failures[version] = (fingerprint, self._relative(str(e)))
                logger.error("model %r version %d not loaded: %s", entry.name, version, e)
                continue
            failures.pop(version, None)
            logger.info("model %r: serving version %d from %s", entry.name, version, folder)
            break

        newest_failure = max(failures, default=0)
        state = (
            (chosen.version, newest_failure, failures[newest_failure][0])
            if chosen is not None and newest_failure > chosen.version
            else None
        )
        if state is not None and state != entry.reported:
            logger.warning(
                "model %r: still serving version %d; version %d failed to load",
                entry.name,
                chosen.version if chosen else 0,
                newest_failure,
            )
        entry.reported = state
        entry.failures = failures
        entry.served = chosen
        entry.error = (
            None
            if chosen
            else "; ".join(failures[v][1] for v in sorted(failures, reverse=True))
            or f"{name}: no version could be loaded"
        )


def load_model(
    folder: str | os.PathLike[str],
    name: str,
    version: int,
    intra_op_threads: int = 1,
    *,
    fingerprint: tuple[int, ...] = (),
) -> LoadedModel:
    """Load one version folder into an ONNX Runtime session and check it against its contract.

    Args:
        folder: The version folder holding ``model.onnx`` (and ``model_spec.json``).
        name: The model's name.
        version: The version number.
        intra_op_threads: ONNX Runtime threads per run (0: ONNX Runtime's default).
        fingerprint: Identity of the files, kept to notice when the folder is replaced.

    Returns:
        The loaded model, its inputs in the contract's order.

    Raises:
        ModelError: ``model.onnx`` is missing or cannot be loaded, has a tensor type the V2
            protocol cannot carry, or disagrees with ``model_spec.json``; the message names the
            file.
    """
    import onnxruntime as ort

    folder = Path(folder)
    onnx_path = folder / MODEL_FILE
    if not onnx_path.is_file():
        raise ModelError(f"{onnx_path}: missing; each version folder must hold {MODEL_FILE}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: ORT's load-time warnings are not actionable
    try:
        session = ort.InferenceSession(
            str(onnx_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as e:  # ORT's pybind errors (InvalidProtobuf, Fail, ...) share no base
        raise ModelError(f"{onnx_path}: ONNX Runtime cannot load this model: {e}") from e

    inputs = [_tensor_spec(i, onnx_path, "input") for i in session.get_inputs()]
    outputs = [_tensor_spec(o, onnx_path, "output") for o in session.get_outputs()]
    spec = _read_spec(folder)
    if spec is not None:
        inputs = _check_spec(spec, inputs, outputs, folder / SPEC_FILE, onnx_path)
    return LoadedModel(
        name=name,
        version=version,
        folder=folder,
        session=session,
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        spec=spec,
        fingerprint=fingerprint,
    )


def _tensor_spec(arg: Any, onnx_path: Path, kind: str) -> TensorSpec:
    types = _ORT_TYPES.get(arg.type)
    if types is None:
        raise ModelError(
            f"{onnx_path}: {kind} {arg.name!r} has type {arg.type}, which the V2 inference "
            "protocol cannot carry as a tensor"
        )
    # ORT reports a free dimension as a symbol ("unk__38", "batch") or None; V2 says -1.
    shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in (arg.shape or ()))
    return TensorSpec(name=arg.name, datatype=types[0], shape=shape, dtype=types[1])


def _read_spec(folder: Path) -> ModelSpec | None:
    from mlrail.artifacts.modelspec import ModelSpec

    path = folder / SPEC_FILE
    if not path.is_file():
        # A plain Triton-layout repository has no contract file: the graph is the contract.
        logger.info("%s: no %s; serving the graph's own inputs", folder, SPEC_FILE)
        return None
    try:
        return ModelSpec.read(folder)
    except (ValueError, KeyError, TypeError) as e:
        raise ModelError(f"{path}: not a valid model spec: {e!r}") from e


def _check_spec(
    spec: ModelSpec,
    inputs: list[TensorSpec],
    outputs: list[TensorSpec],
    spec_path: Path,
    onnx_path: Path,
) -> list[TensorSpec]:
    """The graph's inputs in the spec's order, each checked against its declared dtype.

    export_onnx names the graph's inputs by the data's columns (``Größe``, ``a.b/c``), which is
    what V2 clients send; models exported before that have the TensorFlow-side names
    (``in_grosse``). Either loads, and the graph's own names are served.
    """
    by_name = {t.name: t for t in inputs}
    graph = set(by_name)
    columns = [i.column for i in spec.inputs]
    names = [i.name for i in spec.inputs]
    if graph == set(columns):
        declared = columns
    elif graph == set(names):
        declared = names
    else:
        # Report against whichever naming the graph is closer to, so the message is short.
        declared = columns if len(graph & set(columns)) >= len(graph & set(names)) else names
        missing = [n for n in declared if n not in by_name]
        extra = [n for n in by_name if n not in set(declared)]
        problems = []
        if missing:
            problems.append(f"declared input(s) not in the graph: {', '.join(map(repr, missing))}")
        if extra:
            problems.append(f"graph input(s) not declared: {', '.join(map(repr, extra))}")
        if not problems:  # the same set of names twice over: a spec with repeated inputs
            problems.append("the spec declares an input more than once")
        raise ModelError(f"{spec_path} does not match {onnx_path}: {'; '.join(problems)}")
    served: list[TensorSpec] = []
    for i, graph_name in zip(spec.inputs, declared, strict=True):
        want = _SPEC_DATATYPES.get(i.dtype)
        if want is None:
            raise ModelError(
                f"{spec_path}: input {i.column!r} has unknown dtype {i.dtype!r} "
                f"(expected one of {', '.join(_SPEC_DATATYPES)})"
            )
        tensor = by_name[graph_name]
        if tensor.datatype != want:
            raise ModelError(
                f"{spec_path} does not match {onnx_path}: input {graph_name!r} is declared "
                f"{i.dtype} ({want}) but the graph takes {tensor.datatype}"
            )
        served.append(replace(tensor, datetime=True) if i.dtype == "datetime" else tensor)
    if spec.output not in {o.name for o in outputs}:
        raise ModelError(
            f"{spec_path} does not match {onnx_path}: output {spec.output!r} is not in the graph "
            f"(graph outputs: {', '.join(o.name for o in outputs)})"
        )
    return served


def _fingerprint(folder: Path) -> tuple[int, ...]:
    """Identity of a version folder's files: changes when the folder or model.onnx is replaced."""
    try:
        d = os.stat(folder)
    except OSError:
        return ()
    try:
        m = os.stat(folder / MODEL_FILE)
    except OSError:
        return (d.st_ino, d.st_mtime_ns)
    return (d.st_ino, d.st_mtime_ns, m.st_ino, m.st_mtime_ns, m.st_size)
