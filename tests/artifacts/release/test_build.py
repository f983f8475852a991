"""build_record: a record from real artifact folders, each field from the file that holds it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

import mlrail
from mlrail.artifacts import release
from mlrail.artifacts.release import ArtifactPaths, BuildInfo, Request, Signature
from mlrail.errors import DataError
from tests.artifacts.release.runs import ODD_COLUMN, Run, assert_valid

WHO = Request(requested_by="ada@example.org", reason="weekly retrain")


def test_every_section_is_filled_from_the_artifacts(first_run: Run) -> None:
    built = BuildInfo(
        pipeline_name="training",
        pipeline_version="sha256:abc",
        run_id="run-1",
        run_url="http://kfp.example/#/runs/details/run-1",
        image="ghcr.io/x/mlrail:0.1.0",
        image_digest="sha256:" + "1" * 64,
    )
    rec = release.build_record(
        first_run.paths,
        model_name="penguins",
        request=WHO,
        build=built,
        links={"onnx_model": "s3://bucket/run1/onnx_model"},
        registry_version="3",
        signature=Signature("verified", "key:ci"),
        created=datetime(2026, 12, 2, 10, 30, tzinfo=UTC),
    )
    assert_valid(rec)
    onnx = first_run.root / "onnx_model" / "model.onnx"
    # what
    assert rec.model.sha256 == hashlib.sha256(onnx.read_bytes()).hexdigest()
    assert rec.model.identity is not None and rec.model.identity.startswith("onnx-graph-")
    assert (rec.model.registry_version, rec.version) == ("3", "3")
    assert rec.model.signature == Signature("verified", "key:ci")
    assert (rec.model.task, rec.model.label) == ("multiclass", "species")
    # on which data: ingest's metadata, validate's files
    meta = first_run.examples_metadata
    assert rec.data.rows == {"train": meta["rows_train"], "eval": meta["rows_eval"]}
    assert sum(rec.data.rows.values()) == 60
    assert rec.data.fingerprint == meta["fingerprint"]
    assert rec.data.sources == [meta["source"]]
    schema_file = first_run.root / "schema" / "schema.pbtxt"
    assert rec.data.schema_hash == hashlib.sha256(schema_file.read_bytes()).hexdigest()
    assert rec.data.features is not None
    assert {f.name: f.type for f in rec.data.features}[ODD_COLUMN] == "FLOAT"
    assert rec.data.num_anomalies == 0 and rec.data.drift_detected is False
    # with which evidence
    assert rec.evidence.blessed is True
    assert rec.evidence.metrics == {
        "accuracy": 0.95,
        "f1_macro": pytest.approx(0.9),
        "log_loss": None,
    }
    assert [c.verdict for c in rec.evidence.checks] == ["pass", "skipped", "pass"]
    assert rec.evidence.slices is not None and rec.evidence.slices.skipped == 1
    assert rec.evidence.fairness is not None and rec.evidence.fairness.checks == 1
    assert rec.evidence.baseline is not None
    assert rec.evidence.baseline.model == "/repo/penguins"
    accuracy = {c.name: c for c in rec.evidence.baseline.changes}["accuracy"]
    assert (accuracy.old, accuracy.new) == (0.9, 0.95)
    assert accuracy.change == pytest.approx(0.05)
    assert rec.evidence.parity is not None and rec.evidence.parity.ok
    assert rec.evidence.parity.max_abs_diff == 6e-8
    # built how, who and why, where
    assert rec.build.mlrail_version == mlrail.__version__
    assert rec.build.run_url == built.run_url and rec.build.image_digest == built.image_digest
    assert rec.request == WHO
    assert rec.where.target == "render" and rec.where.decision == "rendered"
    assert (rec.where.namespace, rec.where.inference_service) == ("mlrail", "penguins")
    assert rec.created == "2026-12-02T10:30:00Z"
    assert rec.links == {"onnx_model": "s3://bucket/run1/onnx_model", "run": built.run_url}
    assert rec.previous is None and rec.changes is None


def test_drift_and_anomalies_are_recorded(second_run: Run) -> None:
    rec = release.build_record(second_run.paths, model_name="penguins", request=WHO)
    assert rec.data.drift_detected is True
    assert rec.data.drift_baseline is not None and rec.data.drift_baseline.endswith("statistics")
    assert rec.data.num_anomalies and rec.data.num_anomalies > 0
    drifted = {(c.feature, c.split) for c in rec.data.exceeded if c.kind == "drift"}
    assert ("mass", "train") in drifted
    assert all(c.value is not None and c.threshold is not None for c in rec.data.exceeded)
    assert_valid(rec)


def test_a_kserve_rollout_gives_revision_and_traffic(first_run: Run) -> None:
    deployment = {
        "target": "kserve",
        "model_name": "penguins",
        "version": None,
        "location": "ml/penguins",
        "sha256": "0" * 64,
        "decision": "promoted",
        "url": "http://penguins.ml.example",
        "namespace": "ml",
        "name": "penguins",
        "revisions": {"latest_rolled_out": "penguins-predictor-00002"},
        "traffic": [
            {"revision": "penguins-predictor-00002", "percent": 90, "tag": None, "latest": True},
            {"revision": "penguins-predictor-00001", "percent": 10, "tag": "prev"},
        ],
    }
    paths = ArtifactPaths(onnx_model=first_run.paths.onnx_model, deployment=deployment)
    rec = release.build_record(paths, model_name="penguins", request=WHO, kind="promote")
    assert rec.where.revision == "penguins-predictor-00002"
    assert [(t.percent, t.latest) for t in rec.where.traffic] == [(90, True), (10, None)]
    assert (rec.where.namespace, rec.where.decision, rec.kind) == ("ml", "promoted", "promote")
    # nothing but the model and the deployment: the other sections are empty, not invented
    assert rec.data.fingerprint is None and rec.data.features is None and rec.data.rows == {}
    assert rec.evidence.blessed is None and rec.evidence.metrics == {}
    assert_valid(rec)


def test_a_missing_model_or_schema_is_named(first_run: Run, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="model.onnx"):
        release.build_record(
            ArtifactPaths(onnx_model=tmp_path / "nothing", deployment={}),
            model_name="m",
            request=WHO,
        )
    paths = ArtifactPaths(
        onnx_model=first_run.paths.onnx_model,
        deployment=first_run.paths.deployment,
        schema=tmp_path / "schema.pbtxt",
    )
    with pytest.raises(DataError, match="schema.pbtxt"):
        release.build_record(paths, model_name="m", request=WHO)


def test_a_corrupt_artifact_file_is_named(first_run: Run) -> None:
    blessing = Path(str(first_run.paths.blessing)) / "blessing.json"
    blessing.write_text("[1, 2")
    with pytest.raises(ValueError, match="blessing.json"):
        release.build_record(first_run.paths, model_name="m", request=WHO)
    blessing.write_text(json.dumps([1, 2]))
    with pytest.raises(DataError, match="blessing.json: expected a JSON object"):
        release.build_record(first_run.paths, model_name="m", request=WHO)


def test_rows_come_from_the_statistics_without_ingest_metadata(first_run: Run) -> None:
    paths = replace(first_run.paths, examples_metadata=None)
    rec = release.build_record(paths, model_name="penguins", request=WHO)
    meta = first_run.examples_metadata
    assert rec.data.rows == {"train": meta["rows_train"], "eval": meta["rows_eval"]}
    assert rec.data.fingerprint is None and rec.data.sources == []


def test_the_json_starts_with_the_record_s_own_fields(first_run: Run) -> None:
    doc = release.to_json(release.build_record(first_run.paths, model_name="m", request=WHO))
    assert list(doc)[:5] == ["format", "number", "kind", "created", "model"]
