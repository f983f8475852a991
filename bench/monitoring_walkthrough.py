"""The monitoring figures of issue 14, measured through the user's own local flow.

    python bench/monitoring_walkthrough.py [--keep DIR] [--windows 20] [--window-rows 200]

In one working folder, with the real commands README's "Monitoring" section gives:

1. ``mlrail run`` on the bundled penguins (its deploy writes ``models/penguins/logging.json``
   with a sample rate of 0.1); the file is then rewritten to ``{"sample_rate": 1.0}`` so that
   every request of these figures is logged;
2. ``mlrail serve --model-repository <work>/models`` on 127.0.0.1 (a subprocess), sent
   (a) the eval split's rows, once each, one row per request, with ``tritonclient.http`` at its
   defaults (binary tensors), ids ``a-<i>``; (b) the same rows with ``body_mass_g`` x 1.5 and
   island ``Dream`` -> ``Biscoe``, as plain V2 JSON, ids ``b-<i>``. After each, the server is
   stopped once every record is in its log, and ``models/_logs`` renamed (``_logs-a``,
   ``_logs-b``); the labels of each are written as a ground-truth CSV (``id,species``);
3. ``mlrail monitor --logs <that folder> --ground-truth <csv> --window 1h`` per phase;
4. the skew of ``island`` (L-infinity) and ``body_mass_g`` (TFDV's Jensen-Shannon) computed
   here by hand from the raw rows, beside monitor's values;
5. false alarms: ``--windows`` unshifted windows of ``--window-rows`` single-row requests drawn
   with replacement from the TRAIN split (the model's own training distribution: no change by
   construction), a fresh seed per window, each window's log in its own folder, one
   ``mlrail monitor`` per window; a window alerts when monitor exits 1.

Figures, not pass/fail: the tests assert the behaviour (tests/components/monitor/test_served.py,
tests/validation for the thresholds).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

MLRAIL = [sys.executable, "-m", "mlrail.cli"]
MODEL = "penguins"
LABEL = "species"
SCALED, REMAPPED = "body_mass_g", "island"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _server(models: Path, log: Path) -> Iterator[int]:
    """``mlrail serve --model-repository models`` on 127.0.0.1 until the block ends (SIGTERM)."""
    port = _free_port()
    out = open(log, "ab")  # noqa: SIM115 (the server's lifetime)
    proc = subprocess.Popen(
        [*MLRAIL, "serve", "--model-repository", str(models), "--host", "127.0.0.1",
         "--port", str(port)],
        stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/v2/models/{MODEL}/ready"
        for _ in range(600):
            if proc.poll() is not None:
                raise SystemExit(f"mlrail serve exited {proc.returncode}; see {log}")
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit(f"mlrail serve was not ready; see {log}")
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        out.close()


def _columns(inputs: list[dict[str, Any]], table: pa.Table) -> dict[str, np.ndarray]:
    """The model's inputs as the clients send them: text (missing as ""), float32 (NaN)."""
    out: dict[str, np.ndarray] = {}
    for i in inputs:
        col = table.column(i["column"]).to_pylist()
        if i["dtype"] == "string":
            out[i["column"]] = np.array(["" if v is None else str(v) for v in col], dtype=object)
        else:
            out[i["column"]] = np.array(
                [math.nan if v is None else float(v) for v in col], dtype=np.float32
            )
    return out


def _send_triton(port: int, columns: dict[str, np.ndarray], prefix: str) -> None:
    """One request per row, as tritonclient sends it by default (binary tensors)."""
    import tritonclient.http as triton

    client = triton.InferenceServerClient(f"127.0.0.1:{port}")
    rows = len(next(iter(columns.values())))
    for r in range(rows):
        inputs = []
        for name, values in columns.items():
            value = values[r : r + 1].reshape(1, 1)
            item = triton.InferInput(name, [1, 1], "BYTES" if value.dtype == object else "FP32")
            item.set_data_from_numpy(value)
            inputs.append(item)
        client.infer(MODEL, inputs, request_id=f"{prefix}-{r}")
    client.close()


def _send_json(port: int, columns: dict[str, np.ndarray], prefix: str) -> None:
    """One request per row as plain V2 JSON (a missing number sent as null)."""
    import httpx

    rows = len(next(iter(columns.values())))
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        for r in range(rows):
            inputs = []
            for name, values in columns.items():
                v = values[r]
                if values.dtype == object:
                    data: Any = v
                    dtype = "BYTES"
                else:
                    data, dtype = (None if math.isnan(v) else float(v)), "FP32"
                inputs.append({"name": name, "datatype": dtype, "shape": [1, 1], "data": [data]})
            answer = client.post(
                f"/v2/models/{MODEL}/infer", json={"id": f"{prefix}-{r}", "inputs": inputs}
            )
            answer.raise_for_status()


def _wait_logged(logs: Path, prefix: str, n: int, timeout: float = 120) -> None:
    """Until the ids ``prefix-0 .. prefix-(n-1)`` are all in the log (written in the background)."""
    want = {f"{prefix}-{i}" for i in range(n)}
    deadline = time.monotonic() + timeout
    seen: set[str] = set()
    while time.monotonic() < deadline:
        seen = set()
        for f in logs.rglob("*.jsonl"):
            for line in f.read_bytes().splitlines():
                try:
                    seen.add(json.loads(line)["id"])
                except (ValueError, KeyError, TypeError):
                    continue  # a line still being written
        if want <= seen:
            return
        time.sleep(0.1)
    raise SystemExit(f"{len(want & seen)} of {n} records of {prefix!r} logged in {timeout} s")


def _health(port: int) -> int:
    """The server's own readiness (``/v2/health/ready``): 200, or 503 when a model is not."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def _serve_phase(
    work: Path, columns: dict[str, np.ndarray], prefix: str, send: Any, logs_as: str
) -> tuple[Path, float, int]:
    """Serve, send one window of traffic, wait for its records, stop; move the log aside.

    Returns the log's new folder, the seconds taken (the server's start included) and the
    server's ``/v2/health/ready`` status, since the folders moved aside stay in the repository.
    """
    models = work / "models"
    started = time.perf_counter()
    with _server(models, work.parent / "serve.log") as port:
        health = _health(port)
        send(port, columns, prefix)
        _wait_logged(models / "_logs", prefix, len(next(iter(columns.values()))))
    took = time.perf_counter() - started
    target = models / logs_as
    (models / "_logs").rename(target)
    return target, took, health


def _monitor(work: Path, logs: Path, out: Path, truth: Path | None) -> dict[str, Any]:
    args = [*MLRAIL, "monitor", "--workdir", str(work), "--logs", str(logs), "--model", MODEL,
            "--window", "1h", "--output", str(out)]  # fmt: skip
    if truth is not None:
        args += ["--ground-truth", str(truth)]
    started = time.perf_counter()
    done = subprocess.run(args, cwd=work.parent, capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    document = out / "anomalies" / "anomalies.json"
    return {
        "exit": done.returncode,
        "seconds": took,
        "stdout": done.stdout,
        "stderr": done.stderr,
        "anomalies": json.loads(document.read_text("utf-8")) if document.exists() else None,
    }


# -- hand computations (copied from tests/components/monitor/test_served.py: bench never
#    imports tests) --------------------------------------------------------------------------


def _hand_l_infinity(train: list[Any], served: list[Any]) -> float:
    def freq(values: list[Any]) -> dict[Any, float]:
        present = [v for v in values if v is not None]
        return {k: present.count(k) / len(present) for k in set(present)}

    a, b = freq(train), freq(served)
    return max(abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in set(a) | set(b))


def _hand_jensen_shannon(train: list[Any], served: list[Any], buckets: int = 10) -> float:
    """TFDV's Jensen-Shannon divergence (base 2) of two standard histograms (equal-width buckets
    over each side's own min and max), counted here from the raw values: both sides rebucketed
    onto the union of their edges, a bucket's count spread evenly over its width."""

    def histogram(values: list[Any]) -> tuple[np.ndarray, np.ndarray]:
        x = np.array([v for v in values if v is not None], dtype=np.float64)
        return np.histogram(x, bins=buckets, range=(x.min(), x.max()))

    (ca, ea), (cb, eb) = histogram(train), histogram(served)
    edges = np.union1d(ea, eb)

    def rebucket(counts: np.ndarray, own: np.ndarray) -> np.ndarray:
        out = np.zeros(len(edges) - 1)
        for count, lo, hi in zip(counts, own[:-1], own[1:], strict=True):
            for j, (a, b) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
                overlap = max(0.0, min(b, hi) - max(a, lo))
                out[j] += count * overlap / (hi - lo)
        return out

    p, q = rebucket(ca, ea), rebucket(cb, eb)
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(x: np.ndarray) -> float:
        keep = (x > 0) & (m > 0)
        return float(np.sum(x[keep] * np.log2(x[keep] / m[keep])))

    return min((kl(p) + kl(q)) / 2, 1.0)


# -- tables ---------------------------------------------------------------------------------


def _fmt(v: Any, digits: int = 6) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.{digits}f}" if abs(v) >= 1e-4 or v == 0 else f"{v:.2e}"
    return str(v)


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join("  " + ln for ln in lines)


def _served_values(columns: dict[str, np.ndarray], name: str) -> list[Any]:
    """What the server received for one input, as raw values (missing as None)."""
    values = columns[name]
    if values.dtype == object:
        return [None if v == "" else v for v in values]
    return [None if math.isnan(v) else float(v) for v in values]


def _print_phase(
    title: str,
    result: dict[str, Any],
    hand: dict[str, float],
    eval_accuracy: float,
) -> None:
    doc = result["anomalies"]
    print(f"\n== phase {title}: mlrail monitor exit {result['exit']} ({result['seconds']:.1f} s)")
    print("   stdout:")
    print("\n".join("     " + ln for ln in result["stdout"].rstrip().splitlines()))
    if doc is None:
        print(f"   no anomalies.json; stderr: {result['stderr'].strip()}")
        return
    [v] = doc["versions"]
    print(f"   rows {v['rows']}, healthy {doc['healthy']}, version {v['version']}")
    rows = [
        [c["feature"], c["measure"], _fmt(c["value"]), _fmt(c["threshold"]), c["test"] or "-",
         _fmt(c["p_value"], 4), _fmt(c["exceeded"]),
         _fmt(hand.get(c["feature"])) if c["feature"] in hand else ""]
        for c in v["skew"]
    ]  # fmt: skip
    print("\n   serving skew (monitor's anomalies.json; hand = computed here from the raw rows)")
    print(
        _table(
            ["feature", "measure", "value", "threshold", "test", "p-value", "exceeded", "hand"],
            rows,
        )
    )
    for feature, value in hand.items():
        got = {c["feature"]: c["value"] for c in v["skew"]}.get(feature)
        diff = "-" if got is None else f"{abs(got - value):.1e}"
        print(f"   {feature}: |monitor - hand| = {diff}")
    print(f"   schema anomalies: {[(a['feature'], a['type']) for a in v['anomalies']] or 'none'}")
    print("\n   prediction drift (against the eval split's predictions)")
    print(
        _table(
            ["output", "measure", "value", "threshold", "test", "p-value", "exceeded"],
            [
                [
                    c["feature"],
                    c["measure"],
                    _fmt(c["value"]),
                    _fmt(c["threshold"]),
                    c["test"] or "-",
                    _fmt(c["p_value"], 4),
                    _fmt(c["exceeded"]),
                ]
                for c in v["drift"]
            ],  # fmt: skip
        )
    )
    est = v["estimated_accuracy"] or {}
    realized = (v["realized"] or {}).get("accuracy")
    print("\n   accuracy")
    print(
        _table(
            ["estimated (no labels)", "95% interval", "realized (labels)", "eval (evaluate)",
             "eval (monitor)", "performance drop"],
            [[_fmt(est.get("value")), f"[{_fmt(est.get('low'))}, {_fmt(est.get('high'))}]",
              _fmt(realized), _fmt(eval_accuracy), _fmt(v["eval_accuracy"]),
              _fmt(v["performance_drop"])]],
        )
    )  # fmt: skip


def _alerts(doc: dict[str, Any] | None) -> str:
    """Which checks alerted in a window's anomalies.json."""
    if doc is None:
        return "no anomalies.json"
    found = []
    for v in doc["versions"]:
        skew = [c["feature"] for c in v["skew"] if c["exceeded"]]
        drift = [c["feature"] for c in v["drift"] if c["exceeded"]]
        if skew:
            found.append("skew " + ",".join(skew))
        # the comparators' own anomalies repeat the skew above; the rest are the schema's checks
        schema = [
            f"{a['feature']}:{a['type']}"
            for a in v["anomalies"]
            if not a["type"].startswith("COMPARATOR_")
        ]
        if schema:
            found.append("schema " + ",".join(schema))
        if drift:
            found.append("drift " + ",".join(drift))
        if v["performance_drop"]:
            found.append("performance drop")
    return "; ".join(found) or "-"


def _closest_skew(doc: dict[str, Any] | None) -> str:
    """The input whose skew came closest to its threshold (value / threshold), as measured."""
    if doc is None or not doc["versions"]:
        return "-"
    measured = [c for c in doc["versions"][0]["skew"] if c["value"] is not None and c["threshold"]]
    if not measured:
        return "-"
    c = max(measured, key=lambda c: c["value"] / c["threshold"])
    return f"{c['feature']} {_fmt(c['value'], 4)}/{_fmt(c['threshold'], 4)}"


def _closest_drift(doc: dict[str, Any] | None) -> str:
    """The drift comparison closest to its threshold (value / threshold), as measured."""
    if doc is None or not doc["versions"]:
        return "-"
    v = doc["versions"][0]
    parts = [
        f"{c['feature']} {_fmt(c['value'], 4)}/{_fmt(c['threshold'], 4)}"
        for c in v["drift"]
        if c["value"] is not None
    ]
    return ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", help="working folder to keep (default: a temporary one)")
    parser.add_argument("--windows", type=int, default=20, help="unshifted windows (default 20)")
    parser.add_argument("--window-rows", type=int, default=200, help="requests per window")
    a = parser.parse_args()
    root = Path(a.keep or tempfile.mkdtemp(prefix="mlrail-monitoring-")).resolve()
    root.mkdir(parents=True, exist_ok=True)
    work = root / "work"
    try:
        _walk(root, work, a.windows, a.window_rows)
    finally:
        if not a.keep:
            shutil.rmtree(root, ignore_errors=True)


def _walk(root: Path, work: Path, windows: int, window_rows: int) -> None:
    started = time.perf_counter()
    done = subprocess.run(
        [*MLRAIL, "run", "--workdir", str(work)],
        cwd=root, capture_output=True, text=True, check=False,
    )  # fmt: skip
    print(f"== mlrail run --workdir {work}: exit {done.returncode} "
          f"({time.perf_counter() - started:.1f} s)")  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(done.stdout[-3000:] + done.stderr[-3000:])
    logging_json = work / "models" / MODEL / "logging.json"
    print(f"   deploy wrote {logging_json.name}: {json.loads(logging_json.read_text('utf-8'))}")
    logging_json.write_text('{"sample_rate": 1.0}\n', "utf-8")
    print('   rewritten to {"sample_rate": 1.0}: every request of these figures is logged')

    [run] = sorted((work / "pipeline_root").iterdir())
    train = pq.read_table(run / "ingest" / "examples" / "train")
    evalrows = pq.read_table(run / "ingest" / "examples" / "eval")
    eval_accuracy = float(
        json.loads((run / "evaluate" / "metrics").read_text("utf-8"))["metrics"]["accuracy"]
    )
    [version] = sorted(p for p in (work / "models" / MODEL).iterdir() if p.name.isdigit())
    spec = json.loads((version / "model_spec.json").read_text("utf-8"))
    print(f"   rows: train {train.num_rows}, eval {evalrows.num_rows}; eval accuracy "
          f"{eval_accuracy:.4f}; served version {version.name}")  # fmt: skip

    # (a) the eval split as it is; (b) one number scaled, one category remapped
    plain = _columns(spec["inputs"], evalrows)
    moved = {k: v.copy() for k, v in plain.items()}
    moved[SCALED] = (moved[SCALED] * np.float32(1.5)).astype(np.float32)
    moved[REMAPPED] = np.array(
        ["Biscoe" if v == "Dream" else v for v in moved[REMAPPED]], dtype=object
    )
    labels = evalrows.column(LABEL).to_pylist()
    phases = [
        ("a", "unshifted eval rows, tritonclient (binary tensors)", plain, _send_triton),
        ("b", f"{SCALED} x 1.5, island Dream -> Biscoe, plain V2 JSON", moved, _send_json),
    ]
    train_island = train.column(REMAPPED).to_pylist()
    train_mass = train.column(SCALED).to_pylist()
    results = {}
    for name, what, columns, send in phases:
        logs, took, health = _serve_phase(work, columns, name, send, f"_logs-{name}")
        truth = root / f"truth-{name}.csv"
        truth.write_text(
            "id,species\n" + "".join(f"{name}-{i},{v}\n" for i, v in enumerate(labels)), "utf-8"
        )
        print(f"\n== phase {name} ({what}): {evalrows.num_rows} requests served and logged "
              f"({took:.1f} s with the server's start), log in "
              f"{logs.relative_to(root)}; the server's /v2/health/ready said "
              f"{health}")  # fmt: skip
        result = _monitor(work, logs, root / f"monitor-{name}", truth)
        hand = {
            REMAPPED: _hand_l_infinity(train_island, _served_values(columns, REMAPPED)),
            SCALED: _hand_jensen_shannon(train_mass, _served_values(columns, SCALED)),
        }
        _print_phase(name, result, hand, eval_accuracy)
        results[name] = result

    # false alarms: unshifted windows drawn from the training rows
    print(f"\n== false alarms: {windows} unshifted windows of {window_rows} single-row requests "
          "drawn with replacement from the TRAIN split (seed 1000 + window)")  # fmt: skip
    train_columns = _columns(spec["inputs"], train)
    rows = []
    alerted = 0
    seconds: list[float] = []
    healths: list[int] = []
    for w in range(windows):
        pick = np.random.default_rng(1000 + w).integers(0, train.num_rows, window_rows)
        columns = {k: v[pick] for k, v in train_columns.items()}
        logs, _, health = _serve_phase(work, columns, f"w{w}", _send_triton, f"_logs-w{w:02d}")
        healths.append(health)
        result = _monitor(work, logs, root / f"monitor-w{w:02d}", None)
        seconds.append(result["seconds"])
        alerted += result["exit"] == 1
        doc = result["anomalies"]
        est = (doc["versions"][0]["estimated_accuracy"] or {}) if doc and doc["versions"] else {}
        rows.append(
            [str(w), str(1000 + w), str(result["exit"]), _alerts(doc),
             _closest_skew(doc), _closest_drift(doc),
             _fmt(est.get("value"), 4), f"{result['seconds']:.1f}"]
        )  # fmt: skip
        if result["exit"] not in (0, 1):
            rows[-1][3] = (result["stderr"].strip().splitlines() or ["?"])[-1]
    print(
        _table(
            ["window", "seed", "exit", "alerted checks", "skew nearest its threshold",
             "drift value/threshold",
             "est. accuracy", "monitor s"],
            rows,
        )
    )  # fmt: skip
    print(f"\n   windows that alert (exit 1): {alerted} of {windows} = {alerted / windows:.1%}")
    print(
        "   the server's /v2/health/ready at each window's start: "
        + ", ".join(f"{h} x{healths.count(h)}" for h in sorted(set(healths)))
    )
    if 503 in healths:
        print(
            "   (503: the log folders moved aside under models/ are scanned as models with no"
            " version; penguins itself was ready and answered every request)"
        )

    print("\n== monitor wall times (each a fresh `mlrail monitor` process)")
    for name in results:
        print(f"   phase {name}: {results[name]['seconds']:.1f} s")
    print(f"   false-alarm windows: min {min(seconds):.1f} s, median "
          f"{float(np.median(seconds)):.1f} s, max {max(seconds):.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
