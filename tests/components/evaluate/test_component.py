import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from kfp.dsl import HTML, Artifact, ClassificationMetrics, Dataset, Metrics, Model

from mlrail.components.evaluate import evaluate
from tests.components._compile import compiled_container
from tests.helpers import Trained


def _outputs(tmp_path: Path) -> dict:
    return {
        "metrics": Metrics(name="metrics", uri=str(tmp_path / "metrics")),
        "classification_metrics": ClassificationMetrics(
            name="classification_metrics", uri=str(tmp_path / "cm")
        ),
        "blessing": Artifact(name="blessing", uri=str(tmp_path / "blessing")),
        "report": HTML(name="report", uri=str(tmp_path / "report")),
    }


def test_python_func_logs_kfp_metrics(trained: Trained, onnx_model: Path, tmp_path: Path) -> None:
    out = _outputs(tmp_path)
    blessed = evaluate.python_func(
        onnx_model=Model(name="onnx_model", uri=str(onnx_model)),
        examples=Dataset(name="examples", uri=str(trained.examples)),
        thresholds={"accuracy": ">= 0.95"},
        slices=["island"],
        sensitive_columns=["sex"],
        **out,
    )
    assert blessed is True
    assert out["blessing"].metadata == {
        "blessed": True,
        "baseline": "",
        "failed_checks": [],
        "events": [],  # a blessed model sends no event
        "events_not_delivered": 0,
    }
    metrics = out["metrics"].metadata
    assert metrics["accuracy"] >= 0.95
    assert {"balanced_accuracy", "f1_macro", "roc_auc", "log_loss", "ece"} <= set(metrics)
    assert "demographic_parity_difference[sex]" in metrics
    assert all(isinstance(v, float) and math.isfinite(v) for v in metrics.values())
    cm = out["classification_metrics"].metadata["confusionMatrix"]
    assert [a["displayName"] for a in cm["annotationSpecs"]] == ["Adelie", "Chinstrap", "Gentoo"]
    assert "confidenceMetrics" not in out["classification_metrics"].metadata  # binary only
    saved = json.loads(Path(out["metrics"].path).read_text())
    # besides the metrics: per-group fairness figures and the count of rows without a label
    assert metrics["dropped_unlabelled"] == saved["dropped_unlabelled"] == 0
    assert saved["metrics"] == {
        k: v for k, v in metrics.items() if "[" not in k and k != "dropped_unlabelled"
    }
    blessing = json.loads((Path(out["blessing"].path) / "blessing.json").read_text())
    assert blessing["blessed"] is True
    page = Path(out["report"].path).read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and 'id="slices"' in page


def test_a_model_not_blessed_names_its_failed_checks_in_the_metadata(
    trained: Trained, onnx_model: Path, tmp_path: Path
) -> None:
    out = _outputs(tmp_path)
    blessed = evaluate.python_func(
        onnx_model=Model(name="onnx_model", uri=str(onnx_model)),
        examples=Dataset(name="examples", uri=str(trained.examples)),
        thresholds={"accuracy": ">= 0.5", "log_loss": "<= 0.0000001"},
        **out,
    )
    assert blessed is False and out["blessing"].metadata["blessed"] is False
    checks = json.loads((Path(out["blessing"].path) / "blessing.json").read_text())["checks"]
    failed = [{"metric": c["metric"], "reason": c["reason"]} for c in checks if not c["passed"]]
    assert out["blessing"].metadata["failed_checks"] == failed
    assert [c["metric"] for c in failed] == ["log_loss"]


def test_binary_roc_curve_with_finite_thresholds_and_a_baseline(
    trained: Trained, binary_onnx: Path, tmp_path: Path
) -> None:
    # the same model as its own baseline: every change is 0, so it is blessed
    baseline = tmp_path / "baseline"
    shutil.copytree(binary_onnx, baseline)
    out = _outputs(tmp_path)
    blessed = evaluate.python_func(
        onnx_model=Model(name="onnx_model", uri=str(binary_onnx)),
        examples=Dataset(name="examples", uri=str(trained.examples)),
        baseline_model=str(baseline),
        **out,
    )
    assert blessed is True
    assert out["blessing"].metadata["baseline"] == str(baseline)
    roc = out["classification_metrics"].metadata["confidenceMetrics"]
    assert len(roc) > 2
    assert all(
        math.isfinite(p["confidenceThreshold"]) and 0 <= p["falsePositiveRate"] <= 1 for p in roc
    )
    assert roc[0]["confidenceThreshold"] > 1  # sklearn's infinite first threshold, made finite
    checks = json.loads((Path(out["blessing"].path) / "blessing.json").read_text())["checks"]
    assert [(c["metric"], c["kind"], c["change"]) for c in checks] == [
        ("roc_auc", "value", 0.0),
        ("roc_auc", "change", 0.0),
    ]


def test_evaluating_the_onnx_model_never_imports_tensorflow(
    trained: Trained, onnx_model: Path, tmp_path: Path
) -> None:
    """The step measures what is served, in ONNX Runtime: with slices, fairness, permutation
    importance and an ONNX baseline, TensorFlow (3-5 s to import) stays out of its process."""
    code = f"""
import json, sys
from pathlib import Path
import pytest
from kfp.dsl import HTML, Artifact, ClassificationMetrics, Dataset, Metrics, Model
from mlrail.components.evaluate import evaluate
out = Path({str(tmp_path)!r})
blessed = evaluate.python_func(
    onnx_model=Model(name="onnx_model", uri={str(onnx_model)!r}),
    examples=Dataset(name="examples", uri={str(trained.examples)!r}),
    metrics=Metrics(name="metrics", uri=str(out / "metrics")),
    classification_metrics=ClassificationMetrics(name="cm", uri=str(out / "cm")),
    blessing=Artifact(name="blessing", uri=str(out / "blessing")),
    report=HTML(name="report", uri=str(out / "report")),
    slices=["island"],
    sensitive_columns=["sex"],
    baseline_model={str(onnx_model)!r},
)
saved = json.loads((out / "metrics").read_text())
assert blessed and saved["feature_importance"]["features"] and saved["slices"], saved.keys()
assert saved["baseline"]["format"] == "onnx" and saved["fairness"]
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf2onnx"))
assert not loaded, loaded[:5]
"""
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


def test_compiles(tmp_path: Path) -> None:
    spec = compiled_container(evaluate, tmp_path)
    outs = spec["root"]["outputDefinitions"]["artifacts"]
    assert {k: v["artifactType"]["schemaTitle"] for k, v in outs.items()} == {
        "metrics": "system.Metrics",
        "classification_metrics": "system.ClassificationMetrics",
        "blessing": "system.Artifact",
        "report": "system.HTML",
    }
    # the gate stays a plain bool under KFP's default output name
    (output,) = spec["root"]["outputDefinitions"]["parameters"].items()
    assert output[0] == "Output" and output[1]["parameterType"] == "BOOLEAN"
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert {k: (v["parameterType"], v.get("defaultValue")) for k, v in params.items()} == {
        "thresholds": ("STRUCT", {}),
        "slices": ("LIST", []),
        "min_slice_rows": ("NUMBER_INTEGER", 10),
        "sensitive_columns": ("LIST", []),
        "fairness_thresholds": ("STRUCT", {}),
        "baseline_model": ("STRING", ""),
        "registry_uri": ("STRING", ""),
        "model_name": ("STRING", ""),
        "events_sink": ("STRING", ""),
        "pipeline_name": ("STRING", ""),
        "run_id": ("STRING", ""),
        "run_name": ("STRING", ""),
    }
    assert all(params[k]["isOptional"] for k in params)
    assert all(params[k].get("description") for k in params)  # the docstring, for the UI


@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning")
def test_the_registry_champion_is_the_baseline_in_the_metadata(
    trained: Trained, onnx_model: Path, tmp_path: Path
) -> None:
    # mlflow 3.17's own warnings (as in tests/registry): SQLAlchemy 2.1's noload deprecation,
    # and mlflow.pyfunc's schema inference of its agent types with Any fields
    from mlrail.registry import embedded_uri, open_registry
    from mlrail.registry.aliases import promote

    uri = embedded_uri(tmp_path / "work")
    registry = open_registry(uri)
    registry.register("penguins", onnx_model, identity="1", tags={})
    promote(registry, "penguins", "1")
    out = _outputs(tmp_path)
    blessed = evaluate.python_func(
        onnx_model=Model(name="onnx_model", uri=str(onnx_model)),
        examples=Dataset(name="examples", uri=str(trained.examples)),
        registry_uri=uri,
        model_name="penguins",
        **out,
    )
    # the model is its own champion: every change is 0
    assert blessed is True
    assert out["blessing"].metadata["baseline"] == "models:/penguins@champion (version 1)"
    blessing = json.loads((Path(out["blessing"].path) / "blessing.json").read_text())
    assert blessing["baseline"]["version"] == "1"
    assert any(c["kind"] == "change" for c in blessing["checks"])
