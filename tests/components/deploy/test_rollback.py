"""Rollback (components/deploy/rollback.py): serving goes back to an earlier registered version.

Local: tiny models registered on a real ``mlflow server``, deployed through core.deploy as the
pipeline does (release store, registry copy, events), then rolled back; the aliases are read back
through MLflow's own client. KServe: the fake API with a real V2 server behind it; the applied
InferenceService must name the rolled-back version's artifact and identity.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from mlrail.artifacts import model_repository as repository
from mlrail.artifacts import release
from mlrail.artifacts.identity import model_identity
from mlrail.components.deploy import core, kserve
from mlrail.components.deploy.rollback import rollback
from mlrail.errors import DataError
from mlrail.registry import Registry, RegistryError, embedded_uri, open_registry
from mlrail.registry.releases import kept_record, kept_records
from tests.registry.models import tiny_model
from tests.registry.server import MlflowServer

from .fake_kube import FakeKube
from .kserve_model import Revision
from .models import other_model
from .scenarios import NAME, NAMESPACE, URI, URI_RUN_3, FakeClock
from .v2_servers import Servers

pytestmark = [
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning"),
]

ASKED = release.Request("grace", "version 3 answers wrongly for Dream")


def _register(registry: Registry, name: str, model: Path, **tags: str) -> dict[str, Any]:
    """register's registered_model.json content for ``model`` as a new version."""
    identity = model_identity(model / "model.onnx")
    all_tags = {"mlrail.requested_by": "ada", "mlrail.reason": "retrain", **tags}
    v = registry.register(name, model, identity=identity, tags=all_tags).version
    return {"name": v.name, "version": v.version, "identity": identity, "tags": dict(v.tags)}


def _evidence(folder: Path, accuracy: float) -> tuple[Path, Path]:
    """evaluate's metrics.json and blessing folder, as the pipeline passes them to deploy."""
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"metrics": {"accuracy": accuracy}}))
    (folder / "blessing").mkdir()
    (folder / "blessing" / "blessing.json").write_text(json.dumps({"blessed": True}))
    return folder / "metrics.json", folder / "blessing"


def _events(sink: Path) -> list[tuple[str, dict[str, Any]]]:
    lines = sink.read_text().splitlines() if sink.exists() else []
    return [(e["type"].removeprefix("io.mlrail."), e["data"]) for e in map(json.loads, lines)]


class Local:
    """Three tiny versions on the session's ``mlflow server``, each deployed locally in turn."""

    def __init__(self, server: MlflowServer, tmp: Path) -> None:
        self.server, self.tmp = server, tmp
        self.name = f"m-{uuid.uuid4().hex[:10]}"
        self.registry = open_registry(server.uri)
        self.store = tmp / "releases"
        self.models = tmp / "models"
        self.sink = tmp / "events.jsonl"
        self.versions: list[dict[str, Any]] = []
        for seed in (1, 2, 3):
            model = tiny_model(tmp / f"m{seed}", seed=seed)
            run = {"mlrail.pipeline.run_id": f"run-{seed}"}
            version = _register(self.registry, self.name, model, **run)
            metrics, blessing = _evidence(tmp / f"e{seed}", (0.81, 0.82, 0.83)[seed - 1])
            core.deploy(
                model,
                tmp / f"d{seed}",
                model_name=self.name,
                model_repository=str(self.models),
                release=core.ReleaseContext(
                    registered_model=version,
                    registry_uri=server.uri,
                    metrics=metrics,
                    blessing=blessing,
                    release_store=str(self.store),
                    events_sink=str(self.sink),
                    links={"onnx_model": str(model), "metrics": str(metrics)},
                ),
            )
            self.versions.append(version)

    def aliases(self) -> dict[str, str]:
        model = self.server.client().get_registered_model(self.name)
        return {a: str(v) for a, v in model.aliases.items()}


@pytest.fixture
def local(mlflow_server: MlflowServer, tmp_path: Path) -> Local:
    return Local(mlflow_server, tmp_path)


def test_local_rollback_serves_the_version_again_and_records_it(local: Local) -> None:
    assert local.aliases() == {"champion": "3"}
    with pytest.raises(RegistryError, match="version 9"):
        rollback(
            local.registry,
            local.name,
            "9",
            request=ASKED,
            model_repository=str(local.models),
            release_store=str(local.store),
        )
    # nothing moved, nothing pushed, nothing recorded
    assert local.aliases() == {"champion": "3"}
    assert len(release.list_releases(local.store, local.name)) == 3

    done = rollback(
        local.registry,
        local.name,
        "1",
        request=ASKED,
        model_repository=str(local.models),
        release_store=str(local.store),
        events_sink=str(local.sink),
    )

    # MLflow's own client: champion is back on version 1
    assert local.aliases() == {"champion": "1"}
    # the newest version in the repository (what `mlrail serve` loads) is version 1's model
    newest = repository.latest_version(local.models / local.name)
    assert newest is not None and newest.name == "4"
    assert model_identity(newest / "model.onnx") == local.versions[0]["identity"]
    assert (done.deployment.decision, done.deployment.version) == ("pushed", 4)
    assert done.from_version == "3"

    record = done.record
    assert (record.kind, record.number, record.version) == ("rollback", 4, "1")
    assert record.request == ASKED
    assert record.model.identity == local.versions[0]["identity"]
    assert (record.where.target, record.where.decision, record.where.version) == (
        "local", "pushed", 4,
    )  # fmt: skip
    # the evidence, data and build are version 1's (copied from its release), not version 3's
    first = release.show(local.store, local.name, "#1")
    assert record.evidence == first.evidence and record.evidence.metrics == {"accuracy": 0.81}
    assert record.build == first.build and record.build.run_id == "run-1"
    assert record.links["metrics"] == first.links["metrics"]
    assert record.created > first.created or record.created == first.created
    # previous: release 3 (version 3); the changes say so
    assert record.previous is not None
    assert (record.previous.number, record.previous.version) == (3, "3")
    assert record.changes is not None
    registry_version = record.changes.model.registry_version
    assert (registry_version.old, registry_version.new, registry_version.changed) == (
        "3",
        "1",
        True,
    )
    accuracy = next(m for m in record.changes.metrics if m.name == "accuracy")
    assert accuracy.old == pytest.approx(0.83) and accuracy.new == pytest.approx(0.81)
    # kept in the store and with version 1 in the registry (its newest release)
    assert done.stored is not None and release.load(done.stored) == record
    assert kept_record(local.registry, local.name, "1") == record
    assert [r.number for r in kept_records(local.registry, local.name)] == [2, 3, 4]

    sent = _events(local.sink)
    assert [t for t, _ in sent] == ["model.deployed"] * 3 + ["model.rolled_back"]
    rolled = sent[-1][1]
    assert (rolled["version"], rolled["from_version"], rolled["reason"]) == ("1", "3", ASKED.reason)
    assert rolled["links"]["release"] == str((done.stored / "release.json").resolve())


def test_rolling_back_without_a_store_uses_the_registrys_records(local: Local) -> None:
    done = rollback(
        local.registry,
        local.name,
        "2",
        request=ASKED,
        model_repository=str(local.models),
        events_sink=str(local.sink),
    )
    assert local.aliases() == {"champion": "2"}
    record = done.record
    assert record.number is None and record.evidence.metrics == {"accuracy": 0.82}
    # previous: the champion's kept record (version 3's, release 3)
    assert record.previous is not None and record.previous.version == "3"
    assert kept_record(local.registry, local.name, "2") == record


# ------------------------------------------------------------------------------------- KServe


def test_kserve_rollback_applies_the_versions_artifact_again(
    onnx_model: Path, tmp_path: Path, servers: Servers
) -> None:
    # an embedded registry: the V2 server serves the model as "penguins", a name the session's
    # server shares with other tests
    registry = open_registry(embedded_uri(tmp_path / "work"))
    store = tmp_path / "releases"
    second = other_model(onnx_model, tmp_path / "second")
    fake = FakeKube([Revision(servers.good, ready_after=0) for _ in range(3)])
    clock = FakeClock()
    versions = []
    for model, uri, label in ((onnx_model, URI, "one"), (second, URI_RUN_3, "two")):
        version = _register(registry, NAME, model)
        core.deploy(
            model,
            tmp_path / label,
            target="kserve",
            model_name=NAME,
            onnx_model_uri=uri,
            namespace=NAMESPACE,
            timeout_seconds=60,
            api=fake,
            clock=clock,
            release=core.ReleaseContext(
                registered_model=version,
                registry_uri=registry.uri,
                release_store=str(store),
                links={"onnx_model": uri},
            ),
        )
        versions.append(version)
    assert [b["spec"]["predictor"]["model"]["storageUri"] for b in fake.received] == [
        core.storage_uri(URI),
        core.storage_uri(URI_RUN_3),
    ]

    done = rollback(
        registry,
        NAME,
        "1",
        request=ASKED,
        target="kserve",
        namespace=NAMESPACE,
        release_store=str(store),
        timeout_seconds=60,
        api=fake,
        clock=clock,
    )

    applied = fake.received[-1]
    assert len(fake.received) == 3
    assert applied["spec"]["predictor"]["model"]["storageUri"] == core.storage_uri(URI)
    annotations = applied["metadata"]["annotations"]
    assert annotations[kserve.MODEL_IDENTITY_ANNOTATION] == versions[0]["identity"]
    live = fake.live(NAMESPACE, NAME)
    assert (
        live["metadata"]["annotations"][kserve.MODEL_IDENTITY_ANNOTATION]
        == (versions[0]["identity"])
    )
    record = done.record
    assert (record.kind, record.version, record.number) == ("rollback", "1", 3)
    assert (record.where.target, record.where.decision) == ("kserve", "applied")
    assert (record.where.namespace, record.where.inference_service) == (NAMESPACE, NAME)
    assert record.links["onnx_model"] == URI
    assert record.previous is not None and record.previous.version == "2"
    assert registry.by_alias(NAME, "champion") is not None
    assert registry.by_alias(NAME, "champion").version == "1"  # type: ignore[union-attr]


def test_kserve_rollback_without_an_artifact_to_serve_from_is_refused(
    tmp_path: Path,
) -> None:
    registry = open_registry(embedded_uri(tmp_path / "work"))
    _register(registry, NAME, tiny_model(tmp_path / "m"))
    fake = FakeKube()
    with pytest.raises(DataError, match="onnx-model-uri"):
        rollback(registry, NAME, "1", request=ASKED, target="kserve", api=fake)
    assert fake.received == []
    assert registry.by_alias(NAME, "champion") is None


def test_a_version_never_released_before_gets_what_its_folder_and_tags_say(
    tmp_path: Path,
) -> None:
    registry = open_registry(embedded_uri(tmp_path / "work"))
    model = tiny_model(tmp_path / "m")
    _register(registry, "tiny", model, **{"mlrail.pipeline.run_id": "run-9"})
    sink = tmp_path / "events.jsonl"

    done = rollback(
        registry,
        "tiny",
        "1",
        request=ASKED,
        model_repository=str(tmp_path / "models"),
        release_store=str(tmp_path / "releases"),
        events_sink=str(sink),
    )

    record = done.record
    assert (record.kind, record.number, record.previous, record.changes) == (
        "rollback", 1, None, None,
    )  # fmt: skip
    assert record.build.run_id == "run-9"  # from the version's tags
    assert record.evidence.metrics == {} and record.evidence.parity is not None
    assert record.evidence.parity.ok and record.data.fingerprint is None
    assert done.from_version == ""  # no champion, no release before
    assert done.stored is not None
    assert done.stored.parent == (tmp_path / "releases" / "tiny")
    assert _events(sink)[-1] == (
        "model.rolled_back",
        {
            "version": "1",
            "from_version": "",
            "target": "local",
            "reason": ASKED.reason,
            "links": {"release": str(done.stored.resolve() / "release.json")},
        },
    )
