"""The :class:`~mlrail.registry.Registry` on MLflow's Model Registry (and its tracking store).

Everything goes through one ``MlflowClient`` bound to the registry's URI, never MLflow's
process-wide "current" tracking URI, experiment or run: two registries in one process (a test,
a notebook) do not see each other's settings, and a user's own ``mlflow.set_tracking_uri`` is
left alone.

What a registration writes (all under the experiment ``mlrail/<model name>``):

- a run (named after the pipeline run) with the version's tags, the headline metrics and the
  data as dataset inputs (``mlflow.data.context`` = the split), so MLflow's lineage views
  show which data a version came from;
- a logged model in MLflow's ONNX flavour (``MLmodel`` with the signature and an input
  example), whose folder also holds the export_onnx files beside ``model.onnx``
  (``model_spec.json``, ``golden.json``, ``parity.json``, ...): a downloaded version is a model
  folder evaluate and deploy read as they are. ``model.onnx`` is the exported file byte for
  byte (MLflow's flavour re-serialises the graph; the original is put back and checked);
- a version of the registered model, created with all its tags in one request, so a version
  is never seen without its identity.

Files kept with a version (:meth:`MlflowRegistry.attach`) are artifacts of its run under
``mlrail/attachments/``.

HTTP: MLflow retries a failed request 7 times with exponential backoff and a 120 s timeout
(about 4 minutes before a down server is reported). Unless the user set them, requests made
here use 2 retries, backoff factor 1 and a 30 s timeout (``MLFLOW_HTTP_REQUEST_MAX_RETRIES``,
``..._BACKOFF_FACTOR``, ``..._TIMEOUT``): a blip is still retried, a down registry is reported
in seconds.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from mlrail.artifacts.model_repository import MODEL_FILE, SPEC_FILE
from mlrail.artifacts.modelspec import ModelSpec
from mlrail.redact import redact
from mlrail.registry import (
    IDENTITY_TAG,
    DatasetRef,
    ModelVersion,
    Registration,
    RegistryError,
)
from mlrail.registry.mlflow_model import dataset_entity, save_flavor

__all__ = ["ATTACHMENTS", "HTTP_DEFAULTS", "MlflowRegistry", "default_artifact_root"]

#: Where a version's attached files are, in its run's artifacts.
ATTACHMENTS = "mlrail/attachments"
#: MLflow's HTTP settings used here unless the environment sets them (module doc).
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}
#: The experiment of a model's registrations.
_EXPERIMENT = "mlrail/{name}"


def _sqlite_file(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI; None for any other."""
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def default_artifact_root(uri: str) -> str | None:
    """``artifacts`` beside a SQLite file (the embedded registry); None for anything else (a
    server chooses its own; another SQL database has no natural place)."""
    db = _sqlite_file(uri)
    return str(db.parent / "artifacts") if db else None


@contextlib.contextmanager
def _creating(uri: str) -> Iterator[None]:
    """Held while a client of ``uri`` is made: a lock beside a SQLite file, else nothing.

    MLflow's client opens its tracking store when made, and a new SQLite store runs its
    migrations then (every table, the registry's too); two processes doing that at once (two
    runs' steps on one working folder) fail ("Online migration expected to match one row").
    Under the lock, the first one creates the database and the others find it made.
    """
    db = _sqlite_file(uri)
    try:
        lock = open(db.parent / ".create.lock", "a") if db else None  # noqa: SIM115
    except OSError:
        lock = None  # a folder this process may not write: it cannot create the database either
    if lock is None:
        yield
        return
    import fcntl

    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield


@contextlib.contextmanager
def _http_defaults() -> Iterator[None]:
    added = [k for k in HTTP_DEFAULTS if k not in os.environ]
    for k in added:
        os.environ[k] = HTTP_DEFAULTS[k]
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """MLflow's INFO chatter (alembic migrations of a new SQLite store, "created version ...")
    stays out of the step's log; its warnings and errors still show."""
    with warnings.catch_warnings():
        # mlflow 3.17's SQL store declares relationships with lazy="noload", which
        # SQLAlchemy 2.1 deprecates: MLflow's own models, nothing a caller can change
        warnings.filterwarnings(
            "ignore", message=r"The ``noload`` loader strategy", category=DeprecationWarning
        )
        # mlflow.pyfunc's import infers schemas of MLflow's own agent types and warns about
        # their Any fields (mlflow 3.17): about MLflow's code, not the model logged here
        warnings.filterwarnings(
            "ignore", message=r".*Any type hint is inferred as AnyType", category=UserWarning
        )
        # imported first: importing mlflow sets its logger's level
        import mlflow  # noqa: F401

        loggers = [logging.getLogger(n) for n in ("mlflow", "alembic")]
        levels = [lg.level for lg in loggers]
        for lg in loggers:
            lg.setLevel(max(lg.getEffectiveLevel(), logging.WARNING))
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels, strict=True):
                lg.setLevel(level)


class MlflowRegistry:
    """The registry at an MLflow tracking URI (see the module doc)."""

    def __init__(self, uri: str, *, artifact_root: str | None = None) -> None:
        self._uri = uri
        self._artifact_root = artifact_root or default_artifact_root(uri)
        self._client: Any = None

    @property
    def uri(self) -> str:
        return redact(self._uri)

    # -- plumbing -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _call(self, what: str) -> Iterator[Any]:
        """The client, with MLflow's and the network's errors turned into one line."""
        with _http_defaults(), _quiet():
            try:
                if self._client is None:
                    from mlflow import MlflowClient

                    with _creating(self._uri):
                        self._client = MlflowClient(tracking_uri=self._uri, registry_uri=self._uri)
                yield self._client
            except RegistryError:
                raise
            except Exception as e:  # MLflow raises its own, requests' and SQLAlchemy's
                raise RegistryError(f"model registry {self.uri}: {what}: {_one_line(e)}") from e

    def _experiment(self, client: Any, name: str) -> str:
        exp_name = _EXPERIMENT.format(name=name)
        exp = client.get_experiment_by_name(exp_name)
        if exp is not None:
            return str(exp.experiment_id)
        location = None
        if self._artifact_root:
            location = Path(self._artifact_root, hashlib.sha256(exp_name.encode()).hexdigest()[:16])
            location.mkdir(parents=True, exist_ok=True)
        try:
            return str(
                client.create_experiment(
                    exp_name, artifact_location=location.as_uri() if location else None
                )
            )
        except Exception:
            # another registration created it meanwhile
            exp = client.get_experiment_by_name(exp_name)
            if exp is None:
                raise
            return str(exp.experiment_id)

    def _source_of(self, logged: Any) -> str:
        """A new version's source: ``models:/<id>`` links the version to its logged model, but
        a SQL store in this process resolves that through MLflow's process-wide tracking URI,
        not this client's (and mlflow 3.17's SQL store keeps no ``model_id``); there, the
        logged model's storage location, and the run links the two."""
        if urlsplit(self._uri).scheme in ("http", "https", "databricks"):
            return f"models:/{logged.model_id}"
        return str(logged.artifact_location)

    def _version(
        self, client: Any, mv: Any, aliases: Mapping[str, str] | None = None
    ) -> ModelVersion:
        """Ours from MLflow's; ``aliases`` (alias -> version) from the registered model, since
        MLflow's version search leaves a version's aliases empty."""
        if aliases is None:
            names = list(getattr(mv, "aliases", None) or ())
        else:
            names = [a for a, v in aliases.items() if str(v) == str(mv.version)]
        return ModelVersion(
            name=mv.name,
            version=str(mv.version),
            run_id=mv.run_id or "",
            uri=f"models:/{mv.name}/{mv.version}",
            tags=dict(mv.tags or {}),
            aliases=tuple(sorted(names)),
        )

    def _aliases(self, client: Any, name: str) -> dict[str, str]:
        return {a: str(v) for a, v in (client.get_registered_model(name).aliases or {}).items()}

    # -- the protocol -------------------------------------------------------------------------

    def register(
        self,
        name: str,
        model_dir: Path,
        *,
        identity: str,
        tags: Mapping[str, str],
        datasets: Sequence[DatasetRef] = (),
        example: Mapping[str, list[object]] | None = None,
        metrics: Mapping[str, float] | None = None,
        run_name: str = "",
    ) -> Registration:
        _check_name(name)
        model_dir = Path(model_dir)
        spec = ModelSpec.read(model_dir)  # a clear error before anything is written
        all_tags = {**tags, IDENTITY_TAG: identity}
        found = self.find(name, identity)
        if found is not None:
            return Registration(found, created=False)
        with self._call(f"registering {name}") as client:
            from mlflow.entities import DatasetInput, InputTag, LoggedModelOutput, Metric

            exp_id = self._experiment(client, name)
            run = client.create_run(exp_id, run_name=run_name or None, tags=all_tags)
            run_id = run.info.run_id
            try:
                if datasets:
                    client.log_inputs(
                        run_id,
                        datasets=[
                            DatasetInput(
                                dataset_entity(d),
                                tags=[InputTag("mlflow.data.context", d.context)],
                            )
                            for d in datasets
                        ],
                    )
                now = int(time.time() * 1000)
                figures = [
                    Metric(k, float(v), now, 0)
                    for k, v in (metrics or {}).items()
                    if np.isfinite(v)
                ]
                if figures:
                    client.log_batch(run_id, metrics=figures)
                logged = client.create_logged_model(
                    exp_id, name="model", source_run_id=run_id, model_type="onnx"
                )
                with tempfile.TemporaryDirectory(prefix="mlrail-register-") as tmp:
                    folder = Path(tmp) / "model"
                    save_flavor(folder, model_dir, spec, logged, run_id, example)
                    client.log_model_artifacts(logged.model_id, str(folder))
                client.finalize_logged_model(logged.model_id, "READY")
                client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, step=0)])
                with contextlib.suppress(Exception):  # exists already: the usual case
                    client.create_registered_model(name)
                mv = client.create_model_version(
                    name,
                    source=self._source_of(logged),
                    run_id=run_id,
                    tags=all_tags,
                    model_id=logged.model_id,
                )
            except BaseException:
                with contextlib.suppress(Exception):
                    client.set_terminated(run_id, "FAILED")
                raise
            client.set_terminated(run_id, "FINISHED")
            return Registration(self._version(client, mv), created=True)

    def find(self, name: str, identity: str) -> ModelVersion | None:
        _check_name(name)
        with self._call(f"looking up {name}") as client:
            if not identity:
                return None
            found = client.search_model_versions(
                f"name = '{name}' and tags.`{IDENTITY_TAG}` = '{_quote(identity)}'",
                order_by=["version_number DESC"],
                max_results=1,
            )
            return self._version(client, found[0], self._aliases(client, name)) if found else None

    def get(self, name: str, version: str) -> ModelVersion:
        with self._call(f"reading {name} version {version}") as client:
            return self._version(client, client.get_model_version(name, str(version)))

    def versions(self, name: str) -> list[ModelVersion]:
        _check_name(name)
        with self._call(f"listing the versions of {name}") as client:
            found = client.search_model_versions(
                f"name = '{name}'", order_by=["version_number DESC"], max_results=10_000
            )
            aliases = self._aliases(client, name) if found else {}
            return [self._version(client, mv, aliases) for mv in found]

    def set_alias(self, name: str, alias: str, version: str) -> None:
        def put() -> None:
            with self._call(f"setting alias {alias} of {name} to version {version}") as client:
                client.set_registered_model_alias(name, alias, str(version))

        try:
            put()
        except RegistryError as first:
            # MLflow's SQL store sets an alias as read-then-insert: two writers that both read
            # "not set" both insert, and one fails on the unique key. The row is there now, so
            # one more try updates it (the later writer wins, as it would have in turn)
            try:
                taken = self.by_alias(name, alias) is not None
            except RegistryError:
                taken = False
            if not taken:
                raise first
            put()

    def delete_alias(self, name: str, alias: str) -> None:
        if self.by_alias(name, alias) is None:
            return
        with self._call(f"removing alias {alias} of {name}") as client:
            client.delete_registered_model_alias(name, alias)

    def by_alias(self, name: str, alias: str) -> ModelVersion | None:
        from mlflow.exceptions import MlflowException

        with self._call(f"reading alias {alias} of {name}") as client:
            try:
                mv = client.get_model_version_by_alias(name, alias)
            except MlflowException as e:
                if e.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                    return None  # no such model, or no such alias on it
                raise
            return self._version(client, mv)

    def download(self, name: str, version: str, dst: Path) -> Path:
        with self._call(f"downloading {name} version {version}") as client:
            import mlflow.artifacts

            dst = Path(dst)
            dst.mkdir(parents=True, exist_ok=True)
            # the storage location, not models:/...: MLflow resolves that through the
            # process-wide registry URI, whatever this client's is
            where = mlflow.artifacts.download_artifacts(
                artifact_uri=client.get_model_version_download_uri(name, str(version)),
                dst_path=str(dst),
                tracking_uri=self._uri,
                registry_uri=self._uri,
            )
            folder = Path(where)
            if not (folder / MODEL_FILE).is_file() or not (folder / SPEC_FILE).is_file():
                raise RegistryError(
                    f"model registry {self.uri}: {name} version {version} holds no "
                    f"{MODEL_FILE} with {SPEC_FILE}: not registered by mlrail"
                )
            return folder

    def attach(self, name: str, version: str, file: Path) -> None:
        run_id = self._run_of(name, version)
        with self._call(f"attaching {Path(file).name} to {name} version {version}") as client:
            client.log_artifact(run_id, str(file), ATTACHMENTS)

    def attachments(self, name: str, version: str) -> list[str]:
        run_id = self._run_of(name, version)
        with self._call(f"listing the files of {name} version {version}") as client:
            return sorted(
                Path(f.path).name
                for f in client.list_artifacts(run_id, ATTACHMENTS)
                if not f.is_dir
            )

    def read_attachment(self, name: str, version: str, filename: str) -> bytes:
        if not filename or "/" in filename or filename in (".", ".."):
            raise RegistryError(f"model registry {self.uri}: not a file name: {filename!r}")
        run_id = self._run_of(name, version)
        what = f"reading {filename} of {name} version {version}"
        with self._call(what) as client, tempfile.TemporaryDirectory() as tmp:
            if filename not in self.attachments(name, version):
                raise RegistryError(f"model registry {self.uri}: {what}: no such file")
            path = client.download_artifacts(run_id, f"{ATTACHMENTS}/{filename}", tmp)
            return Path(path).read_bytes()

    def _run_of(self, name: str, version: str) -> str:
        v = self.get(name, version)
        if not v.run_id:
            raise RegistryError(
                f"model registry {self.uri}: {name} version {version} has no run to keep files in"
            )
        return v.run_id


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    first = text[0] if text else type(e).__name__
    return redact(first[:300])


def _check_name(name: str) -> None:
    if not name or "'" in name or "`" in name:
        raise RegistryError(f"not a registered model name: {name!r}")


def _quote(value: str) -> str:
    if "'" in value:
        raise RegistryError(f"a model identity cannot hold a quote: {value!r}")
    return value
