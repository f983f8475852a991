"""Signed model versions: sign, push, verify; every tamper refused with the file it names."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlrail.artifacts import model_repository as repo
from mlrail.artifacts import signing
from mlrail.artifacts.modelspec import InputSpec, ModelSpec
from mlrail.artifacts.signing import SignatureError
from mlrail.errors import ModelError

SPEC = ModelSpec(
    task="multiclass",
    label="species",
    inputs=[InputSpec("in_x", "x", "float32"), InputSpec("in_island", "Island", "string")],
    output="probabilities",
    classes=["a", "b", "c"],
)
OTHER_SPEC = ModelSpec(
    task="regression", label="y", inputs=[InputSpec("x", "x", "float32")], output="y", classes=[]
)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    for who in ("ours", "theirs"):
        signing.generate_key_pair(folder / f"{who}.pem", folder / f"{who}.pub")
    return {
        "private": folder / "ours.pem",
        "public": folder / "ours.pub",
        "other_private": folder / "theirs.pem",
        "other_public": folder / "theirs.pub",
    }


def _exported(tmp_path: Path, keys: dict[str, Path], name: str = "penguins") -> Path:
    """What export_onnx writes: version 1 of ``name`` in its own repository, signed."""
    src = tmp_path / "export"
    src.mkdir()
    (src / repo.MODEL_FILE).write_bytes(bytes(range(256)) * 64)
    SPEC.write(src)
    model_folder = tmp_path / "export_repository" / name
    version = repo.push(model_folder, src, SPEC)
    signing.sign_version(model_folder / str(version), keys["private"])
    return model_folder / str(version)


def test_a_signed_version_verifies_with_its_public_key(
    tmp_path: Path, keys: dict[str, Path]
) -> None:
    version = _exported(tmp_path, keys)

    verified = signing.verify_version(version, keys["public"])

    assert verified.files == ("model.onnx", "model_config.pbtxt", "model_spec.json")
    assert verified.signer == signing.key_fingerprint(keys["public"])
    assert verified.signer == signing.key_fingerprint(keys["private"])  # what a signer records
    assert verified.signer != signing.key_fingerprint(keys["other_public"])
    # the signed copy is the configuration as it was at signing
    signed = (version / signing.SIGNED_CONFIG_FILE).read_text()
    assert signed == (version.parent / repo.CONFIG_FILE).read_text()
    assert signing.is_signed(version)


def test_the_private_key_is_readable_by_its_owner_only(keys: dict[str, Path]) -> None:
    assert keys["private"].stat().st_mode & 0o077 == 0
    assert keys["private"].read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")


def test_the_signature_travels_with_a_push_to_another_version_and_name(
    tmp_path: Path, keys: dict[str, Path]
) -> None:
    version = _exported(tmp_path, keys)
    served = tmp_path / "served" / "penguins-prod"
    # versions 1-2 exist already, so the signed version 1 lands as 3
    for _ in range(2):
        repo.push(served, version, SPEC)
    (served / "3").mkdir()

    number = repo.push(served, version, SPEC)

    assert number == 4
    assert sorted(p.name for p in (served / "4").iterdir()) == [
        "model.onnx",
        "model.sig",
        "model_config.pbtxt",
        "model_spec.json",
    ]
    config = (served / repo.CONFIG_FILE).read_text()
    assert config.startswith('name: "penguins-prod"\n')
    assert config == repo.triton_config("penguins-prod", SPEC)  # the signed one, renamed
    assert signing.verify_version(served / "4", keys["public"]).files[0] == "model.onnx"


def test_one_byte_changed_in_the_model_is_refused_naming_it(
    tmp_path: Path, keys: dict[str, Path]
) -> None:
    version = _exported(tmp_path, keys)
    data = bytearray((version / repo.MODEL_FILE).read_bytes())
    data[1000] ^= 0x01
    (version / repo.MODEL_FILE).write_bytes(bytes(data))

    with pytest.raises(SignatureError, match="changed since it was signed") as caught:
        signing.verify_version(version, keys["public"])

    assert caught.value.path == version / repo.MODEL_FILE
    assert str(caught.value).startswith(f"{version / repo.MODEL_FILE}: ")


def test_a_swapped_config_is_refused_naming_it(tmp_path: Path, keys: dict[str, Path]) -> None:
    version = _exported(tmp_path, keys)
    config = version.parent / repo.CONFIG_FILE
    config.write_text(repo.triton_config("penguins", OTHER_SPEC))

    with pytest.raises(SignatureError, match="swapped or edited") as caught:
        signing.verify_version(version, keys["public"])

    assert caught.value.path == config


def test_a_config_under_another_name_than_the_folder_is_refused(
    tmp_path: Path, keys: dict[str, Path]
) -> None:
    version = _exported(tmp_path, keys)
    served = tmp_path / "served" / "other"
    shutil.copytree(version.parent, served)  # a copy: config.pbtxt still says "penguins"

    with pytest.raises(SignatureError) as caught:
        signing.verify_version(served / "1", keys["public"])

    assert caught.value.path == served / repo.CONFIG_FILE
    assert signing.verify_version(served / "1", keys["public"], model_name="penguins")


def test_an_edited_signed_config_is_refused_naming_it(
    tmp_path: Path, keys: dict[str, Path]
) -> None:
    # both configs edited alike: the signed copy's own hash catches it
    version = _exported(tmp_path, keys)
    other = repo.triton_config("penguins", OTHER_SPEC)
    (version / signing.SIGNED_CONFIG_FILE).write_text(other)
    (version.parent / repo.CONFIG_FILE).write_text(other)

    with pytest.raises(SignatureError) as caught:
        signing.verify_version(version, keys["public"])

    assert caught.value.path == version / signing.SIGNED_CONFIG_FILE


def test_a_signature_from_another_key_is_refused(tmp_path: Path, keys: dict[str, Path]) -> None:
    version = _exported(tmp_path, keys)
    signing.sign_version(version, keys["other_private"])

    with pytest.raises(SignatureError, match="signed with another key") as caught:
        signing.verify_version(version, keys["public"])

    assert caught.value.path == version / signing.SIGNATURE_FILE


def test_an_unsigned_version_is_refused(tmp_path: Path, keys: dict[str, Path]) -> None:
    version = _exported(tmp_path, keys)
    (version / signing.SIGNATURE_FILE).unlink()

    with pytest.raises(SignatureError, match="unsigned") as caught:
        signing.verify_version(version, keys["public"])

    assert caught.value.path == version / signing.SIGNATURE_FILE
    assert not signing.is_signed(version)


def test_an_added_or_a_missing_file_is_refused_naming_it(
    tmp_path: Path, keys: dict[str, Path]
) -> None:
    version = _exported(tmp_path, keys)
    (version / "extra.onnx").write_bytes(b"x")
    with pytest.raises(SignatureError, match="not signed") as caught:
        signing.verify_version(version, keys["public"])
    assert caught.value.path == version / "extra.onnx"

    (version / "extra.onnx").unlink()
    (version / repo.SPEC_FILE).unlink()
    with pytest.raises(SignatureError, match="signed but missing") as caught:
        signing.verify_version(version, keys["public"])
    assert caught.value.path == version / repo.SPEC_FILE


def test_a_corrupt_signature_is_refused_naming_it(tmp_path: Path, keys: dict[str, Path]) -> None:
    version = _exported(tmp_path, keys)
    (version / signing.SIGNATURE_FILE).write_text('{"not": "a bundle"')

    with pytest.raises(SignatureError, match="does not verify") as caught:
        signing.verify_version(version, keys["public"])

    assert caught.value.path == version / signing.SIGNATURE_FILE


def test_a_bad_public_key_is_a_clear_error(tmp_path: Path, keys: dict[str, Path]) -> None:
    version = _exported(tmp_path, keys)
    missing = tmp_path / "missing.pub"
    with pytest.raises(ModelError, match="cannot read the public key") as caught:
        signing.verify_version(version, missing)
    assert str(caught.value).startswith(str(missing))

    # a private key where the public one belongs
    with pytest.raises(ModelError, match="not a PEM public key"):
        signing.verify_version(version, keys["private"])


def test_signing_with_a_key_that_is_not_elliptic_curve_is_refused(
    tmp_path: Path, keys: dict[str, Path]
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    version = _exported(tmp_path, keys)
    rsa_key = tmp_path / "rsa.pem"
    rsa_key.write_bytes(
        rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ModelError, match="cannot sign with this key") as caught:
        signing.sign_version(version, rsa_key)
    assert str(caught.value).startswith(str(rsa_key))
    with pytest.raises(ModelError, match="cannot read the private key"):
        signing.sign_version(version, tmp_path / "none.pem")


def test_config_for_sets_only_the_top_level_name() -> None:
    config = repo.triton_config("penguins", SPEC)

    renamed = signing.config_for(config, 'a "quoted" Größe')

    assert renamed == repo.triton_config('a "quoted" Größe', SPEC)
    assert renamed.splitlines()[1:] == config.splitlines()[1:]  # inputs' names untouched
    with pytest.raises(ModelError, match="no top-level 'name:' line"):
        signing.config_for('platform: "onnxruntime_onnx"\n  name: "nested"\n', "m")


def test_importing_signing_does_not_import_model_signing() -> None:
    code = "import sys, mlrail.artifacts.signing; print('model_signing' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
