"""The model's CycloneDX ML-BOM: valid 1.6 by the library's own validator, with its model card."""

from __future__ import annotations

import hashlib
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from mlrail.artifacts import mlbom
from mlrail.errors import ModelError

FINGERPRINT = hashlib.sha256(b"penguins.csv").hexdigest()


def _bom(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    model = tmp_path / "model.onnx"
    model.write_bytes(b"\x08\x07onnx bytes")
    options: dict[str, Any] = {
        "name": "penguins",
        "task": "multiclass",
        "metrics": {"accuracy": 0.97, "log_loss": 0.11},
        "datasets": [mlbom.Dataset("examples", FINGERPRINT, "train: 240 rows, eval: 69 rows")],
        "libraries": {"tensorflow": "2.21.0", "onnx": "1.23.2"},
        "version": "3",
        "inputs": ["bill_length_mm", "island"],
        "outputs": ["probabilities"],
        "properties": {"identity": "sha256:abc", "signer": "sha256:def"},
    }
    options.update(overrides)
    return mlbom.build_mlbom(model, **options)


def test_the_mlbom_is_valid_cyclonedx_1_6_by_the_librarys_own_validator(tmp_path: Path) -> None:
    document = _bom(tmp_path)
    path = mlbom.write_mlbom(tmp_path / mlbom.MLBOM_FILE, document)

    text = path.read_text()
    validator = JsonStrictValidator(SchemaVersion.V1_6)
    assert validator.validate_str(text) is None
    assert json.loads(text)["specVersion"] == "1.6"
    assert json.loads(text)["bomFormat"] == "CycloneDX"


def test_the_model_is_a_machine_learning_model_component_with_its_card(tmp_path: Path) -> None:
    model = _bom(tmp_path)["metadata"]["component"]

    assert model["type"] == "machine-learning-model"
    assert model["name"] == "penguins" and model["version"] == "3"
    sha = hashlib.sha256((tmp_path / "model.onnx").read_bytes()).hexdigest()
    assert model["hashes"] == [{"alg": "SHA-256", "content": sha}]
    assert {"name": "mlrail:identity", "value": "sha256:abc"} in model["properties"]
    card = model["modelCard"]
    assert card["modelParameters"]["task"] == "multiclass"
    assert card["modelParameters"]["approach"] == {"type": "supervised"}
    assert card["modelParameters"]["datasets"] == [{"ref": f"dataset:{FINGERPRINT}"}]
    assert card["modelParameters"]["inputs"] == [
        {"format": "tensor bill_length_mm"},
        {"format": "tensor island"},
    ]
    assert card["quantitativeAnalysis"]["performanceMetrics"] == [
        {"type": "accuracy", "value": "0.97"},
        {"type": "log_loss", "value": "0.11"},
    ]


def test_datasets_are_known_by_fingerprint_and_libraries_by_purl(tmp_path: Path) -> None:
    document = _bom(tmp_path)
    by_ref = {c["bom-ref"]: c for c in document["components"]}

    data = by_ref[f"dataset:{FINGERPRINT}"]
    assert data["type"] == "data" and data["name"] == "examples"
    assert data["hashes"] == [{"alg": "SHA-256", "content": FINGERPRINT}]
    assert by_ref["pkg:pypi/tensorflow@2.21.0"]["purl"] == "pkg:pypi/tensorflow@2.21.0"
    assert by_ref["pkg:pypi/onnx@1.23.2"]["type"] == "library"
    model_deps = next(d for d in document["dependencies"] if d["ref"] == "model:penguins")
    assert set(model_deps["dependsOn"]) == set(by_ref)


def test_the_libraries_default_to_the_installed_versions(tmp_path: Path) -> None:
    import importlib.metadata

    document = _bom(tmp_path, libraries=None)
    libraries = {c["name"]: c["version"] for c in document["components"] if c["type"] == "library"}

    assert libraries["onnx"] == importlib.metadata.version("onnx")
    assert libraries["mlrail"] == importlib.metadata.version("mlrail")
    assert libraries["onnxruntime"] == importlib.metadata.version("onnxruntime")
    assert {"tensorflow", "tensorflow-cpu"} & set(libraries)  # one of its distribution names


def test_a_fingerprint_that_is_not_a_sha256_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="'examples': fingerprint 'abc' is not a SHA-256"):
        _bom(tmp_path, datasets=[mlbom.Dataset("examples", "abc")])


def test_a_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="cannot read the model") as caught:
        mlbom.build_mlbom(tmp_path / "none.onnx", name="m", task="regression", metrics={})
    assert str(caught.value).startswith(str(tmp_path / "none.onnx"))


def test_validate_refuses_a_document_that_breaks_the_schema(tmp_path: Path) -> None:
    document = _bom(tmp_path)
    document["metadata"]["component"]["modelCard"]["modelParameters"]["approach"] = {
        "type": "guesswork"
    }
    with pytest.raises(ModelError, match="not valid CycloneDX 1.6"):
        mlbom.validate(document)


def test_validation_needs_no_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the schemas and their references ship with the library: any connection attempt fails here
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the ML-BOM validator tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    mlbom.validate(_bom(tmp_path))
