"""Where the time of ``mlrail run`` on the bundled penguins goes: wall time, steps and the gaps.

    python bench/bench_local_run.py [--runs 5]

Runs ``mlrail run --workdir <new folder>`` ``--runs`` times, one after another, and prints the
median (and min-max) of: the command's wall time; each step's time from its record (what the
summary shows: from the step process's first line of work to its outputs written); the gaps
between one step's end and the next one's start (process start-up and the previous process's
exit, on the critical path); and the time before the first step (the CLI's imports, the compile).
Each run is ``python -m mlrail.cli`` from a temporary folder, so ``PYTHONPATH=<folder holding
another mlrail package>`` measures another version of the code (e.g. the code before a change,
laid out as installed: ``mlrail/``, ``mlrail/components/``, ``mlrail/pipelines/``) on the same
machine in the same hour. The machine's load average is printed too: figures, not pass/fail.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _attempt(task_dir: Path) -> dict[str, object]:
    record = json.loads((task_dir / "mlrail_step.json").read_text(encoding="utf-8"))
    last: dict[str, object] = record["attempts"][-1]
    return last


def _one(workdir: Path) -> dict[str, float]:
    start_wall = dt.datetime.now(dt.UTC)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "mlrail.cli", "run", "--workdir", str(workdir)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=workdir.parent,  # not a source checkout, whose mlrail/ would come first
    )
    out = {"wall": time.perf_counter() - start}
    (run_dir,) = (workdir / "pipeline_root").iterdir()
    attempts = sorted(
        ((task.name, _attempt(task)) for task in run_dir.iterdir() if task.is_dir()),
        key=lambda item: str(item[1]["started"]),
    )
    previous_end = start_wall
    for i, (name, attempt) in enumerate(attempts):
        started = dt.datetime.fromisoformat(str(attempt["started"]))
        gap = (started - previous_end).total_seconds()
        out["before first step" if i == 0 else f"gap before {name}"] = gap
        out[name] = float(attempt["seconds"])  # type: ignore[arg-type]
        previous_end = dt.datetime.fromisoformat(str(attempt["ended"]))
    out["after last step"] = out["wall"] - (previous_end - start_wall).total_seconds()
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--json", type=Path, help="also append each run's figures to this file, a JSON line each"
    )
    a = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.runs):
            results.append(_one(Path(tmp) / f"run{i}"))
            if a.json:
                with a.json.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(results[-1]) + "\n")
            print(f"run {i + 1}: {results[-1]['wall']:.1f} s", file=sys.stderr, flush=True)
    code = os.environ.get("PYTHONPATH") or "the installed mlrail"
    print(f"{a.runs} runs of mlrail run, {code} (load average now: {os.getloadavg()[0]:.2f})")
    for key in results[0]:
        values = [r[key] for r in results if key in r]
        print(
            f"  {key:<24} median {statistics.median(values):6.2f} s"
            f"   ({min(values):.2f}-{max(values):.2f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
