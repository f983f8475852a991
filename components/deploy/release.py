"""deploy's release: the registry's aliases, the release record and the lifecycle events.

After the model is placed (or the placing failed), deploy records what happened, in this order:

1. **Aliases** (when the model is a registered version and a registry is configured):

   ==========================  ===========================================================
   decision                    aliases (:mod:`mlrail.registry.aliases`)
   ==========================  ===========================================================
   canary applied              ``challenger`` -> this version, while its smoke test runs
   pushed, applied, unchanged  ``champion`` -> this version (``challenger`` removed)
   promoted                    ``champion`` -> this version (``challenger`` removed)
   rolled_back                 ``challenger`` removed; ``champion`` stays where it was
   failed, rendered            none (nothing serves this version)
   ==========================  ===========================================================

2. **The release record** (:mod:`mlrail.artifacts.release`): built from the artifacts deploy was
   given, with who and why, the run and the image read from the registered version's tags
   (register wrote them), and the changes since the previous release: the newest one in
   ``release_store`` when one is kept, else the record kept with the champion before this
   deploy. It is written to the ``release`` artifact (``release.json``, ``.md``, ``.html``),
   kept as the next release in ``release_store`` (a folder; ``mlrail run``'s is
   ``<workdir>/releases``) and kept with the registered version (the registry's copy is the
   newest release of that version). A kserve deploy's kind is ``promote`` for a promoted canary
   and ``rollback`` for a rolled-back one; every other deploy's is ``deploy``.

3. **Events** (:mod:`mlrail.events`): ``model.canary_started`` when the canary is applied;
   then ``model.deployed`` (pushed, applied, unchanged: ``decision`` says which),
   ``model.promoted`` or ``model.rolled_back``. Render and failed first deploys send none
   (nothing serves); a sink that is down is logged and never fails the deploy.

A registry that refuses an alias move fails the step after the record is written (the model
serves, but the registry's state would otherwise lie about it): the run is heard as failed.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mlrail import events
from mlrail.artifacts import release
from mlrail.errors import DataError
from mlrail.io import atomic_write_text, read_json
from mlrail.registry import (
    CHAMPION,
    Registry,
    RegistryError,
    aliases,
    open_registry,
    resolve_uri,
)

__all__ = [
    "REGISTERED_FILE",
    "ReleaseContext",
    "Releaser",
    "build_of",
    "keep_with_version",
    "kind_of",
    "record_signature",
    "request_of",
]

#: register's output file (``registered_model.json``): name, version, identity, tags.
REGISTERED_FILE = "registered_model.json"
#: deployment.json's signature statuses as the release record's.
_SIGNATURE = {"verified": "verified", "not verified": "signed", "unsigned": "unsigned"}


@dataclass(frozen=True)
class ReleaseContext:
    """What deploy needs besides the model to record a release (all optional).

    Attributes:
        registered_model: register's artifact folder (``registered_model.json``), or its
            content; None: the model is not a registered version (no aliases, no registry copy).
        registry_uri: The registry; empty: ``$MLFLOW_TRACKING_URI``, else none.
        examples_metadata: ingest's output metadata (the record's data section).
        statistics: validate's statistics folder.
        schema: validate's schema folder.
        anomalies: validate's anomalies folder.
        metrics: evaluate's ``metrics.json``.
        blessing: evaluate's blessing folder.
        release_dir: Where the ``release`` artifact goes; None: not written.
        release_page: Where the record's HTML page goes alone (a KFP ``HTML`` artifact, which
            the Kubeflow UI shows); None: not written.
        release_store: Folder keeping every release of every model; empty: none.
        events_sink: Where events go (:mod:`mlrail.events.sinks`); empty: ``K_SINK``, none.
        links: Artifact names to URIs, for the record's pages and the events.
        requested_by: Who asked for this deploy. With ``reason`` and ``run_id`` all empty, the
            record's who, why and build are the registering run's (the version's tags).
        reason: Why.
        pipeline_name: The pipeline deploying.
        pipeline_version: Its version (hash of its compiled form).
        run_id: The deploying run's id.
        run_name: The deploying run's name.
        kfp_ui_url: Base URL of the Kubeflow Pipelines UI (the record links to the run).
        image: The component image the run used.
        send_events: False: no event is sent (a caller that announces the release itself,
            as ``mlrail rollback`` does).
    """

    registered_model: str | Path | Mapping[str, Any] | None = None
    registry_uri: str = ""
    examples_metadata: Mapping[str, Any] | None = None
    statistics: str | Path | None = None
    schema: str | Path | None = None
    anomalies: str | Path | None = None
    metrics: str | Path | None = None
    blessing: str | Path | None = None
    release_dir: str | Path | None = None
    release_page: str | Path | None = None
    release_store: str = ""
    events_sink: str = ""
    links: Mapping[str, str] = field(default_factory=dict)
    requested_by: str = ""
    reason: str = ""
    pipeline_name: str = ""
    pipeline_version: str = ""
    run_id: str = ""
    run_name: str = ""
    kfp_ui_url: str = ""
    image: str = ""
    send_events: bool = True

    @property
    def own_run(self) -> bool:
        """Whether the deploying run said who and which it is (else: the version's tags)."""
        return bool(self.run_id or self.requested_by or self.reason)

    def build(self) -> release.BuildInfo:
        """The deploying run's build."""
        return release.BuildInfo.of(
            pipeline_name=self.pipeline_name,
            pipeline_version=self.pipeline_version,
            run_id=self.run_id,
            kfp_ui_url=self.kfp_ui_url,
            image=self.image,
        )


def kind_of(target: str, decision: str) -> str:
    """The release's kind for a deploy's decision (module doc)."""
    if target == "kserve" and decision == "promoted":
        return "promote"
    if target == "kserve" and decision == "rolled_back":
        return "rollback"
    return "deploy"


def build_of(tags: Mapping[str, str]) -> release.BuildInfo:
    """The run that registered a version, from the tags register wrote."""
    info = release.BuildInfo.of(
        pipeline_name=tags.get("mlrail.pipeline.name", ""),
        pipeline_version=tags.get("mlrail.pipeline.version", ""),
        run_id=tags.get("mlrail.pipeline.run_id", ""),
        image=tags.get("mlrail.image", ""),
    )
    return replace(info, run_url=tags.get("mlrail.pipeline.run_url") or None)


def request_of(tags: Mapping[str, str]) -> release.Request:
    """Who asked for a version, and why, from the tags register wrote."""
    return release.Request(tags.get("mlrail.requested_by", ""), tags.get("mlrail.reason", ""))


def keep_with_version(registry: Registry, name: str, version: str, record: release.Record) -> None:
    """Attach the record's three files to the registered version (replacing an older release
    of the same version: the registry keeps each version's newest)."""
    with tempfile.TemporaryDirectory(prefix="mlrail-release-") as tmp:
        release.write(record, Path(tmp) / "release")
        for file in (release.JSON_FILE, release.MARKDOWN_FILE, release.HTML_FILE):
            registry.attach(name, version, Path(tmp) / "release" / file)


def record_signature(deployment: Mapping[str, Any]) -> release.Signature:
    """deployment.json's ``signature`` in the release record's terms."""
    sig = deployment.get("signature") or {}
    status = _SIGNATURE.get(str(sig.get("status", "")), "unknown")
    return release.Signature(status=status, signer=str(sig.get("signer") or "") or None)


def _registered(value: str | Path | Mapping[str, Any] | None) -> dict[str, Any] | None:
    if value is None or isinstance(value, Mapping):
        return dict(value) if value is not None else None
    path = Path(value)
    file = path / REGISTERED_FILE if path.is_dir() else path
    if not file.is_file():
        raise DataError(f"{file}: no registered model; was it written by register?")
    doc = read_json(file)
    if not isinstance(doc, dict) or not doc.get("name") or not doc.get("version"):
        raise DataError(f"{file}: expected an object with 'name' and 'version'")
    return doc


class Releaser:
    """One deploy's release: aliases, record, events (the module doc), for one model."""

    def __init__(self, model_name: str, context: ReleaseContext) -> None:
        self.model_name = model_name
        self.context = context
        self.registered = _registered(context.registered_model)
        self.version = str(self.registered["version"]) if self.registered else None
        self.registered_name = str(self.registered["name"]) if self.registered else model_name
        uri = resolve_uri(context.registry_uri) if self.registered else None
        self._registry_uri = uri
        self._registry: Registry | None = None
        self.deliveries: list[events.Delivery] = []
        # the champion before this deploy, read before any alias moves (for the diff)
        self._previous: release.Record | None = None
        self._previous_read = False

    @property
    def registry(self) -> Registry | None:
        """The registry, opened on first use (MLflow's import is paid only when needed)."""
        if self._registry is None and self._registry_uri:
            self._registry = open_registry(self._registry_uri)
        return self._registry

    def _tags(self) -> Mapping[str, str]:
        return (self.registered or {}).get("tags") or {}

    def previous(self) -> release.Record | None:
        """The release before this one: the store's newest, else the champion's kept record."""
        if self._previous_read:
            return self._previous
        self._previous_read = True
        if self.context.release_store:
            self._previous = release.latest(self.context.release_store, self.model_name)
            return self._previous
        registry = self.registry
        if registry is None:
            return None
        champion = registry.by_alias(self.registered_name, CHAMPION)
        if champion is None or release.JSON_FILE not in registry.attachments(
            champion.name, champion.version
        ):
            return None
        doc = registry.read_attachment(champion.name, champion.version, release.JSON_FILE)
        where = f"{self._registry_uri} {champion.name}/{champion.version}/{release.JSON_FILE}"
        try:
            self._previous = release.from_json(release.Record, json.loads(doc), where=where)
        except (ValueError, DataError):
            # an unreadable older record must not block a deploy: this one says "no previous"
            self._previous = None
        return self._previous

    # ------------------------------------------------------------------------------ events

    def _send(self, kind: str, data: Mapping[str, Any]) -> None:
        if not self.context.send_events:
            return
        tags = self._tags()
        own = self.context.own_run
        build = self.context.build() if own else build_of(tags)
        # the run's name goes with the run: this one's, or the registering run's with its tags
        run_name = self.context.run_name if own else tags.get("mlrail.pipeline.run_name", "")
        (delivery,) = events.send_all(
            [(kind, data)],
            events_sink=self.context.events_sink,
            model_name=self.model_name,
            pipeline=build.pipeline_name or "",
            run_id=build.run_id or "",
            run_name=run_name,
            links=self.context.links,
        )
        if delivery.sink or delivery.error:  # no sink configured: nothing to say in the log
            print(delivery.line(), file=sys.stderr)
        self.deliveries.append(delivery)

    def _version_field(self, deployment: Mapping[str, Any]) -> str:
        """The version an event names: the registry's, else the local repository's."""
        if self.version:
            return self.version
        local = deployment.get("version")
        return str(local) if local else ""

    # ------------------------------------------------------------------------------ steps

    def canary_started(self, percent: int, previous_identity: str = "") -> None:
        """The canary is applied: ``challenger`` -> this version, and the event."""
        self.previous()
        registry = self.registry
        if registry is not None and self.version:
            aliases.start_canary(registry, self.registered_name, self.version)
        champion = self._champion_version()
        data: dict[str, Any] = {"version": self.version or "", "traffic_percent": percent}
        if champion:
            data["previous_version"] = champion
        elif previous_identity:
            data["previous_identity"] = previous_identity
        self._send("model.canary_started", data)

    def _champion_version(self) -> str:
        registry = self.registry
        if registry is None:
            return ""
        champion = registry.by_alias(self.registered_name, CHAMPION)
        return champion.version if champion else ""

    def finish(
        self,
        deployment: Mapping[str, Any],
        *,
        onnx_model: str | Path,
        request_reason: str = "",
    ) -> release.Record:
        """Move the aliases, write and keep the record, send the events (module doc).

        Args:
            deployment: deployment.json's content (what deploy decided and where it serves).
            onnx_model: The model folder deployed.
            request_reason: Why the deploy failed or rolled back (the event's ``reason``).

        Returns:
            The record, numbered when a store keeps it.

        Raises:
            RegistryError: the registry refused an alias move or the record (after the record
                was written and kept elsewhere).
        """
        target = str(deployment.get("target", ""))
        decision = str(deployment.get("decision", ""))
        previous = self.previous()
        before = self._champion_version()
        alias_error: RegistryError | None = None
        try:
            self._move_aliases(decision)
        except RegistryError as e:
            alias_error = e
        record = self._build(deployment, onnx_model, kind_of(target, decision), previous)
        if self.context.release_store:  # first: the artifact's copy carries its number
            record, _ = release.store(record, self.context.release_store)
        if self.context.release_dir is not None:
            release.write(record, self.context.release_dir)
        if self.context.release_page is not None:
            atomic_write_text(self.context.release_page, release.render_html(record))
        if alias_error is None:
            try:
                self._keep_with_version(record)
            except RegistryError as e:
                alias_error = e
        self._events(target, decision, deployment, before, request_reason)
        if alias_error is not None:
            raise alias_error
        return record

    def _move_aliases(self, decision: str) -> None:
        registry = self.registry
        if registry is None or not self.version:
            return
        if decision in ("pushed", "applied", "unchanged", "promoted"):
            aliases.promote(registry, self.registered_name, self.version)
        elif decision == "rolled_back":
            aliases.abort_canary(registry, self.registered_name)

    def _build(
        self,
        deployment: Mapping[str, Any],
        onnx_model: str | Path,
        kind: str,
        previous: release.Record | None,
    ) -> release.Record:
        tags = self._tags()
        c = self.context
        paths = release.ArtifactPaths(
            onnx_model=onnx_model,
            deployment=deployment,
            examples_metadata=c.examples_metadata,
            statistics=c.statistics,
            schema=c.schema,
            anomalies=c.anomalies,
            metrics=c.metrics,
            blessing=c.blessing,
        )
        return release.build_record(
            paths,
            model_name=self.model_name,
            request=release.Request(c.requested_by, c.reason) if c.own_run else request_of(tags),
            build=c.build() if c.own_run else build_of(tags),
            kind=kind,
            links=self.context.links,
            registry_version=self.version,
            identity=str(deployment.get("identity") or "") or None,
            signature=record_signature(deployment),
            previous=previous,
        )

    def _keep_with_version(self, record: release.Record) -> None:
        registry = self.registry
        if registry is not None and self.version:
            keep_with_version(registry, self.registered_name, self.version, record)

    def _events(
        self,
        target: str,
        decision: str,
        deployment: Mapping[str, Any],
        before: str,
        reason: str,
    ) -> None:
        version = self._version_field(deployment)
        url = str(deployment.get("url") or "")
        if decision in ("pushed", "applied", "unchanged"):
            data: dict[str, Any] = {"version": version, "target": target, "decision": decision}
            if url:
                data["endpoint"] = url
            elif target == "local":
                data["endpoint"] = str(deployment.get("location", ""))
            self._send("model.deployed", data)
        elif decision == "promoted":
            data = {"version": version}
            if before and before != version:
                data["previous_version"] = before
            self._send("model.promoted", data)
        elif decision == "rolled_back":
            data = {"version": before, "from_version": version}
            if reason:
                data["reason"] = reason
            self._send("model.rolled_back", data)
