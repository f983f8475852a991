"""mlrail.registry against a real ``mlflow server`` and the embedded SQLite store.

Everything is written through mlrail's registry and read back through MLflow's own client
(``MlflowClient``), so a test fails if mlrail's view and MLflow's differ.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlrail.registry import (
    CHALLENGER,
    CHAMPION,
    ENV_URI,
    DatasetRef,
    RegistryError,
    embedded_uri,
    open_registry,
    require_uri,
    resolve_uri,
)
from tests.registry.models import tiny_model
from tests.registry.server import MlflowServer, free_port, mlflow_client

pytestmark = [
    # mlflow 3.17's own code, read by these tests through MLflow's client: its SQL store's
    # relationships use lazy="noload" (deprecated by SQLAlchemy 2.1), and importing
    # mlflow.pyfunc infers schemas of MLflow's agent types with Any fields
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning"),
]


@dataclass(frozen=True)
class Where:
    """A registry and MLflow's own client on the same store."""

    kind: str
    uri: str

    def client(self) -> Any:
        return mlflow_client(self.uri)


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> str:
    return embedded_uri(tmp_path_factory.mktemp("work"))


@pytest.fixture(params=["server", "embedded"])
def where(request: pytest.FixtureRequest, embedded: str) -> Iterator[Where]:
    if request.param == "server":
        server: MlflowServer = request.getfixturevalue("mlflow_server")
        yield Where("server", server.uri)
    else:
        yield Where("embedded", embedded)


@pytest.fixture
def name() -> str:
    """A registered model name of this test's own (the stores are shared by a module)."""
    return f"m-{uuid.uuid4().hex[:10]}"


def _register(uri: str, name: str, model: Path, identity: str, **extra: Any) -> Any:
    golden = json.loads((model / "golden.json").read_text())
    example = {i["name"]: i["data"] for i in golden["request"]["inputs"]}
    kwargs: dict[str, Any] = {
        "identity": identity,
        "tags": {"mlrail.data.fingerprint": "f" * 64, "mlrail.reason": "a test"},
        "datasets": [
            DatasetRef(
                "tiny.csv/train",
                "/data/examples/train",
                "ab" * 32,
                "train",
                30,
                (("x1", "double"), ("island", "string")),
            ),
            DatasetRef("tiny.csv/eval", "s3://bucket/examples/eval", "ab" * 32, "eval", 10),
        ],
        "example": example,
        "metrics": {"accuracy": 0.75, "log_loss": float("nan")},
        "run_name": "run-1",
    }
    kwargs.update(extra)
    return open_registry(uri).register(name, model, **kwargs)


def test_uri_explicit_then_environment_then_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_URI, "http://from-env:5000")
    assert resolve_uri("http://explicit:5000") == "http://explicit:5000"
    assert resolve_uri("") == "http://from-env:5000"
    monkeypatch.delenv(ENV_URI)
    assert resolve_uri("") is None
    with pytest.raises(RegistryError, match="no model registry configured.*MLFLOW_TRACKING_URI"):
        require_uri("")


def test_embedded_uri_is_sqlite_under_the_working_folder(tmp_path: Path) -> None:
    uri = embedded_uri(tmp_path)
    assert uri == f"sqlite:///{tmp_path.resolve()}/registry/mlflow.db"
    assert (tmp_path / "registry").is_dir()


def test_processes_opening_a_new_embedded_registry_at_once_all_succeed(tmp_path: Path) -> None:
    # two runs' steps on one new working folder: MLflow creates a new SQLite store by running
    # its migrations, and two processes doing that at once fail ("Online migration expected to
    # match one row", "table ... already exists": 5 rounds of 5 without the lock)
    uri = embedded_uri(tmp_path)
    # each process imports mlflow, says so and waits for the word: their migrations overlap
    code = (
        "import sys\n"
        "import mlflow\n"
        "from mlrail.registry import open_registry\n"
        "print('ready', flush=True)\n"
        "sys.stdin.readline()\n"
        "open_registry(sys.argv[1]).versions('m')\n"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, uri],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(4)
    ]
    for p in processes:
        assert p.stdout is not None
        while (line := p.stdout.readline()) not in ("ready\n", ""):
            pass  # a warning of the imports
        assert line == "ready\n", f"exited with {p.wait()} before it was ready"
    for p in processes:  # the word to all, then the answers
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    outputs = [p.communicate(timeout=120)[0] for p in processes]
    assert [p.returncode for p in processes] == [0] * 4, "\n".join(outputs)
    assert open_registry(uri).versions("m") == []


def test_importing_the_registry_does_not_import_mlflow() -> None:
    code = "import sys, mlrail.registry; print('mlflow' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


def test_register_records_version_tags_datasets_and_model(
    where: Where, name: str, tmp_path: Path
) -> None:
    model = tiny_model(tmp_path / "model", seed=1)
    reg = _register(where.uri, name, model, "id-1")
    assert reg.created and reg.version.version == "1"

    client = where.client()
    mv = client.get_model_version(name, "1")
    assert mv.tags["mlrail.identity"] == "id-1"
    assert mv.tags["mlrail.reason"] == "a test"
    assert mv.run_id == reg.version.run_id

    run = client.get_run(mv.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "run-1"
    assert run.data.tags["mlrail.identity"] == "id-1"
    assert run.data.metrics == {"accuracy": 0.75}  # NaN is not a figure
    inputs = {
        i.dataset.name: (i.dataset, {t.key: t.value for t in i.tags})
        for i in run.inputs.dataset_inputs
    }
    train, train_tags = inputs["tiny.csv/train"]
    assert train_tags["mlflow.data.context"] == "train"
    assert train.digest == ("ab" * 32)[:36]
    assert train.source_type == "local"
    assert json.loads(train.source) == {"uri": "/data/examples/train"}
    assert json.loads(train.profile) == {"num_rows": 30}
    assert json.loads(train.schema)["mlflow_colspec"][1] == {"name": "island", "type": "string"}
    evaluation, _ = inputs["tiny.csv/eval"]
    assert evaluation.source_type == "s3"

    # the logged model: MLflow's ONNX flavour with signature and example, the exported bytes
    import mlflow.artifacts
    from mlflow.models import Model

    local = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=client.get_model_version_download_uri(name, "1"),
            dst_path=str(tmp_path / "dl"),
            tracking_uri=where.uri,
        )
    )
    assert (local / "model.onnx").read_bytes() == (model / "model.onnx").read_bytes()
    assert (local / "model_spec.json").read_bytes() == (model / "model_spec.json").read_bytes()
    meta = Model.load(str(local / "MLmodel"))
    assert "onnx" in meta.flavors
    sig = meta.signature.to_dict()
    assert [i["name"] for i in json.loads(sig["inputs"])] == ["x1", "x2", "island"]
    assert json.loads(sig["outputs"])[0]["tensor-spec"]["shape"] == [-1, 3]
    assert meta.saved_input_example_info is not None
    # the version's source is its logged model (by id on a server; by location in the
    # embedded store, whose registry would resolve an id through MLflow's process-wide URI)
    logged = client.get_logged_model(meta.model_id)
    assert logged.source_run_id == mv.run_id
    expected = f"models:/{meta.model_id}" if where.kind == "server" else logged.artifact_location
    assert mv.source == expected


def test_the_registered_model_runs_in_onnx_runtime(
    mlflow_server: MlflowServer, name: str, tmp_path: Path
) -> None:
    import onnxruntime as ort

    model = tiny_model(tmp_path / "model", seed=2)
    _register(mlflow_server.uri, name, model, "id-ort")
    folder = open_registry(mlflow_server.uri).download(name, "1", tmp_path / "dl")
    golden = json.loads((model / "golden.json").read_text())
    feeds = {
        i["name"]: np.array(
            i["data"], dtype=object if i["datatype"] == "BYTES" else np.float32
        ).reshape(i["shape"])
        for i in golden["request"]["inputs"]
    }
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, feeds)
    np.testing.assert_allclose(out.ravel(), golden["outputs"][0]["data"], rtol=1e-6)


def test_same_identity_reuses_its_version(where: Where, name: str, tmp_path: Path) -> None:
    first = _register(where.uri, name, tiny_model(tmp_path / "a", seed=3), "same")
    again = _register(where.uri, name, tiny_model(tmp_path / "b", seed=3), "same", run_name="x")
    other = _register(where.uri, name, tiny_model(tmp_path / "c", seed=4), "other")
    assert (first.created, again.created, other.created) == (True, False, True)
    assert again.version.version == first.version.version == "1"
    assert other.version.version == "2"
    client = where.client()
    assert sorted(str(v.version) for v in client.search_model_versions(f"name = '{name}'")) == [
        "1",
        "2",
    ]
    # nothing was logged for the reused one: one run per version
    runs = client.search_runs([client.get_experiment_by_name(f"mlrail/{name}").experiment_id])
    assert len(runs) == 2


def test_aliases_move_and_read_back(where: Where, name: str, tmp_path: Path) -> None:
    registry = open_registry(where.uri)
    for seed in (5, 6):
        _register(where.uri, name, tiny_model(tmp_path / str(seed), seed=seed), f"id-{seed}")
    assert registry.by_alias(name, CHAMPION) is None
    registry.set_alias(name, CHAMPION, "1")
    registry.set_alias(name, CHALLENGER, "2")
    client = where.client()
    assert str(client.get_model_version_by_alias(name, CHAMPION).version) == "1"
    assert str(client.get_model_version_by_alias(name, CHALLENGER).version) == "2"
    # promote: champion moves to 2, challenger goes
    registry.set_alias(name, CHAMPION, "2")
    registry.delete_alias(name, CHALLENGER)
    registry.delete_alias(name, CHALLENGER)  # twice: nothing to remove is not an error
    aliases = client.get_registered_model(name).aliases
    assert {k: str(v) for k, v in aliases.items()} == {CHAMPION: "2"}
    champion = registry.by_alias(name, CHAMPION)
    assert champion is not None and champion.version == "2" and champion.aliases == (CHAMPION,)
    # rollback: back to 1
    registry.set_alias(name, CHAMPION, "1")
    assert str(client.get_model_version_by_alias(name, CHAMPION).version) == "1"
    assert [(v.version, v.aliases) for v in registry.versions(name)] == [
        ("2", ()),
        ("1", (CHAMPION,)),
    ]
    assert registry.get(name, "1").aliases == (CHAMPION,)
    assert registry.by_alias("no-such-model", CHAMPION) is None
    assert registry.versions("no-such-model") == []


def test_files_kept_with_a_version(where: Where, name: str, tmp_path: Path) -> None:
    registry = open_registry(where.uri)
    _register(where.uri, name, tiny_model(tmp_path / "m", seed=7), "id-7")
    record = tmp_path / "release-0001.json"
    record.write_text('{"release": 1}')
    registry.attach(name, "1", record)
    record.write_text('{"release": 1, "amended": true}')
    registry.attach(name, "1", record)
    assert registry.attachments(name, "1") == ["release-0001.json"]
    assert registry.read_attachment(name, "1", "release-0001.json") == record.read_bytes()
    run_id = where.client().get_model_version(name, "1").run_id
    listed = [f.path for f in where.client().list_artifacts(run_id, "mlrail/attachments")]
    assert listed == ["mlrail/attachments/release-0001.json"]
    with pytest.raises(RegistryError, match="release-0002.json.*no such file"):
        registry.read_attachment(name, "1", "release-0002.json")


def test_embedded_artifacts_stay_under_the_working_folder(
    embedded: str, name: str, tmp_path: Path
) -> None:
    _register(embedded, name, tiny_model(tmp_path / "m", seed=8), "id-8")
    root = Path(embedded.removeprefix("sqlite:///")).parent / "artifacts"
    assert list(root.rglob("model.onnx")), f"no model under {root}"
    location = mlflow_client(embedded).get_model_version_download_uri(name, "1")
    assert location.startswith(root.as_uri())


def test_a_registry_that_is_down_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    uri = f"http://user:s3cret@127.0.0.1:{free_port()}"
    with pytest.raises(RegistryError) as e:
        _register(uri, "m", tiny_model(tmp_path / "m"), "id")
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith(f"model registry http://***@127.0.0.1:{uri.rsplit(':', 1)[1]}")
    assert "s3cret" not in message


def test_a_model_folder_without_a_spec_is_refused_before_anything_is_written(
    where: Where, name: str, tmp_path: Path
) -> None:
    model = tiny_model(tmp_path / "m")
    (model / "model_spec.json").unlink()
    with pytest.raises(Exception, match="model_spec.json"):
        _register(where.uri, name, model, "id")
    assert where.client().search_model_versions(f"name = '{name}'") == []
