"""export_onnx signs the repository's version with a key and writes the model's ML-BOM."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from kfp.dsl import Dataset, Metrics, Model

from mlrail.artifacts import mlbom, signing
from mlrail.components.export_onnx import core as export_core
from mlrail.components.export_onnx import export_onnx
from mlrail.components.export_onnx.core import ExportResult
from mlrail.components.export_onnx.provenance import SIGNING_KEY_ENV
from mlrail.errors import ModelError
from tests.helpers import Trained

from .signed import Keys, examples_metadata, make_keys, signed_export


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return make_keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def metadata(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return examples_metadata(tmp_path_factory.mktemp("ingest"))


@pytest.fixture(scope="module")
def signed(
    trained: Trained, keys: Keys, metadata: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, ExportResult]:
    out = tmp_path_factory.mktemp("signed") / "onnx_model"
    return out, signed_export(trained, out, keys.private, metadata)


def test_the_version_is_signed_with_the_key_and_verifies(
    signed: tuple[Path, ExportResult], keys: Keys
) -> None:
    out, result = signed
    version = out / "model_repository" / "penguins" / "1"
    assert result.signed and result.signer == signing.key_fingerprint(keys.public)
    verified = signing.verify_version(version, keys.public)
    assert verified.files == ("model.onnx", "model_config.pbtxt", "model_spec.json")
    assert verified.signer == result.signer
    # the other key's owner cannot pass it off as theirs
    with pytest.raises(signing.SignatureError, match="signed with another key"):
        signing.verify_version(version, keys.other_public)
    # no staging folders or scratch files left in the artifact or beside it
    assert sorted(p.name for p in out.parent.iterdir()) == ["onnx_model"]
    assert sorted(p.name for p in version.iterdir()) == [
        "model.onnx", "model.sig", "model_config.pbtxt", "model_spec.json",
    ]  # fmt: skip


def test_signing_leaves_the_signed_files_reproducible(
    signed: tuple[Path, ExportResult], onnx_model: Path
) -> None:
    """The same SavedModel unsigned (the session's export) and signed: the same bytes."""
    out, _ = signed
    for name in ("model.onnx", "model_spec.json", "golden.json"):
        assert (out / name).read_bytes() == (onnx_model / name).read_bytes(), name
    repo, plain = out / "model_repository" / "penguins", onnx_model / "model_repository/penguins"
    for name in ("config.pbtxt", "1/model.onnx", "1/model_spec.json"):
        assert (repo / name).read_bytes() == (plain / name).read_bytes(), name
    # the signed copy of the configuration is the live one (the model's own name)
    assert (repo / "1" / "model_config.pbtxt").read_bytes() == (repo / "config.pbtxt").read_bytes()
    assert not (plain / "1" / "model.sig").exists()


def test_the_ml_bom_describes_the_model_its_data_and_its_builders(
    signed: tuple[Path, ExportResult], metadata: dict[str, Any]
) -> None:
    out, result = signed
    document = json.loads((out / mlbom.MLBOM_FILE).read_text())
    mlbom.validate(document)
    model = document["metadata"]["component"]
    assert model["type"] == "machine-learning-model" and model["name"] == "penguins"
    assert model["version"] == result.identity
    assert model["hashes"] == [
        {"alg": "SHA-256", "content": hashlib.sha256((out / "model.onnx").read_bytes()).hexdigest()}
    ]
    props = {p["name"]: p["value"] for p in model["properties"]}
    assert props["mlrail:identity"] == result.identity
    assert props["mlrail:signer"] == result.signer and props["mlrail:opset"] == "17"
    card = model["modelCard"]
    assert card["modelParameters"]["task"] == "multiclass"
    parity = json.loads((out / "parity.json").read_text())
    figures = card["quantitativeAnalysis"]["performanceMetrics"]
    metrics = {m["type"]: float(m["value"]) for m in figures}
    assert metrics["parity.max_abs_diff"] == parity["max_abs_diff"]
    assert metrics["parity.rows"] == parity["rows"]
    assert metrics["parity.label_agreement"] == parity["label_agreement"] == 1.0
    # the examples by ingest's fingerprint, and the libraries that built the model
    components = {c["bom-ref"]: c for c in document["components"]}
    data = components[f"dataset:{metadata['fingerprint']}"]
    assert data["type"] == "data" and data["name"] == "bundled:penguins"
    assert f"train: {metadata['rows_train']} rows" in data["description"]
    assert card["modelParameters"]["datasets"] == [{"ref": f"dataset:{metadata['fingerprint']}"}]
    libraries = {c["name"] for c in document["components"] if c["type"] == "library"}
    assert {"tf2onnx", "onnx", "onnxruntime", "keras", "mlrail"} <= libraries


def test_without_a_key_the_model_is_not_signed_and_the_log_says_so(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    monkeypatch.delenv(SIGNING_KEY_ENV, raising=False)
    with caplog.at_level(logging.INFO, logger="mlrail.components.export_onnx"):
        result = export_core.export_onnx(
            trained.model, trained.examples, tmp_path / "onnx", model_name="penguins"
        )
    assert not result.signed and result.signer == ""
    assert not signing.is_signed(tmp_path / "onnx" / "model_repository" / "penguins" / "1")
    assert "not signed" in caplog.text and SIGNING_KEY_ENV in caplog.text
    # the ML-BOM is still written; with no ingest metadata it lists no dataset and no signer
    document = json.loads((tmp_path / "onnx" / mlbom.MLBOM_FILE).read_text())
    mlbom.validate(document)
    assert not any(c["type"] == "data" for c in document["components"])
    props = {p["name"] for p in document["metadata"]["component"]["properties"]}
    assert "mlrail:signer" not in props


def test_the_key_comes_from_the_environment_when_not_given(
    trained: Trained, tmp_path: Path, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SIGNING_KEY_ENV, str(keys.other_private))
    result = export_core.export_onnx(
        trained.model, trained.examples, tmp_path / "onnx", model_name="penguins"
    )
    version = tmp_path / "onnx" / "model_repository" / "penguins" / "1"
    assert signing.verify_version(version, keys.other_public).signer == result.signer


@pytest.mark.parametrize("bad", ["public", "missing", "not-pem"])
def test_a_key_that_cannot_sign_is_refused_naming_it_and_nothing_is_written(
    trained: Trained, tmp_path: Path, keys: Keys, bad: str
) -> None:
    key = {
        "public": keys.public,
        "missing": tmp_path / "absent.pem",
        "not-pem": tmp_path / "junk.pem",
    }[bad]
    if bad == "not-pem":
        key.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ModelError, match=f"^{key}: "):
        export_core.export_onnx(
            trained.model, trained.examples, tmp_path / "onnx", signing_key=str(key)
        )
    assert not (tmp_path / "onnx").exists()


def test_the_component_records_signed_and_signer(
    trained: Trained, tmp_path: Path, keys: Keys, metadata: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.delenv(SIGNING_KEY_ENV, raising=False)
    examples = Dataset(name="examples", uri=str(trained.examples), metadata=dict(metadata))
    for signing_key, out in ((str(keys.private), "signed"), ("", "unsigned")):
        onnx_model = Model(name="onnx_model", uri=str(tmp_path / out))
        export_onnx.python_func(
            model=Model(name="model", uri=str(trained.model)),
            examples=examples,
            onnx_model=onnx_model,
            parity=Metrics(name="parity", uri=str(tmp_path / f"{out}-parity")),
            model_name="penguins",
            signing_key=signing_key,
        )
        md = onnx_model.metadata
        assert md["signed"] is bool(signing_key)
        assert md["signer"] == (signing.key_fingerprint(keys.public) if signing_key else "")
        assert md["mlbom"] == "mlbom.cdx.json"
        document = json.loads((tmp_path / out / "mlbom.cdx.json").read_text())
        # the examples' fingerprint came from the input artifact's metadata
        assert f"dataset:{metadata['fingerprint']}" in {
            c["bom-ref"] for c in document["components"]
        }
