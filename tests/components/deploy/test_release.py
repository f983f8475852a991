"""deploy's release (components/deploy/release.py) against a real ``mlflow server``: the aliases
read back through MLflow's own client, the release record (artifact, page, store, the copy kept
with the version) and the lifecycle events, for local deploys and KServe canaries."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from mlrail.artifacts import release
from mlrail.artifacts.identity import model_identity
from mlrail.components.deploy import core, kserve
from mlrail.registry import open_registry
from tests.registry.server import MlflowServer, free_port

from .fake_kube import FakeKube
from .kserve_model import Revision
from .models import other_model
from .scenarios import NAME, NAMESPACE, URI, FakeClock, previous_isvc
from .v2_servers import Servers

pytestmark = [
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning"),
]

TAGS = {
    "mlrail.requested_by": "ada",
    "mlrail.reason": "weekly retrain",
    "mlrail.pipeline.name": "training",
    "mlrail.pipeline.version": "ab" * 32,
    "mlrail.pipeline.run_id": "run-7",
    "mlrail.image": "registry.example/mlrail@sha256:" + "c" * 64,
}


class Registered:
    """Models registered under one fresh name on the session's ``mlflow server``."""

    def __init__(self, server: MlflowServer) -> None:
        self.server = server
        self.name = f"m-{uuid.uuid4().hex[:10]}"
        self.registry = open_registry(server.uri)

    def add(self, model_dir: Path, **tags: str) -> dict[str, Any]:
        """register's registered_model.json for ``model_dir`` as a new version."""
        identity = model_identity(model_dir / "model.onnx")
        done = self.registry.register(
            self.name, model_dir, identity=identity, tags={**TAGS, **tags}
        )
        v = done.version
        return {"name": v.name, "version": v.version, "identity": identity, "tags": dict(v.tags)}

    def aliases(self) -> dict[str, str]:
        """The aliases as MLflow's own client reads them."""
        model = self.server.client().get_registered_model(self.name)
        return {a: str(v) for a, v in model.aliases.items()}


@pytest.fixture
def registered(mlflow_server: MlflowServer) -> Registered:
    return Registered(mlflow_server)


def _events(sink: Path) -> list[tuple[str, dict[str, Any]]]:
    lines = sink.read_text().splitlines() if sink.exists() else []
    return [(e["type"].removeprefix("io.mlrail."), e["data"]) for e in map(json.loads, lines)]


def _context(
    tmp: Path, registered: Mapping[str, Any], server: MlflowServer, label: str, **more: Any
) -> core.ReleaseContext:
    return core.ReleaseContext(
        registered_model=registered,
        registry_uri=server.uri,
        release_dir=tmp / label / "release",
        release_page=tmp / label / "release.html",
        events_sink=str(tmp / "events.jsonl"),
        **more,
    )


def test_local_deploys_move_champion_and_keep_numbered_records(
    onnx_model: Path, tmp_path: Path, registered: Registered, mlflow_server: MlflowServer
) -> None:
    store = tmp_path / "releases"
    second_model = other_model(onnx_model, tmp_path / "m2")
    first, second = registered.add(onnx_model), registered.add(second_model)

    def deploy(model: Path, version: Mapping[str, Any], label: str) -> core.Deployment:
        return core.deploy(
            model,
            tmp_path / label / "deployment",
            model_name=registered.name,
            model_repository=str(tmp_path / "models"),
            release=_context(tmp_path, version, mlflow_server, label, release_store=str(store)),
        )

    one = deploy(onnx_model, first, "one")
    assert registered.aliases() == {"champion": first["version"]}
    two = deploy(second_model, second, "two")
    assert registered.aliases() == {"champion": second["version"]}
    again = deploy(second_model, second, "again")
    assert [d.decision for d in (one, two, again)] == ["pushed", "pushed", "unchanged"]
    assert [d.release_number for d in (one, two, again)] == [1, 2, 3]

    records = release.list_releases(store, registered.name)
    assert [(r.number, r.version, r.kind) for r in records] == [
        (1, first["version"], "deploy"),
        (2, second["version"], "deploy"),
        (3, second["version"], "deploy"),
    ]
    latest = records[1]
    assert latest.request == release.Request("ada", "weekly retrain")
    assert latest.build.pipeline_name == "training" and latest.build.run_id == "run-7"
    assert latest.build.image_digest == "sha256:" + "c" * 64
    assert latest.model.identity == second["identity"]
    assert latest.previous is not None and latest.previous.number == 1
    assert latest.changes is not None and latest.changes.model.identity.changed
    # the artifact's copy is the stored one (numbered), and its page is the HTML alone
    artifact = release.load(tmp_path / "two" / "release")
    assert artifact == latest
    assert "ada" in (tmp_path / "two" / "release.html").read_text()
    # the registry keeps the newest release of each version with it
    client = mlflow_server.client()
    run_id = client.get_model_version(registered.name, second["version"]).run_id
    kept = client.download_artifacts(run_id, "mlrail/attachments/release.json", str(tmp_path))
    assert json.loads(Path(kept).read_text())["number"] == 3

    assert [(t, d["version"], d["decision"]) for t, d in _events(tmp_path / "events.jsonl")] == [
        ("model.deployed", first["version"], "pushed"),
        ("model.deployed", second["version"], "pushed"),
        ("model.deployed", second["version"], "unchanged"),
    ]


def test_without_a_store_the_previous_release_is_the_champions_kept_record(
    onnx_model: Path, tmp_path: Path, registered: Registered, mlflow_server: MlflowServer
) -> None:
    second_model = other_model(onnx_model, tmp_path / "m2")
    first, second = registered.add(onnx_model), registered.add(second_model)
    for model, version, label in ((onnx_model, first, "a"), (second_model, second, "b")):
        core.deploy(
            model,
            tmp_path / label / "deployment",
            model_name=registered.name,
            model_repository=str(tmp_path / "models"),
            release=_context(tmp_path, version, mlflow_server, label),
        )
    record = release.load(tmp_path / "b" / "release")
    assert record.number is None  # no store numbers it
    assert record.previous is not None and record.previous.version == first["version"]
    assert record.changes is not None and record.changes.model.registry_version.changed


class _AliasesAtEachApply:
    """The fake API, noting the registry's aliases as each apply arrives (so what they were
    while the canary ran is seen, not inferred)."""

    def __init__(self, fake: FakeKube, registered: Registered) -> None:
        self.fake, self.registered = fake, registered
        self.seen: list[dict[str, str]] = []

    def get_namespaced_custom_object(self, *args: Any, **kwargs: Any) -> Any:
        return self.fake.get_namespaced_custom_object(*args, **kwargs)

    def apply_namespaced_custom_object(self, *args: Any, **kwargs: Any) -> Any:
        self.seen.append(self.registered.aliases())
        return self.fake.apply_namespaced_custom_object(*args, **kwargs)


def _canary(
    model: Path,
    version: Mapping[str, Any],
    api: Any,
    tmp: Path,
    server: MlflowServer,
    label: str,
) -> core.Deployment:
    return core.deploy(
        model,
        tmp / label / "deployment",
        target="kserve",
        model_name=NAME,
        onnx_model_uri=URI,
        namespace=NAMESPACE,
        canary_traffic_percent=20,
        timeout_seconds=60,
        api=api,
        clock=FakeClock(),
        release=_context(tmp, version, server, label),
    )


def test_a_promoted_canary_is_challenger_while_it_runs_then_champion(
    onnx_model: Path,
    tmp_path: Path,
    registered: Registered,
    mlflow_server: MlflowServer,
    servers: Servers,
) -> None:
    champion = registered.add(other_model(onnx_model, tmp_path / "old"))
    canary = registered.add(onnx_model)
    registered.registry.set_alias(registered.name, "champion", champion["version"])
    fake = FakeKube([Revision(servers.good, ready_after=2)])
    fake.seed(previous_isvc(), servers.good)
    api = _AliasesAtEachApply(fake, registered)

    done = _canary(onnx_model, canary, api, tmp_path, mlflow_server, "promote")

    assert done.decision == "promoted"
    old, new = champion["version"], canary["version"]
    # first apply: the canary (aliases as before); second: the promotion, canary was challenger
    assert api.seen == [{"champion": old}, {"champion": old, "challenger": new}]
    assert registered.aliases() == {"champion": new}
    sent = _events(tmp_path / "events.jsonl")
    assert [t for t, _ in sent] == ["model.canary_started", "model.promoted"]
    started, promoted = (data for _, data in sent)
    assert (started["version"], started["traffic_percent"], started["previous_version"]) == (
        new, 20, old,
    )  # fmt: skip
    assert (promoted["version"], promoted["previous_version"]) == (new, old)
    assert (promoted["pipeline"], promoted["run_id"]) == ("training", "run-7")
    record = release.load(tmp_path / "promote" / "release")
    assert (record.kind, record.version, record.where.decision) == ("promote", new, "promoted")


def test_a_canary_rolled_back_leaves_champion_and_says_why(
    onnx_model: Path,
    tmp_path: Path,
    registered: Registered,
    mlflow_server: MlflowServer,
    servers: Servers,
) -> None:
    champion = registered.add(other_model(onnx_model, tmp_path / "old"))
    canary = registered.add(onnx_model)
    registered.registry.set_alias(registered.name, "champion", champion["version"])
    fake = FakeKube([Revision(servers.bad)])
    fake.seed(previous_isvc(), servers.good)
    api = _AliasesAtEachApply(fake, registered)

    with pytest.raises(kserve.DeployError, match="rolled back"):
        _canary(onnx_model, canary, api, tmp_path, mlflow_server, "rollback")

    old, new = champion["version"], canary["version"]
    assert api.seen[1] == {"champion": old, "challenger": new}  # the rollback's apply
    assert registered.aliases() == {"champion": old}
    kinds = [
        (t, d.get("version"), d.get("from_version")) for t, d in _events(tmp_path / "events.jsonl")
    ]
    assert kinds == [
        ("model.canary_started", new, None),
        ("model.rolled_back", old, new),
    ]
    (_, rolled_back) = _events(tmp_path / "events.jsonl")[1]
    assert "smoke test failed" in rolled_back["reason"]
    record = release.load(tmp_path / "rollback" / "release")
    assert (record.kind, record.where.decision) == ("rollback", "rolled_back")


def test_a_sink_that_is_down_never_fails_the_deploy(
    onnx_model: Path, tmp_path: Path, registered: Registered, mlflow_server: MlflowServer
) -> None:
    version = registered.add(onnx_model)
    down = f"http://127.0.0.1:{free_port()}/"  # nothing listens there
    context = _context(tmp_path, version, mlflow_server, "down")
    done = core.deploy(
        onnx_model,
        tmp_path / "deployment",
        model_name=registered.name,
        model_repository=str(tmp_path / "models"),
        release=core.ReleaseContext(**{**vars(context), "events_sink": down}),
    )
    assert done.decision == "pushed" and registered.aliases() == {"champion": version["version"]}
    meta = done.metadata()
    assert meta["events_not_delivered"] == 1
    assert "model.deployed" in meta["events"][0] and "127.0.0.1" in meta["events"][0]
