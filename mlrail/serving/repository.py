"""A local model repository in the Triton layout, loaded into ONNX Runtime sessions.

The layout and what a version is (a canonical positive integer folder: ``1``, ``2``, ``10``) are
:mod:`mlrail.artifacts.model_repository`'s::

    <repository>/<model_name>/config.pbtxt               (read by Triton, not by us)
    <repository>/<model_name>/<version>/model.onnx
    <repository>/<model_name>/<version>/model_spec.json  mlrail's input contract (optional here)
    <repository>/<model_name>/logging.json               payload logging on, at a rate (optional)
    <repository>/_logs/                                  the payload log (never a model)

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

With a ``verify_key`` (``mlrail serve --verify-key``) every version is checked against its
signature before it loads, at start and at every re-scan
(:func:`mlrail.artifacts.signing.verify_version`: its files and the model's ``config.pbtxt``).
A version that is unsigned, signed by another key, or whose files differ from what was signed
is refused like one that does not load: never loaded, one log line naming the file, its
``/v2/models/<name>/versions/<n>/ready`` answers 503 with that reason, and the model keeps
serving the version it had. A refused version is checked again when its files (the signature,
the signed files or ``config.pbtxt``) change. A version already serving is re-verified when
it is reloaded (its folder or ``model.onnx`` replaced); what it serves from memory was verified
when it loaded, so an edit of only ``model.sig`` or ``config.pbtxt`` leaves it serving until the
next start, which refuses it. Without a key nothing is verified and
``model_signing`` is never imported.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlrail.artifacts import model_repository
from mlrail.artifacts.model_repository import CONFIG_FILE, MODEL_FILE, SPEC_FILE
from mlrail.artifacts.signing import (
    SIGNATURE_FILE,
    SIGNED_CONFIG_FILE,
    read_public_key,
    verify_version,
)
from mlrail.errors import ModelError
from mlrail.serving.model import LoadedModel, load_model
from mlrail.serving.payload_log.settings import LOGGING_FILE, read_sample_rate

__all__ = ["ModelEntry", "Repository"]

logger = logging.getLogger("mlrail.serving")


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
        log_sample_rate: The model's payload-log sample rate from its ``logging.json``
            (:mod:`mlrail.serving.payload_log.settings`), 0 without one; re-read at each scan
            when the file changed. A bad file logs an error and means 0: logging never decides
            whether a model serves.

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
    log_sample_rate: float = 0.0
    logging_stamp: tuple[int, ...] = field(default=(), repr=False)

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
        verify_key: A PEM public key: serve only versions signed with its private key (see the
            module doc); None verifies nothing.

    Raises:
        ModelError: ``root`` is not a folder, or ``verify_key`` is not a usable public key.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        model_version: int | None = None,
        *,
        intra_op_threads: int = 1,
        poll_interval: float = 1.0,
        verify_key: str | os.PathLike[str] | None = None,
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
        self.verify_key = None if verify_key is None else Path(verify_key)
        if self.verify_key is not None:
            read_public_key(self.verify_key)  # a bad key fails at start, not at every load
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
            # The payload log's folder (LOGS_FOLDER) is no model, nor is a hidden folder or
            # one starting with "_" (a log folder set aside, _logs-2026-12, say), as for data
            # sources: a probe must not turn unready over a folder a person parked there.
            names = sorted(
                e.name
                for e in os.scandir(self.root)
                if not e.name.startswith((".", "_")) and e.is_dir()
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

    def _refresh_logging(self, entry: ModelEntry) -> None:
        """Re-read the model's ``logging.json`` if it changed since the last scan (one stat)."""
        path = entry.folder / LOGGING_FILE
        try:
            s = os.stat(path)
            stamp: tuple[int, ...] = (s.st_ino, s.st_mtime_ns, s.st_size)
        except OSError:
            stamp = ()
        if stamp == entry.logging_stamp:
            return
        entry.logging_stamp = stamp
        try:
            rate = read_sample_rate(entry.folder)
        except (ValueError, OSError) as e:
            logger.error("model %r: payload logging stays off: %s", entry.name, e)
            rate = 0.0
        if rate != entry.log_sample_rate:
            logger.info("model %r: payload log sample rate %g", entry.name, rate)
        entry.log_sample_rate = rate

    def _refresh_model(self, entry: ModelEntry) -> None:
        self._refresh_logging(entry)
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
            # a refused version is retried when any file its verification read changes
            stamp = fingerprint + _signed_stamp(folder) if self.verify_key else fingerprint
            known = failures.get(version)
            if known and known[0] == stamp:
                continue  # failed before and unchanged: don't re-read a corrupt file every scan
            try:
                signer = self._verify(folder, entry.name)
                chosen = load_model(
                    folder,
                    entry.name,
                    version,
                    self.intra_op_threads,
                    fingerprint=fingerprint,
                    signer=signer,
                )
            except ModelError as e:
                # Logged once per distinct failure: an unchanged file is not re-read (above).
                failures[version] = (stamp, self._relative(str(e)))
                logger.error("model %r version %d not loaded: %s", entry.name, version, e)
                continue
            failures.pop(version, None)
            logger.info(
                "model %r: serving version %d from %s%s",
                entry.name,
                version,
                folder,
                f" (signature verified, signer {signer})" if signer else "",
            )
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

    def _verify(self, folder: Path, name: str) -> str | None:
        """The signer of a version folder, or None with no key; SignatureError if refused."""
        if self.verify_key is None:
            return None
        return verify_version(folder, self.verify_key, model_name=name).signer


def _signed_stamp(folder: Path) -> tuple[int, ...]:
    """Identity of the other files a verification reads (0s for a missing one)."""
    stamp: list[int] = []
    for path in (
        folder / SIGNATURE_FILE,
        folder / SIGNED_CONFIG_FILE,
        folder / SPEC_FILE,
        folder.parent / CONFIG_FILE,
    ):
        try:
            s = os.stat(path)
        except OSError:
            stamp += [0, 0, 0]
            continue
        stamp += [s.st_ino, s.st_mtime_ns, s.st_size]
    return tuple(stamp)


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
