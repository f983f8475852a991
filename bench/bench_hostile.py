"""``mlrail serve`` under careless and hostile clients (issue 10): status, memory, health latency.

    python bench/bench_hostile.py [--tree DIR ...] [--runs 1] [--case NAME ...] [--idle 21000]

Starts ``serve()`` from each source tree (default: this checkout; ``--tree /work/baseline`` for an
older one, imported from that folder, which is checked) on 127.0.0.1, a fresh server process per
case and run so each peak is the case's own, and runs each attack:

- ``header_120mb``, ``header_200mb``: one request whose single header is that large;
- ``json_16mb_x8``: eight 16.5 MB JSON inference requests at once;
- ``slow_clients``: 400 requests that send their headers and 10 bytes of a 1,000-byte body, plus
  ``--idle`` sockets that connect and send nothing (opened by helper processes, so the client's
  own file limit is not the bound), held for ``--hold`` seconds (35: past the body timeout);
- ``payload_log_slow_sink``: payload logging to a CloudEvents collector that takes 5 s per event,
  and 40 requests of 3.8 MB; RSS is also read 5 s after the last answer ("after");
- ``lone_surrogate``: a request whose ``id``, then whose BYTES input, is ``"\\ud800"``.

For each it reports the statuses returned, the server's RSS (VmRSS before the attack, VmHWM
peak, VmRSS after), and ``/v2/health/live`` latency during the attack: a probe on a new
connection every 0.2 s (as the kubelet's), timeout 10 s; a probe that fails or times out counts
as failed and at 10 s. With ``--runs N`` each figure is the median of N runs (min-max). No
figure here is a pass/fail: the tests assert the behaviour; this measures it.
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]
PROBE_EVERY = 0.2
PROBE_TIMEOUT = 10.0

SERVE = """
import json, sys
tree, repo, port, options = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
sys.path.insert(0, tree)
import mlrail
assert mlrail.__file__.startswith(tree), f"imported {mlrail.__file__}, not from {tree}"
from mlrail.serving.server import serve
serve(repo, port=port, **options)
"""

IDLE = """
import socket, sys, time
port, count = int(sys.argv[1]), int(sys.argv[2])
socks = []
for _ in range(count):
    try:
        socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
    except OSError:
        break
print(len(socks), flush=True)
sys.stdin.read()  # held until the parent closes our stdin
closed = 0
for s in socks:
    s.setblocking(False)
    try:
        closed += s.recv(1) == b""
    except BlockingIOError:
        pass
    except OSError:
        closed += 1
print(closed, flush=True)
"""


# -- the model repository and requests -------------------------------------------------------------


def make_repository(root: Path) -> Path:
    """The tests' classifier (FP32 ``bill_length_mm`` + BYTES ``island``) as ``penguins/1``."""
    sys.path.insert(0, str(HERE))
    from tests.serving.helpers import write_classifier

    write_classifier(root, 1)
    return root


def classifier_body(target_bytes: int, request_id: str = "bench") -> bytes:
    """A V2 JSON request for the classifier of about ``target_bytes`` (within a few bytes)."""

    def build(n: int) -> bytes:
        islands = ["Dream", "Biscoe", "Torgersen"]
        lengths = ",".join(f"{30 + (i % 300) / 10:.2f}" for i in range(n))
        names = ",".join(f'"{islands[i % 3]}"' for i in range(n))
        return (
            f'{{"id":"{request_id}","inputs":['
            f'{{"name":"bill_length_mm","shape":[{n},1],"datatype":"FP32","data":[{lengths}]}},'
            f'{{"name":"island","shape":[{n},1],"datatype":"BYTES","data":[{names}]}}]}}'
        ).encode()

    sample = build(3000)
    return build(max(1, int(3000 * target_bytes / len(sample))))


INFER = "/v2/models/penguins/infer"


# -- a server and what it costs --------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int

    def status(self, key: str) -> int:
        """A /proc/<pid>/status figure in KiB (VmRSS, VmHWM)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        raise KeyError(key)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(tree: Path, repo: Path, **options: Any) -> Iterator[Server]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(tree), str(repo), str(port), json.dumps(options)],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server from {tree} exited {process.returncode}")
            try:
                if request("GET", port, "/v2/health/ready", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server from {tree} did not start")
            time.sleep(0.1)
        small = classifier_body(100)
        request("POST", port, INFER, small)  # warm: the first inference loads lazily
        yield Server(process, port)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def request(
    method: str, port: int, path: str, body: bytes | None = None, timeout: float = 120
) -> tuple[int, bytes, dict[str, str]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, body, headers)
        response = connection.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        connection.close()


def try_status(call: Callable[[], tuple[int, bytes, dict[str, str]]]) -> str:
    try:
        return str(call()[0])
    except TimeoutError:
        return "timeout"
    except (ConnectionError, http.client.HTTPException, OSError) as e:
        return type(e).__name__


class Probe:
    """``/v2/health/live`` on a new connection every PROBE_EVERY seconds, in a thread."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.latencies: list[float] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            start = time.perf_counter()
            try:
                ok = request("GET", self.port, "/v2/health/live", timeout=PROBE_TIMEOUT)[0] == 200
            except OSError:
                ok = False
            elapsed = time.perf_counter() - start
            if not ok:
                self.failures += 1
            self.latencies.append(elapsed if ok else max(elapsed, PROBE_TIMEOUT))
            self._stop.wait(max(0.0, PROBE_EVERY - elapsed))


@dataclass
class Result:
    statuses: str
    rss_before_mb: float
    rss_peak_mb: float
    rss_after_mb: float
    probe_p50_ms: float
    probe_max_ms: float
    probes: int
    probe_failures: int
    note: str = ""
    extra: dict[str, float] = field(default_factory=dict)


def measure(s: Server, attack: Callable[[], tuple[str, str]], settle: float = 0.0) -> Result:
    before = s.status("VmRSS") / 1024
    with Probe(s.port) as probe:
        statuses, note = attack()
        time.sleep(0.5)  # a few probes after the attack, too
    if settle:
        time.sleep(settle)
    latencies = probe.latencies or [0.0]
    return Result(
        statuses=statuses,
        rss_before_mb=before,
        rss_peak_mb=s.status("VmHWM") / 1024,
        rss_after_mb=s.status("VmRSS") / 1024,
        probe_p50_ms=statistics.median(latencies) * 1000,
        probe_max_ms=max(latencies) * 1000,
        probes=len(probe.latencies),
        probe_failures=probe.failures,
        note=note,
    )


def tally(statuses: list[str]) -> str:
    return ", ".join(f"{k} x{n}" for k, n in sorted(Counter(statuses).items()))


# -- the attacks -----------------------------------------------------------------------------------


def huge_header(mb: int) -> Callable[[Path, Path], Result]:
    def case(tree: Path, repo: Path) -> Result:
        with server(tree, repo) as s:

            def attack() -> tuple[str, str]:
                start = time.perf_counter()
                sock = socket.create_connection(("127.0.0.1", s.port), timeout=120)
                chunk = b"a" * (1 << 20)
                sent = "all sent"
                try:
                    sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: bench\r\nX-Big: ")
                    for _ in range(mb):
                        sock.sendall(chunk)
                    sock.sendall(b"\r\n\r\n")
                except OSError as e:
                    sent = f"send stopped: {type(e).__name__}"
                try:
                    answer = sock.recv(4096)
                    status = answer.split(b" ", 2)[1].decode() if answer else "closed"
                except TimeoutError:
                    status = "timeout"
                except OSError as e:
                    status = type(e).__name__
                finally:
                    sock.close()
                return status, f"answered after {time.perf_counter() - start:.2f} s; {sent}"

            return measure(s, attack)

    return case


def json_x8(tree: Path, repo: Path) -> Result:
    body = classifier_body(16_500_000)
    with server(tree, repo) as s:

        def attack() -> tuple[str, str]:
            results: list[str] = []
            start = time.perf_counter()

            def one() -> None:
                results.append(try_status(lambda: request("POST", s.port, INFER, body)))

            threads = [threading.Thread(target=one) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return tally(
                results
            ), f"{len(body) / 1e6:.1f} MB each; {time.perf_counter() - start:.1f} s"

        return measure(s, attack)


def slow_clients(hold: float, idle: int) -> Callable[[Path, Path], Result]:
    def case(tree: Path, repo: Path) -> Result:
        with server(tree, repo) as s:

            def attack() -> tuple[str, str]:
                half = []
                for _ in range(400):
                    sock = socket.create_connection(("127.0.0.1", s.port), timeout=5)
                    sock.sendall(
                        b"POST " + INFER.encode() + b" HTTP/1.1\r\nHost: bench\r\n"
                        b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
                        b'{"inputs":'
                    )
                    half.append(sock)
                helpers = []
                per = 10_000  # each helper's sockets stay well below its own file limit
                for n in range(0, idle, per):
                    helpers.append(
                        subprocess.Popen(
                            [sys.executable, "-c", IDLE, str(s.port), str(min(per, idle - n))],
                            stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE,
                            text=True,
                        )
                    )
                opened = sum(int(h.stdout.readline() or 0) for h in helpers)  # type: ignore[union-attr]
                real = []
                end = time.monotonic() + hold
                small = classifier_body(100)
                while time.monotonic() < end:  # a real client meanwhile, once a second
                    real.append(try_status(lambda: request("POST", s.port, INFER, small, 10)))
                    time.sleep(1.0)
                answers = []
                for sock in half:
                    sock.setblocking(False)
                    try:
                        data = sock.recv(4096)
                        answers.append(data.split(b" ", 2)[1].decode() if data else "closed")
                    except BlockingIOError:
                        answers.append("held")
                    except OSError as e:
                        answers.append(type(e).__name__)
                    sock.close()
                closed = 0
                for h in helpers:
                    assert h.stdin is not None and h.stdout is not None
                    h.stdin.close()
                    closed += int(h.stdout.readline() or 0)
                    h.wait()
                statuses = f"half-sent: {tally(answers)}; real: {tally(real)}"
                note = f"{opened} idle sockets opened, {closed} closed by the server"
                return statuses, note

            return measure(s, attack)

    return case


class SlowCollector(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(5.0)
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the server under test closing its connection at shutdown is expected


def payload_log_slow_sink(tree: Path, repo: Path) -> Result:
    collector = QuietServer(("127.0.0.1", 0), SlowCollector)
    collector.daemon_threads = True
    thread = threading.Thread(target=collector.serve_forever, daemon=True)
    thread.start()
    body = classifier_body(3_800_000)
    url = f"http://127.0.0.1:{collector.server_address[1]}/"
    try:
        with server(tree, repo, log_payloads=url) as s:

            def attack() -> tuple[str, str]:
                results = [
                    try_status(lambda: request("POST", s.port, INFER, body)) for _ in range(40)
                ]
                return tally(results), f"{len(body) / 1e6:.1f} MB each; RSS after: 5 s later"

            return measure(s, attack, settle=5.0)
    finally:
        collector.shutdown()
        collector.server_close()


def lone_surrogate(tree: Path, repo: Path) -> Result:
    in_id = (
        b'{"id":"\\ud800","inputs":[{"name":"bill_length_mm","shape":[1,1],"datatype":"FP32",'
        b'"data":[40.0]},{"name":"island","shape":[1,1],"datatype":"BYTES","data":["Dream"]}]}'
    )
    in_input = (
        b'{"id":"x","inputs":[{"name":"bill_length_mm","shape":[1,1],"datatype":"FP32",'
        b'"data":[40.0]},{"name":"island","shape":[1,1],"datatype":"BYTES","data":["\\ud800"]}]}'
    )
    with server(tree, repo) as s:

        def attack() -> tuple[str, str]:
            a = try_status(lambda: request("POST", s.port, INFER, in_id))
            b = try_status(lambda: request("POST", s.port, INFER, in_input))
            return f"in id: {a}; in a BYTES input: {b}", ""

        return measure(s, attack)


# -- main ------------------------------------------------------------------------------------------


def cases(args: argparse.Namespace) -> dict[str, Callable[[Path, Path], Result]]:
    return {
        "header_120mb": huge_header(120),
        "header_200mb": huge_header(200),
        "json_16mb_x8": json_x8,
        "slow_clients": slow_clients(args.hold, args.idle),
        "payload_log_slow_sink": payload_log_slow_sink,
        "lone_surrogate": lone_surrogate,
    }


def median_range(values: list[float], digits: int = 0) -> str:
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:,.{digits}f}"
    return f"{med:,.{digits}f} ({min(values):,.{digits}f}-{max(values):,.{digits}f})"


def report(tree: Path, per_case: dict[str, list[Result]]) -> None:
    print(f"\n## serve() from {tree}\n")
    print(
        "| case | statuses | RSS before MB | RSS peak MB | RSS after MB | health p50 ms "
        "| health max ms | health failed/probes | note |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, results in per_case.items():
        statuses = " / ".join(dict.fromkeys(r.statuses for r in results))
        notes = " / ".join(dict.fromkeys(r.note for r in results if r.note))
        failed = "/".join(str(r.probe_failures) for r in results)
        probes = "/".join(str(r.probes) for r in results)
        print(
            f"| {name} | {statuses} "
            f"| {median_range([r.rss_before_mb for r in results])} "
            f"| {median_range([r.rss_peak_mb for r in results])} "
            f"| {median_range([r.rss_after_mb for r in results])} "
            f"| {median_range([r.probe_p50_ms for r in results], 1)} "
            f"| {median_range([r.probe_max_ms for r in results], 1)} "
            f"| {failed} of {probes} | {notes} |"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, action="append", help="source tree (repeatable)")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--case", action="append", help="run only these cases")
    parser.add_argument("--idle", type=int, default=21_000, help="idle sockets in slow_clients")
    # Past the 30 s body timeout, so the half-sent requests' fate is part of the figure.
    parser.add_argument("--hold", type=float, default=35.0, help="seconds slow_clients holds")
    args = parser.parse_args()
    trees = [t.resolve() for t in (args.tree or [HERE])]
    chosen = cases(args)
    names = args.case or list(chosen)
    unknown = set(names) - set(chosen)
    if unknown:
        raise SystemExit(f"unknown case(s) {sorted(unknown)}; known: {list(chosen)}")
    results: dict[Path, dict[str, list[Result]]] = {t: {n: [] for n in names} for t in trees}
    with tempfile.TemporaryDirectory() as tmp:
        repo = make_repository(Path(tmp) / "models")
        for _ in range(args.runs):
            for name in names:
                for tree in trees:  # alternating trees: a busy moment slows both
                    print(f"{name} on {tree} ...", file=sys.stderr, flush=True)
                    results[tree][name].append(chosen[name](tree, repo))
    print(
        f"python {' '.join(sys.argv)}\n{args.runs} run(s); a fresh server per case and run; "
        f"health: GET /v2/health/live on a new connection every {PROBE_EVERY} s, "
        f"{PROBE_TIMEOUT:g} s timeout (a failure counts as {PROBE_TIMEOUT:g} s)"
    )
    for tree in trees:
        report(tree, results[tree])
    return 0


if __name__ == "__main__":
    sys.exit(main())
