"""TFDV 1.16.1 reads mlrail's statistics, schema and anomalies as they are, and agrees on figures.

    python tests/compat/tfdv_check.py [--venv /tmp/mlrail-tfdv-venv] [--work DIR]

Not part of the default test run (pytest collects ``test_*.py`` only): it installs TensorFlow
Data Validation and its Apache Beam stack in a virtual environment of its own (Python 3.11,
the pins in :data:`PINS`; reused when it already has exactly those versions), since TFDV cannot
share mlrail's environment (it caps protobuf, pyarrow and pandas far below mlrail's).

Steps:

1. mlrail (its own venv, ``<repo>/.venv``) makes the artifacts: ``mlrail validate`` on the
   bundled penguins (one dataset, ``data``); ingest + validate, the pipeline's components, on
   the same file (splits ``train`` and ``eval``); and ``mlrail validate --schema`` of a copy
   with broken rows against ``mlrail schema``'s schema of the file (so there are anomalies to
   agree on). It
   also writes each dataset's rows, as mlrail read them, to a CSV (nulls as empty cells, which
   is what TFDV's CSV reader takes as missing; the bundled file says ``NA``).
2. In the TFDV venv, :mod:`tfdv_side` loads each ``Split-<split>/FeatureStats.pb`` with
   ``tfdv.load_stats_binary``, renders it with ``get_statistics_html``, validates it against
   mlrail's ``schema.pbtxt`` (``tfdv.load_schema_text``, ``tfdv.validate_statistics``) and
   compares the anomalies with mlrail's ``Split-<split>/SchemaDiff.pb``; then computes TFDV's
   own statistics of each CSV (``tfdv.generate_statistics_from_csv``) and compares them with
   mlrail's feature by feature.

Prints a table (check or feature x quantity, both values, PASS/FAIL) and a closing
``N passed, M failed`` line; exits 1 on any failure, 2 when the environment cannot be made.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: only mlrail's side has pyarrow
    import pyarrow as pa

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

#: What the TFDV environment holds: TFDV 1.16.1 and the versions it installs with on 3.11.
PINS = {
    "tensorflow-data-validation": "1.16.1",
    "tfx-bsl": "1.16.1",
    "tensorflow": "2.16.2",
    "tensorflow-serving-api": "2.16.1",
    "tensorflow-metadata": "1.16.1",
    "apache-beam[gcp]": "2.61.0",
    "protobuf": "4.25.5",
    "pandas": "1.5.3",
    "pyarrow": "10.0.1",
}
PYTHON = "python3.11"

#: Rows of the broken copy: (row index, column, value). Values outside the schema's domains
#: (text, an integer and a float range) and a species missing where the schema wants it.
BROKEN = [
    (0, "island", "Atlantis"),
    (1, "island", "Atlantis"),
    (2, "species", None),
    (5, "body_mass_g", -5),
    (6, "bill_length_mm", 100.5),
    (7, "sex", "unknown"),
]


def _run(cmd: list[str], what: str, ok: tuple[int, ...] = (0,), cwd: Path | None = None) -> int:
    """Run ``cmd`` in ``cwd``; exit 2 naming ``what`` (and showing its output) unless it ends
    in ``ok``."""
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    if done.returncode not in ok:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"tfdv_check: {what} failed (exit {done.returncode}): {' '.join(cmd)}")
    return int(done.returncode)


def _installed(python: Path) -> dict[str, str]:
    """The versions of :data:`PINS`' distributions installed for ``python`` ("" if absent)."""
    names = [p.split("[")[0] for p in PINS]
    code = (
        "import json, sys\nfrom importlib import metadata\nout = {}\n"
        "for n in sys.argv[1:]:\n"
        "    try: out[n] = metadata.version(n)\n"
        "    except metadata.PackageNotFoundError: out[n] = ''\n"
        "print(json.dumps(out))"
    )
    done = subprocess.run([str(python), "-c", code, *names], capture_output=True, text=True)
    return json.loads(done.stdout) if done.returncode == 0 else {}


def ensure_venv(venv: Path) -> Path:
    """The TFDV venv's python: made with Python 3.11 and :data:`PINS` unless it has them."""
    python = venv / "bin" / "python"
    wanted = {p.split("[")[0]: v for p, v in PINS.items()}
    if python.exists() and _installed(python) == wanted:
        print(f"TFDV venv: {venv} (reused: it has exactly the pinned versions)")
        return python
    if not python.exists():
        _run([PYTHON, "-m", "venv", str(venv)], f"making the venv with {PYTHON}")
    print(f"TFDV venv: {venv}: installing {len(PINS)} pins (several minutes)...", flush=True)
    _run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"], "upgrading pip")
    pins = [f"{name}=={version}" for name, version in PINS.items()]
    _run([str(python), "-m", "pip", "install", "-q", *pins], "installing the TFDV pins")
    have = _installed(python)
    if have != wanted:
        raise SystemExit(f"tfdv_check: the venv has {have}, not the pins {wanted}")
    return python


# ---------------------------------------------------------------------------------------------
# mlrail's side: run with mlrail's own python (imports mlrail)


def _write_rows(table: pa.Table, path: Path) -> None:
    """``table``'s rows as CSV, dictionary columns decoded and nulls as empty cells."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    columns = [
        c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in table.columns
    ]
    pacsv.write_csv(pa.table(columns, names=table.column_names), str(path))


def mlrail_side(work: Path) -> None:
    """The pipeline's ingest + validate on the bundled penguins, the broken copy, and the rows
    of every dataset as CSV under ``work/rows``."""
    import pyarrow as pa

    from mlrail.artifacts.examples import read_split, split_names
    from mlrail.components.ingest.core import ingest
    from mlrail.components.validate.core import validate
    from mlrail.sources import read_table, resolve_source

    rows = work / "rows"
    rows.mkdir(parents=True, exist_ok=True)
    penguins = resolve_source("bundled:penguins")
    table, _ = read_table(penguins)
    _write_rows(table, rows / "data.csv")

    examples, pipeline = work / "examples", work / "pipeline"
    ingest("bundled:penguins", str(examples))
    # as the pipeline does: eval is checked against the schema inferred from train
    validate(examples, pipeline / "statistics", pipeline / "schema", pipeline / "anomalies")
    for split in split_names(examples):
        _write_rows(read_split(examples / split), rows / f"{split}.csv")

    broken = table.to_pylist()
    for row, column, value in BROKEN:
        broken[row][column] = value
    _write_rows(pa.Table.from_pylist(broken, schema=table.schema), work / "broken.csv")


# ---------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--venv",
        type=Path,
        default=Path(tempfile.gettempdir()) / "mlrail-tfdv-venv",
        help="the TFDV virtual environment, made when missing (default: /tmp/mlrail-tfdv-venv)",
    )
    parser.add_argument(
        "--mlrail-venv",
        type=Path,
        default=ROOT / ".venv",
        help="mlrail's environment, whose mlrail makes the artifacts (default: <repo>/.venv)",
    )
    parser.add_argument(
        "--work", type=Path, default=None, help="where the artifacts go (default: a new temp dir)"
    )
    parser.add_argument("--mlrail-side", type=Path, help=argparse.SUPPRESS)  # internal role
    a = parser.parse_args()
    if a.mlrail_side is not None:
        mlrail_side(a.mlrail_side)
        return 0

    work = (a.work or Path(tempfile.mkdtemp(prefix="mlrail-tfdv-check-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    python = ensure_venv(a.venv.absolute())
    venv = a.mlrail_venv.absolute()
    mlrail_python, mlrail = venv / "bin" / "python", venv / "bin" / "mlrail"
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    where = subprocess.run(
        [str(mlrail_python), "-c", "import mlrail; print(mlrail.__file__)"],
        capture_output=True,
        text=True,
        cwd=work,  # not the working folder: python -c puts it first on sys.path
    ).stdout.strip()
    print(
        f"mlrail: {ROOT} at {commit or '?'} (imported from {where}); artifacts in {work}",
        flush=True,
    )

    penguins = ROOT / "mlrail" / "data" / "penguins.csv"
    _run(
        [str(mlrail), "validate", str(penguins), "--out", str(work / "cli")],
        "mlrail validate",
        cwd=work,
    )
    _run(
        [str(mlrail_python), __file__, "--mlrail-side", str(work)],
        "mlrail ingest + validate",
        cwd=work,
    )
    # a schema for a person to curate: with the numbers' observed ranges, which the broken
    # copy leaves
    schema = work / "schema.pbtxt"
    _run([str(mlrail), "schema", str(penguins), "-o", str(schema)], "mlrail schema", cwd=work)
    args = [str(work / "broken.csv"), "--schema", str(schema), "--out", str(work / "broken")]
    # exit 1: the broken rows are found (what is found is compared below, not assumed)
    _run([str(mlrail), "validate", *args], "mlrail validate --schema", ok=(0, 1), cwd=work)

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
    with open(work / "tfdv.log", "w") as log:
        done = subprocess.run(
            [str(python), str(HERE / "tfdv_side.py"), str(work)], stderr=log, env=env, cwd=work
        )
    if done.returncode not in (0, 1):  # 1: a check failed; anything else: it did not finish
        sys.stderr.write((work / "tfdv.log").read_text()[-6000:])
        print(f"tfdv_check: the TFDV side crashed (exit {done.returncode}); log: {work}/tfdv.log")
        return 2
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
