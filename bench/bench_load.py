"""``mlrail serve`` under a bounded load generator, against two baselines measured in the same run.

    python bench/bench_load.py [--model-repository DIR [--eval-dir DIR]] [--runs 3]
                               [--duration 30] [--concurrency 1 8] [--soak 60 --soak-concurrency 16]
                               [--baseline-tree /work/baseline] [--payload-log] [--grpc]

Needs ``wrk`` (``apt-get install -y wrk``): a C load generator in its own process, one thread, N
keep-alive connections, each sending the next request as soon as the answer arrives (closed
loop), so the generator is not the bottleneck. Every wrk run is bounded in time (``--duration``,
and killed if it overruns by 30 s) and in count (``--max-requests``, after which its thread
stops sending).

Every request is the same V2 inference request of one real row (the first eval row when the
model is trained here or ``--eval-dir`` is given). Rows of the table:

- ``session.run``: the bare ONNX Runtime call on the same model and feeds, in this process,
  one intra-op thread, sequential: the floor no server can beat;
- ``floor``: :func:`floor_app`, a minimal ASGI app in this file that parses the same V2 JSON with
  orjson, builds the same feeds, runs the same ONNX Runtime session (one intra-op thread, as
  ``mlrail serve``) and writes the V2 JSON response; no routing, no validation;
- ``mlrail``: ``mlrail.serving.server.serve`` as ``mlrail serve`` runs it, from this checkout;
- ``stock_http`` (with ``--stock-http``): this checkout's ``serve`` on uvicorn's own httptools
  protocol instead of :mod:`mlrail.serving.http`, so mlrail/stock_http is what the transport
  limits (header bytes, timeouts, connection cap, bytes in flight) cost per request;
- ``baseline`` (with ``--baseline-tree DIR``): the same ``serve`` imported from an older source
  tree, such as a worktree of the commit before a change, so what the change costs or saves is a
  ratio measured in the same run (mlrail/baseline, per run, then summarised).
- ``log_10``, ``log_100`` (with ``--payload-log``): the same ``serve`` with payload logging on
  (``--log-payloads`` to a folder under the bench's temporary folder: the partitioned JSON Lines
  layout, as deploy's ``logging.json`` switches on) at 10% and 100% sampling; their requests/s
  over ``mlrail``'s (logging off) are computed within each run, and each logging server's
  records written and dropped (``/metrics``) are printed after the runs; so is each server's
  own CPU time per request (``/proc/<pid>/stat`` around each wrk run), the steadier figure on a
  machine other work shares.
- ``grpc_on``, ``grpc`` (with ``--grpc``): one more ``serve``, with its gRPC port on
  (``grpc_port``). ``grpc_on`` is that server under wrk over REST, so mlrail/grpc_on is what
  having gRPC in the process costs REST (the REST-only path does not import gRPC at all);
  ``grpc`` is the same server called over gRPC (``ModelInfer`` with ``raw_input_contents``, as
  ``tritonclient.grpc`` sends by default) by the Python load generator in
  :mod:`_grpc_load` (no C gRPC generator such as ghz is available; its CPU per call is
  printed, so a generator-bound figure shows). grpc/grpc_on compares the two protocols on one
  server, within each run.

Both servers run in their own process under uvicorn with the same settings: httptools + uvloop,
access log off, one worker, log level warning, 127.0.0.1. Before the load, one request to each
checks that both answer 200 with the same outputs. Each figure is the median of ``--runs`` runs
(min-max); the mlrail/floor ratios are computed within each run (floor and mlrail alternate, so
a busy machine slows both), then summarised the same way. Then a ``--soak``-second run at
``--soak-concurrency`` against mlrail counts errors (non-2xx, connect/read/write errors,
timeouts). Targets (mlrail issue 4): p50 <= 1.5x the floor's at concurrency 1, requests/s >=
0.6x the floor's at concurrency 8, 0 errors in the soak.

Without ``--model-repository`` a penguins model is trained first with ``mlrail run`` (~20 s).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import _grpc_load
import numpy as np
import orjson
from _servers import check_tree, start_server

HERE = Path(__file__).resolve().parents[1]  # this checkout, served as "mlrail"
# the payload-logging servers (--payload-log) and their sample rates
LOG_RATES = {"log_10": 0.1, "log_100": 1.0}

UVICORN = {
    "host": "127.0.0.1",
    "workers": 1,
    "loop": "uvloop",
    "http": "httptools",
    "access_log": False,
    "log_level": "warning",
}

# wrk script: POST the body in BODY_FILE; stop a thread after MAX requests; print exact figures.
WRK_SCRIPT = """
local f = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
local max = tonumber(os.getenv("BENCH_MAX_REQUESTS"))
local n = 0
function response(status, headers, body)
  n = n + 1
  if n >= max then wrk.thread:stop() end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d status=%d connect=%d read=%d " ..
    "write=%d timeout=%d\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect, e.read, e.write, e.timeout))
end
"""


# -- the model, its request and feeds -------------------------------------------------------------


def model_folder(repo: Path) -> Path:
    folders = sorted(p.parent for p in repo.glob("*/*/model.onnx"))
    if not folders:
        raise SystemExit(f"{repo}: no <name>/<version>/model.onnx")
    return max(folders, key=lambda p: (p.parent.name, int(p.name)))


def one_row(folder: Path, eval_dir: Path | None) -> dict[str, np.ndarray]:
    """The model's inputs for one row: the first eval row, or placeholder values."""
    from mlrail.artifacts.examples import read_split
    from mlrail.artifacts.modelspec import ModelSpec

    spec = ModelSpec.read(folder)
    # export_onnx names the graph's inputs by the data's columns (older exports: the spec's names)
    graph = {x.name for x in new_session(folder / "model.onnx").get_inputs()}
    served = {i.name: i.column if i.column in graph else i.name for i in spec.inputs}
    if eval_dir is not None:
        features = spec.features(read_split(eval_dir).slice(0, 1), str(eval_dir))
        return {served.get(k, k): np.ascontiguousarray(v[:1]) for k, v in features.items()}
    return {
        served[i.name]: np.array([[1.0]], np.float32)
        if i.dtype == "float32"
        else np.array([[""]], object)
        for i in spec.inputs
    }


def request_body(feeds: dict[str, np.ndarray]) -> bytes:
    inputs = [
        {
            "name": name,
            "shape": list(a.shape),
            "datatype": "BYTES" if a.dtype == object else "FP32",
            "data": a.ravel().tolist(),
        }
        for name, a in feeds.items()
    ]
    return orjson.dumps({"id": "1", "inputs": inputs})


def new_session(path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # as mlrail serve (intra_op_threads=1)
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


# -- the floor server -----------------------------------------------------------------------------


def floor_app(model_path: Path) -> Any:
    """A minimal V2 ASGI app: same JSON in, same session.run, same JSON out; nothing else."""
    session = new_session(model_path)
    name, version = model_path.parent.parent.name, model_path.parent.name
    dtypes = {
        i.name: object if i.type == "tensor(string)" else np.float32 for i in session.get_inputs()
    }
    outputs = [o.name for o in session.get_outputs()]
    headers = [(b"content-type", b"application/json")]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        request = orjson.loads(b"".join(chunks))
        feeds = {
            i["name"]: np.array(i["data"], dtype=dtypes[i["name"]]).reshape(i["shape"])
            for i in request["inputs"]
        }
        results = session.run(outputs, feeds)
        body = orjson.dumps(
            {
                "model_name": name,
                "model_version": version,
                "id": request.get("id"),
                "outputs": [
                    {
                        "name": n,
                        "shape": list(r.shape),
                        "datatype": "FP32",
                        "data": r.ravel().tolist(),
                    }
                    for n, r in zip(outputs, results, strict=True)
                ],
            }
        )
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*headers, (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


def _serve(kind: str, port: int, repo: str) -> None:
    """Run one server in this (child) process until terminated."""
    import uvicorn

    if kind in ("mlrail", "baseline", "stock_http", "grpc_on", *LOG_RATES):
        check_tree()
        from mlrail.serving import server
        from mlrail.serving.server import serve

        if kind == "stock_http":
            server._PROTOCOL = "httptools"  # a bench-only swap
        logging: dict[str, Any] = {}
        if kind in LOG_RATES:
            root = Path(os.environ["BENCH_LOG_ROOT"]) / kind
            logging = {"log_payloads": str(root), "log_sample_rate": LOG_RATES[kind]}

        if kind == "grpc_on":
            logging["grpc_port"] = int(os.environ["BENCH_GRPC_PORT"])
        serve(repo, host=UVICORN["host"], port=port, workers=1, log_level="warning", **logging)
        return
    app = floor_app(model_folder(Path(repo)) / "model.onnx")
    uvicorn.run(app, port=port, timeout_keep_alive=65, **UVICORN)


def start(
    kind: str, repo: Path, baseline_tree: Path | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    tree = {"mlrail": HERE, "stock_http": HERE, "baseline": baseline_tree}.get(kind)
    tree = HERE if kind in (*LOG_RATES, "grpc_on") else tree
    return start_server(__file__, kind, repo, tree)


def post(url: str, body: bytes) -> dict[str, Any]:
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200, response.status
        return orjson.loads(response.read())


# -- measurements ---------------------------------------------------------------------------------


def wrk(
    url: str, script: Path, body_file: Path, connections: int, seconds: float, max_requests: int
) -> dict[str, float]:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "5s", "-s"]
    env = {"BENCH_BODY_FILE": str(body_file), "BENCH_MAX_REQUESTS": str(max_requests)}
    out = subprocess.run(
        [*cmd, str(script), url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
        env={**os.environ, **env},
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    r = {k: float(v) for k, v in (kv.split("=") for kv in line.split()[1:])}
    errors = r["status"] + r["connect"] + r["read"] + r["write"] + r["timeout"]
    return {
        "rps": r["requests"] / (r["duration_us"] / 1e6),
        "p50": r["p50_us"] / 1e6,
        "p99": r["p99_us"] / 1e6,
        "errors": errors,
        "requests": r["requests"],
        "capped": float(r["requests"] >= max_requests),
    }


def bare_session(
    model_path: Path, feeds: dict[str, np.ndarray], seconds: float
) -> dict[str, float]:
    session = new_session(model_path)
    for _ in range(200):
        session.run(None, feeds)
    times = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        t = time.perf_counter()
        session.run(None, feeds)
        times.append(time.perf_counter() - t)
    return {
        "rps": len(times) / sum(times),
        "p50": float(np.percentile(times, 50)),
        "p99": float(np.percentile(times, 99)),
        "errors": 0.0,
        "requests": float(len(times)),
    }


def summary(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def fmt(values: list[float], scale: float, digits: int) -> str:
    med, lo, hi = (v * scale for v in summary(values))
    return f"{med:,.{digits}f} ({lo:,.{digits}f}-{hi:,.{digits}f})"


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def payload_log_drops(infer_url: str) -> float:
    """Payload-log records a server dropped (all reasons), from its /metrics."""
    url = infer_url.split("/v2/")[0] + "/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("mlrail_payload_log_dropped_total{")
    )


def print_payload_log(
    args: argparse.Namespace,
    per: dict[tuple[str, int], list[dict[str, float]]],
    drops: dict[str, float],
    root: Path,
) -> None:
    """Requests/s with payload logging on over logging off, within each run; records kept."""
    print()
    print(f"{'payload logging (requests/s vs logging off)':<44}{'median (min-max)':>22}")
    for c in args.concurrency:
        off = per[("mlrail", c)]
        for kind, rate in LOG_RATES.items():
            rps = [m["rps"] / o["rps"] for m, o in zip(per[(kind, c)], off, strict=True)]
            label = f"{rate:.0%} sampled / off, concurrency {c}"
            print(f"{label:<44}{fmt(rps, 1, 2) + 'x':>22}")
    print(f"{'server CPU per request (us)':<44}{'median (min-max)':>22}{'vs off':>22}")
    for c in args.concurrency:
        off = per[("mlrail", c)]
        for kind in ("mlrail", *LOG_RATES):
            cpu = [r["cpu_us"] for r in per[(kind, c)]]
            ratio = [r["cpu_us"] / o["cpu_us"] for r, o in zip(per[(kind, c)], off, strict=True)]
            label = f"{'off' if kind == 'mlrail' else f'{LOG_RATES[kind]:.0%} sampled'}, conc. {c}"
            print(f"{label:<44}{fmt(cpu, 1, 1):>22}{fmt(ratio, 1, 2) + 'x':>22}")
    for kind, rate in LOG_RATES.items():
        files = list((root / kind).glob("*/*/*/part-*.jsonl"))
        lines = sum(f.read_bytes().count(b"\n") for f in files)
        size = sum(f.stat().st_size for f in files)
        print(
            f"{rate:.0%} sampled: {lines:,} records written in {len(files)} file(s), "
            f"{size / 2**20:,.1f} MiB; {drops.get(kind, 0):,.0f} dropped"
        )


# -- main -----------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-repository", type=Path)
    parser.add_argument("--eval-dir", type=Path, help="Parquet split; the request is its row 0")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per wrk run")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--soak", type=float, default=60.0, help="seconds; 0 skips the soak")
    parser.add_argument("--soak-concurrency", type=int, default=16)
    parser.add_argument("--max-requests", type=int, default=5_000_000, help="per wrk run")
    parser.add_argument(
        "--baseline-tree", type=Path, help="also serve mlrail from this older source tree"
    )
    parser.add_argument(
        "--stock-http", action="store_true", help="also serve on uvicorn's own httptools protocol"
    )
    parser.add_argument(
        "--payload-log",
        action="store_true",
        help="also serve with payload logging at 10%% and 100%% sampling (ratios to logging off)",
    )
    parser.add_argument(
        "--grpc",
        action="store_true",
        help="also serve with the gRPC port on: REST on it (cost to REST) and gRPC (vs REST)",
    )
    parser.add_argument(
        "--serve", nargs=3, metavar=("KIND", "PORT", "REPO"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.serve:
        _serve(args.serve[0], int(args.serve[1]), args.serve[2])
        return 0
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install -y wrk")

    with tempfile.TemporaryDirectory() as tmp:
        repo, eval_dir = args.model_repository, args.eval_dir
        if repo is None:
            from bench_inference import train_penguins

            workdir = Path(tmp) / "work"
            _, onnx_path, eval_dir = train_penguins(workdir)
            repo = onnx_path.parent.parent.parent
        return run(args, repo, eval_dir, Path(tmp))


def run(args: argparse.Namespace, repo: Path, eval_dir: Path | None, tmp: Path) -> int:
    folder = model_folder(repo)
    model_path = folder / "model.onnx"
    feeds = one_row(folder, eval_dir)
    body = request_body(feeds)
    body_file, script = tmp / "body.json", tmp / "post.lua"
    body_file.write_bytes(body)
    script.write_text(WRK_SCRIPT)
    infer = f"/v2/models/{folder.parent.name}/infer"

    kinds = ["floor", "mlrail"] + (["stock_http"] if args.stock_http else [])
    kinds += ["baseline"] if args.baseline_tree else []
    kinds += list(LOG_RATES) if args.payload_log else []
    kinds += ["grpc_on"] if args.grpc else []
    grpc_request = tmp / "request.pb"
    if args.grpc:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            os.environ["BENCH_GRPC_PORT"] = str(s.getsockname()[1])  # read by grpc_on
        grpc_request.write_bytes(_grpc_load.request_message(folder.parent.name, feeds))
    (tmp / "payload-logs").mkdir()
    os.environ["BENCH_LOG_ROOT"] = str(tmp / "payload-logs")  # read by the logging servers
    baseline_tree = args.baseline_tree.resolve() if args.baseline_tree else None
    servers = {kind: start(kind, repo, baseline_tree) for kind in kinds}
    try:
        urls = {k: f"http://127.0.0.1:{port}{infer}" for k, (_, port) in servers.items()}
        answers = {k: post(url, body) for k, url in urls.items()}
        a = np.asarray(answers["floor"]["outputs"][0]["data"])
        if args.grpc:
            # the gRPC "url" is the target; its answer is checked with the others
            urls["grpc"] = f"127.0.0.1:{os.environ['BENCH_GRPC_PORT']}"
            (grpc_out,) = _grpc_load.outputs(
                _grpc_load.call_once(urls["grpc"], grpc_request.read_bytes())
            )
            answers["grpc"] = {"outputs": [{"data": grpc_out.ravel().tolist()}]}
            kinds.append("grpc")
        for kind in kinds[1:]:
            b = np.asarray(answers[kind]["outputs"][0]["data"])
            if a.shape != b.shape or not np.allclose(a, b, atol=1e-6):
                raise SystemExit(f"floor and {kind} disagree: {a} vs {b}")

        per: dict[tuple[str, int], list[dict[str, float]]] = {}
        for _ in range(args.runs):
            per.setdefault(("session.run", 1), []).append(
                bare_session(model_path, feeds, min(args.duration, 5.0))
            )
            for c in args.concurrency:
                for kind in kinds:
                    pid = servers["grpc_on" if kind == "grpc" else kind][0].pid
                    cpu = cpu_seconds(pid)
                    if kind == "grpc":
                        result = _grpc_load.measure(
                            urls[kind], grpc_request, c, args.duration, args.max_requests
                        )
                    else:
                        result = wrk(
                            urls[kind], script, body_file, c, args.duration, args.max_requests
                        )
                    # the server's own CPU per request: what logging costs, whatever else runs
                    result["cpu_us"] = (cpu_seconds(pid) - cpu) / result["requests"] * 1e6
                    per.setdefault((kind, c), []).append(result)
        soak = None
        if args.soak > 0:
            soak = wrk(
                urls["mlrail"], script, body_file, args.soak_concurrency, args.soak,
                args.max_requests,
            )  # fmt: skip
        # The servers are still up: a soak that ends with a dead server is an error too.
        post(urls["mlrail"], body)
        drops = {k: payload_log_drops(urls[k]) for k in kinds if k in LOG_RATES}
        if args.grpc:
            _grpc_load.call_once(urls["grpc"], grpc_request.read_bytes())  # still answering
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait(timeout=40)

    print(
        f"model {model_path}; batch 1 (one row, {len(body)}-byte request); wrk -t1, "
        f"{args.duration:g} s per run, {args.runs} runs; uvicorn {UVICORN}\n"
        f"mlrail: serve() from {HERE}"
        + (f"; baseline: serve() from {baseline_tree}" if baseline_tree else "")
        + "\n"
        "median (min-max) across runs; ratios computed within each run"
    )
    header = f"{'server':<13}{'conc':>5}{'requests/s':>28}{'p50 us':>26}{'p99 us':>30}{'errors':>8}"
    print(header)
    print("-" * len(header))
    for (kind, c), results in per.items():
        rows = [r["rps"] for r in results]
        p50 = [r["p50"] for r in results]
        p99 = [r["p99"] for r in results]
        errors = int(sum(r["errors"] for r in results))
        label = kind if kind != "session.run" else "session.run"
        print(
            f"{label:<13}{c:>5}{fmt(rows, 1, 0):>28}{fmt(p50, 1e6, 1):>26}"
            f"{fmt(p99, 1e6, 1):>30}{errors:>8}"
        )
        if any(r.get("capped") for r in results):
            print(f"  (hit --max-requests {args.max_requests}: requests/s understated)")

    print()
    print(f"{'ratio':<44}{'median (min-max)':>22}{'target':>10}")
    for c in args.concurrency:
        floor, mlrail = per[("floor", c)], per[("mlrail", c)]
        p50 = [m["p50"] / f["p50"] for m, f in zip(mlrail, floor, strict=True)]
        rps = [m["rps"] / f["rps"] for m, f in zip(mlrail, floor, strict=True)]
        bare = per[("session.run", 1)]
        if c == 1:  # latency against the bare call; under concurrency, throughput
            vs_bare = [m["p50"] / s["p50"] for m, s in zip(mlrail, bare, strict=True)]
            bare_label = f"mlrail p50 / session.run p50, concurrency {c}"
        else:
            vs_bare = [m["rps"] / s["rps"] for m, s in zip(mlrail, bare, strict=True)]
            bare_label = f"mlrail requests/s / session.run calls/s, conc. {c}"
        goal_p50 = "<= 1.5x" if c == 1 else ""
        goal_rps = ">= 0.6x" if c == 8 else ""
        for label, values, goal in (
            (f"mlrail/floor p50, concurrency {c}", p50, goal_p50),
            (f"mlrail/floor requests/s, concurrency {c}", rps, goal_rps),
        ):
            print(f"{label:<44}{fmt(values, 1, 2) + 'x':>22}{goal:>10}")
        print(f"{bare_label:<44}{fmt(vs_bare, 1, 2) + 'x':>22}")
        for other in [k for k in kinds[2:] if k in ("stock_http", "baseline")]:
            base = per[(other, c)]
            p50 = [m["p50"] / b["p50"] for m, b in zip(mlrail, base, strict=True)]
            rps = [m["rps"] / b["rps"] for m, b in zip(mlrail, base, strict=True)]
            print(f"{f'mlrail/{other} p50, concurrency {c}':<44}{fmt(p50, 1, 2) + 'x':>22}")
            print(f"{f'mlrail/{other} requests/s, concurrency {c}':<44}{fmt(rps, 1, 2) + 'x':>22}")
    if args.payload_log:
        print_payload_log(args, per, drops, tmp / "payload-logs")
    if args.grpc:
        _grpc_load.print_ratios(args.concurrency, per, fmt)
    if soak is not None:
        print()
        print(
            f"soak: mlrail, concurrency {args.soak_concurrency}, {args.soak:g} s: "
            f"{int(soak['requests']):,} requests, {soak['rps']:,.0f} requests/s, "
            f"p50 {soak['p50'] * 1e6:,.1f} us, p99 {soak['p99'] * 1e6:,.1f} us, "
            f"errors {int(soak['errors'])} (target 0)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
