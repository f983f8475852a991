"""``mlrail doctor`` without a cluster: versions against the installed mlrail's ranges, and the
KFP API's version from a real HTTP server.

The version tests pass their own lookup (``installed``) and metadata (``requirements``) to
:func:`check_environment`, or replace :func:`installed_version` for the CLI: no library is
patched. One test runs on this very environment and must pass (CI installs constraints.txt,
which is inside every range). The KFP tests use a real HTTP server answering ``/healthz`` as the
KFP API server does (kubeflow/pipelines backend/src/apiserver/main.go writes
``{"commit_sha", "tag_name", "multi_user"}`` by hand), and the fake KFP API of tests/kfp_api,
whose answer (the generated model) has no version.
"""

from __future__ import annotations

import json
import shlex
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mlrail.cli import main
from mlrail.doctor import environment
from mlrail.doctor.environment import SERVING, check_environment
from mlrail.doctor.report import exit_status
from tests.kfp_api.fake_server import FakeKfpServer
from tests.serving.test_slim_install import REQUIREMENTS, SlimEnv, _clean_env
from tests.serving.test_slim_install import slim as slim  # the fixture: its venv, made here too

# What mlrail's metadata says, as importlib.metadata gives it (a subset, same shapes)
REQUIRES = [
    "kfp<3,>=2.17",
    "kubernetes<31,>=30.1",
    "tensorflow-cpu<2.22,>=2.21",
    "keras<4,>=3.10",
    "tf2onnx<1.18,>=1.17",
    "onnxruntime>=1.20",
    "numpy>=1.26",
    "uvicorn<0.55,>=0.54",
    'uvloop>=0.19; sys_platform == "never"',
    'pytest>=8; extra == "dev"',
]
FULL = {
    "kfp": "2.17.3",
    "kubernetes": "30.1.0",
    "tensorflow-cpu": "2.21.0",
    "keras": "3.15.1",
    "tf2onnx": "1.17.0",
    "onnxruntime": "1.32.0",
    "numpy": "2.4.6",
    "uvicorn": "0.54.0",
}
SERVING_ONLY = {k: v for k, v in FULL.items() if k in ("onnxruntime", "numpy", "uvicorn")}


def _env(installed: dict[str, str], role: str = "auto", python: str = "3.11.7") -> Any:
    return check_environment(
        role,
        installed=installed.get,
        requirements=lambda: (">=3.11", REQUIRES),
        python=python,
    )


def _rows(env: Any) -> dict[str, Any]:
    return {c.name: c for c in env.checks}


def test_every_base_requirement_in_range_passes_and_extras_and_other_platforms_are_not_checked():
    env = _env(FULL)
    rows = _rows(env)
    assert env.role == "training"
    assert list(rows) == ["python", *FULL]  # no pytest (dev extra), no uvloop (marker false)
    assert {c.status for c in env.checks} == {"ok"}
    assert rows["kfp"].found == "2.17.3"
    assert rows["kfp"].needed == ">=2.17,<3"  # lower bound first, as pyproject.toml writes it
    assert rows["tensorflow-cpu"].role == "training"
    assert rows["onnxruntime"].role == "serving"
    assert exit_status(env.checks) == 0


def test_a_version_outside_the_range_fails_with_the_pip_line_that_fixes_it():
    env = _env({**FULL, "kfp": "2.14.0", "keras": "4.0.0"})
    rows = _rows(env)
    assert rows["kfp"].status == "fail"
    assert rows["kfp"].fix == "pip install 'kfp>=2.17,<3'"
    assert rows["keras"].status == "fail"
    assert rows["keras"].fix == "pip install 'keras>=3.10,<4'"
    assert rows["numpy"].status == "ok"
    assert exit_status(env.checks) == 1


def test_a_missing_training_requirement_fails_a_training_install():
    installed = {k: v for k, v in FULL.items() if k != "tf2onnx"}
    rows = _rows(_env(installed))
    assert rows["tf2onnx"].status == "fail"
    assert rows["tf2onnx"].found == "missing"
    assert rows["tf2onnx"].fix == "pip install 'tf2onnx>=1.17,<1.18'"


def test_a_serving_install_is_recognised_and_its_missing_training_parts_are_absent_not_failed():
    env = _env(SERVING_ONLY)
    rows = _rows(env)
    assert env.role == "serving"
    assert env.why == "auto: none of tensorflow-cpu, keras, tf2onnx installed"
    for name in ("kfp", "kubernetes", "tensorflow-cpu", "keras", "tf2onnx"):
        assert rows[name].status == "absent", name
        assert rows[name].found == "not installed"
    assert (
        rows["tensorflow-cpu"].fix
        == "needed for training: pip install 'tensorflow-cpu>=2.21,<2.22'"
    )
    assert {rows[n].status for n in ("python", *SERVING_ONLY)} == {"ok"}
    assert exit_status(env.checks) == 0


def test_a_serving_install_without_onnxruntime_fails():
    env = _env({k: v for k, v in SERVING_ONLY.items() if k != "onnxruntime"})
    assert env.role == "serving"
    assert _rows(env)["onnxruntime"].status == "fail"
    assert exit_status(env.checks) == 1


def test_a_training_part_out_of_range_on_a_serving_install_is_a_warning():
    env = _env({**SERVING_ONLY, "kfp": "1.8.22"}, role="serving")
    assert _rows(env)["kfp"].status == "warn"
    assert exit_status(env.checks) == 0


def test_role_training_asked_of_a_serving_install_fails_on_every_training_part():
    env = _env(SERVING_ONLY, role="training")
    rows = _rows(env)
    assert env.why == "--role training"
    assert [n for n, c in rows.items() if c.status == "fail"] == [
        "kfp",
        "kubernetes",
        "tensorflow-cpu",
        "keras",
        "tf2onnx",
    ]


def test_the_gpu_build_of_tensorflow_stands_in_for_tensorflow_cpu():
    installed = {k: v for k, v in FULL.items() if k != "tensorflow-cpu"} | {"tensorflow": "2.21.1"}
    row = _rows(_env(installed))["tensorflow-cpu"]
    assert (row.status, row.found) == ("ok", "tensorflow 2.21.1")
    installed["tensorflow"] = "2.22.0"
    assert _rows(_env(installed))["tensorflow-cpu"].status == "fail"


def test_a_python_outside_requires_python_fails():
    row = _rows(_env(FULL, python="3.10.14"))["python"]
    assert (row.status, row.needed) == ("fail", ">=3.11")
    assert row.fix == "use a Python >=3.11 (this is 3.10.14)"


def test_mlrail_not_installed_as_a_distribution_is_one_failed_row():
    def not_installed() -> tuple[str, list[str]]:
        raise metadata.PackageNotFoundError("mlrail")

    env = check_environment("auto", installed=FULL.get, requirements=not_installed)
    assert [(c.name, c.status) for c in env.checks] == [("mlrail", "fail")]


def test_the_ranges_are_the_installed_mlrails_own_requirements():
    """One source: the installed metadata, i.e. pyproject.toml as installed."""
    env = check_environment("training")
    declared = {
        line.split(";")[0].replace(" ", "")
        for line in metadata.requires("mlrail") or []
        if "extra ==" not in line
    }
    assert len(env.checks) == 1 + len(declared)
    from packaging.requirements import Requirement

    for line in declared:
        req = Requirement(line)
        assert env.ranges[req.name.lower().replace("_", "-")] == req.specifier


def test_a_long_finding_is_cut_in_the_table_and_written_in_full_beside_its_fix() -> None:
    from mlrail.doctor.report import Check, render_table

    found = "refused: " + "; ".join(f"get thing{i}" for i in range(10))
    row = Check("cluster", "permissions", "fail", found, "7 calls", "", "kubectl apply -k x")
    lines = render_table([row], "title").splitlines()
    (table_row,) = [line for line in lines if line.startswith("permissions ")]
    assert found[:59] + "…" in table_row and found not in table_row
    at = lines.index("FAIL permissions: kubectl apply -k x")
    assert lines[at + 1] == f"  found: {found}"
    assert lines[-1] == "1 check, 1 failed"


# -- the command on this machine -----------------------------------------------------------------


def test_doctor_passes_on_this_environment(capsys: pytest.CaptureFixture[str]) -> None:
    """CI installs constraints.txt: every pin must be inside mlrail's own ranges."""
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("mlrail ")
    assert "role training (auto: tensorflow-cpu, keras, tf2onnx installed)" in out
    for name in ("kfp", "kfp-kubernetes", "kubernetes", "tensorflow-cpu", "keras", "tf2onnx"):
        assert f"\n{name} " in out, name
    for name in ("onnx", "onnxruntime", "mlflow", "model-signing", "uvicorn"):
        assert f"\n{name} " in out, name
    assert "FAIL" not in out
    assert out.rstrip().endswith("all passed")


def test_the_readme_doctor_examples_run(capsys: pytest.CaptureFixture[str]) -> None:
    """Every ``mlrail doctor`` line of the README's sh blocks, as written, passes here."""
    from tests.test_readme import sh_lines

    examples = [shlex.split(line)[1:] for line in sh_lines() if line.startswith("mlrail doctor")]
    assert examples, "the README shows no mlrail doctor example"
    for args in examples:
        assert main(args) == 0, (args, capsys.readouterr().out)
        capsys.readouterr()


def test_doctor_json_on_this_environment(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--output", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is True
    assert document["role"] == "training"
    rows = {c["name"]: c for c in document["checks"]}
    assert rows["kfp"]["status"] == "ok"
    assert rows["kfp"]["found"] == metadata.version("kfp")
    assert set(rows["kfp"]) == {"section", "name", "status", "found", "needed", "role", "fix"}


def test_a_failure_exits_1_and_prints_its_fix_under_the_table(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = environment.installed_version

    def older_kfp(name: str) -> str | None:
        return "2.9.0" if name == "kfp" else real(name)

    monkeypatch.setattr(environment, "installed_version", older_kfp)
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "\nkfp                   FAIL    2.9.0" in out
    assert "FAIL kfp: pip install 'kfp>=2.17,<3'" in out
    assert out.rstrip().endswith("1 failed")


def test_a_serving_role_is_reported_in_json(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = environment.installed_version
    training = {"tensorflow-cpu", "keras", "tf2onnx", "kfp", "kfp-kubernetes", "mlflow"}
    monkeypatch.setattr(
        environment, "installed_version", lambda n: None if n in training else real(n)
    )
    assert main(["doctor", "--output", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["role"] == "serving"
    rows = {c["name"]: c for c in document["checks"]}
    assert rows["tensorflow-cpu"]["status"] == "absent"
    assert rows["onnxruntime"]["status"] == "ok"


def test_the_parser_offers_every_role() -> None:
    from mlrail.cli import doctor

    assert doctor.ROLES == environment.ROLES


def test_the_serving_role_is_the_serving_images_set() -> None:
    """SERVING is images/serving.requirements.txt (the file is not in the wheel)."""
    lines = [line.split("#")[0].strip() for line in REQUIREMENTS.read_text().splitlines()]
    names = {canonicalize_name(Requirement(line).name) for line in lines if line}
    assert names == SERVING


def test_doctor_in_the_serving_only_environment(slim: SlimEnv, tmp_path: Path) -> None:
    """The serving image's set alone (tests/serving/test_slim_install.py's environment): role
    serving, every serving part as tested, the pipelines' stack absent, exit 0."""
    proc = subprocess.run(
        [str(slim.mlrail), "doctor", "--output", "json"],
        capture_output=True,
        text=True,
        check=False,
        env=_clean_env(),
        cwd=tmp_path,  # not the checkout: its mlrail/ folder would shadow the install
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    document = json.loads(proc.stdout)
    assert (document["role"], document["ok"]) == ("serving", True)
    rows = {c["name"]: c for c in document["checks"]}
    for name in ("tensorflow-cpu", "keras", "tf2onnx", "kfp", "mlflow", "pyarrow", "onnx"):
        assert rows[name]["status"] == "absent", rows[name]
    served = [c for c in document["checks"] if c["role"] == "serving"]
    assert {c["name"] for c in served} >= {"python", "onnxruntime", "numpy", "uvicorn"}
    assert {c["status"] for c in served} == {"ok"}, served


# -- the KFP API ---------------------------------------------------------------------------------


class _Healthz:
    """A real HTTP server answering /apis/v2beta1/healthz as KFP's API server does."""

    def __init__(self, tag: str, *, status: int = 200, multi_user: bool = False) -> None:
        self.tag, self.status, self.multi_user = tag, status, multi_user
        self.headers: list[dict[str, str]] = []
        healthz = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                healthz.headers.append({k.lower(): v for k, v in self.headers.items()})
                if self.path != "/apis/v2beta1/healthz":
                    self.send_error(404)
                    return
                # the body main.go writes, byte for byte in shape
                body = (
                    f'{{"commit_sha":"abc1234", "tag_name":"{healthz.tag}", '
                    f'"multi_user":{"true" if healthz.multi_user else "false"}}}'
                ).encode()
                self.send_response(healthz.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> _Healthz:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _kfp_row(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = main(["doctor", "--output", "json", *argv])
    rows = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    return code, rows["KFP API"]


@pytest.mark.parametrize(
    ("tag", "multi_user", "code", "status", "found"),
    [
        ("2.17.0", False, 0, "ok", "2.17.0 (single-user)"),
        ("2.18.1", True, 0, "ok", "2.18.1 (multi-user)"),
        ("2.5.0", False, 1, "fail", "2.5.0 (single-user)"),
        ("unknown", False, 0, "warn", "reachable, single-user; version not reported"),
    ],
)
def test_the_kfp_api_version_is_checked_against_the_kfp_range(
    tag: str,
    multi_user: bool,
    code: int,
    status: str,
    found: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with _Healthz(tag, multi_user=multi_user) as server:
        got, row = _kfp_row(["--host", server.url], capsys)
    assert (got, row["status"], row["found"]) == (code, status, found)
    assert row["needed"] == ">=2.17,<3"  # the installed mlrail's kfp requirement
    if status == "fail":
        assert row["fix"] == (
            "upgrade Kubeflow Pipelines to >=2.17,<3, or use an mlrail release built for 2.5.0"
        )


def test_kf_pipelines_endpoint_is_the_default_host_and_the_token_is_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    token = tmp_path / "token"
    token.write_text("s3cr3t\n")
    with _Healthz("2.17.3") as server:
        monkeypatch.setenv("KF_PIPELINES_ENDPOINT", server.url)
        code, row = _kfp_row(["--token-file", str(token)], capsys)
        assert server.headers[-1]["authorization"] == "Bearer s3cr3t"
    assert (code, row["status"]) == (0, "ok")


def test_a_refusing_kfp_api_is_a_failed_row_that_asks_for_a_token(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with _Healthz("2.17.0", status=401) as server:
        code, row = _kfp_row(["--host", server.url], capsys)
    assert (code, row["status"]) == (1, "fail")
    assert row["found"] == f"{server.url}/apis/v2beta1/healthz: HTTP 401 Unauthorized"
    assert row["fix"] == "give a token: --token-file PATH or $MLRAIL_KFP_TOKEN"


def test_an_unreachable_kfp_api_is_a_failed_row_not_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, row = _kfp_row(["--host", f"127.0.0.1:{port}"], capsys)
    assert (code, row["status"]) == (1, "fail")
    assert row["found"].startswith(f"http://127.0.0.1:{port}: unreachable (")
    assert "kubectl port-forward -n kubeflow svc/ml-pipeline 8888:8888" in row["fix"]


def test_a_kfp_api_that_never_answers_is_a_failed_row(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:  # accepts (from the backlog), never answers
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        host = f"http://127.0.0.1:{s.getsockname()[1]}"
        code, row = _kfp_row(["--host", host, "--timeout", "0.5"], capsys)
    assert (code, row["status"]) == (1, "fail")
    assert row["found"] == f"{host}: unreachable (no answer within 0.5 s)"


def test_the_fake_kfp_api_is_reachable_but_reports_no_version(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """tests/kfp_api's fake answers with kfp_server_api's model, which has no tag_name."""
    with FakeKfpServer(multi_user=True) as server:
        code, row = _kfp_row(["--host", server.url], capsys)
        assert len(server.calls("GET", "/healthz")) == 1
    assert (code, row["status"]) == (0, "warn")
    assert row["found"] == "reachable, multi-user; version not reported"


# -- the cluster, before any request (the requests: tests/cluster/test_doctor.py) ------------------


def _cluster_rows(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[Any]]:
    code = main(["doctor", "--output", "json", *argv])
    checks = json.loads(capsys.readouterr().out)["checks"]
    return code, [c for c in checks if c["section"] == "cluster"]


def test_no_kubernetes_client_is_a_failed_row_with_its_pip_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "kubernetes", None)  # what a serving-only install has
    code, rows = _cluster_rows(["--namespace", "mlrail"], capsys)
    assert code == 1
    assert [(r["name"], r["status"], r["found"]) for r in rows] == [
        ("Kubernetes API", "fail", "kubernetes not installed")
    ]
    assert rows[0]["fix"] == "pip install 'kubernetes>=30.1,<31'"


def test_a_missing_kubeconfig_or_context_is_a_failed_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope"
    code, rows = _cluster_rows(["--kubeconfig", str(missing)], capsys)
    assert code == 1
    assert [(r["status"], r["found"]) for r in rows] == [
        ("fail", f"{missing}: no such kubeconfig file")
    ]
    kubeconfig = tmp_path / "kubeconfig"
    cluster = {"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}
    config = {"apiVersion": "v1", "kind": "Config", "clusters": [cluster], "users": [],
              "contexts": [{"name": "here", "context": {"cluster": "c", "user": ""}}]}  # fmt: skip
    kubeconfig.write_text(json.dumps(config))
    code, rows = _cluster_rows(["--kubeconfig", str(kubeconfig), "--kube-context", "there"], capsys)
    assert code == 1
    assert rows[0]["status"] == "fail" and "there" in rows[0]["found"], rows
    assert rows[0]["fix"] == "check --kubeconfig and --kube-context (kubectl config get-contexts)"


# -- usage -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["--role", "everything"],
        ["--output", "yaml"],
        ["--timeout", "-1"],
        ["--token-file", "/nonexistent/token", "--host", "http://127.0.0.1:1"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(["doctor", *argv])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "error:" in err, err


@pytest.fixture(autouse=True)
def _no_kfp_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A developer's own $KF_PIPELINES_ENDPOINT or token must not reach these tests."""
    monkeypatch.delenv("KF_PIPELINES_ENDPOINT", raising=False)
    monkeypatch.delenv("MLRAIL_KFP_TOKEN", raising=False)
    yield
