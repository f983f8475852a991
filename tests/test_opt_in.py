"""Which ``-m`` expressions ask for an opt-in tier (tests/opt_in.py)."""

from __future__ import annotations

import pytest

from tests.opt_in import selects


@pytest.mark.parametrize(
    ("markexpr", "asked"),
    [
        ("", False),
        ("container", True),
        ("slow or container", True),
        ("container and not slow", True),
        ("(container or cluster) and not slow", True),
        ("not container", False),
        ("slow", False),
        ("cluster", False),
        ("slow and container", False),  # a test marked only container is not selected
        ("container(", False),  # not an expression pytest would take either
    ],
)
def test_a_marker_expression_asks_for_the_tier_it_selects(markexpr: str, asked: bool) -> None:
    assert selects(markexpr, "container") is asked
