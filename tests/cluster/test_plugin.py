"""Without Go the control-plane tests skip with the reason; under CI they fail instead."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run_without_go(tmp_path: Path, ci: bool) -> subprocess.CompletedProcess[str]:
    test = tmp_path / "test_needs_the_server.py"
    test.write_text("def test_it(control_plane):\n    pass\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PATH"] = str(tmp_path / "empty")  # no go, no kubectl: as on a laptop without them
    if ci:
        env["CI"] = "true"
    cmd = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "tests.cluster.plugin", str(test)]
    cmd += ["-p", "no:cacheprovider", f"--rootdir={tmp_path}"]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("ci", [False, True], ids=["laptop", "CI"])
def test_a_missing_go_skips_on_a_laptop_and_fails_under_ci(tmp_path: Path, ci: bool) -> None:
    proc = _run_without_go(tmp_path, ci)
    if ci:
        assert proc.returncode == 1, proc.stdout
        assert "1 error" in proc.stdout
        assert "the real API server is required under CI: no `go` on PATH" in proc.stdout
    else:
        assert proc.returncode == 0, proc.stdout
        assert "1 skipped" in proc.stdout
        assert "no real API server: no `go` on PATH" in proc.stdout
