"""Deployment state as aliases (mlrail.registry.aliases) on a real ``mlflow server``, read back
through MLflow's client, and ``models:/`` references fetched as model folders."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest

from mlrail.registry import CHALLENGER, CHAMPION, Registry, RegistryError, open_registry
from mlrail.registry.aliases import (
    abort_canary,
    fetch,
    parse_ref,
    promote,
    rollback,
    start_canary,
)
from tests.registry.models import tiny_model
from tests.registry.server import MlflowServer

pytestmark = [
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning"),
]


def _aliases(server: MlflowServer, name: str) -> dict[str, str]:
    return {a: str(v) for a, v in server.client().get_registered_model(name).aliases.items()}


def test_canary_promote_abort_and_rollback(mlflow_server: MlflowServer, tmp_path: Path) -> None:
    name = f"m-{uuid.uuid4().hex[:10]}"
    registry = open_registry(mlflow_server.uri)
    for seed in (1, 2, 3):
        registry.register(
            name, tiny_model(tmp_path / str(seed), seed=seed), identity=f"{seed}", tags={}
        )

    assert promote(registry, name, "1") is None  # first full rollout
    assert _aliases(mlflow_server, name) == {CHAMPION: "1"}
    start_canary(registry, name, "2")
    assert _aliases(mlflow_server, name) == {CHAMPION: "1", CHALLENGER: "2"}
    assert promote(registry, name, "2") == "1"  # canary promoted
    assert _aliases(mlflow_server, name) == {CHAMPION: "2"}
    start_canary(registry, name, "3")
    abort_canary(registry, name)  # canary rolled back: champion never moved
    assert _aliases(mlflow_server, name) == {CHAMPION: "2"}
    assert rollback(registry, name, "1") == "2"
    assert _aliases(mlflow_server, name) == {CHAMPION: "1"}
    with pytest.raises(RegistryError, match="version 9"):
        rollback(registry, name, "9")
    assert _aliases(mlflow_server, name) == {CHAMPION: "1"}


def test_fetch_the_champion_as_a_model_folder(mlflow_server: MlflowServer, tmp_path: Path) -> None:
    name = f"m-{uuid.uuid4().hex[:10]}"
    registry = open_registry(mlflow_server.uri)
    ref = f"models:/{name}@{CHAMPION}"
    assert fetch(registry, ref, tmp_path / "none") is None  # not registered yet: first run
    model = tiny_model(tmp_path / "m", seed=4)
    registry.register(name, model, identity="4", tags={})
    assert fetch(registry, ref, tmp_path / "none") is None  # no champion yet
    promote(registry, name, "1")
    found = fetch(registry, ref, tmp_path / "champion")
    assert found is not None
    version, folder = found
    assert version.version == "1"
    assert (folder / "model.onnx").read_bytes() == (model / "model.onnx").read_bytes()
    assert (folder / "model_spec.json").is_file()
    by_number = fetch(registry, f"models:/{name}/1", tmp_path / "v1")
    assert by_number is not None and by_number[0].version == "1"


@pytest.mark.parametrize("store", ["embedded", "server"])
def test_writers_setting_one_alias_at_once_all_succeed(
    store: str, mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    # two runs of one model deploy at once: each sets champion. MLflow's SQL store sets an
    # alias as read-then-insert, so two writers that both find it unset both insert; before
    # the retry, about a third of these rounds (of 4 writers) failed one writer on the unique key
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}" if store == "embedded" else mlflow_server.uri
    name = f"m-{uuid.uuid4().hex[:10]}"
    registry = open_registry(uri)
    for seed in (1, 2):
        registry.register(
            name, tiny_model(tmp_path / str(seed), seed=seed), identity=f"{seed}", tags={}
        )
    writers = [open_registry(uri) for _ in range(4)]
    for writer in writers:
        writer.by_alias(name, CHAMPION)  # each client made before the race
    errors: list[Exception] = []

    def set_it(writer: Registry, alias: str, version: str, start: threading.Barrier) -> None:
        start.wait()
        try:
            writer.set_alias(name, alias, version)
        except Exception as e:  # collected, and the test fails on it below
            errors.append(e)

    for n in range(20):
        alias = f"round-{n}"  # a fresh alias: unset when the writers start
        start = threading.Barrier(len(writers))
        threads = [
            threading.Thread(target=set_it, args=(w, alias, str(1 + i % 2), start))
            for i, w in enumerate(writers)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert registry.by_alias(name, alias) is not None
    assert errors == []


def test_references() -> None:
    assert parse_ref("models:/penguins@champion") == ("penguins", "", "champion")
    assert parse_ref("models:/penguins/12") == ("penguins", "12", "")
    assert parse_ref("/repo/penguins") is None
    assert parse_ref("s3://bucket/penguins/3") is None
