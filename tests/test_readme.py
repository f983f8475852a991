"""The README is the front door: its commands are the ones CI and the tests run."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from mlrail.cli import parse_args

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def sh_lines() -> list[str]:
    """Every non-empty line of the README's ``sh`` code blocks."""
    blocks = re.findall(r"```sh\n(.*?)```", README, flags=re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def test_ci_runs_the_readme_test_command() -> None:
    test_command = next(line for line in sh_lines() if line.endswith(".venv/bin/pytest"))
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    # CI adds -q to pip only; the command is otherwise the README's, verbatim
    assert test_command.replace("pip install", "pip install -q") in ci


def test_quick_start_installs_pinned_and_runs() -> None:
    quick = next(line for line in sh_lines() if line.endswith("mlrail run"))
    assert quick == (
        "python3 -m venv .venv"
        " && .venv/bin/pip install -c constraints.txt ."
        " && .venv/bin/mlrail run"
    )


@pytest.mark.parametrize(
    "line", [line for line in sh_lines() if line.startswith("mlrail ")], ids=lambda s: s[:60]
)
def test_every_mlrail_example_parses(line: str) -> None:
    args = parse_args(shlex.split(line)[1:])
    assert args.command.split()[0] in {
        "run",
        "compile",
        "submit",
        "schedule",
        "serve",
        "validate",
        "schema",
        "evaluate",
    }
