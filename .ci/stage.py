"""A staging tree shaped like mlrail's import paths, for tools that find modules by folder.

``mlrail.components`` and ``mlrail.pipelines`` live in ``components/`` and ``pipelines/`` (the
package-dir mapping of DESIGN §2); the editable install maps them with an import hook that
neither import-linter (grimp walks a package's folder) nor mypy (it reads files, not hooks)
follows. So the tools run over a temporary folder holding ``mlrail/`` whose entries are links to
the repository's own files, with ``components`` and ``pipelines`` linked in: the files checked
are the repository's, and nothing is written into it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def staging_tree(root: Path = ROOT) -> Iterator[Path]:
    """A temporary folder in which ``mlrail`` is the whole package, linked to ``root``'s files."""
    with tempfile.TemporaryDirectory(prefix="mlrail-stage-") as stage:
        package = Path(stage) / "mlrail"
        package.mkdir()
        for entry in (root / "mlrail").iterdir():
            if entry.name != "__pycache__":
                (package / entry.name).symlink_to(entry)
        for folder in ("components", "pipelines"):
            (package / folder).symlink_to(root / folder)
        yield Path(stage)


def run_staged(args: Sequence[str], root: Path = ROOT) -> int:
    """Run ``args`` in the staging tree (first on ``sys.path``); its output names the
    repository's paths (``components/…``, not ``mlrail/components/…``). Returns its exit code."""
    with staging_tree(root) as stage:
        env = {**os.environ, "PYTHONPATH": str(stage)}
        done = subprocess.run(args, cwd=stage, env=env, capture_output=True, text=True)
    for stream, text in ((sys.stdout, done.stdout), (sys.stderr, done.stderr)):
        for folder in ("components", "pipelines"):
            text = text.replace(f"mlrail/{folder}/", f"{folder}/")
        stream.write(text.replace(str(stage) + "/", ""))
    return done.returncode
