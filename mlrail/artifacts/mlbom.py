"""The model's CycloneDX ML-BOM (JSON, spec 1.6): what the model is, learned from what, built how.

Layout of the document (``mlbom.cdx.json``, written by export_onnx beside ``model.onnx`` and
referenced from the release record)::

    metadata.component      the model: a ``machine-learning-model`` component (bom-ref
                            ``model:<name>``), its SHA-256, version and ``mlrail:*`` properties
                            (model identity, opset, signature signer when signed)
      modelCard
        modelParameters     approach (supervised), task, architecture, datasets (by reference),
                            inputs and outputs (their formats)
        quantitativeAnalysis.performanceMetrics   one per metric: type = its name, value
    components              one ``data`` component per dataset (bom-ref ``dataset:<fingerprint>``,
                            its SHA-256 fingerprint as its hash), and one ``library`` per Python
                            distribution that built the model (``pkg:pypi/<name>@<version>``)
    dependencies            the model depends on its datasets and the libraries that built it

cyclonedx-python-lib 11 builds every part but the model card (it has no model-card model yet),
so the card is added to the library's own JSON output as plain data, and the whole document is
checked against the 1.6 JSON schema by the library's validator (:func:`validate`, offline: the
schemas ship with the library) before it is written.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlrail.errors import ModelError
from mlrail.io import atomic_write_text

__all__ = [
    "BUILD_LIBRARIES",
    "MLBOM_FILE",
    "Dataset",
    "build_mlbom",
    "library_versions",
    "validate",
    "write_mlbom",
]

#: The ML-BOM's file name (CycloneDX's recommended ``.cdx.json`` extension).
MLBOM_FILE = "mlbom.cdx.json"
#: The distributions recorded as having built the model, when installed (TensorFlow under
#: whichever of its distribution names is installed: the CPU-only wheel is ``tensorflow-cpu``).
BUILD_LIBRARIES = (
    "tensorflow",
    "tensorflow-cpu",
    "keras",
    "tf2onnx",
    "onnx",
    "onnxruntime",
    "mlrail",
)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Dataset:
    """A dataset the model was trained or evaluated on, known by its content fingerprint.

    Attributes:
        name: What it is called (``examples``, a source URI, ...).
        fingerprint: Its content hash (ingest's ``fingerprint``: SHA-256, 64 hex digits).
        description: How it was used (``train: 240 rows, eval: 69 rows``), optional.
    """

    name: str
    fingerprint: str
    description: str = ""


def library_versions(names: Iterable[str] = BUILD_LIBRARIES) -> dict[str, str]:
    """The installed version of each distribution in ``names`` (missing ones left out)."""
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def build_mlbom(
    model_file: str | os.PathLike[str],
    *,
    name: str,
    task: str,
    metrics: Mapping[str, float],
    datasets: Sequence[Dataset] = (),
    libraries: Mapping[str, str] | None = None,
    version: str | None = None,
    inputs: Sequence[str] = (),
    outputs: Sequence[str] = (),
    properties: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The ML-BOM of a model, validated against CycloneDX 1.6 (see the module doc).

    Args:
        model_file: The model (``model.onnx``), for its SHA-256.
        name: The model's name.
        task: Its task (``multiclass``, ``binary``, ``regression``, ...).
        metrics: Headline metrics, name to value (``{"accuracy": 0.97}``).
        datasets: The data it was trained and evaluated on.
        libraries: Distribution name to version that built it (default:
            :func:`library_versions` of :data:`BUILD_LIBRARIES`).
        version: The model's version (a registry version or model identity), if known.
        inputs: Its input tensors' names (recorded as the card's input formats).
        outputs: Its output tensors' names.
        properties: More facts as ``mlrail:<key>`` properties of the model (identity, opset,
            signer, ...).

    Returns:
        The CycloneDX document, as JSON-ready data.

    Raises:
        ModelError: The model file cannot be read, a fingerprint is not a SHA-256, or the
            document does not validate (a bug: the message says where).
    """
    import hashlib

    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6
    from packageurl import PackageURL

    path = Path(model_file)
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as e:
        raise ModelError(f"{path}: cannot read the model for its ML-BOM: {e}") from None
    model_ref = f"model:{name}"
    model = Component(
        type=ComponentType.MACHINE_LEARNING_MODEL,
        name=name,
        version=version,
        bom_ref=model_ref,
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=digest)],
        properties=[Property(name=f"mlrail:{k}", value=v) for k, v in (properties or {}).items()],
    )
    data_components = []
    for d in datasets:
        if not _SHA256.match(d.fingerprint):
            raise ModelError(
                f"dataset {d.name!r}: fingerprint {d.fingerprint!r} is not a SHA-256 (64 hex "
                "digits)"
            )
        data_components.append(
            Component(
                type=ComponentType.DATA,
                name=d.name,
                bom_ref=f"dataset:{d.fingerprint}",
                description=d.description or None,
                hashes=[HashType(alg=HashAlgorithm.SHA_256, content=d.fingerprint)],
            )
        )
    built_with = library_versions() if libraries is None else dict(libraries)
    library_components = [
        Component(
            type=ComponentType.LIBRARY,
            name=lib,
            version=lib_version,
            bom_ref=f"pkg:pypi/{lib}@{lib_version}",
            purl=PackageURL(type="pypi", name=lib, version=lib_version),
        )
        for lib, lib_version in sorted(built_with.items())
    ]
    bom = Bom(metadata=BomMetaData(component=model))
    for component in data_components + library_components:
        bom.components.add(component)
    bom.register_dependency(model, data_components + library_components)

    document: dict[str, Any] = json.loads(JsonV1Dot6(bom).output_as_string())
    card: dict[str, Any] = {
        "modelParameters": {
            "approach": {"type": "supervised"},
            "task": task,
            "architectureFamily": "neural network",
            "modelArchitecture": "Keras 3 model exported to ONNX",
            "datasets": [{"ref": c.bom_ref.value} for c in data_components],
            "inputs": [{"format": f"tensor {i}"} for i in inputs],
            "outputs": [{"format": f"tensor {o}"} for o in outputs],
        },
        "quantitativeAnalysis": {
            "performanceMetrics": [
                {"type": metric, "value": repr(float(value))}
                for metric, value in sorted(metrics.items())
            ]
        },
    }
    for key in ("datasets", "inputs", "outputs"):
        if not card["modelParameters"][key]:
            del card["modelParameters"][key]  # the schema allows no empty arrays' meaning
    document["metadata"]["component"]["modelCard"] = card
    validate(document)
    return document


def validate(document: Mapping[str, Any]) -> None:
    """Check a document against the CycloneDX 1.6 JSON schema (strict: no unknown fields).

    Raises:
        ModelError: It does not validate; the message names the failing part.
    """
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(document))
    if error is not None:
        raise ModelError(f"ML-BOM: not valid CycloneDX 1.6: {error}")


def write_mlbom(path: str | os.PathLike[str], document: Mapping[str, Any]) -> Path:
    """Write a document (from :func:`build_mlbom`) atomically as indented JSON.

    Returns:
        The file written.
    """
    target = Path(path)
    atomic_write_text(target, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return target
