"""Opt-in: the real thing on a live cluster with KServe (``pytest -m cluster``, or
``MLRAIL_CLUSTER_TESTS=1``); not asked for, it is skipped, and asked for, a missing setting below
fails it (an opted-in run that skips has tested nothing, yet passes: :mod:`tests.opt_in`).

Needs, besides a cluster with KServe and manifests/ applied:

- ``KUBECONFIG``: the cluster's kubeconfig;
- ``MLRAIL_CLUSTER_STORAGE_URI``: a folder URI (``s3://bucket/prefix``, ``gs://...``) this
  machine can write with its ambient credentials (pyarrow's filesystems) and KServe's storage
  initializer can read as the ``mlrail-serving`` service account;
- optional ``MLRAIL_CLUSTER_NAMESPACE`` (default ``mlrail``) and ``MLRAIL_CLUSTER_INGRESS_URL``:
  from outside the cluster the cluster-local address does not resolve, so the smoke test goes
  through the ingress gateway (for example a ``kubectl port-forward`` of it) with a Host header.

It uploads the exported model, deploys it (applied), deploys it again (unchanged), then deletes
the InferenceService.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from mlrail.components.deploy import core, kserve
from tests.opt_in import OptIn

pytestmark = pytest.mark.cluster

NAME = "mlrail-cluster-test"
NEED = OptIn(
    "cluster",
    "MLRAIL_CLUSTER_TESTS",
    how="set KUBECONFIG (a cluster with KServe and manifests/ applied) and "
    "MLRAIL_CLUSTER_STORAGE_URI",
)


def _settings(config: pytest.Config) -> tuple[str, str, str]:
    NEED.check(config)
    kubeconfig = os.environ.get("KUBECONFIG", "")
    files = [p for p in kubeconfig.split(os.pathsep) if p]
    NEED.require(
        files and all(Path(p).is_file() for p in files),
        "KUBECONFIG does not name a kubeconfig file: no live cluster to deploy to",
    )
    storage = os.environ.get("MLRAIL_CLUSTER_STORAGE_URI", "")
    NEED.require(
        storage,
        "MLRAIL_CLUSTER_STORAGE_URI is not set: the cluster needs the model in object "
        "storage it can read",
    )
    namespace = os.environ.get("MLRAIL_CLUSTER_NAMESPACE", "mlrail")
    return storage.rstrip("/"), namespace, os.environ.get("MLRAIL_CLUSTER_INGRESS_URL", "")


def test_deploys_smoke_tests_and_is_unchanged_the_second_time(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    import pyarrow.fs as pafs
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    storage, namespace, ingress = _settings(request.config)
    # only now: a run that skips this test need not train and export a model for it
    onnx_model: Path = request.getfixturevalue("onnx_model")
    uri = f"{storage}/{NAME}-{uuid.uuid4().hex[:8]}/onnx_model"
    pafs.copy_files(str(onnx_model), uri)
    options = {
        "target": "kserve",
        "model_name": NAME,
        "onnx_model_uri": uri,
        "namespace": namespace,
        "ingress_url": ingress,
        "timeout_seconds": int(os.environ.get("MLRAIL_CLUSTER_TIMEOUT", "600")),
    }
    try:
        first = core.deploy(onnx_model, tmp_path / "first", **options)
        assert first.decision == "applied", first
        record = json.loads((tmp_path / "first" / "deployment.json").read_text())
        assert record["smoke_test"]["ok"] and record["smoke_test"]["rows"] > 0
        second = core.deploy(onnx_model, tmp_path / "second", **options)
        assert second.decision == "unchanged"
    finally:
        try:
            client.CustomObjectsApi().delete_namespaced_custom_object(
                kserve.GROUP, kserve.VERSION, namespace, kserve.PLURAL, NAME
            )
        except ApiException as e:
            if e.status != 404:
                raise
