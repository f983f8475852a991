"""Start-up cost of the ``mlrail`` command, against a bare Python start in the same run.

    python bench/bench_cli_startup.py [--runs 5]

Prints the median and min–max wall time of ``mlrail --help`` and ``mlrail compile``, and each
one's ratio to ``python -c pass`` (the floor no CLI can beat), so a loaded machine shows up in the
baseline too rather than in a fake regression.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _time(cmd: list[str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out.append(time.perf_counter() - start)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    mlrail = [sys.executable, "-m", "mlrail.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        cases = {
            "python -c pass (baseline)": [sys.executable, "-c", "pass"],
            "mlrail --help": [*mlrail, "--help"],
            "mlrail compile": [*mlrail, "compile", "-o", str(Path(tmp) / "p.yaml")],
        }
        results = {name: _time(cmd, runs) for name, cmd in cases.items()}
    base = statistics.median(results["python -c pass (baseline)"])
    print(f"{'case':<28}{'median':>10}{'min':>10}{'max':>10}{'x baseline':>12}   ({runs} runs)")
    for name, times in results.items():
        med = statistics.median(times)
        print(f"{name:<28}{med:>9.3f}s{min(times):>9.3f}s{max(times):>9.3f}s{med / base:>12.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
