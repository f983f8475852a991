"""Check mlrail's import-linter contracts (pyproject.toml's [tool.importlinter]).

import-linter (through grimp) finds a package's modules by walking its folder, but
``mlrail.components`` and ``mlrail.pipelines`` live in ``components/`` and ``pipelines/`` (the
package-dir mapping of DESIGN §2). So this links the three folders into one staging tree shaped
like the import paths and lints that: the files checked are the repository's own.

Usage: python .ci/lint_imports.py [--root REPO]  (exit status is lint-imports')
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    root = parser.parse_args().root.resolve()
    with tempfile.TemporaryDirectory(prefix="mlrail-lint-imports-") as stage:
        package = Path(stage) / "mlrail"
        package.mkdir()
        for entry in (root / "mlrail").iterdir():
            (package / entry.name).symlink_to(entry)
        for folder in ("components", "pipelines"):
            (package / folder).symlink_to(root / folder)
        # run from the staging tree: lint-imports puts the working folder first on sys.path
        env = {**os.environ, "PYTHONPATH": stage}
        return subprocess.call(
            [
                sys.executable,
                "-c",
                "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c())",
                "--config",
                str(root / "pyproject.toml"),
                "--no-cache",
            ],
            cwd=stage,
            env=env,
        )


if __name__ == "__main__":
    sys.exit(main())
