from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from mlrail.artifacts.examples import read_split
from mlrail.components.evaluate.core import check_threshold_names, evaluate, evaluate_file
from mlrail.errors import DataError, ModelError
from tests.helpers import PENGUINS, Trained

FAST = {"importance_repeats": 0}  # permutation importance has its own tests


def _blessing(folder: Path) -> dict:
    return json.loads((folder / "blessing.json").read_text())


def _repository(onnx_model: Path, root: Path, versions: tuple[int, ...] = (1,)) -> Path:
    """A local model repository holding the exported model as the given versions."""
    for v in versions:
        shutil.copytree(
            onnx_model / "model_repository" / "penguins" / "1", root / "penguins" / str(v)
        )
    return root / "penguins"


def test_penguins_metrics_and_blessing(trained: Trained, tmp_path: Path) -> None:
    ev = evaluate(
        trained.model,
        trained.examples,
        tmp_path / "metrics.json",
        tmp_path / "blessing",
        thresholds={"accuracy": ">= 0.95", "log_loss": 0.5},
        **FAST,
    )
    assert ev.metrics["accuracy"] >= 0.95
    assert {"accuracy", "balanced_accuracy", "f1_macro", "log_loss", "roc_auc", "ece"} <= set(
        ev.metrics
    )
    assert ev.blessed
    cm = ev.confusion_matrix
    assert len(cm) == 3 and sum(map(sum, cm)) == ev.rows
    blessing = _blessing(tmp_path / "blessing")
    assert blessing["blessed"] is True and blessing["baseline"] is None
    assert "value thresholds only: no baseline" in blessing["decided_on"]
    assert [(c["metric"], c["op"], c["bound"], c["verdict"]) for c in blessing["checks"]] == [
        ("accuracy", ">=", 0.95, "pass"),
        ("log_loss", "<=", 0.5, "pass"),
    ]
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["metrics"] == ev.metrics
    assert saved["per_class"].keys() == {"Adelie", "Chinstrap", "Gentoo"}
    assert saved["curves"]["roc"].keys() == {"Adelie", "Chinstrap", "Gentoo"}


def test_a_failed_threshold_withholds_the_blessing(trained: Trained, tmp_path: Path) -> None:
    ev = evaluate(
        trained.model,
        trained.examples,
        tmp_path / "m.json",
        tmp_path / "b",
        thresholds={"accuracy": "> 1.0"},
        **FAST,
    )
    assert not ev.blessed
    check = _blessing(tmp_path / "b")["checks"][0]
    assert check["passed"] is False and check["verdict"] == "fail"
    assert check["value"] == ev.metrics["accuracy"] and "is not > 1" in check["reason"]


def test_default_thresholds_per_task(trained: Trained, tmp_path: Path) -> None:
    ev = evaluate(trained.model, trained.examples, tmp_path / "m.json", tmp_path / "b", **FAST)
    assert [(c.metric, c.op, c.bound, c.kind) for c in ev.checks] == [
        ("accuracy", ">=", 0.6, "value")
    ]
    # a change threshold alone still gets the value floor, and is skipped with no baseline
    ev = evaluate(
        trained.model, trained.examples, thresholds={"accuracy": {"max_drop": 0.05}}, **FAST
    )
    assert [(c.metric, c.kind, c.verdict) for c in ev.checks] == [
        ("accuracy", "change", "skipped"),
        ("accuracy", "value", "pass"),
    ]
    assert ev.checks[0].reason == "no baseline: change not checked"


def test_threshold_on_a_metric_the_task_lacks(trained: Trained, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="threshold on 'rmse', but a multiclass evaluation has"):
        evaluate(
            trained.model,
            trained.examples,
            tmp_path / "m.json",
            tmp_path / "b",
            thresholds={"rmse": 1},
            **FAST,
        )
    assert not (tmp_path / "b").exists() and not (tmp_path / "m.json").exists()


# ---------------------------------------------------------------------------------------------
# baseline


def test_a_better_baseline_withholds_the_blessing(
    trained: Trained, bad_model: Path, onnx_model: Path, tmp_path: Path
) -> None:
    # the good model, deployed as ONNX, is the baseline of a badly trained one
    model_folder = _repository(onnx_model, tmp_path / "models")
    ev = evaluate(
        bad_model,
        trained.examples,
        tmp_path / "m.json",
        tmp_path / "b",
        thresholds={"accuracy": ">= 0"},  # the bad model passes it: the change decides
        baseline_model=str(model_folder),
        **FAST,
    )
    assert not ev.blessed
    blessing = _blessing(tmp_path / "b")
    assert blessing["blessed"] is False
    assert blessing["baseline"] == {
        "requested": str(model_folder),
        "model": str(model_folder / "1"),
        "format": "onnx",
        "version": None,
        "reason": "",
    }
    value, change = blessing["checks"]
    assert (value["kind"], value["verdict"]) == ("value", "pass")
    # no change threshold configured: the default one (accuracy may fall by 0.01 at most)
    assert (change["metric"], change["kind"], change["op"], change["bound"]) == (
        "accuracy",
        "change",
        ">=",
        -0.01,
    )
    assert change["verdict"] == "fail" and change["passed"] is False
    assert change["baseline_value"] > change["value"]
    assert change["change"] == pytest.approx(change["value"] - change["baseline_value"])
    assert "change -" in change["reason"] and "is not >= -0.01" in change["reason"]
    assert "changes against the baseline" in blessing["decided_on"]
    saved = json.loads((tmp_path / "m.json").read_text())
    assert saved["baseline"]["metrics"]["accuracy"] == change["baseline_value"]


def test_a_worse_baseline_blesses(trained: Trained, bad_model: Path, tmp_path: Path) -> None:
    # a train output as the baseline: run with TensorFlow like the model
    ev = evaluate(
        trained.model,
        trained.examples,
        blessing_dir=tmp_path / "b",
        thresholds={"accuracy": [">= 0.9", "change >= 0"], "log_loss": {"max_increase": 0}},
        baseline_model=str(bad_model),
        **FAST,
    )
    assert ev.blessed
    checks = _blessing(tmp_path / "b")["checks"]
    assert [(c["metric"], c["kind"], c["verdict"]) for c in checks] == [
        ("accuracy", "value", "pass"),
        ("accuracy", "change", "pass"),
        ("log_loss", "change", "pass"),
    ]
    assert all(c["baseline_value"] is not None for c in checks)
    assert ev.baseline is not None and ev.baseline.format == "saved_model"


def test_no_baseline_yet_decides_on_value_thresholds_alone(
    trained: Trained, bad_model: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "models" / "penguins"  # nothing deployed yet: the first run
    ev = evaluate(
        bad_model,
        trained.examples,
        blessing_dir=tmp_path / "b",
        thresholds={"accuracy": [">= 0", "change >= 0"]},
        baseline_model=str(empty),
        **FAST,
    )
    assert ev.blessed  # the bad model passes its value threshold; nothing to compare with
    blessing = _blessing(tmp_path / "b")
    assert blessing["baseline"]["model"] is None
    assert "does not exist yet (first run" in blessing["baseline"]["reason"]
    assert blessing["decided_on"].startswith("value thresholds only: no baseline")
    assert [(c["kind"], c["verdict"]) for c in blessing["checks"]] == [
        ("value", "pass"),
        ("change", "skipped"),
    ]
    empty.mkdir(parents=True)
    (empty / "1").mkdir()  # a version folder without its model.onnx: not deployed
    ev = evaluate(bad_model, trained.examples, baseline_model=str(empty), **FAST)
    assert ev.baseline is None and "has no deployed version yet" in ev.baseline_reason


def test_baseline_by_uri_and_the_newest_version(
    trained: Trained, onnx_model: Path, tmp_path: Path
) -> None:
    folder = _repository(onnx_model, tmp_path / "models", versions=(2, 10))
    (folder / ".11.tmp").mkdir()  # a deploy in progress is not a version
    ev = evaluate(trained.model, trained.examples, baseline_model=folder.as_uri(), **FAST)
    assert ev.baseline is not None
    assert ev.baseline.source == f"{folder.as_uri()}/10" and ev.baseline.format == "onnx"
    # the exported model itself matches the SavedModel it came from
    assert ev.baseline.metrics.scalars["accuracy"] == ev.metrics["accuracy"]


def test_a_baseline_of_another_label_cannot_be_compared(
    trained: Trained, binary_model: Path, tmp_path: Path
) -> None:
    with pytest.raises(ModelError, match="they cannot be compared"):
        evaluate(trained.model, trained.examples, baseline_model=str(binary_model), **FAST)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("x")
    with pytest.raises(ModelError, match="not a model"):
        evaluate(trained.model, trained.examples, baseline_model=str(tmp_path / "junk"), **FAST)


# ---------------------------------------------------------------------------------------------
# slices


def test_slice_thresholds_are_enforced_except_on_small_slices(
    trained: Trained, tmp_path: Path
) -> None:
    islands = read_split(trained.examples / "eval").column("island").value_counts().to_pylist()
    counts = {d["values"]: d["counts"] for d in islands}
    smallest = min(counts, key=counts.__getitem__)
    bound = counts[smallest] + 1  # exactly the smallest island is too small to enforce
    impossible = {"overall": {"accuracy": 0.0}, "slices": {"island": {"accuracy": "> 1"}}}
    ev = evaluate(
        trained.model,
        trained.examples,
        blessing_dir=tmp_path / "b",
        thresholds=impossible,
        slices=["island", {"column": "body_mass_g", "buckets": 3}],
        min_slice_rows=bound,
        **FAST,
    )
    assert [s.label for s in ev.slices if s.column == "island"] == sorted(counts)
    assert [s.rows for s in ev.slices if s.column == "island"] == [
        counts[k] for k in sorted(counts)
    ]
    buckets = [s.label for s in ev.slices if s.column == "body_mass_g" and s.label[0] == "["]
    assert len(buckets) == 3
    assert all(re.fullmatch(r"\[[\d,.]+, [\d,.]+\)", b) for b in buckets[:-1])
    assert re.fullmatch(r"\[[\d,.]+, [\d,.]+\]", buckets[-1])
    assert sum(s.rows for s in ev.slices if s.column == "body_mass_g") == ev.rows
    checks = {c.slice: c for c in ev.checks if c.scope == "slice"}
    assert set(checks) == {f"island={k}" for k in counts}
    for name, c in checks.items():
        if name == f"island={smallest}":
            assert c.verdict == "skipped" and c.passed
            assert (
                c.reason == f"{counts[smallest]} rows (fewer than {bound}): reported, not enforced"
            )
        else:
            assert c.verdict == "fail" and not c.passed
    blessing = _blessing(tmp_path / "b")
    assert blessing["min_slice_rows"] == bound
    assert any("not enforced" in n and f"island={smallest}" in n for n in blessing["notes"])
    assert not ev.blessed
    # with a bound of one row, every slice is enforced
    ev = evaluate(
        trained.model,
        trained.examples,
        thresholds=impossible,
        slices=["island"],
        min_slice_rows=1,
        **FAST,
    )
    assert [c.verdict for c in ev.checks if c.scope == "slice"] == ["fail"] * len(counts)


def test_a_threshold_on_one_slice(trained: Trained) -> None:
    ev = evaluate(
        trained.model,
        trained.examples,
        thresholds={"slices": {"island=Biscoe": {"recall[Gentoo]": 0.9}}},
        slices=["island"],
        **FAST,
    )
    (c,) = [c for c in ev.checks if c.scope == "slice"]
    assert c.slice == "island=Biscoe" and c.verdict == "pass"
    # a value absent from this eval split: reported as skipped, not an error
    ev = evaluate(
        trained.model,
        trained.examples,
        thresholds={"slices": {"island=Atlantis": {"accuracy": 0.9}}},
        slices=["island"],
        **FAST,
    )
    (c,) = [c for c in ev.checks if c.scope == "slice"]
    assert (c.slice, c.verdict, c.rows) == ("island=Atlantis", "skipped", 0) and ev.blessed
    with pytest.raises(ValueError, match="thresholds for slice 'sex', but the slices are"):
        evaluate(
            trained.model,
            trained.examples,
            thresholds={"slices": {"sex": {"accuracy": 0.9}}},
            slices=["island"],
            **FAST,
        )


# ---------------------------------------------------------------------------------------------
# fairness thresholds (the figures themselves: test_fairness.py)


def test_fairness_thresholds_enter_the_blessing(trained: Trained, tmp_path: Path) -> None:
    ev = evaluate(
        trained.model,
        trained.examples,
        blessing_dir=tmp_path / "b",
        sensitive_columns=["sex"],
        fairness_thresholds={"demographic_parity_difference": "<= 0.0001"},
        **FAST,
    )
    (c,) = [c for c in ev.checks if c.scope == "fairness"]
    assert (c.slice, c.metric) == ("sex", "demographic_parity_difference")
    assert c.value == ev.fairness[0].metrics["demographic_parity_difference"] > 0.0001
    assert c.verdict == "fail" and not ev.blessed
    with pytest.raises(ValueError, match="fairness thresholds for column 'island', but the"):
        evaluate(
            trained.model,
            trained.examples,
            sensitive_columns=["sex"],
            fairness_thresholds={"island": {"demographic_parity_difference": 0.1}},
            **FAST,
        )
    with pytest.raises(ValueError, match="fairness threshold on 'mae_difference'"):
        evaluate(
            trained.model,
            trained.examples,
            sensitive_columns=["sex"],
            fairness_thresholds={"mae_difference": 1},
            **FAST,
        )


# ---------------------------------------------------------------------------------------------
# data


def test_evaluate_a_raw_csv_file(trained: Trained, penguins_csv: Path, tmp_path: Path) -> None:
    ev = evaluate_file(
        trained.model,
        str(penguins_csv),
        tmp_path / "m.json",
        thresholds={"accuracy": 0.9},
        **FAST,
    )
    labelled = pacsv.read_csv(PENGUINS).column("species").null_count
    assert ev.rows == 344 - labelled and ev.data == str(penguins_csv)
    assert ev.blessed


def test_evaluate_a_parquet_file(trained: Trained, tmp_path: Path) -> None:
    table = pq.read_table(next((trained.examples / "eval").glob("*.parquet")))
    pq.write_table(table, tmp_path / "eval.parquet")
    ev = evaluate_file(trained.model, str(tmp_path / "eval.parquet"), **FAST)
    assert ev.rows == table.num_rows


def test_data_without_the_label_or_an_input_is_named(trained: Trained, tmp_path: Path) -> None:
    table = pacsv.read_csv(PENGUINS)
    pq.write_table(table.drop_columns(["species"]), tmp_path / "nolabel.parquet")
    with pytest.raises(DataError, match="nolabel.parquet: label column 'species' is missing"):
        evaluate_file(trained.model, str(tmp_path / "nolabel.parquet"), **FAST)
    pq.write_table(table.drop_columns(["island"]), tmp_path / "noinput.parquet")
    with pytest.raises(DataError, match="column 'island' \\(a model input\\) is missing"):
        evaluate_file(trained.model, str(tmp_path / "noinput.parquet"), **FAST)
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(DataError, match="empty.csv"):
        evaluate_file(trained.model, str(tmp_path / "empty.csv"), **FAST)


def test_auc_on_an_eval_split_missing_a_class_is_explained(
    trained: Trained, tmp_path: Path
) -> None:
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
            **FAST,
        )


def test_binary_and_regression_models(
    trained: Trained, binary_model: Path, regression_model: Path
) -> None:
    ev = evaluate(binary_model, trained.examples, **FAST)
    assert ev.task == "binary" and ev.classes == ["female", "male"]
    assert {"roc_auc", "average_precision"} <= set(ev.metrics)
    assert [c.metric for c in ev.checks] == ["roc_auc"]  # the binary default
    fpr, tpr, thr = ev.kfp_roc_curve()
    assert len(fpr) == len(tpr) == len(thr) > 2
    ev = evaluate(regression_model, trained.examples, slices=["species"], **FAST)
    assert ev.task == "regression" and set(ev.metrics) == {"rmse", "mae", "mape", "r2"}
    assert ev.metrics["r2"] > 0.5 and ev.kfp_roc_curve() == ([], [], [])
    assert [c.metric for c in ev.checks] == ["r2"]
    assert {s.label for s in ev.slices} == {"Adelie", "Chinstrap", "Gentoo"}


def test_rows_without_a_label_are_left_out_counted_and_reported(
    trained: Trained, binary_model: Path, tmp_path: Path
) -> None:
    """Penguins' sex is missing on some rows: they are not scored, and every output says so."""
    eval_table = read_split(trained.examples / "eval")
    missing = eval_table.column("sex").null_count
    assert missing > 0  # the bundled data has gaps in sex; the test means nothing without them
    ev = evaluate(
        binary_model,
        trained.examples,
        tmp_path / "metrics.json",
        tmp_path / "blessing",
        report_path=tmp_path / "report.html",
        **FAST,
    )
    assert ev.dropped_unlabelled == missing and ev.rows == eval_table.num_rows - missing
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert (metrics["rows"], metrics["dropped_unlabelled"]) == (ev.rows, missing)
    blessing = _blessing(tmp_path / "blessing")
    assert (blessing["rows"], blessing["dropped_unlabelled"]) == (ev.rows, missing)
    assert any(f"{missing} row(s) without a label 'sex'" in n for n in blessing["notes"])
    assert f"{missing} row" in (tmp_path / "report.html").read_text()
    assert ev.kfp_metrics()["dropped_unlabelled"] == missing


def test_every_row_without_a_label_is_a_named_error(trained: Trained, tmp_path: Path) -> None:
    table = read_split(trained.examples / "eval")
    blank = table.set_column(
        table.column_names.index("species"), "species", pa.nulls(table.num_rows, pa.string())
    )
    pq.write_table(blank, tmp_path / "unlabelled.parquet")
    with pytest.raises(DataError, match=r"unlabelled.parquet: no labelled rows .*lack the label"):
        evaluate_file(trained.model, str(tmp_path / "unlabelled.parquet"), **FAST)


@pytest.mark.parametrize(
    "thresholds",
    [
        {"accuracy": ">= 0.9", "rmse": 3, "recall[Adelie]": 0.5},  # any task's metrics
        {"overall": {"r2": 0.1}, "slices": {"island": {"f1[Gentoo]": 0.8}}},
        {},
        None,
    ],
)
def test_threshold_names_any_task_knows_pass_without_a_model(thresholds: dict | None) -> None:
    check_threshold_names(thresholds, {"demographic_parity_difference": 0.1})


@pytest.mark.parametrize(
    ("thresholds", "fairness", "message"),
    [
        ({"acuracy": 0.9}, None, r"threshold on 'acuracy': not a metric; these are accuracy"),
        (
            {"overall": {}, "slices": {"island": {"recal[Adelie]": 0.9}}},
            None,
            r"threshold on 'recal\[Adelie\]' \(slice island\): not a metric",
        ),
        ({"accuracy": ">= lots"}, None, r"threshold for 'accuracy': cannot read"),
        (None, {"parity": 0.1}, r"fairness threshold 'parity': not a fairness metric"),
        (None, {"sex": {"dp": 0.1}}, r"fairness threshold for 'dp' \(column sex\): not a"),
    ],
)
def test_unknown_threshold_names_fail_before_any_model_exists(
    thresholds: dict | None, fairness: dict | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        check_threshold_names(thresholds, fairness)


def test_slice_and_fairness_columns_are_checked_when_given() -> None:
    nested = {"overall": {}, "slices": {"island=Biscoe": {"accuracy": 0.8}}}
    check_threshold_names(nested, slices=["island"])
    with pytest.raises(ValueError, match=r"slice 'island=Biscoe', but the slices are: sex"):
        check_threshold_names(nested, slices=["sex"])
    by_column = {"sex": {"equalized_odds_difference": 0.2}}
    check_threshold_names(None, by_column, sensitive_columns=["sex"])
    with pytest.raises(ValueError, match=r"column 'sex', but the sensitive columns are: none"):
        check_threshold_names(None, by_column, sensitive_columns=[])
