"""The governance figures of issue 13, measured end to end on the bundled penguins.

    python bench/governance_walkthrough.py [--keep DIR]

Starts a real ``mlflow server`` (SQLite backend) on 127.0.0.1 and a real CloudEvents receiver,
then, in one working folder:

1. ``mlrail run`` (seed 7);
2. ``mlrail run`` again, same data and seed (the same identity: register reuses the version,
   deploy says ``unchanged``);
3. ``mlrail run`` with seed 8 (a new identity: a new version, champion moves);
4. ``mlrail run`` with a threshold no model meets (not blessed: nothing registered or moved);
5. ``mlrail rollback penguins --to 1``.

After each it prints the registry's versions and aliases as MLflow's own client reads them from
the server, deploy's decision and the model identity, and the events the receiver got (types in
order). Then one release record in full (JSON and Markdown) and ``mlrail releases show``.
Figures, not pass/fail: the tests assert the behaviour (tests/components/deploy/test_release.py,
tests/cli/test_releases.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MLRAIL = [sys.executable, "-m", "mlrail.cli"]
MODEL = "penguins"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mlflow_server(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    mlflow = Path(sys.executable).with_name("mlflow")
    log = open(folder / "mlflow-server.log", "wb")  # noqa: SIM115 (the server's lifetime)
    proc = subprocess.Popen(
        [str(mlflow), "server", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
         "--artifacts-destination", str(folder / "artifacts"), "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.5)
    raise SystemExit("mlflow server did not start; see mlflow-server.log")


class _Receiver(BaseHTTPRequestHandler):
    got: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
        from cloudevents.http import from_http

        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        event = from_http(dict(self.headers), body)
        _Receiver.got.append(str(event["type"]).removeprefix("io.mlrail."))
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def _state(uri: str) -> str:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        model = client.get_registered_model(MODEL)
    except Exception:  # noqa: BLE001 (no model yet: MLflow raises RestException)
        return "registry: no versions"
    versions = sorted(
        (int(v.version), v.tags.get("mlrail.identity", "")[:26])
        for v in client.search_model_versions(f"name='{MODEL}'")
    )
    aliases = dict(sorted(model.aliases.items()))
    return f"registry: versions {versions}; aliases {aliases}"


def _run(workdir: Path, *args: str) -> str:
    done = subprocess.run(
        [*MLRAIL, *args], cwd=workdir.parent, capture_output=True, text=True, check=False
    )
    lines = [
        ln for ln in done.stdout.splitlines() if ln.strip().startswith(("deploy ", "register"))
    ]
    return f"exit {done.returncode}; " + " | ".join(" ".join(ln.split()) for ln in lines[-2:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", help="working folder to keep (default: a temporary one)")
    a = parser.parse_args()
    root = Path(a.keep or tempfile.mkdtemp(prefix="mlrail-governance-")).resolve()
    root.mkdir(parents=True, exist_ok=True)
    workdir = root / "work"
    server, uri = _mlflow_server(root)
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    sink = f"http://127.0.0.1:{receiver.server_address[1]}/"
    common = ["--workdir", str(workdir), "--registry-uri", uri, "--events-sink", sink]
    steps = [
        ("run, seed 7", ["run", *common, "--hparams", '{"seed": 7}', "--reason", "first"]),
        ("run again, seed 7", ["run", *common, "--hparams", '{"seed": 7}', "--reason", "again"]),
        ("run, seed 8", ["run", *common, "--hparams", '{"seed": 8}', "--reason", "new seed"]),
        (
            "run, not blessed",
            ["run", *common, "--hparams", '{"seed": 9}', "--thresholds", '{"accuracy": ">= 1.01"}'],
        ),
        ("rollback to 1", ["rollback", MODEL, "--to", "1", *common, "--reason", "figures"]),
    ]
    try:
        for title, args in steps:
            _Receiver.got = []
            started = time.perf_counter()
            outcome = _run(workdir, *args)
            took = time.perf_counter() - started
            print(f"== {title} ({took:.1f} s): {outcome}")
            print(f"   {_state(uri)}")
            print(f"   events received: {_Receiver.got}")
        store = workdir / "releases" / MODEL
        newest = sorted(store.iterdir())[-1]
        print(f"\n== the newest release record, {newest}/release.json\n")
        print(json.dumps(json.loads((newest / "release.json").read_text()), indent=2))
        print(f"\n== {newest}/release.md\n")
        print((newest / "release.md").read_text())
        print("\n== mlrail releases list / show\n")
        for args in (["releases", "list", MODEL], ["releases", "show", MODEL]):
            shown = subprocess.run(
                [*MLRAIL, *args, "--workdir", str(workdir)], capture_output=True, text=True
            )
            print(shown.stdout or shown.stderr)
    finally:
        receiver.shutdown()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        if not a.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
