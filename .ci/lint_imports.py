"""Check mlrail's import-linter contracts (pyproject.toml's [tool.importlinter]).

Usage: python .ci/lint_imports.py [--root REPO]   (exit status: lint-imports')
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stage import ROOT, run_staged

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository to check")
    root = parser.parse_args().root.resolve()
    lint = "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c())"
    config = str(root / "pyproject.toml")
    sys.exit(run_staged([sys.executable, "-c", lint, "--config", config, "--no-cache"], root))
