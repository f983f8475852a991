"""deploy: put a checked ONNX model where it serves.

Targets:

- ``local``: push the model into a local model repository (Triton layout) as a new version,
  atomically — the version folder appears by one rename, complete — so a running ``mlrail serve``
  picks it up without a restart.
- ``render``: write the KServe ``InferenceService`` for the model without touching a cluster.

Model repository layout (``local``)::

    <repository>/<model_name>/config.pbtxt
    <repository>/<model_name>/<version>/model.onnx        versions 1, 2, 3, ...
    <repository>/<model_name>/<version>/model_spec.json

Output layout of the ``deployment`` artifact::

    deployment/
      deployment.json          {"target", "model_name", "version", "location", "sha256", ...}
      inferenceservice.yaml    ``render`` only
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from mlrail.errors import DataError
from mlrail.io import atomic_dir, atomic_write_json, atomic_write_text

__all__ = [
    "RUNTIMES",
    "TARGETS",
    "Deployment",
    "deploy",
    "inference_service",
    "next_version",
    "storage_uri",
]

TARGETS = ("local", "render")
#: The mlrail ONNX ServingRuntime (manifests/base) and KServe's stock Triton runtime.
RUNTIMES = ("mlrail-onnx", "kserve-tritonserver")
_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class Deployment:
    target: str
    model_name: str
    version: int | None
    location: str
    sha256: str


def next_version(model_root: Path) -> int:
    """One more than the highest integer version folder under ``model_root`` (1 if none)."""
    versions = (
        [int(p.name) for p in model_root.iterdir() if p.is_dir() and p.name.isdigit()]
        if (model_root.is_dir())
        else []
    )
    return max(versions, default=0) + 1


def storage_uri(artifact_uri: str) -> str:
    """The model repository in the onnx_model artifact, as KServe's storage initializer reads it.

    KFP names its bundled MinIO store ``minio://bucket/key``; MinIO speaks S3, and KServe's
    storage initializer knows ``s3://`` (with the endpoint from the service account's annotations).
    """
    uri = artifact_uri.rstrip("/")
    if uri.startswith("minio://"):
        uri = "s3://" + uri.removeprefix("minio://")
    return f"{uri}/model_repository"


def inference_service(
    name: str,
    namespace: str,
    storage: str,
    *,
    runtime: str = "mlrail-onnx",
    service_account: str = "",
    min_replicas: int = 1,
    max_replicas: int = 1,
    cpu: str = "500m",
    memory: str = "512Mi",
) -> dict[str, Any]:
    """A KServe v1beta1 InferenceService serving the ONNX model over the V2 protocol."""
    if not _DNS1123.match(name) or len(name) > 45:
        raise ValueError(
            f"model name {name!r} cannot name an InferenceService: use lower-case letters, "
            "digits and '-', at most 45 characters"
        )
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime {runtime!r}: expected one of {', '.join(RUNTIMES)}")
    predictor: dict[str, Any] = {
        "minReplicas": min_replicas,
        "maxReplicas": max_replicas,
        "model": {
            "modelFormat": {"name": "onnx"},
            "protocolVersion": "v2",
            "runtime": runtime,
            "storageUri": storage,
            "resources": {
                "requests": {"cpu": cpu, "memory": memory},
                "limits": {"cpu": cpu, "memory": memory},
            },
        },
    }
    if service_account:
        predictor["serviceAccountName"] = service_account
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "mlrail"},
        },
        "spec": {"predictor": predictor},
    }


def _push_version(root: Path, onnx_file: Path, spec_file: Path) -> int:
    """Copy the model into a hidden folder, then claim the next version by one rename.

    The version folder appears complete, so a running server never sees it half-copied; a rename
    onto an existing version fails instead of replacing it, so two deploys never share a number.
    """
    staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=root))
    try:
        shutil.copyfile(onnx_file, staging / "model.onnx")
        shutil.copyfile(spec_file, staging / "model_spec.json")
        for _ in range(100):
            version = next_version(root)
            try:
                os.rename(staging, root / str(version))
                return version
            except OSError as e:
                if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
        raise RuntimeError(f"{root}: could not claim a new version folder")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _config_for(src: Path, model_name: str) -> str:
    """export_onnx's Triton config, renamed to the name the model is deployed under."""
    configs = sorted((src / "model_repository").glob("*/config.pbtxt"))
    if len(configs) != 1:
        raise DataError(
            f"{src}/model_repository: expected one model's config.pbtxt, found "
            f"{len(configs)}; was this written by export_onnx?"
        )
    text = configs[0].read_text(encoding="utf-8")
    return re.sub(r'^name: ".*"$', f'name: "{model_name}"', text, count=1, flags=re.M)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def deploy(
    onnx_model_dir: str | Path,
    deployment_dir: str | Path,
    *,
    target: str = "local",
    model_name: str = "model",
    model_repository: str = "",
    onnx_model_uri: str = "",
    namespace: str = "mlrail",
    runtime: str = "mlrail-onnx",
) -> Deployment:
    """Deploy the model exported by export_onnx to ``target`` (see the module doc)."""
    src = Path(onnx_model_dir)
    onnx_file = src / "model.onnx"
    if not onnx_file.is_file():
        raise DataError(f"{onnx_file}: no ONNX model; was it written by export_onnx?")
    sha = _sha256(onnx_file)
    if target == "local":
        if not model_repository:
            raise ValueError("target 'local' needs a model_repository folder")
        root = Path(model_repository).expanduser().resolve() / model_name
        root.mkdir(parents=True, exist_ok=True)
        version = _push_version(root, onnx_file, src / "model_spec.json")
        # after the push: a failed push must not leave the old version under a new config
        atomic_write_text(root / "config.pbtxt", _config_for(src, model_name))
        result = Deployment("local", model_name, version, str(root / str(version)), sha)
        extra: dict[str, Any] = {}
    elif target == "render":
        if not onnx_model_uri:
            raise ValueError("target 'render' needs the onnx_model artifact's URI")
        # mlrail-serving (manifests/base) has no API token: a model server needs none
        isvc = inference_service(
            model_name,
            namespace,
            storage_uri(onnx_model_uri),
            runtime=runtime,
            service_account="mlrail-serving",
        )
        result = Deployment("render", model_name, None, f"{namespace}/{model_name}", sha)
        extra = {"inferenceservice": isvc}
    else:
        raise ValueError(f"target {target!r}: expected one of {', '.join(TARGETS)}")
    with atomic_dir(deployment_dir) as tmp:
        atomic_write_json(tmp / "deployment.json", {**asdict(result), **extra})
        if "inferenceservice" in extra:
            atomic_write_text(
                tmp / "inferenceservice.yaml",
                yaml.safe_dump(extra["inferenceservice"], sort_keys=False),
            )
    return result
