"""The server's cold start: process start to ``/v2/health/ready`` answering 200, median of runs.

Runs a ``mlrail serve`` command line several times, each on a fresh port, and times each from the
moment the process is started to the first 200 from ``/v2/health/ready`` (polled every 10 ms),
then stops it. Either an installed ``mlrail``, or the serving image through podman (host network,
the model repository mounted read-only at /mnt/models, as KServe mounts it)::

    python images/cold_start.py --repository REPO --mlrail /path/to/venv/bin/mlrail
    python images/cold_start.py --repository REPO --image localhost/mlrail-serving:0.1.0
    python images/cold_start.py --repository REPO --image localhost/mlrail:0.1.0

For the image, the time includes podman creating and starting the container: what a pod's
start adds on top of it is the kubelet's, not measured here.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _command(args: argparse.Namespace, port: int) -> list[str]:
    serve = ["serve", "--host", "127.0.0.1", "--port", str(port), "--grpc-port", "0"]
    if args.image:
        return [
            "podman",
            "run",
            "--rm",
            "--network=host",
            # the serving image's own entrypoint; the component image (whose pipelines' set also
            # serves) has none, so both are named the same way
            "--entrypoint",
            "mlrail",
            "--read-only",
            "--tmpfs",
            "/tmp:rw,mode=1777",
            "-v",
            f"{args.repository.resolve()}:/mnt/models:ro",
            args.image,
            *serve,
            "--model-repository",
            "/mnt/models",
        ]
    return [args.mlrail, *serve, "--model-repository", str(args.repository)]


def _once(args: argparse.Namespace) -> float:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/v2/health/ready"
    env = {**os.environ, "CONTAINERS_CONF": str(HERE / "containers.conf")}
    started = time.perf_counter()
    process = subprocess.Popen(
        _command(args, port), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
    )
    try:
        while True:
            if process.poll() is not None:
                raise SystemExit(f"the server exited {process.returncode}: {process.stderr.read()}")
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        return time.perf_counter() - started
            except OSError:
                pass
            if time.perf_counter() - started > 300:
                raise SystemExit("not ready after 300 s")
            time.sleep(0.01)
    finally:
        process.terminate()
        process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", type=Path, required=True, help="model repository")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--mlrail", help="an installed mlrail command")
    which.add_argument("--image", help="the serving image, run with podman")
    parser.add_argument("--runs", type=int, default=5, help="runs (default 5)")
    args = parser.parse_args()
    times = [_once(args) for _ in range(args.runs)]
    print(
        f"cold start ({args.image or args.mlrail}): median {statistics.median(times):.2f} s over "
        f"{len(times)} runs ({', '.join(f'{t:.2f}' for t in times)})",
        file=sys.stdout,
    )


if __name__ == "__main__":
    main()
