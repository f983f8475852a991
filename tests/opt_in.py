"""Opt-in tests: skipped with a reason unless asked for, and then failed, never skipped.

A test that needs something this machine may lack (a container engine, a live cluster) runs only
when asked for: by its environment variable (``MLRAIL_CONTAINER_TESTS=1``) or by a ``-m``
expression that selects its marker (``pytest -m container``). Not asked for, it is skipped with a
reason. Asked for, a missing prerequisite is a failure: an opted-in run that skips has tested
nothing, yet passes.

    def engine(request):
        need = OptIn("container", "MLRAIL_CONTAINER_TESTS", how="build with images/build.sh")
        need.check(request.config)            # skips unless asked for
        ...
        need.require(podman is not None, "no podman to serve a Docker API")   # fails if not
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from typing import NoReturn

import pytest

__all__ = ["OptIn", "selects"]


def selects(markexpr: str, marker: str) -> bool:
    """Whether the ``-m`` expression ``markexpr`` selects a test marked only ``marker``.

    ``container``, ``slow or container`` and ``container and not slow`` do; ``""``,
    ``not container`` and ``slow`` do not.
    """
    if not markexpr.strip():
        return False

    def value(node: ast.expr) -> bool:
        if isinstance(node, ast.Name):
            return node.id == marker
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return not value(node.operand)
        if isinstance(node, ast.BoolOp):
            values = [value(v) for v in node.values]
            return all(values) if isinstance(node.op, ast.And) else any(values)
        return False  # a marker with arguments, or anything else: not this marker

    try:
        tree = ast.parse(markexpr, mode="eval")
    except SyntaxError:
        return False
    return value(tree.body)


@dataclass(frozen=True)
class OptIn:
    """An opt-in test tier: its marker, its environment variable and how to provide what it needs.

    Attributes:
        marker: The pytest marker (registered in pyproject.toml).
        env: The variable that opts in when set to ``1``.
        how: What to do first, said in the skip reason (e.g. ``build with images/build.sh``).
    """

    marker: str
    env: str
    how: str

    def asked(self, config: pytest.Config) -> bool:
        """Whether this run asked for the tier (its variable, or ``-m`` selecting its marker)."""
        return os.environ.get(self.env) == "1" or selects(config.option.markexpr, self.marker)

    def check(self, config: pytest.Config) -> None:
        """Skip, with the reason and the way in, unless this run asked for the tier."""
        if not self.asked(config):
            pytest.skip(f"opt-in ({self.marker}): {self.how}, then set {self.env}=1")

    def missing(self, what: str) -> NoReturn:
        """Fail: the tier was asked for and ``what`` is missing."""
        pytest.fail(f"{self.marker} tests were asked for, but {what}", pytrace=False)

    def require(self, ok: object, what: str) -> None:
        """Fail with ``what`` unless ``ok``."""
        if not ok:
            self.missing(what)
