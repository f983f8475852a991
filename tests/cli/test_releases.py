"""``mlrail releases list|show`` and ``mlrail rollback``, run in-process as a person types them.

Tiny models registered on a real ``mlflow server`` and deployed locally through core.deploy as
the pipeline does (release store, registry copy, events, all in one working folder); the aliases
are read back with MLflow's own client. KServe: the fake API behind kubeconfig (as a cluster is
reached from a laptop) and a real V2 server. The README's "Releases and rollback" commands run
as written, on an embedded registry.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from mlrail.artifacts import model_repository as repository
from mlrail.artifacts import release
from mlrail.artifacts.identity import model_identity
from mlrail.cli import main
from mlrail.components.deploy import core, kserve
from mlrail.registry import embedded_uri, open_registry
from tests.components.deploy.fake_kube import FakeKube, KubeHttpFront
from tests.components.deploy.kserve_model import Revision
from tests.components.deploy.models import other_model
from tests.components.deploy.test_rollback import Local
from tests.components.deploy.v2_servers import serving
from tests.registry.models import tiny_model
from tests.registry.server import MlflowServer, mlflow_client
from tests.test_readme import sh_lines

pytestmark = [
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning"),
]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """The exit code, stdout and stderr of one command (argparse's usage errors included)."""
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def _no_environment_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """The defaults under test, not a registry or sink the machine's environment names."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("K_SINK", raising=False)


def _events(sink: Path) -> list[tuple[str, dict[str, Any]]]:
    return [
        (e["type"].removeprefix("io.mlrail."), e["data"])
        for e in map(json.loads, sink.read_text().splitlines())
    ]


@pytest.fixture(scope="module")
def work(mlflow_server: MlflowServer, tmp_path_factory: pytest.TempPathFactory) -> Local:
    """A working folder: versions 1, 2, 3 of a tiny model deployed in turn (champion: 3).
    The tests below leave it as they found it, except the rollback test, which runs last
    among those that read it (and the others pass either way)."""
    return Local(mlflow_server, tmp_path_factory.mktemp("work"))


def test_unknown_models_and_versions_are_one_line_errors(
    work: Local, mlflow_server: MlflowServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w = ["--workdir", str(work.tmp)]
    cases = [
        (["releases", "list", "nosuch", *w], "no release of 'nosuch'"),
        (["releases", "show", work.name, "7", *w], f"no release of '{work.name}' version 7"),
        (["releases", "show", work.name, "#99", *w], "version #99"),
        (
            ["releases", "show", work.name, "7", "--registry-uri", mlflow_server.uri],
            "version 7",
        ),
        (["releases", "list", "nosuch", "--registry-uri", mlflow_server.uri], "'nosuch'"),
        (["releases", "list", "x", "--workdir", str(tmp_path)], "no release store"),
        (
            ["rollback", work.name, "--to", "9", *w, "--registry-uri", mlflow_server.uri],
            "version 9",
        ),
        (["rollback", work.name, "--to", "1", "--workdir", str(tmp_path)], "no model registry"),
    ]
    for argv, message in cases:
        code, out, err = _run(argv, capsys)
        assert code == 2 and out == "", (argv, out, err)
        (line,) = err.splitlines()
        assert line.startswith(f"mlrail {argv[0]}") and message in line, (argv, line)
    # usage errors (argparse): exit 2 too
    for argv in (
        ["releases", "show", work.name, "--format", "pdf", *w],
        ["releases", "show", work.name, "three", *w],
        ["rollback", work.name, *w],
        ["rollback", work.name, "--to", "#2", *w],
    ):
        code, _, err = _run(argv, capsys)
        assert code == 2 and err.count("\n") == 1 and "error:" in err, (argv, err)
    # nothing moved
    assert work.aliases() == {"champion": "3"}
    assert len(release.list_releases(work.store, work.name)) == 3


def test_rollback_then_list_and_show(
    work: Local, mlflow_server: MlflowServer, capsys: pytest.CaptureFixture[str]
) -> None:
    w = ["--workdir", str(work.tmp)]
    code, out, err = _run(
        ["rollback", work.name, "--to", "1", *w, "--registry-uri", mlflow_server.uri,
         "--reason", "version 3 answers wrongly", "--requested-by", "grace"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert f"{work.name} version 1 serves again: local" in out and "(pushed)" in out
    assert "champion: 3 -> 1" in out and "release #4 (rollback) kept in" in out
    # MLflow's own client reads champion back on 1
    assert work.aliases() == {"champion": "1"}
    # the local repository's newest version is version 1's model
    newest = repository.latest_version(work.models / work.name)
    assert newest is not None and newest.name == "4"
    assert model_identity(newest / "model.onnx") == work.versions[0]["identity"]
    # the event, in the working folder's JSON Lines sink
    kind, data = _events(work.sink)[-1]
    assert kind == "model.rolled_back"
    assert (data["version"], data["from_version"], data["reason"]) == (
        "1", "3", "version 3 answers wrongly",
    )  # fmt: skip

    # list, from the working folder's store: four releases, oldest first
    code, out, _ = _run(["releases", "list", work.name, *w], capsys)
    assert code == 0
    head, *rows = out.splitlines()
    assert head.split()[:4] == ["#", "version", "kind", "time"]
    assert [r.split()[:3] for r in rows] == [
        ["1", "1", "deploy"],
        ["2", "2", "deploy"],
        ["3", "3", "deploy"],
        ["4", "1", "rollback"],
    ]
    assert rows[-1].endswith("grace  version 3 answers wrongly")

    # show: the newest release of version 1 is the rollback, in each format
    code, out, _ = _run(["releases", "show", work.name, "1", *w, "--format", "json"], capsys)
    doc = json.loads(out)
    assert (doc["kind"], doc["number"], doc["request"]["requested_by"]) == ("rollback", 4, "grace")
    assert doc["previous"]["number"] == 3
    assert doc["changes"]["model"]["registry_version"] == {"old": "3", "new": "1", "changed": True}
    assert doc["evidence"]["metrics"] == {"accuracy": 0.81}  # version 1's evidence
    code, out, _ = _run(["releases", "show", work.name, *w], capsys)
    assert out.startswith(f"release #4 of {work.name} version 1 (rollback, ")
    code, out, _ = _run(["releases", "show", work.name, "#2", *w], capsys)
    assert out.startswith(f"release #2 of {work.name} version 2 (deploy, ")
    code, out, _ = _run(["releases", "show", work.name, "1", *w, "--format", "markdown"], capsys)
    assert out.startswith("#") and "grace" in out
    code, out, _ = _run(["releases", "show", work.name, "1", *w, "--format", "html"], capsys)
    assert out.startswith("<!DOCTYPE html>") and "version 3 answers wrongly" in out

    # from the registry: each version's newest release (version 1's is now the rollback)
    registry = ["--registry-uri", mlflow_server.uri]
    code, out, _ = _run(["releases", "list", work.name, *registry], capsys)
    assert code == 0
    assert [r.split()[:3] for r in out.splitlines()[1:]] == [
        ["2", "2", "deploy"],
        ["3", "3", "deploy"],
        ["4", "1", "rollback"],
    ]
    code, out, _ = _run(["releases", "show", work.name, "1", *registry, "--format", "json"], capsys)
    assert json.loads(out) == doc


# ------------------------------------------------------------------------------------- KServe


@pytest.fixture
def kubeconfig_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Points KUBECONFIG at a started front of the fake API; restores the client's defaults."""
    saved = client.Configuration.get_default_copy()
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)

    def point(front: KubeHttpFront) -> None:
        config = tmp_path / "kubeconfig"
        config.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "c", "cluster": {"server": front.url}}],
                    "users": [{"name": "u", "user": {"token": "t"}}],
                    "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                    "current-context": "x",
                }
            )
        )
        monkeypatch.setenv("KUBECONFIG", str(config))

    yield point
    client.Configuration.set_default(saved)


@pytest.fixture(scope="module")
def v2_server(onnx_model: Path) -> Iterator[str]:
    """A real V2 server on the penguins model (started outside any test's capsys: uvicorn's
    logging set up under it would write to a closed capture)."""
    with serving(onnx_model / "model_repository") as url:
        yield url


def test_kserve_rollback_through_kubeconfig(
    onnx_model: Path,
    v2_server: str,
    tmp_path: Path,
    kubeconfig_for: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    work = tmp_path / "w"
    registry = open_registry(embedded_uri(work))  # the working folder's: rollback finds it
    second = other_model(onnx_model, tmp_path / "second")
    uris = [f"s3://mlpipeline/v2/artifacts/training/run-{i}/export-onnx/onnx_model" for i in (1, 2)]
    fake = FakeKube([Revision(v2_server, ready_after=0) for _ in range(3)])
    for model, uri in zip((onnx_model, second), uris, strict=True):
        identity = model_identity(model / "model.onnx")
        v = registry.register("penguins", model, identity=identity, tags={}).version
        core.deploy(
            model,
            tmp_path / f"d{v.version}",
            target="kserve",
            model_name="penguins",
            onnx_model_uri=uri,
            timeout_seconds=60,
            api=fake,
            release=core.ReleaseContext(
                registered_model={"name": v.name, "version": v.version, "tags": {}},
                registry_uri=registry.uri,
                links={"onnx_model": uri},
            ),
        )
    with KubeHttpFront(fake) as front:
        kubeconfig_for(front)
        code, out, err = _run(
            ["rollback", "penguins", "--to", "1", "--target", "kserve", "--namespace",
             "mlrail", "--workdir", str(work), "--timeout-seconds", "60"],
            capsys,
        )  # fmt: skip
    assert code == 0, err
    assert "penguins version 1 serves again: kserve mlrail/penguins (applied)" in out
    applied = fake.received[-1]
    assert len(fake.received) == 3
    assert applied["spec"]["predictor"]["model"]["storageUri"] == f"{uris[0]}/model_repository"
    assert applied["metadata"]["annotations"][kserve.MODEL_IDENTITY_ANNOTATION] == (
        model_identity(onnx_model / "model.onnx")
    )
    uri = embedded_uri(work)
    aliases = mlflow_client(uri).get_registered_model("penguins").aliases
    assert {a: str(v) for a, v in aliases.items()} == {"champion": "1"}
    # KServe keeps no store by default: the registry's copy is the record
    assert not (work / "releases").exists()
    code, out, _ = _run(["releases", "show", "penguins", "1", "--registry-uri", uri, "--format",
                         "json"], capsys)  # fmt: skip
    doc = json.loads(out)
    assert (doc["kind"], doc["where"]["target"], doc["where"]["decision"]) == (
        "rollback", "kserve", "applied",
    )  # fmt: skip
    assert doc["previous"]["version"] == "2"
    assert _events(work / "events.jsonl")[-1][0] == "model.rolled_back"


# ------------------------------------------------------------------------------------- README

#: The README's "Releases and rollback" commands, in its order.
README_COMMANDS = [
    "mlrail releases list penguins",
    "mlrail releases show penguins",
    "mlrail releases show penguins 1 --format markdown",
    'mlrail rollback penguins --to 1 --reason "version 2 misses Gentoo on Dream"',
    "mlrail releases show penguins --format json",
]


def test_the_readme_commands_run_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """On ./mlrail-local as `mlrail run` leaves it (embedded registry, store, models): two
    versions of penguins deployed, then the README's commands."""
    assert [
        line for line in sh_lines() if line.startswith(("mlrail releases ", "mlrail rollback "))
    ] == README_COMMANDS
    monkeypatch.chdir(tmp_path)
    work = Path("mlrail-local")
    registry = open_registry(embedded_uri(work))
    for seed in (1, 2):
        model = tiny_model(tmp_path / f"m{seed}", seed=seed)
        identity = model_identity(model / "model.onnx")
        v = registry.register("penguins", model, identity=identity, tags={}).version
        core.deploy(
            model,
            tmp_path / f"d{seed}",
            model_name="penguins",
            model_repository=str(work / "models"),
            release=core.ReleaseContext(
                registered_model={"name": v.name, "version": v.version, "tags": {}},
                registry_uri=registry.uri,
                release_store=str(work / "releases"),
                events_sink=str(work / "events.jsonl"),
            ),
        )
    outputs = []
    for line in README_COMMANDS:
        code, out, err = _run(shlex.split(line)[1:], capsys)
        assert code == 0, (line, err)
        outputs.append(out)
    assert len(outputs[0].splitlines()) == 3  # header, two releases
    assert outputs[1].startswith("release #2 of penguins version 2 (deploy, ")
    assert outputs[2].startswith("#") and "penguins" in outputs[2]
    assert "champion: 2 -> 1" in outputs[3]
    doc = json.loads(outputs[4])
    assert (doc["kind"], doc["number"], doc["model"]["registry_version"]) == ("rollback", 3, "1")
    assert doc["request"]["reason"] == "version 2 misses Gentoo on Dream"
    aliases = mlflow_client(embedded_uri(work)).get_registered_model("penguins").aliases
    assert {a: str(v) for a, v in aliases.items()} == {"champion": "1"}
