"""``mlrail doctor``: this environment, and optionally a cluster, against what mlrail is tested
with.

    mlrail doctor [--role auto|training|serving] [--host URL] [--kube-context NAME]
                  [--namespace NS] [--output table|json]

It checks Python and every installed requirement against the installed mlrail's own ranges
(its ``pyproject.toml``, as installed); with ``--host`` (or ``$KF_PIPELINES_ENDPOINT``) the KFP
API's version; with ``--kube-context``, ``--kubeconfig`` or ``--namespace`` the KServe CRDs and
runtimes, the namespace's Pod Security level, the ServiceAccounts and the pipeline runner's
permissions. It prints a table with a fix for each failure and exits 0 when every check passes,
1 when one fails, 2 for a usage error. A cluster that cannot be reached is a failed row.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from typing import TYPE_CHECKING

from mlrail.cli.kfp_access import ENDPOINT_ENV, TOKEN_ENV, kfp_token
from mlrail.cli.options import Subcommands, seconds

if TYPE_CHECKING:
    from mlrail.doctor.report import Check

__all__ = ["add_doctor", "cmd_doctor"]

DEFAULT_NAMESPACE = "mlrail"
#: mlrail.doctor.environment.ROLES, repeated so that building the parser (every command does)
#: imports nothing of mlrail.doctor (a test keeps the two equal).
ROLES = ("auto", "training", "serving")


def add_doctor(sub: Subcommands) -> None:
    """``mlrail doctor``: versions, and optionally a KFP API and a cluster, checked."""
    p = sub.add_parser(
        "doctor",
        help="check this environment (and optionally a KFP API and a cluster) against what "
        "mlrail is tested with; exit 1 on a failure",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    p.add_argument(
        "--role",
        choices=ROLES,
        default="auto",
        help="what this install is for: training (run, pipelines, components; needs every "
        "requirement) or serving (mlrail serve: ONNX Runtime and the HTTP stack); auto: "
        "training when TensorFlow, Keras or tf2onnx is installed (default: auto)",
    )
    p.add_argument(
        "--host",
        default=None,
        metavar="URL",
        help=f"the KFP API to check, e.g. http://localhost:8888 (default: ${ENDPOINT_ENV}; "
        "none: not checked)",
    )
    p.add_argument(
        "--token-file",
        default=None,
        metavar="PATH",
        help=f"file holding a bearer token for the KFP API (default: ${TOKEN_ENV})",
    )
    p.add_argument(
        "--kubeconfig",
        default="",
        metavar="PATH",
        help="the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config); checks the cluster",
    )
    p.add_argument(
        "--kube-context",
        default="",
        metavar="NAME",
        help="the kubeconfig context (default: its current context); checks the cluster",
    )
    p.add_argument(
        "--namespace",
        default=None,
        help=f"where mlrail's manifests are installed (default: {DEFAULT_NAMESPACE}); "
        "checks the cluster",
    )
    p.add_argument(
        "--service-account",
        default="mlrail-pipeline-runner",
        metavar="NAME",
        help="the ServiceAccount pipeline pods run as, whose permissions are checked "
        "(default: mlrail-pipeline-runner)",
    )
    p.add_argument(
        "--timeout",
        type=seconds,
        default=10.0,
        metavar="SECONDS",
        help="seconds to wait for each answer of the KFP API and the cluster (default: 10)",
    )
    p.add_argument(
        "--output",
        choices=("table", "json"),
        default="table",
        help="a table with a fix under it, or one JSON document (default: table)",
    )
    p.set_defaults(func=cmd_doctor)


def _cluster_rows(a: argparse.Namespace, client_fix: str) -> list[Check]:
    from mlrail.doctor.cluster import check_cluster, connect
    from mlrail.doctor.report import Check

    namespace = a.namespace or DEFAULT_NAMESPACE
    try:
        api = connect(a.kubeconfig, a.kube_context)
    except ImportError:
        return [
            Check(
                "cluster", "Kubernetes API", "fail", "kubernetes not installed", "", "", client_fix
            )
        ]
    except Exception as e:  # a missing file, an unknown context, a broken kubeconfig
        fix = "check --kubeconfig and --kube-context (kubectl config get-contexts)"
        found = " ".join(str(e).split()) or type(e).__name__
        return [Check("cluster", "Kubernetes API", "fail", found, "a kubeconfig context", "", fix)]
    try:
        return list(
            check_cluster(
                api, namespace, account=a.service_account, timeout=a.timeout, where=a.kube_context
            )
        )
    finally:
        api.close()


def cmd_doctor(a: argparse.Namespace) -> int:
    """``mlrail doctor``: exit status 0 when every check passes, 1 when one fails."""
    from packaging.specifiers import SpecifierSet

    from mlrail import __version__
    from mlrail.doctor.environment import check_environment, shown_range
    from mlrail.doctor.report import exit_status, render_json, render_table

    token = kfp_token(a)  # as submit and schedule read it
    host = a.host if a.host is not None else os.environ.get(ENDPOINT_ENV, "").strip()
    environment = check_environment(a.role)
    checks = list(environment.checks)
    if host:
        from mlrail.doctor.kfp_api import check_kfp_api

        needed = environment.ranges.get("kfp", SpecifierSet())
        checks.append(check_kfp_api(host, needed, token=token, timeout=a.timeout))
    if a.kube_context or a.kubeconfig or a.namespace is not None:
        client = shown_range(environment.ranges.get("kubernetes", SpecifierSet()))
        client_fix = f"pip install 'kubernetes{client if client != 'any' else ''}'"
        checks += _cluster_rows(a, client_fix)
    python = f"Python {platform.python_version()} ({sys.executable})"
    if a.output == "json":
        header = {
            "mlrail": __version__,
            "role": environment.role,
            "role_reason": environment.why,
            "python": sys.executable,
        }
        print(render_json(checks, header))
    else:
        title = f"mlrail {__version__}, role {environment.role} ({environment.why}), {python}"
        print(render_table(checks, title))
    return exit_status(checks)
