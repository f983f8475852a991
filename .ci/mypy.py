"""Type-check all of mlrail (runtime, components, pipelines) with pyproject.toml's [tool.mypy].

Usage: python .ci/mypy.py   (exit status: mypy's)
"""

from __future__ import annotations

import sys

from stage import ROOT, run_staged

if __name__ == "__main__":
    config = str(ROOT / "pyproject.toml")
    sys.exit(run_staged([sys.executable, "-m", "mypy", "--config-file", config, "-p", "mlrail"]))
