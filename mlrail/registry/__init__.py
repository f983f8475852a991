"""The model registry: one small interface, MLflow's Model Registry behind it (DESIGN §4).

Embedded by default (a SQLite store and a local artifact store under the working folder, no
server); on a cluster ``MLFLOW_TRACKING_URI`` (and MLflow's own auth variables, such as
``MLFLOW_TRACKING_TOKEN``) from a Secret.

- :class:`Registry` is what steps use: register a version (model folder, tags, datasets), move
  aliases (``challenger`` while a canary runs, ``champion`` for what serves all the traffic),
  read a version back by number or alias (its tags and a local copy of its model folder), and
  keep files with a version (the release record). A Kubeflow Model Registry backend would
  implement the same protocol; :mod:`.mlflow_backend` is the only one today.
- Which registry: :func:`resolve_uri` (an explicit URI, else ``MLFLOW_TRACKING_URI``, else none;
  :func:`require_uri` turns none into a clear error) and :func:`embedded_uri` (the default under
  a working folder: ``<folder>/registry/mlflow.db``, artifacts in ``<folder>/registry/artifacts``).
- Importing this module is cheap: MLflow (about 3 s) is imported by :func:`open_registry`'s
  backend on first use.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from mlrail.errors import MlrailError

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "ENV_URI",
    "IDENTITY_TAG",
    "DatasetRef",
    "ModelVersion",
    "Registration",
    "Registry",
    "RegistryError",
    "embedded_uri",
    "open_registry",
    "require_uri",
    "resolve_uri",
]

#: Where a cluster step finds the registry (MLflow's own variable, from a Secret).
ENV_URI = "MLFLOW_TRACKING_URI"
#: The alias of the version that serves all the traffic.
CHAMPION = "champion"
#: The alias of the version a running canary serves a share of the traffic with.
CHALLENGER = "challenger"
#: The version tag holding the model identity: one version per identity per registered model.
IDENTITY_TAG = "mlrail.identity"


class RegistryError(MlrailError):
    """The registry is not configured, cannot be reached, or refused a request (one line,
    naming the registry's URI without credentials)."""


@dataclass(frozen=True)
class DatasetRef:
    """Data a version was built or evaluated on, as the registry records it (lineage).

    Attributes:
        name: What the data is called, e.g. ``penguins.csv/train``.
        uri: Where it is (an artifact folder or a source URI; credentials are removed).
        digest: Content hash (ingest's fingerprint), at most 36 characters kept.
        context: Its role: ``train``, ``eval``, ``test``.
        rows: Row count, when known.
        columns: ``(column, type)`` pairs; types are MLflow's (``double``, ``long``,
            ``string``, ``boolean``, ``datetime``, ``binary``).
    """

    name: str
    uri: str
    digest: str
    context: str
    rows: int | None = None
    columns: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ModelVersion:
    """One version of a registered model.

    Attributes:
        name: The registered model's name.
        version: Its version number (a string, as registries give it: "1", "2", ...).
        run_id: The run that registered it ("" when there is none).
        uri: Where its model files are in the registry (``models:/<name>/<version>``).
        tags: Its tags.
        aliases: The aliases pointing at it.
    """

    name: str
    version: str
    run_id: str
    uri: str
    tags: Mapping[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @property
    def identity(self) -> str:
        """The model identity it was registered under ("" if none was recorded)."""
        return self.tags.get(IDENTITY_TAG, "")


@dataclass(frozen=True)
class Registration:
    """What :meth:`Registry.register` did: the version, and whether it is new (False: the same
    identity was already a version, which is returned as it was)."""

    version: ModelVersion
    created: bool


class Registry(Protocol):
    """The registry's operations steps use; every method raises :class:`RegistryError`."""

    @property
    def uri(self) -> str:
        """Where the registry is (credentials removed: safe to print)."""
        ...

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
        """Record the model in ``model_dir`` (``model.onnx`` + ``model_spec.json`` and files
        beside them) as a new version of ``name``, unless a version has this identity already.

        Args:
            name: The registered model.
            model_dir: The model folder (export_onnx's layout); copied as it is.
            identity: The model identity (tag :data:`IDENTITY_TAG`).
            tags: The version's tags (also set on the run that registers it).
            datasets: The data, recorded as the run's dataset inputs.
            example: An input example: column -> values (one value per row).
            metrics: Headline figures, logged on the run.
            run_name: The registering run's name.
        """
        ...

    def find(self, name: str, identity: str) -> ModelVersion | None:
        """The version of ``name`` registered under ``identity``, if any (the newest)."""
        ...

    def get(self, name: str, version: str) -> ModelVersion:
        """Version ``version`` of ``name``."""
        ...

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, newest first ([] when the model is not registered)."""
        ...

    def set_alias(self, name: str, alias: str, version: str) -> None:
        """Point ``alias`` at ``version`` (moving it from wherever it was)."""
        ...

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove ``alias`` (nothing happens when it is not set)."""
        ...

    def by_alias(self, name: str, alias: str) -> ModelVersion | None:
        """The version ``alias`` points at; None when the model or the alias does not exist."""
        ...

    def download(self, name: str, version: str, dst: Path) -> Path:
        """Copy the version's model folder into ``dst`` (created); returns the folder holding
        ``model.onnx`` and ``model_spec.json``."""
        ...

    def attach(self, name: str, version: str, file: Path) -> None:
        """Keep ``file`` with the version, under its file name (a later file of the same name
        replaces it)."""
        ...

    def attachments(self, name: str, version: str) -> list[str]:
        """The names of the files kept with the version, sorted."""
        ...

    def read_attachment(self, name: str, version: str, filename: str) -> bytes:
        """The bytes of a file kept with the version."""
        ...


def resolve_uri(explicit: str = "") -> str | None:
    """The registry to use: ``explicit``, else ``$MLFLOW_TRACKING_URI``, else None."""
    uri = explicit.strip() or os.environ.get(ENV_URI, "").strip()
    return uri or None


def require_uri(explicit: str = "") -> str:
    """:func:`resolve_uri`, for a step that cannot do without a registry.

    Raises:
        RegistryError: no URI given and ``MLFLOW_TRACKING_URI`` unset.
    """
    uri = resolve_uri(explicit)
    if uri is None:
        raise RegistryError(
            f"no model registry configured: pass registry_uri or set {ENV_URI} "
            "(mlrail run uses an embedded one under its working folder)"
        )
    return uri


def embedded_uri(workdir: str | os.PathLike[str]) -> str:
    """The embedded registry of a working folder: ``sqlite:///<folder>/registry/mlflow.db``.

    Its artifacts go to ``<folder>/registry/artifacts`` (:func:`open_registry` derives that from
    the URI). The folder is created; the database is created on first use.
    """
    folder = Path(workdir).resolve() / "registry"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}"


def open_registry(uri: str, *, artifact_root: str | None = None) -> Registry:
    """The registry at ``uri`` (an MLflow tracking URI: ``http(s)://``, ``sqlite:///``, ...).

    Args:
        uri: From :func:`require_uri` or :func:`embedded_uri`.
        artifact_root: Where a new model's files go when the registry is a database the client
            writes itself (``sqlite:///`` and other SQL URIs); default: ``artifacts`` beside a
            SQLite file. A server decides this itself (``mlflow server``'s own options).
    """
    if not uri:
        raise RegistryError("no model registry configured (empty URI)")
    from mlrail.registry.mlflow_backend import MlflowRegistry

    return MlflowRegistry(uri, artifact_root=artifact_root)
