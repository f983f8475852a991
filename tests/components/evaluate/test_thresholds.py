"""Reading thresholds (mlrail.components.evaluate.thresholds): the syntax, and errors that name
the metric and where its bound was written."""

from __future__ import annotations

import pytest

from mlrail.components.evaluate.thresholds import (
    Threshold,
    parse_fairness_thresholds,
    parse_thresholds,
)


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ({"accuracy": 0.9}, [Threshold("accuracy", ">=", 0.9)]),
        ({"rmse": "3"}, [Threshold("rmse", "<=", 3.0)]),
        (
            {"r2": "> 0.5", "mae": "<1e-1"},
            [Threshold("r2", ">", 0.5), Threshold("mae", "<", 0.1)],
        ),
        ({"recall[Adelie]": 0.8}, [Threshold("recall[Adelie]", ">=", 0.8)]),
        ({"roc_auc": "change >= -0.01"}, [Threshold("roc_auc", ">=", -0.01, "change")]),
        ({"roc_auc": {"max_drop": 0.01}}, [Threshold("roc_auc", ">=", -0.01, "change")]),
        ({"log_loss": {"max_increase": 0.1}}, [Threshold("log_loss", "<=", 0.1, "change")]),
        (
            {"accuracy": [">= 0.9", "change > 0"]},
            [Threshold("accuracy", ">=", 0.9), Threshold("accuracy", ">", 0.0, "change")],
        ),
        (
            {"accuracy": {"value": 0.9, "change": ">= -0.02"}},
            [Threshold("accuracy", ">=", 0.9), Threshold("accuracy", ">=", -0.02, "change")],
        ),
        (
            {"overall": {"accuracy": 0.9}, "slices": {"island": {"accuracy": 0.8}}},
            [Threshold("accuracy", ">=", 0.9), Threshold("accuracy", ">=", 0.8, slice="island")],
        ),
        (
            {"slices": {"island=Biscoe": {"f1_macro": 0.5}}},
            [Threshold("f1_macro", ">=", 0.5, slice="island=Biscoe")],
        ),
    ],
)
def test_parse_thresholds(raw: dict, parsed: list) -> None:
    assert parse_thresholds(raw) == parsed


@pytest.mark.parametrize(
    "bad",
    [
        {"accuracy": "about 0.9"},
        {"accuracy": True},
        {"accuracy": [1, "x"]},
        {"accuracy": []},
        {"accuracy": {"max_drop": -0.1}},
        {"accuracy": {"drop": 0.1}},
        {"accuracy": "change 0.1"},
        {"accuracy": "nan"},
    ],
)
def test_unreadable_threshold(bad: dict) -> None:
    with pytest.raises(ValueError, match="threshold for 'accuracy'"):
        parse_thresholds(bad)


def test_unreadable_slice_and_fairness_thresholds_name_where() -> None:
    with pytest.raises(ValueError, match=r"threshold for 'accuracy' \(slice island\)"):
        parse_thresholds({"slices": {"island": {"accuracy": "high"}}})
    with pytest.raises(ValueError, match="not a fairness metric"):
        parse_fairness_thresholds({"sex": {"accuracy": 0.9}})
    assert parse_fairness_thresholds(
        {"demographic_parity_difference": 0.1, "sex": {"equalized_odds_ratio": 0.8}}
    ) == [
        Threshold("demographic_parity_difference", "<=", 0.1),
        Threshold("equalized_odds_ratio", ">=", 0.8, slice="sex"),
    ]
