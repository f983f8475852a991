"""Build the real etcd and kube-apiserver from this folder's Go modules, once per source change.

Standard library only, so CI can start it before the virtual environment exists
(``python3 tests/cluster/build.py &`` in ``.ci/run``: the seven-minute cold build of kube-apiserver
then runs beside the Python install and the tests that need no cluster). The binaries go to a cache
folder keyed by the Go sources and the Go version, so an unchanged tree reuses them without even
linking; Go's own build cache makes a rebuild after a change take seconds. A file lock makes the
background build and the test fixture's call share one build.

    python3 tests/cluster/build.py          # prints the folder holding etcd and kube-apiserver
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ETCD_VERSION", "KUBERNETES_VERSION", "BuildError", "Binaries", "build", "go"]

HERE = Path(__file__).resolve().parent
KUBERNETES_VERSION = "v1.37.2"
ETCD_VERSION = "v3.7.0"
CACHE_ENV = "MLRAIL_CLUSTER_CACHE"
# kube-apiserver reports this version (and PodSecurity's "latest" follows it); without the stamp
# a module build calls itself v0.0.0.
_MAJOR, _MINOR = KUBERNETES_VERSION.lstrip("v").split(".")[:2]
_STAMP = " ".join(
    f"-X k8s.io/component-base/version.{k}={v}"
    for k, v in (("gitVersion", KUBERNETES_VERSION), ("gitMajor", _MAJOR), ("gitMinor", _MINOR))
)
_PROGRAMS = {"etcd": ("etcd", ""), "kube-apiserver": ("apiserver", _STAMP)}


class BuildError(RuntimeError):
    """Go is missing or a build failed; the message names the command and ends with its output."""


@dataclass(frozen=True)
class Binaries:
    """Where the built servers are, and how long this call took (seconds; ~0 when cached)."""

    etcd: Path
    kube_apiserver: Path
    seconds: float
    built: bool


def go() -> str | None:
    """The ``go`` command on PATH, or None."""
    return shutil.which("go")


def _key(go_cmd: str) -> str:
    digest = hashlib.sha256()
    version = subprocess.run([go_cmd, "version"], capture_output=True, text=True, check=True)
    digest.update(version.stdout.encode())
    for folder in sorted({d for d, _ in _PROGRAMS.values()}):
        for name in ("go.mod", "go.sum", "main.go"):
            digest.update((HERE / folder / name).read_bytes())
    digest.update(_STAMP.encode())
    return digest.hexdigest()[:16]


def cache_root() -> Path:
    """``$MLRAIL_CLUSTER_CACHE``, else ``~/.cache/mlrail/cluster``."""
    override = os.environ.get(CACHE_ENV)
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mlrail" / "cluster"
    return Path(override) if override else base


def build() -> Binaries:
    """The two binaries, built unless the cache already holds them for these sources.

    Raises:
        BuildError: no ``go`` on PATH, or ``go build`` failed.
    """
    go_cmd = go()
    if go_cmd is None:
        raise BuildError("no `go` on PATH: Go 1.26 builds etcd and kube-apiserver for these tests")
    out = cache_root() / _key(go_cmd)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    built = False
    with open(out / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent build (CI's background one) finishes first
        for binary, (folder, ldflags) in _PROGRAMS.items():
            target = out / binary
            if target.is_file():
                continue
            partial = out / f".{binary}.partial"
            cmd = [go_cmd, "build", "-trimpath", "-o", str(partial)]
            cmd += ["-ldflags", f"-s -w {ldflags}".strip(), "."]
            proc = subprocess.run(cmd, cwd=HERE / folder, capture_output=True, text=True)
            if proc.returncode != 0:
                tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
                raise BuildError(f"`{' '.join(cmd)}` in {HERE / folder} failed:\n{tail}")
            partial.rename(target)  # only a finished binary carries the final name
            built = True
    return Binaries(out / "etcd", out / "kube-apiserver", time.monotonic() - started, built)


if __name__ == "__main__":
    try:
        binaries = build()
    except BuildError as e:
        sys.exit(f"build.py: {e}")
    verb = "built" if binaries.built else "cached"
    print(f"{binaries.etcd.parent} ({verb} in {binaries.seconds:.1f} s)")
