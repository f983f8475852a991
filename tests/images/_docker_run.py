"""Runs the training pipeline through kfp.local.DockerRunner; started by test_container_run.py.

A separate process because components/_images.py reads MLRAIL_COMPONENT_IMAGE when the
components are first imported: the caller sets it (and DOCKER_HOST) before this starts.

    python _docker_run.py REQUEST.json RESULT.json

REQUEST: {"pipeline_root": ..., "arguments": {...}, "run_args": {...docker-py containers.run...}}
RESULT:  {"error": "" or the run's error, "steps": {task: {"status": ..., "seconds": ...}}}

The run is ``mlrail run``'s own (``run_training``), with the DockerRunner in place of the
SubprocessRunner; its log (kfp.local's, every step's) is printed at the end for the caller.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(request_path: str, result_path: str) -> None:
    from kfp import local

    from mlrail.local import run_training

    request = json.loads(Path(request_path).read_text(encoding="utf-8"))
    root = Path(request["pipeline_root"])
    if root.name != "pipeline_root":
        raise SystemExit(f"{root}: run_training keeps its pipeline root in <workdir>/pipeline_root")
    run = run_training(
        workdir=root.parent,
        arguments=request["arguments"],
        runner=local.DockerRunner(**request["run_args"]),
    )
    result = {
        "error": "" if run.ok else (run.error or run.status),
        "steps": {
            s.task: {"status": s.status, "seconds": round(s.seconds or 0.0, 1)} for s in run.steps
        },
        "seconds": round(sum(s.seconds or 0.0 for s in run.steps), 1),
    }
    Path(result_path).write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(run.log_file.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main(*sys.argv[1:])
