"""A real control plane on 127.0.0.1: etcd and kube-apiserver, started and stopped by the tests.

The API server is the real one, so everything it does is real: OpenAPI and CRD validation,
defaulting, server-side apply, the RBAC authorizer, Pod Security admission, TokenRequest. What
this is not: there is no controller-manager (no namespace ``default`` ServiceAccounts, no garbage
collection), no scheduler and no kubelet (pods stay Pending), and no KServe or Argo controller.

Each start gets fresh ports, a fresh etcd data folder and a throwaway CA; the admin identity is a
static token in group ``system:masters``. Stop kube-apiserver before etcd: the other way round it
retries the dead etcd for minutes.
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from .build import Binaries

__all__ = ["ControlPlane", "StartError", "start"]

ADMIN_TOKEN = "mlrail-admin-token"  # a throwaway server's throwaway credential
_READY_SECONDS = 90


class StartError(RuntimeError):
    """A server did not come up; the message ends with the tail of its log."""


@dataclass
class ControlPlane:
    """A running etcd + kube-apiserver and how to reach it.

    Attributes:
        server: ``https://127.0.0.1:<port>``.
        ca_file: The CA that signed the server's certificate.
        kubeconfig: A kubeconfig file for the admin identity (context ``mlrail-test``).
        token: The admin's bearer token.
        folder: Where the PKI, the etcd data and both logs are.
    """

    server: str
    ca_file: Path
    kubeconfig: Path
    token: str
    folder: Path
    _processes: list[subprocess.Popen[bytes]] = field(default_factory=list, repr=False)

    def stop(self) -> None:
        """Stop the API server first, then etcd; kill what does not stop within 20 s."""
        for proc in reversed(self._processes):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self._processes.clear()

    def kubeconfig_for(self, name: str, token: str) -> Path:
        """A kubeconfig file that authenticates as ``token`` (e.g. a ServiceAccount's)."""
        path = self.folder / f"kubeconfig-{name}"
        path.write_text(json.dumps(_kubeconfig(self.server, self.ca_file, name, token)))
        return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _openssl(folder: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)


def _pki(folder: Path) -> None:
    """A CA, the server's certificate (for 127.0.0.1 and the in-cluster names) and SA keys."""
    _openssl(
        folder,
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=mlrail-test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    )
    _openssl(
        folder,
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=kube-apiserver",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    )
    names = "IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc"
    (folder / "san.ext").write_text(f"subjectAltName={names}\n")
    _openssl(
        folder,
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.crt",
    )
    _openssl(folder, "genrsa", "-out", "sa.key", "2048")
    _openssl(folder, "rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub")


def _kubeconfig(server: str, ca_file: Path, user: str, token: str) -> dict[str, object]:
    ca = base64.b64encode(ca_file.read_bytes()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "mlrail-test", "cluster": {"server": server, "certificate-authority-data": ca}}
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "mlrail-test", "context": {"cluster": "mlrail-test", "user": user}}],
        "current-context": "mlrail-test",
    }


def _tail(log: Path, lines: int = 25) -> str:
    text = log.read_text(errors="replace") if log.exists() else "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _wait(name: str, proc: subprocess.Popen[bytes], log: Path, ok: object) -> None:
    deadline = time.monotonic() + _READY_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StartError(f"{name} exited with {proc.returncode}; its log ends:\n{_tail(log)}")
        try:
            if ok():  # type: ignore[operator]
                return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.2)
    raise StartError(f"{name} not ready after {_READY_SECONDS} s; its log ends:\n{_tail(log)}")


def start(binaries: Binaries, folder: Path) -> ControlPlane:
    """Start etcd, then kube-apiserver, in ``folder``; return once ``/readyz`` answers ok.

    Raises:
        StartError: either server exited or was not ready in time (the log's tail is in the
            message). Whatever had started is stopped first.
    """
    folder.mkdir(parents=True, exist_ok=True)
    _pki(folder)
    (folder / "tokens.csv").write_text(f"{ADMIN_TOKEN},mlrail-admin,mlrail-admin,system:masters\n")
    client, peer, secure = _free_port(), _free_port(), _free_port()
    etcd_url = f"http://127.0.0.1:{client}"
    peer_url = f"http://127.0.0.1:{peer}"
    server = f"https://127.0.0.1:{secure}"
    ca_file = folder / "ca.crt"
    plane = ControlPlane(server, ca_file, folder / "kubeconfig", ADMIN_TOKEN, folder)
    plane.kubeconfig.write_text(json.dumps(_kubeconfig(server, ca_file, "admin", ADMIN_TOKEN)))

    etcd_log = folder / "etcd.log"
    etcd = _spawn(
        etcd_log,
        [str(binaries.etcd), "--name=test", f"--data-dir={folder / 'etcd'}",
         f"--listen-client-urls={etcd_url}", f"--advertise-client-urls={etcd_url}",
         f"--listen-peer-urls={peer_url}", f"--initial-advertise-peer-urls={peer_url}",
         f"--initial-cluster=test={peer_url}", "--unsafe-no-fsync=true", "--log-level=warn"],
    )  # fmt: skip
    plane._processes.append(etcd)
    try:
        _wait("etcd", etcd, etcd_log, lambda: _healthy(f"{etcd_url}/health", None))
        api_log = folder / "kube-apiserver.log"
        api = _spawn(
            api_log,
            [str(binaries.kube_apiserver), f"--etcd-servers={etcd_url}",
             "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
             f"--secure-port={secure}", f"--cert-dir={folder / 'certs'}",
             f"--tls-cert-file={folder / 'server.crt'}",
             f"--tls-private-key-file={folder / 'server.key'}",
             f"--client-ca-file={ca_file}", f"--token-auth-file={folder / 'tokens.csv'}",
             "--authorization-mode=RBAC", "--enable-admission-plugins=PodSecurity",
             "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
             f"--service-account-key-file={folder / 'sa.pub'}",
             f"--service-account-signing-key-file={folder / 'sa.key'}",
             "--service-cluster-ip-range=10.0.0.0/24", "--allow-privileged=true",
             # a loopback address cannot be the kubernetes Service's endpoint
             "--endpoint-reconciler-type=none"],
        )  # fmt: skip
        plane._processes.append(api)
        context = ssl.create_default_context(cafile=str(ca_file))
        _wait("kube-apiserver", api, api_log, lambda: _healthy(f"{server}/readyz", context))
    except BaseException:
        plane.stop()
        raise
    return plane


def _spawn(log: Path, cmd: list[str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:  # the child keeps its own descriptor
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)


def _healthy(url: str, context: ssl.SSLContext | None) -> bool:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(request, timeout=2, context=context) as response:
        return bool(response.status == 200)
