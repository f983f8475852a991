"""A real ``mlflow server`` on 127.0.0.1 for the session: the ``mlflow_server`` fixture.

A pytest plugin (tests that need the server name the fixture; a test that does not pays
nothing). The server is a team's setup in miniature: a SQLite backend store and the artifacts
proxied by the server (``--artifacts-destination``, artifact URIs ``mlflow-artifacts:/...``), so
clients never touch the server's disk, as on a cluster. One worker; started once, on a free
port, stopped (its whole process group) at the end of the session.

What the server holds is read with MLflow's own client (:meth:`MlflowServer.client`), never
through mlrail's registry code.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

__all__ = ["MlflowServer", "free_port", "mlflow_client", "mlflow_server"]

#: The venv's mlflow command (the one the library's mlflow comes with).
_MLFLOW = Path(sys.executable).with_name("mlflow")
#: A new SQLite store runs MLflow's migrations first: seconds on a loaded machine.
_READY_SECONDS = 180


def free_port() -> int:
    """A port nothing listens on now (the OS's choice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class MlflowServer:
    """A running ``mlflow server``."""

    uri: str
    folder: Path
    log: Path

    def client(self) -> Any:
        """MLflow's own client on this server (tracking and registry)."""
        return mlflow_client(self.uri)


def mlflow_client(uri: str) -> Any:
    """``mlflow.MlflowClient`` on ``uri`` for both tracking and the registry."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + _READY_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow server exited ({proc.returncode}):\n{_tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise RuntimeError(f"mlflow server not ready in {_READY_SECONDS} s:\n{_tail(log)}")


def _tail(log: Path) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-30:])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    # the CLI starts uvicorn as a child: the group it leads is the server's, and only its
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """A real ``mlflow server`` (SQLite backend, proxied artifacts) on 127.0.0.1."""
    folder = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    log = folder / "server.log"
    command = [
        str(_MLFLOW),
        "server",
        "--backend-store-uri",
        f"sqlite:///{folder / 'mlflow.db'}",
        "--artifacts-destination",
        str(folder / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            command,
            cwd=folder,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, log)
        yield MlflowServer(uri=url, folder=folder, log=log)
    finally:
        _stop(proc)
