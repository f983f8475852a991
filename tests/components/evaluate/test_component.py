from pathlib import Path

from kfp.dsl import Artifact, ClassificationMetrics, Dataset, Metrics, Model

from mlrail.components.evaluate import evaluate
from tests.components._compile import compiled_container
from tests.conftest import Trained


def test_python_func_logs_kfp_metrics(trained: Trained, tmp_path: Path) -> None:
    metrics = Metrics(name="metrics", uri=str(tmp_path / "metrics"))
    cls = ClassificationMetrics(name="classification_metrics", uri=str(tmp_path / "cm"))
    blessing = Artifact(name="blessing", uri=str(tmp_path / "blessing"))
    blessed = evaluate.python_func(
        model=Model(name="model", uri=str(trained.model)),
        examples=Dataset(name="examples", uri=str(trained.examples)),
        metrics=metrics,
        classification_metrics=cls,
        blessing=blessing,
        thresholds={"accuracy": ">= 0.95"},
    )
    assert blessed is True and blessing.metadata["blessed"] is True
    assert metrics.metadata["accuracy"] >= 0.95
    cm = cls.metadata["confusionMatrix"]
    assert [a["displayName"] for a in cm["annotationSpecs"]] == ["Adelie", "Chinstrap", "Gentoo"]


def test_compiles(tmp_path: Path) -> None:
    spec = compiled_container(evaluate, tmp_path)
    outs = spec["root"]["outputDefinitions"]["artifacts"]
    assert outs["metrics"]["artifactType"]["schemaTitle"] == "system.Metrics"
    assert (
        outs["classification_metrics"]["artifactType"]["schemaTitle"]
        == "system.ClassificationMetrics"
    )
