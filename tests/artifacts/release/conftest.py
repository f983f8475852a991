"""Fixtures: two runs' real artifact folders (:mod:`.runs` makes them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.artifacts.release.runs import ROWS_V1, ROWS_V2, Run, make_run


@pytest.fixture
def first_run(tmp_path: Path) -> Run:
    return make_run(tmp_path / "run1", ROWS_V1)


@pytest.fixture
def second_run(tmp_path: Path, first_run: Run) -> Run:
    """Other data (drifted against the first run's statistics), a new model, lower accuracy."""
    return make_run(
        tmp_path / "run2",
        ROWS_V2,
        accuracy=0.91,
        weight=2.0,
        baseline_statistics=str(first_run.root / "statistics"),
    )
