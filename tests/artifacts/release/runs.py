"""Real artifact folders for the release record: ingest's and validate's by running their cores
on small CSV files (cheap, no TensorFlow), deploy's by running its core (target ``render``), and
evaluate's and export_onnx's files written in the layouts their cores document (making them for
real needs a trained model: tens of seconds)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

from mlrail.artifacts.release import SCHEMA_FILE, ArtifactPaths, Record, to_json
from mlrail.components.deploy import core as deploy_core
from mlrail.components.ingest import core as ingest_core
from mlrail.components.validate import core as validate_core

#: A column name that needs escaping in every page.
ODD_COLUMN = 'wing "<b>span</b>" & ünïcode'

_HEADER = 'island,mass,"{}",species'.format(ODD_COLUMN.replace('"', '""'))
ROWS_V1 = [
    _HEADER,
    *(f"Biscoe,{3000 + 37 * i},{i % 7}.5,{'Adelie' if i % 3 else 'Gentoo'}" for i in range(60)),
]
ROWS_V2 = [  # mass shifted far up (drift) and the odd column now text: the schema changes type
    _HEADER,
    *(f"Dream,{9000 + 41 * i},w{i % 7},{'Adelie' if i % 3 else 'Chinstrap'}" for i in range(80)),
]


@dataclass(frozen=True)
class Run:
    """One run's artifacts and what ingest reported (KFP keeps that as metadata)."""

    root: Path
    paths: ArtifactPaths
    examples_metadata: dict[str, Any]


def _metadata(result: ingest_core.IngestResult) -> dict[str, Any]:
    """ingest's metadata, as its component writes it."""
    meta: dict[str, Any] = {
        "splits": result.splits,
        "fingerprint": result.fingerprint,
        "source": result.source,
        "span": result.span,
        "spans": result.spans,
    }
    meta.update({f"rows_{s}": n for s, n in result.rows.items()})
    return meta


def _evaluate_files(root: Path, accuracy: float, blessed: bool) -> tuple[Path, Path]:
    """metrics.json and blessing/blessing.json in the layout of components/evaluate/core.py."""
    metrics = root / "metrics.json"
    metrics.write_text(
        json.dumps(
            {
                "task": "multiclass",
                "rows": 20,
                "dropped_unlabelled": 0,
                "model": "onnx_model",
                "data": "examples/eval",
                "metrics": {"accuracy": accuracy, "f1_macro": accuracy - 0.05, "log_loss": None},
                "classes": ["Adelie", "Gentoo"],
                "confusion_matrix": [[10, 0], [1, 9]],
                "per_class": {},
                "curves": {},
                "slices": [],
                "fairness": [],
                "feature_importance": None,
                "baseline": {
                    "model": "/repo/penguins",
                    "format": "onnx",
                    "metrics": {"accuracy": 0.9, "f1_macro": 0.85},
                },
            }
        )
    )
    check = {
        "metric": "accuracy",
        "scope": "overall",
        "slice": None,
        "kind": "value",
        "op": ">=",
        "bound": 0.8,
        "value": accuracy,
        "baseline_value": 0.9,
        "change": accuracy - 0.9,
        "rows": 20,
        "verdict": "pass" if blessed else "fail",
        "reason": "",
        "passed": blessed,
    }
    slice_check = {**check, "scope": "slice", "slice": f"{ODD_COLUMN}=1.5", "verdict": "skipped"}
    fair = {**check, "metric": "demographic_parity_difference", "scope": "fairness"}
    fair.update(slice="island", op="<=", bound=0.1, value=0.02, verdict="pass")
    blessing = root / "blessing"
    blessing.mkdir()
    (blessing / "blessing.json").write_text(
        json.dumps(
            {
                "blessed": blessed,
                "decided_on": "eval",
                "rows": 20,
                "dropped_unlabelled": 0,
                "baseline": {"requested": "/repo/penguins", "model": "/repo/penguins"},
                "min_slice_rows": 10,
                "failed": 0 if blessed else 1,
                "skipped": 1,
                "notes": [],
                "checks": [check, slice_check, fair],
            }
        )
    )
    return metrics, blessing


def onnx_model(weight: float) -> bytes:
    """A real (tiny) ONNX model: ``y = mass * weight``."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Mul", ["mass", "w"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("mass", TensorProto.FLOAT, [None, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
        [helper.make_tensor("w", TensorProto.FLOAT, [1], [weight])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def _onnx_files(root: Path, model_bytes: bytes) -> Path:
    """export_onnx's output in its layout (components/export_onnx/core.py)."""
    onnx = root / "onnx_model"
    onnx.mkdir()
    (onnx / "model.onnx").write_bytes(model_bytes)
    (onnx / "model_spec.json").write_text(
        json.dumps(
            {
                "task": "multiclass",
                "label": "species",
                "inputs": [{"name": "mass", "column": "mass", "dtype": "float32"}],
                "output": "probabilities",
                "classes": ["Adelie", "Gentoo"],
            }
        )
    )
    (onnx / "parity.json").write_text(
        json.dumps(
            {
                "rows": 20,
                "max_abs_diff": 6e-8,
                "max_rel_diff": 1e-7,
                "label_agreement": 1.0,
                "tolerance": 1e-4,
                "rtol": 1e-4,
                "scale": 1.0,
                "ok": True,
                "worst_rows": [],
                "edge_rows": 0,
                "edge_max_abs_diff": None,
            }
        )
    )
    return onnx


def make_run(
    root: Path,
    rows: list[str],
    *,
    accuracy: float = 0.95,
    blessed: bool = True,
    weight: float = 1.0,
    baseline_statistics: str = "",
) -> Run:
    root.mkdir(parents=True)
    data = root / "data.csv"
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = ingest_core.ingest(str(data), str(root / "examples"), eval_ratio=0.25)
    validate_core.validate(
        root / "examples",
        root / "statistics",
        root / "schema",
        root / "anomalies",
        baseline_statistics=baseline_statistics,
    )
    metrics, blessing = _evaluate_files(root, accuracy, blessed)
    onnx = _onnx_files(root, onnx_model(weight))
    deploy_core.deploy(
        onnx,
        root / "deployment",
        target="render",
        model_name="penguins",
        onnx_model_uri=f"s3://bucket/{root.name}/onnx_model",
    )
    paths = ArtifactPaths(
        onnx_model=onnx,
        deployment=root / "deployment",
        examples_metadata=_metadata(result),
        statistics=root / "statistics",
        schema=root / "schema",
        anomalies=root / "anomalies",
        metrics=metrics,
        blessing=blessing,
    )
    return Run(root, paths, _metadata(result))


def schema_errors(doc: Any) -> list[str]:
    """What the committed JSON Schema says is wrong with ``doc`` (empty: valid)."""
    schema = json.loads(SCHEMA_FILE.read_text())
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    return [e.message for e in validator.iter_errors(doc)]


def assert_valid(record: Record | dict[str, Any]) -> None:
    doc = to_json(record) if isinstance(record, Record) else record
    assert schema_errors(doc) == []
