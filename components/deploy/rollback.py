"""Rollback: serving goes back to an earlier registered version, and a release of its own.

:func:`rollback` (``mlrail rollback MODEL --to VERSION``), in this order:

1. **The model.** The version's model folder is fetched from the registry
   (:meth:`~mlrail.registry.Registry.download`) and deployed with
   :func:`mlrail.components.deploy.core.deploy`:

   - ``local``: pushed into the model repository as its newest version (a running
     ``mlrail serve`` hot-reloads it), unless the newest version already is this model
     (``unchanged``);
   - ``kserve``: the InferenceService is applied with ``storageUri`` = the model repository of
     the ``onnx_model`` artifact the earlier release of that version was deployed from (the
     record's ``links.onnx_model``, KFP's ``s3://``/``minio://`` URI, which a cluster's storage
     initializer reads), or ``onnx_model_uri`` when given. The registry's copy is not what
     serves (an MLflow store's URI, e.g. ``mlflow-artifacts:/``, is nothing KServe can read):
     it gives the identity, the sha256 (checked against the earlier record's: the artifact
     must be that version's bytes) and the golden requests of the smoke test, which asks the
     server for the model by ``model_name`` (the pipeline names export_onnx's repository
     folder and the InferenceService alike). Replicas and resources are deploy's defaults.
     Then deploy's wait and smoke test, as for any deploy; a failed one raises and nothing is
     recorded.

   deploy's own release record is not kept, and it sends no event: the rollback writes and
   sends its own.

2. **Aliases**: ``champion`` -> the version, ``challenger`` removed
   (:func:`mlrail.registry.aliases.rollback`).

3. **The record** (kind ``rollback``): the model and where it serves now, who asked and why
   (``request``), when; the data, evidence and build sections (and the links) copied from the
   earlier record of that version, since the model is the one that evidence is about (the
   release store's newest release of the version, else the record kept with the version in
   the registry; with neither, they hold what the model folder gives: ONNX parity, and the
   build from the version's tags); ``previous`` = the newest release before (the store's,
   else the champion's kept record) and the changes since it. Kept in ``release_store`` when
   given and with the version in the registry (it becomes the version's newest release).

4. **The event** ``model.rolled_back``: ``version`` (serving now), ``from_version`` (the
   champion before), ``reason``.

A registry that refuses the alias move raises after the record is written and the event sent
(the model serves, but the registry would otherwise lie about it), as deploy does.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from mlrail import events
from mlrail.artifacts import model_repository as repository
from mlrail.artifacts import release
from mlrail.artifacts.model_repository import MODEL_FILE
from mlrail.artifacts.modelspec import ModelSpec
from mlrail.components.deploy import core, kserve
from mlrail.components.deploy.release import build_of, keep_with_version, record_signature
from mlrail.errors import DataError
from mlrail.io import read_json
from mlrail.registry import CHAMPION, Registry, RegistryError, aliases
from mlrail.registry.releases import kept_record

__all__ = ["TARGETS", "RolledBack", "rollback"]

#: Where a rollback can put the model back (render serves nothing: nothing to roll back).
TARGETS = ("local", "kserve")


@dataclass(frozen=True)
class RolledBack:
    """What :func:`rollback` did.

    Attributes:
        record: The rollback's release record (numbered when a store keeps it).
        deployment: What deploy did (decision, where, the local version).
        from_version: The champion before ("" when there was none).
        stored: The record's folder in the release store (None without a store).
        event: The ``model.rolled_back`` delivery.
    """

    record: release.Record
    deployment: core.Deployment
    from_version: str
    stored: Path | None
    event: events.Delivery


def _earlier(registry: Registry, name: str, version: str, store: str) -> release.Record | None:
    """The newest release of ``version``: the store's, else the registry's copy."""
    if store:
        mine = [r for r in release.list_releases(store, name) if r.version == version]
        if mine:
            return mine[-1]
    return kept_record(registry, name, version)


def _previous(registry: Registry, name: str, store: str) -> release.Record | None:
    """The release before this one: the store's newest, else the champion's kept record."""
    if store:
        newest = release.latest(store, name)
        if newest is not None:
            return newest
    champion = registry.by_alias(name, CHAMPION)
    return kept_record(registry, name, champion.version) if champion is not None else None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _storage_artifact(
    earlier: release.Record | None, explicit: str, name: str, version: str
) -> str:
    """The ``onnx_model`` artifact URI KServe serves the version from (module doc)."""
    if explicit:
        return explicit
    uri = earlier.links.get("onnx_model", "") if earlier is not None else ""
    if not uri:
        what = "no earlier release" if earlier is None else "its earlier release names no"
        raise DataError(
            f"{name} version {version}: {what} onnx_model artifact to serve from on KServe; "
            "give its URI (onnx_model_uri, --onnx-model-uri: the s3:// or minio:// folder "
            "holding model_repository/)"
        )
    return uri


def rollback(
    registry: Registry,
    model_name: str,
    to_version: str,
    *,
    request: release.Request,
    target: str = "local",
    model_repository: str = "",
    release_store: str = "",
    events_sink: str = "",
    namespace: str = "mlrail",
    onnx_model_uri: str = "",
    runtime: str = "mlrail-onnx",
    deployment_mode: str = "Serverless",
    timeout_seconds: int = 600,
    ingress_url: str = "",
    verify_key: str = "",
    api: kserve.KubeApi | None = None,
    http: kserve.HttpPost | None = None,
    clock: kserve.Clock | None = None,
) -> RolledBack:
    """Serve ``to_version`` of ``model_name`` again and record it (the module doc).

    Args:
        registry: The registry holding the version.
        model_name: The registered model; also its name in the model repository and of the
            InferenceService.
        to_version: The registry version to go back to.
        request: Who asked for the rollback, and why.
        target: ``local`` or ``kserve``.
        model_repository: The local model repository (``local``).
        release_store: Folder keeping every release (``mlrail run``'s ``<workdir>/releases``);
            empty: the record is kept with the version in the registry only.
        events_sink: Where ``model.rolled_back`` goes; empty: ``K_SINK``, else none.
        namespace: The InferenceService's namespace (``kserve``).
        onnx_model_uri: The ``onnx_model`` artifact to serve from (``kserve``); empty: the
            earlier release's.
        runtime: The ServingRuntime (``kserve``).
        deployment_mode: ``Serverless`` or ``RawDeployment`` (``kserve``).
        timeout_seconds: Longest wait for Ready (``kserve``).
        ingress_url: Smoke-test through this ingress (``kserve``).
        verify_key: A PEM public key the model must be signed with (deploy's check).
        api: The Kubernetes API (default: in-cluster credentials, else kubeconfig).
        http: The smoke test's POST.
        clock: The waits' clock.

    Returns:
        What was done.

    Raises:
        RegistryError: no such version, the registry cannot be reached, or it refused the
            alias move (then after the record was written and the event sent).
        DataError: the registry's model is not the earlier record's, or (``kserve``) no
            artifact to serve from.
        DeployError: ``kserve``: the version did not come to serve (nothing recorded).
    """
    if target not in TARGETS:
        raise ValueError(f"target {target!r}: expected one of {', '.join(TARGETS)}")
    version = registry.get(model_name, to_version)  # a clear error for a missing version
    earlier = _earlier(registry, model_name, version.version, release_store)
    previous = _previous(registry, model_name, release_store)
    with tempfile.TemporaryDirectory(prefix="mlrail-rollback-") as tmp:
        folder = registry.download(model_name, version.version, Path(tmp) / "model")
        sha = _sha256(folder / MODEL_FILE)
        if earlier is not None and earlier.model.sha256 != sha:
            raise DataError(
                f"{model_name} version {version.version}: the registry's {MODEL_FILE} has "
                f"sha256 {sha}, its earlier release {earlier.model.sha256}: not the same model"
            )
        storage = ""
        if target == "kserve":
            storage = _storage_artifact(earlier, onnx_model_uri, model_name, version.version)
            # deploy's smoke test asks the server for the model by its folder's name there
            served = folder / "model_repository" / model_name
            repository.push(served, folder, ModelSpec.read(folder))
        deployment_dir = Path(tmp) / "deployment"
        done = core.deploy(
            folder,
            deployment_dir,
            target=target,
            model_name=model_name,
            model_repository=model_repository,
            onnx_model_uri=storage,
            namespace=namespace,
            runtime=runtime,
            deployment_mode=deployment_mode,
            timeout_seconds=timeout_seconds,
            ingress_url=ingress_url,
            verify_key=verify_key,
            # not kept, and no event: the rollback records and announces its own
            release=core.ReleaseContext(send_events=False),
            api=api,
            http=http,
            clock=clock,
        )
        doc = read_json(deployment_dir / "deployment.json")
        doc["registry_version"] = version.version
        record = release.build_record(
            release.ArtifactPaths(onnx_model=folder, deployment=doc),
            model_name=model_name,
            request=request,
            build=build_of(version.tags),
            kind="rollback",
            links={"model": version.uri},
            registry_version=version.version,
            identity=done.identity,
            signature=record_signature(doc),
        )
    if earlier is not None:
        # the same model: the evidence about it, the data it was trained on, how it was built
        record = replace(
            record,
            data=earlier.data,
            evidence=earlier.evidence,
            build=earlier.build,
            links={**earlier.links, **record.links},
        )
    if previous is not None:
        record = release.with_previous(record, previous)
    before = ""
    alias_error: RegistryError | None = None
    try:
        before = aliases.rollback(registry, model_name, version.version) or ""
    except RegistryError as e:
        alias_error = e
    if not before and previous is not None:
        before = previous.version or ""
    stored = None
    if release_store:
        record, stored = release.store(record, release_store)
    if alias_error is None:
        try:
            keep_with_version(registry, model_name, version.version, record)
        except RegistryError as e:
            alias_error = e
    event = _send(model_name, version.version, before, request.reason, target, events_sink, stored)
    if alias_error is not None:
        raise alias_error
    return RolledBack(record, done, before, stored, event)


def _send(
    name: str, version: str, before: str, reason: str, target: str, sink: str, stored: Path | None
) -> events.Delivery:
    data: dict[str, object] = {"version": version, "from_version": before, "target": target}
    if reason:
        data["reason"] = reason
    if stored is not None:
        data["links"] = {"release": str((stored / release.JSON_FILE).resolve())}
    delivery = events.send("model.rolled_back", data, model_name=name, events_sink=sink)
    if delivery.sink or delivery.error:
        print(delivery.line(), file=sys.stderr)
    return delivery
