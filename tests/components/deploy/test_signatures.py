"""deploy verifies the signature before it pushes, applies or renders; tampered models are refused.

The model is the session's penguins model exported by export_onnx with a key (as a pipeline run
signs it); each tamper case is made on a copy of that artifact. A refusal is checked for each
target: the local repository, the render folder and the Kubernetes API (the fake of
:mod:`.fake_kube`) are left untouched, since the check runs before any of them is used.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import onnx
import pytest
from kfp.dsl import HTML, Artifact, Model

from mlrail.artifacts import model_repository, signing
from mlrail.artifacts.signing import SignatureError
from mlrail.components.deploy import deploy as deploy_component
from mlrail.components.deploy.core import deploy
from mlrail.components.deploy.signature import VERIFY_KEY_ENV
from mlrail.components.export_onnx.provenance import SIGNING_KEY_ENV
from mlrail.errors import ModelError
from tests.components.export_onnx.signed import Keys, examples_metadata, make_keys, signed_export
from tests.helpers import Trained

from .fake_kube import FakeKube
from .kserve_model import Revision
from .scenarios import URI, FakeClock
from .v2_servers import Servers


@pytest.fixture(autouse=True)
def _no_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(VERIFY_KEY_ENV, raising=False)
    monkeypatch.delenv(SIGNING_KEY_ENV, raising=False)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return make_keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def signed(trained: Trained, keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """export_onnx's penguins artifact, signed with our key."""
    root = tmp_path_factory.mktemp("signed")
    signed_export(trained, root / "onnx_model", keys.private, examples_metadata(root))
    return root / "onnx_model"


def _flip_a_weight_bit(model: Path) -> None:
    """One bit of a weight: still a valid ONNX model with its recorded identity unchanged."""
    proto = onnx.load(str(model))
    data = bytearray(model.read_bytes())
    weight = next(
        t.raw_data for t in proto.graph.initializer
        if t.data_type == onnx.TensorProto.FLOAT and len(t.raw_data) >= 16
        and data.count(t.raw_data) == 1
    )  # fmt: skip
    data[data.find(weight)] ^= 0x01
    model.write_bytes(bytes(data))


def _version(src: Path) -> Path:
    return src / "model_repository" / "penguins" / "1"


def _byte_in_signed_model(src: Path, keys: Keys) -> None:
    _flip_a_weight_bit(_version(src) / "model.onnx")


def _byte_in_top_level_model(src: Path, keys: Keys) -> None:
    _flip_a_weight_bit(src / "model.onnx")


def _swapped_config(src: Path, keys: Keys) -> None:
    config = _version(src).parent / "config.pbtxt"
    config.write_text(config.read_text().replace("dims: [ 3 ]", "dims: [ 4 ]"))


def _another_key(src: Path, keys: Keys) -> None:
    signing.sign_version(_version(src), keys.other_private)


def _unsigned(src: Path, keys: Keys) -> None:
    (_version(src) / "model.sig").unlink()


TAMPERS: list[tuple[Callable[[Path, Keys], None], str, str]] = [
    (
        _byte_in_signed_model,
        "model_repository/penguins/1/model.onnx",
        "changed since it was signed",
    ),
    (_byte_in_top_level_model, "model.onnx", "differs from the signed"),
    (_swapped_config, "model_repository/penguins/config.pbtxt", "swapped or edited"),
    (_another_key, "model_repository/penguins/1/model.sig", "signed with another key"),
    (_unsigned, "model_repository/penguins/1/model.sig", "unsigned"),
]
IDS = ["byte-in-signed-model.onnx", "byte-in-top-model.onnx", "swapped-config", "another-key",
       "unsigned"]  # fmt: skip


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _local(src: Path, out: Path, repo: Path, key: Path | str = "") -> Any:
    return deploy(
        src, out, target="local", model_name="penguins", model_repository=str(repo),
        verify_key=str(key),
    )  # fmt: skip


def test_a_signed_model_is_verified_pushed_with_its_signature_and_then_unchanged(
    signed: Path, keys: Keys, tmp_path: Path
) -> None:
    repo = tmp_path / "models"
    first = _local(signed, tmp_path / "d1", repo, keys.public)
    again = _local(signed, tmp_path / "d2", repo, keys.public)
    assert (first.decision, first.version) == ("pushed", 1)
    assert (again.decision, again.version) == ("unchanged", 1)
    signer = signing.key_fingerprint(keys.public)
    for out in ("d1", "d2"):
        record = json.loads((tmp_path / out / "deployment.json").read_text())
        assert record["signature"] == {"status": "verified", "signer": signer}
    # the signature travelled: the repository's version verifies where it serves
    pushed = repo / "penguins" / "1"
    assert signing.verify_version(pushed, keys.public).signer == signer
    assert (pushed / "model.onnx").read_bytes() == (signed / "model.onnx").read_bytes()


def test_without_a_key_nothing_is_verified_and_the_record_says_so(
    signed: Path, onnx_model: Path, keys: Keys, tmp_path: Path
) -> None:
    was_signed = _local(signed, tmp_path / "d1", tmp_path / "a")
    unsigned = _local(onnx_model, tmp_path / "d2", tmp_path / "b")
    assert (was_signed.signature.status, was_signed.signature.signer) == ("not verified", "")
    assert unsigned.signature.status == "unsigned"
    # a signed model still carries its signature into the repository
    assert signing.is_signed(tmp_path / "a" / "penguins" / "1")
    assert not signing.is_signed(tmp_path / "b" / "penguins" / "1")


def test_the_key_comes_from_the_environment_when_not_given(
    onnx_model: Path, keys: Keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(VERIFY_KEY_ENV, str(keys.public))
    with pytest.raises(SignatureError, match="unsigned"):
        _local(onnx_model, tmp_path / "d", tmp_path / "models")
    assert not (tmp_path / "models").exists() and not (tmp_path / "d").exists()


@pytest.mark.parametrize("bad", ["missing", "private-key", "not-pem"])
def test_a_key_that_cannot_verify_is_refused_naming_it_before_anything(
    onnx_model: Path, keys: Keys, tmp_path: Path, bad: str
) -> None:
    key = {"missing": tmp_path / "absent.pub", "private-key": keys.private,
           "not-pem": tmp_path / "junk.pub"}[bad]  # fmt: skip
    if bad == "not-pem":
        key.write_text("not a key")
    with pytest.raises(ModelError, match=f"^{key}: "):
        _local(onnx_model, tmp_path / "d", tmp_path / "models", key)
    assert not (tmp_path / "models").exists() and not (tmp_path / "d").exists()


def test_an_unsigned_newest_version_of_the_same_model_is_not_unchanged_for_a_signed_one(
    signed: Path, onnx_model: Path, keys: Keys, tmp_path: Path
) -> None:
    """Same identity, but what serves is unsigned (or another key's): a signed version goes in."""
    repo = tmp_path / "models"
    first = _local(onnx_model, tmp_path / "d1", repo)
    second = _local(signed, tmp_path / "d2", repo, keys.public)
    third = _local(signed, tmp_path / "d3", repo, keys.public)
    assert first.identity == second.identity
    assert (second.decision, second.version) == ("pushed", 2)
    assert (third.decision, third.version) == ("unchanged", 2)
    # signed with another key: verified with that key, ours is pushed again
    other = tmp_path / "other"
    shutil.copytree(signed, other)
    _another_key(other, keys)
    assert _local(other, tmp_path / "d4", repo, keys.other_public).decision == "pushed"
    assert _local(signed, tmp_path / "d5", repo, keys.public).version == 4


@pytest.mark.parametrize(("tamper", "file", "reason"), TAMPERS, ids=IDS)
def test_local_refuses_a_tampered_model_naming_the_file_and_pushes_nothing(
    signed: Path, keys: Keys, tmp_path: Path,
    tamper: Callable[[Path, Keys], None], file: str, reason: str,
) -> None:  # fmt: skip
    repo = tmp_path / "models"
    _local(signed, tmp_path / "d0", repo, keys.public)  # version 1 serves
    before = _tree(repo)
    src = tmp_path / "tampered"
    shutil.copytree(signed, src)
    tamper(src, keys)
    with pytest.raises(SignatureError) as refused:
        _local(src, tmp_path / "d", repo, keys.public)
    message = str(refused.value)
    assert message.startswith(f"{src / file}: ") and reason in message, message
    assert "\n" not in message
    assert _tree(repo) == before and not (tmp_path / "d").exists()


@pytest.mark.parametrize(("tamper", "file", "reason"), TAMPERS, ids=IDS)
def test_render_refuses_a_tampered_model_and_writes_nothing(
    signed: Path, keys: Keys, tmp_path: Path,
    tamper: Callable[[Path, Keys], None], file: str, reason: str,
) -> None:  # fmt: skip
    src = tmp_path / "tampered"
    shutil.copytree(signed, src)
    tamper(src, keys)
    with pytest.raises(SignatureError, match=f"^{src / file}: .*{reason}"):
        deploy(src, tmp_path / "d", target="render", model_name="penguins",
               onnx_model_uri=URI, verify_key=str(keys.public))  # fmt: skip
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize(("tamper", "file", "reason"), TAMPERS, ids=IDS)
def test_kserve_refuses_a_tampered_model_before_any_api_call(
    signed: Path, keys: Keys, tmp_path: Path,
    tamper: Callable[[Path, Keys], None], file: str, reason: str,
) -> None:  # fmt: skip
    src = tmp_path / "tampered"
    shutil.copytree(signed, src)
    tamper(src, keys)
    fake = FakeKube([Revision("http://127.0.0.1:9")])
    with pytest.raises(SignatureError, match=f"^{src / file}: .*{reason}"):
        deploy(src, tmp_path / "d", target="kserve", model_name="penguins",
               onnx_model_uri=URI, verify_key=str(keys.public), api=fake,
               clock=FakeClock())  # fmt: skip
    assert fake.calls == [] and fake.received == []
    assert not (tmp_path / "d").exists()


def test_render_and_kserve_record_the_verified_signature(
    signed: Path, keys: Keys, tmp_path: Path, servers: Servers
) -> None:
    signer = signing.key_fingerprint(keys.public)
    rendered = deploy(signed, tmp_path / "r", target="render", model_name="penguins",
                      onnx_model_uri=URI, verify_key=str(keys.public))  # fmt: skip
    fake = FakeKube([Revision(servers.good)])
    applied = deploy(signed, tmp_path / "k", target="kserve", model_name="penguins",
                     onnx_model_uri=URI, verify_key=str(keys.public), api=fake,
                     clock=FakeClock(), timeout_seconds=60)  # fmt: skip
    assert rendered.decision == "rendered" and applied.decision == "applied"
    for out in ("r", "k"):
        record = json.loads((tmp_path / out / "deployment.json").read_text())
        assert record["signature"] == {"status": "verified", "signer": signer}
    # what KServe mounts is the artifact's repository, whose version carries the signature
    (body,) = fake.received
    assert body["spec"]["predictor"]["model"]["storageUri"].endswith("/onnx_model/model_repository")


def test_kserve_is_not_unchanged_over_the_same_model_unsigned_or_by_another_signer(
    signed: Path, onnx_model: Path, keys: Keys, tmp_path: Path, servers: Servers
) -> None:
    """The live object's signer annotation must be the verified one for ``unchanged``."""
    # one revision per template applied: unsigned, ours, theirs
    fake = FakeKube([Revision(servers.good) for _ in range(3)])

    def kserve(src: Path, out: str, key: Path | str = "") -> Any:
        return deploy(src, tmp_path / out, target="kserve", model_name="penguins",
                      onnx_model_uri=URI, verify_key=str(key), api=fake, clock=FakeClock(),
                      timeout_seconds=60)  # fmt: skip

    other = tmp_path / "other"
    shutil.copytree(signed, other)
    _another_key(other, keys)
    unsigned = kserve(onnx_model, "d1")
    ours = kserve(signed, "d2", keys.public)
    again = kserve(signed, "d3", keys.public)
    theirs = kserve(other, "d4", keys.other_public)
    assert unsigned.identity == ours.identity == theirs.identity
    assert [d.decision for d in (unsigned, ours, again, theirs)] == [
        "applied", "applied", "unchanged", "applied",
    ]  # fmt: skip
    live = fake.live("mlrail", "penguins")["metadata"]["annotations"]
    assert live["mlrail.io/model-signer"] == signing.key_fingerprint(keys.other_public)


def test_the_component_verifies_and_records_the_signature(
    signed: Path, keys: Keys, tmp_path: Path
) -> None:
    deployment = Artifact(name="deployment", uri=str(tmp_path / "d"))
    release = Artifact(name="release", uri=str(tmp_path / "release"))
    deploy_component.python_func(
        onnx_model=Model(name="onnx_model", uri=str(signed)),
        deployment=deployment,
        release=release,
        release_page=HTML(name="release_page", uri=str(tmp_path / "page")),
        model_name="penguins",
        model_repository=str(tmp_path / "models"),
        verify_key=str(keys.public),
    )
    assert deployment.metadata["signature"] == "verified"
    assert deployment.metadata["signer"] == signing.key_fingerprint(keys.public)
    recorded = json.loads((tmp_path / "release" / "release.json").read_text())
    assert recorded["model"]["signature"] == {
        "status": "verified",
        "signer": signing.key_fingerprint(keys.public),
    }
    with pytest.raises(SignatureError, match="signed with another key"):
        deploy_component.python_func(
            onnx_model=Model(name="onnx_model", uri=str(signed)),
            deployment=Artifact(name="deployment", uri=str(tmp_path / "d2")),
            release=Artifact(name="release", uri=str(tmp_path / "release2")),
            release_page=HTML(name="release_page", uri=str(tmp_path / "page2")),
            model_name="penguins",
            model_repository=str(tmp_path / "models"),
            verify_key=str(keys.other_public),
        )


def test_export_signs_deploy_verifies_and_mlrail_serve_loads_it(
    trained: Trained, keys: Keys, tmp_path: Path
) -> None:
    """End to end: export_onnx with the private key, deploy local with the public one, and a
    real ``mlrail serve --verify-key`` serves the pushed version (and refuses a tampered one)."""
    from tests.serving.test_signed_models import mlrail_serve

    out = tmp_path / "onnx_model"
    signed_export(trained, out, keys.private, examples_metadata(tmp_path))
    repo = tmp_path / "models"
    assert _local(out, tmp_path / "d", repo, keys.public).signature.status == "verified"
    request = json.loads((out / "golden.json").read_text())
    with mlrail_serve(repo, "--verify-key", str(keys.public)) as serving:
        assert serving.get("/v2/models/penguins/versions/1/ready").status_code == 200
        response = serving.http.post("/v2/models/penguins/infer", json=request["request"])
        assert response.status_code == 200, response.text
        got = response.json()["outputs"][0]["data"]
        want = request["outputs"][0]["data"]
        assert got == pytest.approx(want, abs=1e-6)
        # a byte changed where it serves: the server refuses it (deploy would have refused it)
        pushed = repo / "penguins"
        staged = tmp_path / "v2"
        shutil.copytree(pushed / "1", staged)
        _flip_a_weight_bit(staged / "model.onnx")
        staged.rename(pushed / "2")
        refused = serving.wait_for(
            "/v2/models/penguins/versions/2/ready", lambda r: r.status_code == 503
        )
        assert "penguins/2/model.onnx: changed since it was signed" in refused.json()["error"]
    assert model_repository.versions(pushed) == [1, 2]
