"""A real ``mlrail serve`` (the CLI's own ``main``) in a subprocess on 127.0.0.1, optionally inside
a private mount namespace where a small or read-only tmpfs stands in for the log folder: a full
disk (ENOSPC) and an unwritable folder (EROFS, which even root cannot write) that are real."""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from .helpers import free_port

CLI = "import sys; from mlrail.cli import main; sys.exit(main(sys.argv[1:]))"


@dataclass
class Served:
    url: str
    process: subprocess.Popen[str]

    def path(self, path: Path) -> Path:
        """``path`` as the server process sees it (through its mount namespace)."""
        return Path(f"/proc/{self.process.pid}/root") / path.relative_to("/")

    def stop(self) -> tuple[int, str]:
        """SIGTERM, as Kubernetes sends it; the exit status and stderr."""
        self.process.send_signal(signal.SIGTERM)
        _, stderr = self.process.communicate(timeout=60)
        return self.process.returncode, stderr


@contextmanager
def mlrail_serve(
    repo: Path, *args: str, tmpfs: Path | None = None, tmpfs_options: str = "size=64k"
) -> Iterator[Served]:
    """``mlrail serve --model-repository REPO --port <free> ARGS``, up and answering.

    With ``tmpfs``, the server runs in a new user and mount namespace (``unshare -rm``) with a
    tmpfs mounted there (``mount -t tmpfs -o TMPFS_OPTIONS``), seen by no other process.
    """
    port = free_port()
    command = [sys.executable, "-c", CLI, "serve", "--model-repository", str(repo)]
    # gRPC off unless asked for: serve's default port (8081) is one for the whole machine
    grpc = [] if "--grpc-port" in args else ["--grpc-port", "off"]
    command += ["--port", str(port), *grpc, *args]
    if tmpfs is not None:
        tmpfs.mkdir(parents=True, exist_ok=True)
        mount = f"mount -t tmpfs -o {shlex.quote(tmpfs_options)} tmpfs {shlex.quote(str(tmpfs))}"
        # exec: the server keeps unshare's pid, so /proc/<pid>/root shows its mounts
        command = ["unshare", "-rm", "sh", "-c", f"{mount} && exec {shlex.join(command)}"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(1200):  # up to a minute; nothing here is timed
            if process.poll() is not None:
                stderr = process.communicate()[1]
                raise AssertionError(f"mlrail serve exited {process.returncode}: {stderr}")
            try:
                if httpx.get(f"{url}/v2/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        else:
            raise AssertionError("mlrail serve did not come up")
        yield Served(url, process)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        process.communicate()
