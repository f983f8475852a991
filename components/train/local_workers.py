"""train's workers as processes on this machine: N workers on 127.0.0.1, each with its TF_CONFIG.

What ``mlrail run`` and the tests use for ``workers`` > 1 outside a cluster (train's ``launcher:
local``): :func:`run_local` starts ``python -m mlrail.components.train.multiworker`` once per
worker with free ports, passes the chief's lines on as they come (:func:`.multiworker.relay`),
stops every worker when one fails (raising that worker's own error) or when the time is up.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from mlrail.components.train.multiworker import (
    INDEX_ENV,
    MODULE,
    WORKERS_ENV,
    WorkerFailed,
    failure_of,
    relay,
    tf_config,
    worker_args,
)

__all__ = ["free_ports", "run_local"]

log = logging.getLogger("mlrail.components.train")


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct ports free on ``host`` now (the OS's choice; held open until all are
    chosen, so none is given twice)."""
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((host, 0))
            sockets.append(s)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


class _Worker:
    """One local worker process and the tail of its output, read by a thread."""

    def __init__(self, index: int, cmd: list[str], env: dict[str, str], on_line: Callable) -> None:
        self.index = index
        self.tail: collections.deque[str] = collections.deque(maxlen=60)
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            errors="replace",
        )  # fmt: skip
        self._reader = threading.Thread(target=self._read, args=(on_line,), daemon=True)
        self._reader.start()

    def _read(self, on_line: Callable[[int, str], None]) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.tail.append(line.rstrip("\n"))
            on_line(self.index, line)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def run_local(
    examples: str,
    schema: str,
    statistics: str,
    output: str,
    *,
    label: str,
    task: str = "auto",
    hparams: Mapping[str, Any] | None = None,
    module_file: str = "",
    module_file_sha256: str = "",
    workers: int = 2,
    timeout: float = 3600.0,
    host: str = "127.0.0.1",
) -> None:
    """Train with ``workers`` processes on this machine; the chief's outputs go to ``output``.

    Each worker gets ``TF_CONFIG`` naming every worker on ``host`` (free ports) and its own
    index; the chief's log lines are passed on as they come (:func:`relay`). The first worker
    to fail stops the others, and its error is raised.

    Raises:
        DataError, ModelError, ValueError: a worker's own error for bad input (its message).
        WorkerFailed: a worker failed otherwise (its exit status and last lines), or the
            workers were not done within ``timeout`` seconds (all are stopped).
    """
    if workers < 1:
        raise ValueError(f"workers={workers}: expected 1 or more")
    hosts = [f"{host}:{p}" for p in free_ports(workers, host)]
    args = worker_args(
        examples, schema, statistics, output, label=label, task=task, hparams=hparams or {},
        module_file=module_file, module_file_sha256=module_file_sha256,
    )  # fmt: skip

    def on_line(index: int, line: str) -> None:
        if index == 0:
            relay(line, "worker 0")

    procs: list[_Worker] = []
    deadline = time.monotonic() + timeout
    try:
        for i in range(workers):
            env = {k: v for k, v in os.environ.items() if k not in (WORKERS_ENV, INDEX_ENV)}
            env.update(
                TF_CONFIG=json.dumps(tf_config(hosts, i)),
                PYTHONUNBUFFERED="1",
                TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
            )
            procs.append(_Worker(i, [sys.executable, "-m", MODULE, *args], env, on_line))
        log.info("%d workers on %s: %s", workers, host, ", ".join(hosts))
        while True:
            codes = [p.proc.poll() for p in procs]
            failed = [p for p, c in zip(procs, codes, strict=True) if c not in (None, 0)]
            if failed:
                _raise_failed(failed[0], workers)
            if all(c == 0 for c in codes):
                return
            if time.monotonic() > deadline:
                running = [str(p.index) for p, c in zip(procs, codes, strict=True) if c is None]
                raise WorkerFailed(
                    f"{workers} workers not done in {timeout:g} s (still running: worker "
                    f"{', '.join(running)}); all stopped"
                )
            time.sleep(0.2)
    finally:
        for p in procs:
            p.stop()


def _raise_failed(worker: _Worker, workers: int) -> None:
    worker._reader.join(timeout=10)  # its last lines, the error among them
    code = worker.proc.returncode
    found = failure_of(list(worker.tail))
    where = f"worker {worker.index} of {workers} (exit status {code})"
    if found is not None:
        kind, message = found
        raise kind(f"{where}: {message}")
    last = " | ".join(line for line in list(worker.tail)[-5:] if line.strip())
    raise WorkerFailed(f"{where}: {last or 'no output'}")
