"""Shared by the server benchmarks: start one of a script's servers in its own process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path


def start_server(
    script: str, kind: str, repo: Path, tree: Path | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    """Run ``python SCRIPT --serve KIND PORT REPO`` on a free port; return once it accepts.

    Each benchmark script serves its own kinds (mlrail, floor, ...) when called with ``--serve``.
    With ``tree``, the server imports ``mlrail`` from that source tree (first on PYTHONPATH, and
    named in ``BENCH_TREE`` so the server can check it really did).
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    env = None
    if tree is not None:
        env = {**os.environ, "PYTHONPATH": str(tree), "BENCH_TREE": str(tree)}
    process = subprocess.Popen(
        [sys.executable, script, "--serve", kind, str(port), str(repo)], env=env
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, port
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"{kind} server exited {process.returncode}") from None
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{kind} server did not start")


def check_tree() -> None:
    """In a server started with ``tree``: fail unless ``mlrail`` comes from that tree."""
    tree = os.environ.get("BENCH_TREE")
    if tree:
        import mlrail

        if not Path(mlrail.__file__).resolve().is_relative_to(Path(tree).resolve()):
            raise SystemExit(f"mlrail imported from {mlrail.__file__}, not from {tree}")
