"""TFDV's side of tfdv_check.py: run in the TFDV venv, on the artifacts mlrail made in WORK.

    <tfdv-venv>/bin/python tests/compat/tfdv_side.py WORK

Imports TFDV, tensorflow-metadata, pyarrow and pandas only, never mlrail: it reads mlrail's
files as a TFDV user would. WORK's layout is tfdv_check.py's. Prints two tables (what TFDV does
with the artifacts; mlrail's figures against TFDV's own) and a closing ``N passed, M failed``
line; exits 1 when anything failed.

Tolerances, for the same rows:

- from a DataFrame (``generate_statistics_from_dataframe``; float64 values, as mlrail reads
  them): counts, min, max, zeros, unique and top values exact; mean, std_dev and avg_length
  within 1e-9 relative (both sides sum float64 values, in another order);
- from the CSV (``generate_statistics_from_csv``, for the ``validate`` run): TFDV's CSV
  reader decodes FLOAT columns to float32 (tf.Example's ``float_list``), so a FLOAT feature's
  min and max must equal mlrail's rounded to float32, its mean be within
  2**-24 * max|x| / |mean| relative and its std_dev within 2**-24 * max|x| / std_dev
  relative (each value moves by at most 2**-24 * max|x|), plus 1e-9; the rest as above.
"""

from __future__ import annotations

import base64
import logging
import math
import re
import sys
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)  # Beam's and TFDV's start-up notes go nowhere

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.csv as pacsv  # noqa: E402
import tensorflow_data_validation as tfdv  # noqa: E402
from tensorflow_data_validation.utils import anomalies_util, display_util  # noqa: E402
from tensorflow_metadata.proto.v0 import anomalies_pb2, statistics_pb2  # noqa: E402

REL = 1e-9
F32 = 2.0**-24  # float32's unit roundoff
STATS_FILE, ANOMALIES_FILE = "FeatureStats.pb", "SchemaDiff.pb"
_Type = statistics_pb2.FeatureNameStatistics.Type
Stats = statistics_pb2.DatasetFeatureStatisticsList

# (table, where, what, mlrail, TFDV, tolerance, passed)
Row = tuple[str, str, str, str, str, str, bool]
rows: list[Row] = []
ARTIFACTS, FIGURES = "artifacts", "figures"


def check(kind: str, where: str, what: str, ours: object, theirs: object, tol: str, ok: bool):
    rows.append((kind, where, what, str(ours), str(theirs), tol, bool(ok)))


def attempt(where: str, what: str, fn: Callable[[], object]) -> object | None:
    """``fn()``; a failed row naming the exception when it raises (TFDV refused the file)."""
    try:
        return fn()
    except Exception as e:
        check(ARTIFACTS, where, what, "", f"{type(e).__name__}: {e}"[:160], "no error", False)
        return None


def split_files(folder: Path, name: str) -> dict[str, Path]:
    """``{split: folder/Split-<split>/name}`` for every split folder holding ``name``."""
    found = sorted(folder.glob(f"Split-*/{name}"))
    return {p.parent.name.removeprefix("Split-"): p for p in found}


def anomaly_kinds(a: anomalies_pb2.Anomalies) -> dict[str, str]:
    """Each feature's anomaly types, sorted and joined by ``,`` (the dataset's as
    ``(dataset)``)."""

    def names(reasons: object) -> str:
        return ",".join(sorted(anomalies_pb2.AnomalyInfo.Type.Name(r.type) for r in reasons))

    out = {name: names(info.reason) for name, info in a.anomaly_info.items()}
    if a.HasField("dataset_anomaly_info"):
        out["(dataset)"] = names(a.dataset_anomaly_info.reason)
    return out


def shown(html: str) -> Stats:
    """The statistics a ``get_statistics_html`` page hands to Facets Overview."""
    found = re.search(r'proto-input="([^"]+)"', html)
    return Stats.FromString(base64.b64decode(found.group(1))) if found else Stats()


def _features(s: Stats) -> list[list[str]]:
    return [[f.path.step[0] for f in d.features] for d in s.datasets]


def load_stats(run: str, folder: Path) -> dict[str, Stats]:
    """Every split's FeatureStats.pb, loaded as TFX does (``load_stats_binary``) and shown."""
    files = split_files(folder, STATS_FILE)
    listed = ", ".join(f"Split-{s}" for s in files) or "none"
    if not files and (folder / "statistics.pb").exists():  # mlrail before TFX's layout
        listed += " (statistics.pb: the layout before TFX's)"
    check(ARTIFACTS, run, f"{folder.name}/Split-*/{STATS_FILE}", listed, "", "found", files)
    out = {}
    for split, path in files.items():
        where = f"{run} Split-{split}"
        what = f"load_stats_binary({STATS_FILE})"
        stats = attempt(where, what, lambda p=path: tfdv.load_stats_binary(str(p)))
        if not isinstance(stats, Stats):
            continue
        names = [d.name for d in stats.datasets]
        n = len(stats.datasets[0].features) if names else 0
        desc = f"datasets {names}, {n} features"
        check(ARTIFACTS, where, what, desc, "loaded", "one dataset", len(names) == 1)
        if not names:
            continue
        out[split] = stats
        html = attempt(where, "get_statistics_html", lambda s=stats: tfdv_html(s))
        if isinstance(html, str):
            page = shown(html)
            ok = _features(page) == _features(stats) and len(page.datasets) == 1
            desc = f"{len(html)} chars, Facets gets {len(page.datasets)} dataset"
            check(ARTIFACTS, where, "get_statistics_html", f"{n} features", desc, "all shown", ok)
    if len(out) >= 2:  # TFDV's side-by-side page: the first split against the second
        (a, sa), (b, sb) = list(out.items())[:2]
        what = f"get_statistics_html({a} vs {b})"
        html = attempt(run, what, lambda: tfdv_html(sa, sb, a, b))
        if isinstance(html, str):
            page = shown(html)
            desc = f"Facets gets {[d.name for d in page.datasets]}"
            ok = _features(page) == _features(sa) + _features(sb)
            check(ARTIFACTS, run, what, f"{a}, {b}", desc, "both shown", ok)
    return out


def tfdv_html(lhs: Stats, rhs: Stats | None = None, a: str = "lhs", b: str = "rhs") -> str:
    return display_util.get_statistics_html(lhs, rhs, lhs_name=a, rhs_name=b)


def validate(
    run: str, stats: dict[str, Stats], work: Path, schema_file: str, anomalies_dir: Path
) -> None:
    """TFDV's validate_statistics against mlrail's schema (``work/schema_file``), beside
    mlrail's SchemaDiff.pb."""
    what = "load_schema_text"
    schema = attempt(run, what, lambda: tfdv.load_schema_text(str(work / schema_file)))
    if schema is None:
        return
    n = len(schema.feature)
    check(ARTIFACTS, run, what, schema_file, f"{n} features", "loads", True)
    diffs = split_files(anomalies_dir, ANOMALIES_FILE)
    for split, s in stats.items():
        where = f"{run} Split-{split}"
        found = attempt(
            where, "validate_statistics", lambda s=s: tfdv.validate_statistics(s, schema)
        )
        if not isinstance(found, anomalies_pb2.Anomalies):
            continue
        path = diffs.get(split)
        if path is None:
            check(
                ARTIFACTS,
                where,
                ANOMALIES_FILE,
                "absent",
                anomaly_kinds(found),
                "present",
                False,
            )
            continue
        what = f"load_anomalies_binary({ANOMALIES_FILE})"
        ours = attempt(where, what, lambda p=path: anomalies_util.load_anomalies_binary(str(p)))
        if not isinstance(ours, anomalies_pb2.Anomalies):
            continue
        # one row a feature: what mlrail's SchemaDiff.pb says, what TFDV found
        mine, theirs = anomaly_kinds(ours), anomaly_kinds(found)
        what = "validate_statistics vs SchemaDiff"
        for feature in sorted(mine.keys() | theirs.keys()):
            a, b = mine.get(feature, "none"), theirs.get(feature, "none")
            check(ARTIFACTS, where, f"{what}: {feature}", a, b, "same types", a == b)
        if not mine and not theirs:
            check(ARTIFACTS, where, what, "no anomaly", "no anomaly", "same", True)
        table = attempt(
            where, "get_anomalies_dataframe", lambda o=ours: display_util.get_anomalies_dataframe(o)
        )
        if table is not None:
            k = len(ours.anomaly_info)
            desc = f"{len(table)} rows"
            check(
                ARTIFACTS, where, "get_anomalies_dataframe", k, desc, "a row each", len(table) == k
            )


# ---------------------------------------------------------------------------------------------
# figures


def _float(x: float) -> str:
    return repr(float(x))


def _rel(a: float, b: float) -> float:
    scale = max(abs(a), abs(b))
    return abs(a - b) / scale if scale else 0.0


def _common(f: statistics_pb2.FeatureNameStatistics) -> statistics_pb2.CommonStatistics:
    return f.num_stats.common_stats if f.HasField("num_stats") else f.string_stats.common_stats


def _top(values: list[tuple[str, float]]) -> str:
    return " ".join(f"{v}:{f:g}" for v, f in values)


def figures(
    where: str,
    ours: statistics_pb2.DatasetFeatureStatistics,
    theirs: statistics_pb2.DatasetFeatureStatistics,
    float32: bool = False,
) -> None:
    """mlrail's figures against TFDV's for the same rows, feature by feature.

    ``float32``: TFDV read FLOAT values as float32 (its CSV reader): the module doc's bounds.
    """

    def exact(what: str, a: object, b: object) -> None:
        check(FIGURES, where, what, a, b, "exact", a == b)

    def close(what: str, a: float, b: float, bound: float = REL) -> None:
        r = _rel(a, b)
        ok = math.isfinite(r) and r <= bound
        check(FIGURES, where, what, _float(a), _float(b), f"rel {r:.1e} <= {bound:.1e}", ok)

    exact("num_examples", ours.num_examples, theirs.num_examples)
    mine = {f.path.step[0]: f for f in ours.features}
    tf = {f.path.step[0]: f for f in theirs.features}
    for name in sorted(mine.keys() | tf.keys()):
        a, b = mine.get(name), tf.get(name)
        if a is None or b is None:
            check(FIGURES, where, f"{name}: present", a is not None, b is not None, "both", False)
            continue
        exact(f"{name}: type", _Type.Name(a.type), _Type.Name(b.type))
        for q in ("num_non_missing", "num_missing"):
            exact(f"{name}: {q}", getattr(_common(a), q), getattr(_common(b), q))
        if a.HasField("num_stats") and b.HasField("num_stats"):
            na, nb = a.num_stats, b.num_stats
            f32 = float32 and a.type == _Type.FLOAT
            for q in ("min", "max"):
                va, vb = getattr(na, q), getattr(nb, q)
                if f32:
                    rounded = float(np.float32(va))
                    check(
                        FIGURES,
                        where,
                        f"{name}: {q}",
                        _float(va),
                        _float(vb),
                        f"= float32(mlrail) {rounded!r}",
                        rounded == vb,
                    )
                else:
                    check(FIGURES, where, f"{name}: {q}", _float(va), _float(vb), "exact", va == vb)
            exact(f"{name}: num_zeros", na.num_zeros, nb.num_zeros)
            top = max(abs(na.min), abs(na.max))
            for q in ("mean", "std_dev"):
                va, vb = getattr(na, q), getattr(nb, q)
                bound = REL + (F32 * top / abs(va) if f32 and va else 0.0)
                close(f"{name}: {q}", va, vb, bound)
        elif a.HasField("string_stats") and b.HasField("string_stats"):
            sa, sb = a.string_stats, b.string_stats
            exact(f"{name}: unique", sa.unique, sb.unique)
            close(f"{name}: avg_length", sa.avg_length, sb.avg_length)
            ta = [(v.value, v.frequency) for v in sa.top_values]
            tb = [(v.value, v.frequency) for v in sb.top_values]
            check(
                FIGURES,
                where,
                f"{name}: top_values",
                _top(ta),
                _top(tb),
                "exact, in order",
                ta == tb,
            )
        else:
            kinds = a.WhichOneof("stats"), b.WhichOneof("stats")
            check(FIGURES, where, f"{name}: stats", *kinds, "same kind", False)


def dataframe(csv: Path) -> pd.DataFrame:
    """The rows mlrail wrote, as mlrail read them: float64, int64 with nulls, text with nulls.

    An empty unquoted cell is a null (pyarrow writes nulls so); a quoted one an empty string.
    """
    options = pacsv.ConvertOptions(strings_can_be_null=True, quoted_strings_can_be_null=False)
    table = pacsv.read_csv(str(csv), convert_options=options)
    return table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)


def compare(run: str, split: str, stats: Stats, csv: Path, from_csv: bool) -> None:
    """mlrail's figures of a split against TFDV's of its rows (a DataFrame; also the CSV)."""
    where = f"{run} Split-{split}"
    what = "generate_statistics_from_dataframe"
    theirs = attempt(where, what, lambda: tfdv.generate_statistics_from_dataframe(dataframe(csv)))
    if isinstance(theirs, Stats):
        figures(f"{where} (DataFrame)", stats.datasets[0], theirs.datasets[0])
    if from_csv:
        what = f"generate_statistics_from_csv({csv.name})"
        theirs = attempt(where, what, lambda: tfdv.generate_statistics_from_csv(str(csv)))
        if isinstance(theirs, Stats):
            figures(f"{where} (CSV)", stats.datasets[0], theirs.datasets[0], float32=True)


def table(title: str, kind: str) -> None:
    head = ("where", "what", "mlrail", "TFDV 1.16.1", "tolerance", "result")
    body = [(*r[1:6], "PASS" if r[6] else "FAIL") for r in rows if r[0] == kind]
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(6)]
    print(f"\n{title}\n")
    for line in [head, tuple("-" * w for w in widths), *body]:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


def main() -> int:
    work = Path(sys.argv[1])
    runs = {  # run: (its folder, the schema checked against, rows compared, also from the CSV)
        "validate": (work / "cli", "cli/schema/schema.pbtxt", True, True),
        "pipeline": (work / "pipeline", "pipeline/schema/schema.pbtxt", True, False),
        "broken": (work / "broken", "schema.pbtxt", False, False),  # mlrail schema's
    }
    for run, (out, schema, rows_compared, from_csv) in runs.items():
        stats = load_stats(run, out / "statistics")
        validate(run, stats, work, schema, out / "anomalies")
        if rows_compared:
            for split, s in stats.items():
                compare(run, split, s, work / "rows" / f"{split}.csv", from_csv)
    table("TFDV reads mlrail's artifacts", ARTIFACTS)
    table("mlrail's figures against TFDV's own, same rows", FIGURES)
    failed = sum(not r[6] for r in rows)
    print(f"\n{len(rows) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:  # a crash is not a failed check: tfdv_check.py tells them apart
        traceback.print_exc()
        sys.exit(2)
