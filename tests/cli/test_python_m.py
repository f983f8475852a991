"""``python -m mlrail`` is the ``mlrail`` command: its output and exit status."""

from __future__ import annotations

import subprocess
import sys

from mlrail import __version__


def _python_m(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlrail", *argv], capture_output=True, text=True, check=False
    )


def test_python_m_mlrail_is_the_command() -> None:
    done = _python_m("--version")
    assert (done.returncode, done.stdout) == (0, f"mlrail {__version__}\n")
    done = _python_m("--help")
    assert done.returncode == 0 and done.stdout.startswith("usage: mlrail ")


def test_python_m_mlrail_passes_the_exit_status_on() -> None:
    done = _python_m("run", "--eval-ratio", "2")
    assert done.returncode == 2
    assert (
        done.stderr == "mlrail run: error: argument --eval-ratio: must be between 0 and 1 "
        "(both excluded), got 2\n"
    )
