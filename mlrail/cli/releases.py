"""``mlrail releases list|show`` and ``mlrail rollback``: read the release records, act on them.

Where the records are read (``releases``):

- ``--releases DIR``: that release store (:mod:`mlrail.artifacts.release.store`'s layout);
- ``--registry-uri URI``: the registry, where each version keeps its newest release;
- neither: ``<workdir>/releases`` when it exists (``mlrail run``'s store; ``--workdir`` as
  ``mlrail run``'s), else the registry at ``$MLFLOW_TRACKING_URI`` when it is set.

``rollback`` needs the registry (``--registry-uri``, else ``$MLFLOW_TRACKING_URI``, else the
embedded one of ``--workdir`` when it exists) and keeps its record in ``--releases`` (default,
for the local target: ``<workdir>/releases``; for KServe: none, the registry's copy only, unless
given). What it does: :mod:`mlrail.components.deploy.rollback`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mlrail.cli.options import DEFAULT_WORKDIR, Subcommands, integer
from mlrail.cli.provenance import requested_by
from mlrail.errors import DataError, MlrailError
from mlrail.redact import redact

if TYPE_CHECKING:
    from mlrail.artifacts.release import Record

__all__ = ["FORMATS", "add_releases", "add_rollback", "cmd_releases", "cmd_rollback"]

#: ``releases show --format``: the record's forms.
FORMATS = ("text", "json", "markdown", "html")
#: The registry's URI when no flag gives it (MLflow's own variable).
_ENV_URI = "MLFLOW_TRACKING_URI"


def _version(text: str) -> str:
    """A registry version: a whole number (``#N``: release number N, for ``show``)."""
    if not re.fullmatch(r"#?[1-9][0-9]*", text.strip()):
        raise argparse.ArgumentTypeError(
            f"not a version: {text!r} (a registry version such as 3, or #N for release N)"
        )
    return text.strip()


def _registry_version(text: str) -> str:
    value = _version(text)
    if value.startswith("#"):
        raise argparse.ArgumentTypeError(f"not a registry version: {text!r} (a number such as 3)")
    return value


def _events_sink(text: str) -> str:
    """``--events-sink``: one :mod:`mlrail.events.sinks` can send to (as ``mlrail run``'s)."""
    from mlrail.events.sinks import parse_sink

    if text.strip():
        try:
            parse_sink(text.strip())
        except MlrailError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    return text.strip()


def _workdir(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--workdir",
        default=DEFAULT_WORKDIR,
        help=f"mlrail run's working folder (default: ./{DEFAULT_WORKDIR})",
    )


def add_releases(sub: Subcommands) -> None:
    """``mlrail releases list|show``: the release records of a model."""
    p = sub.add_parser("releases", help="list a model's release records, or show one")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="one line per release, oldest first")
    showing = actions.add_parser("show", help="one release record (the newest by default)")
    for q in (listing, showing):
        q.add_argument("model", metavar="MODEL", help="the model's name")
    showing.add_argument(
        "version",
        metavar="VERSION",
        nargs="?",
        type=_version,
        help="the registry version (its newest release), or #N for release number N",
    )
    showing.add_argument(
        "--format", choices=FORMATS, default="text", help="text (default), json, markdown, html"
    )
    for q in (listing, showing):
        _workdir(q)
        q.add_argument(
            "--releases",
            default="",
            metavar="DIR",
            help="the release store (default: <workdir>/releases when it exists)",
        )
        q.add_argument(
            "--registry-uri",
            default="",
            metavar="URI",
            help="read the records kept with the registry's versions instead (each version's "
            f"newest release; default when there is no store: ${_ENV_URI})",
        )
        q.set_defaults(func=cmd_releases)


def add_rollback(sub: Subcommands) -> None:
    """``mlrail rollback``: serve an earlier registered version again."""
    p = sub.add_parser(
        "rollback",
        help="serve an earlier registered version again; champion moves back, a release is "
        "recorded",
    )
    p.add_argument("model", metavar="MODEL", help="the registered model's name")
    p.add_argument(
        "--to",
        required=True,
        metavar="VERSION",
        type=_registry_version,
        help="the registry version to serve again",
    )
    p.add_argument("--reason", default="", help="why: kept in the release record and the event")
    p.add_argument(
        "--requested-by",
        default="",
        metavar="WHO",
        help="who asked (default: git's user.email or user.name of the repository here, else "
        "$USER)",
    )
    _workdir(p)
    p.add_argument(
        "--registry-uri",
        default="",
        metavar="URI",
        help=f"the model registry (default: ${_ENV_URI}, else the embedded one of --workdir)",
    )
    p.add_argument(
        "--releases",
        default="",
        metavar="DIR",
        help="the release store the record is kept in (default: <workdir>/releases for "
        "--target local; none for kserve: the registry keeps it)",
    )
    p.add_argument(
        "--events-sink",
        type=_events_sink,
        default="",
        help="where model.rolled_back goes: an http(s) URL or a JSON Lines file (default: "
        "$K_SINK when set, else <workdir>/events.jsonl)",
    )
    p.add_argument(
        "--target",
        choices=["local", "kserve"],
        default="local",
        help="where the model serves: local, a model repository folder; kserve, an "
        "InferenceService on the cluster (default: local)",
    )
    p.add_argument(
        "--model-repository",
        default="",
        metavar="DIR",
        help="the local model repository (--target local; default: <workdir>/models)",
    )
    kube = p.add_argument_group("--target kserve")
    kube.add_argument(
        "--namespace",
        default="mlrail",
        help="the InferenceService's namespace (default: mlrail)",
    )
    kube.add_argument(
        "--onnx-model-uri",
        default="",
        metavar="URI",
        help="the onnx_model artifact (s3:// or minio://, holding model_repository/) to serve "
        "from (default: the one the version's earlier release was deployed from)",
    )
    kube.add_argument(
        "--runtime",
        choices=["mlrail-onnx", "kserve-tritonserver"],
        default="mlrail-onnx",
        help="the ServingRuntime that serves it: mlrail's ONNX server or KServe's Triton "
        "(default: mlrail-onnx)",
    )
    kube.add_argument(
        "--deployment-mode",
        choices=["Serverless", "RawDeployment"],
        default="Serverless",
        help="KServe's deployment mode: Serverless (Knative) or RawDeployment (a Deployment "
        "and a Service) (default: Serverless)",
    )
    kube.add_argument(
        "--timeout-seconds", type=integer(1), default=600, help="longest wait for Ready"
    )
    kube.add_argument("--ingress-url", default="", help="smoke-test through this ingress gateway")
    p.add_argument(
        "--verify-key",
        default="",
        metavar="PUBLIC_KEY",
        help="PEM public key the model must be signed with; "
        "empty: $MLRAIL_VERIFY_KEY's, else not verified",
    )
    p.set_defaults(func=cmd_rollback)


# ---------------------------------------------------------------------------------- releases


def _source(a: argparse.Namespace) -> tuple[str, str]:
    """``("store", folder)`` or ``("registry", uri)`` (the module doc)."""
    if a.releases and a.registry_uri:
        raise MlrailError("give --releases or --registry-uri, not both")
    if a.registry_uri:
        return "registry", a.registry_uri
    if a.releases:
        if not Path(a.releases).expanduser().is_dir():
            raise DataError(f"--releases {a.releases}: no such folder")
        return "store", str(Path(a.releases).expanduser())
    store = Path(a.workdir).expanduser() / "releases"
    if store.is_dir():
        return "store", str(store)
    if os.environ.get(_ENV_URI, "").strip():
        return "registry", os.environ[_ENV_URI].strip()
    raise DataError(
        f"{store}: no release store, and no registry: give --workdir, --releases or "
        f"--registry-uri (or set {_ENV_URI})"
    )


def _from_registry(uri: str, model: str, version: str | None) -> list[Record]:
    from mlrail.registry import open_registry
    from mlrail.registry.releases import kept_record, kept_records

    registry = open_registry(uri)
    if version is None or version.startswith("#"):
        records = kept_records(registry, model)
        if version is not None:
            records = [r for r in records if r.number is not None and f"#{r.number}" == version]
    else:
        found = kept_record(registry, model, version)
        records = [found] if found is not None else []
    if not records:
        what = f"{model!r}" + (f" version {version}" if version is not None else "")
        raise DataError(f"model registry {registry.uri}: no release of {what}")
    return records


def cmd_releases(a: argparse.Namespace) -> int:
    """``mlrail releases list|show``: exit status 0 (2 for no such model or version)."""
    from mlrail.artifacts import release

    kind, where = _source(a)
    version = getattr(a, "version", None)
    if a.action == "list":
        if kind == "store":
            records = release.list_releases(where, a.model)
            if not records:
                raise DataError(
                    f"{release.model_folder(where, a.model)}: no release of {a.model!r}"
                )
        else:
            records = _from_registry(where, a.model, None)
        print(redact(release.render_list(records)), end="")
        return 0
    if kind == "store":
        record = release.show(where, a.model, version)
    else:
        record = _from_registry(where, a.model, version)[-1]
    render = {
        "text": release.render_text,
        "markdown": release.render_markdown,
        "html": release.render_html,
        "json": lambda r: json.dumps(release.to_json(r), indent=2, ensure_ascii=True) + "\n",
    }[a.format]
    print(redact(render(record)), end="")
    return 0


# ---------------------------------------------------------------------------------- rollback


def _rollback_registry(a: argparse.Namespace, workdir: Path) -> str:
    """--registry-uri, else $MLFLOW_TRACKING_URI, else the workdir's embedded registry."""
    from mlrail.registry import embedded_uri, resolve_uri

    uri = resolve_uri(a.registry_uri)
    if uri:
        return uri
    if (workdir / "registry" / "mlflow.db").is_file():
        return embedded_uri(workdir)
    raise MlrailError(
        f"no model registry: give --registry-uri, set {_ENV_URI}, or --workdir of an "
        f"mlrail run ({workdir / 'registry' / 'mlflow.db'} does not exist)"
    )


def cmd_rollback(a: argparse.Namespace) -> int:
    """``mlrail rollback``: exit status 0 when the version serves again, else 2."""
    from mlrail.artifacts import release
    from mlrail.components.deploy.rollback import rollback
    from mlrail.registry import open_registry

    workdir = Path(a.workdir).expanduser()
    uri = _rollback_registry(a, workdir)
    store = a.releases or (str(workdir / "releases") if a.target == "local" else "")
    sink = a.events_sink.strip()
    if not sink and not os.environ.get("K_SINK"):
        sink = str(workdir / "events.jsonl")  # beside the run's, as mlrail run keeps them
    done = rollback(
        open_registry(uri),
        a.model,
        a.to,
        request=release.Request(requested_by(a.requested_by), a.reason),
        target=a.target,
        model_repository=a.model_repository or str(workdir / "models"),
        release_store=store,
        events_sink=sink,
        namespace=a.namespace,
        onnx_model_uri=a.onnx_model_uri,
        runtime=a.runtime,
        deployment_mode=a.deployment_mode,
        timeout_seconds=a.timeout_seconds,
        ingress_url=a.ingress_url,
        verify_key=a.verify_key,
    )
    d = done.deployment
    before = done.from_version or "none"
    print(
        redact(
            f"mlrail rollback: {a.model} version {a.to} serves again: {d.target} {d.location} "
            f"({d.decision})"
        )
    )
    print(f"champion: {before} -> {a.to}")
    number = f"#{done.record.number}" if done.record.number is not None else "(unnumbered)"
    kept = f" in {done.stored}" if done.stored is not None else ""
    print(redact(f"release {number} (rollback) kept{kept} and with version {a.to} in {uri}"))
    sys.stdout.flush()
    return 0
