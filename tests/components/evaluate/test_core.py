from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlrail.components.evaluate.core import evaluate, parse_thresholds
from tests.conftest import Trained


def test_penguins_metrics_and_blessing(trained: Trained, tmp_path: Path) -> None:
    ev = evaluate(
        trained.model,
        trained.examples,
        tmp_path / "metrics.json",
        tmp_path / "blessing",
        thresholds={"accuracy": ">= 0.95", "log_loss": 0.5},
    )
    assert ev.metrics["accuracy"] >= 0.95
    assert {"accuracy", "log_loss", "roc_auc"} <= set(ev.metrics)
    assert ev.blessed
    cm = ev.confusion_matrix
    assert len(cm) == 3 and sum(map(sum, cm)) == ev.rows
    blessing = json.loads((tmp_path / "blessing" / "blessing.json").read_text())
    assert blessing["blessed"] is True
    assert [(c["metric"], c["op"], c["bound"]) for c in blessing["checks"]] == [
        ("accuracy", ">=", 0.95),
        ("log_loss", "<=", 0.5),
    ]
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["metrics"] == ev.metrics


def test_a_failed_threshold_withholds_the_blessing(trained: Trained, tmp_path: Path) -> None:
    ev = evaluate(
        trained.model,
        trained.examples,
        tmp_path / "m.json",
        tmp_path / "b",
        thresholds={"accuracy": "> 1.0"},
    )
    assert not ev.blessed
    check = json.loads((tmp_path / "b" / "blessing.json").read_text())["checks"][0]
    assert check["passed"] is False and check["value"] == ev.metrics["accuracy"]


def test_default_thresholds_per_task(trained: Trained, tmp_path: Path) -> None:
    ev = evaluate(trained.model, trained.examples, tmp_path / "m.json", tmp_path / "b")
    assert [(c.metric, c.op, c.bound) for c in ev.checks] == [("accuracy", ">=", 0.6)]


def test_threshold_on_a_metric_the_task_lacks(trained: Trained, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="threshold on 'rmse', but a multiclass evaluation has"):
        evaluate(
            trained.model,
            trained.examples,
            tmp_path / "m.json",
            tmp_path / "b",
            thresholds={"rmse": 1},
        )
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ({"accuracy": 0.9}, [("accuracy", ">=", 0.9)]),
        ({"rmse": "3"}, [("rmse", "<=", 3.0)]),
        ({"r2": "> 0.5", "mae": "<1e-1"}, [("r2", ">", 0.5), ("mae", "<", 0.1)]),
    ],
)
def test_parse_thresholds(raw: dict, parsed: list) -> None:
    assert parse_thresholds(raw) == parsed


@pytest.mark.parametrize("bad", [{"accuracy": "about 0.9"}, {"accuracy": True}, {"accuracy": [1]}])
def test_unreadable_threshold(bad: dict) -> None:
    with pytest.raises(ValueError, match="threshold for 'accuracy'"):
        parse_thresholds(bad)


def test_auc_on_an_eval_split_missing_a_class_is_explained(
    trained: Trained, tmp_path: Path
) -> None:
    import shutil

    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from mlrail.errors import DataError

    shutil.copytree(trained.examples, tmp_path / "ex")
    part = tmp_path / "ex" / "eval" / "part-00000.parquet"
    table = pq.read_table(part)
    pq.write_table(table.filter(pc.not_equal(table.column("species"), "Gentoo")), part)
    with pytest.raises(DataError, match="ROC AUC is undefined because no eval row has class"):
        evaluate(
            trained.model,
            tmp_path / "ex",
            tmp_path / "m.json",
            tmp_path / "b",
            thresholds={"roc_auc": 0.9},
        )
