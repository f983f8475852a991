"""This environment against the installed mlrail's own requirements.

The supported ranges are read from one place: the installed ``mlrail`` distribution's metadata
(``Requires-Python`` and ``Requires-Dist``, written from ``pyproject.toml`` at install time), so
``mlrail doctor`` and the package can never disagree. Versions come from
``importlib.metadata``: nothing checked is imported (TensorFlow alone costs ~2.5 s).

Two roles, because the serving image installs only what ``mlrail serve`` loads:

- ``serving``: :data:`SERVING`, what the model server imports (ONNX Runtime, numpy, the HTTP
  and gRPC stack, its metrics, model signing); every install needs these.
- ``training``: everything else of the base requirements: ``mlrail run``, the components (TF,
  Keras, tf2onnx, onnx, the data stack, MLflow, model signing) and the cluster commands (kfp,
  kfp-kubernetes, kubernetes).

``auto`` picks ``training`` when any of :data:`TRAINING_MARKERS` is installed, else
``serving``. Checked as ``serving``, a training-only distribution that is missing is ``absent``
(not a failure), and one out of range a warning.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from mlrail.doctor.report import Check, Status

__all__ = [
    "ALTERNATIVES",
    "DISTRIBUTION",
    "ROLES",
    "SERVING",
    "TRAINING_MARKERS",
    "Environment",
    "Installed",
    "check_environment",
    "installed_version",
    "installed_requirements",
    "shown_range",
]

DISTRIBUTION = "mlrail"
ROLES = ("auto", "training", "serving")
#: What ``mlrail serve`` (and its gRPC port, ``--verify-key`` and ``mlrail payload-receiver``)
#: imports: images/serving.requirements.txt, the serving image's whole set (a test keeps the two
#: equal; that file is not in the wheel). Canonical names (PEP 503).
SERVING = frozenset(
    {
        "onnxruntime",
        "numpy",
        "uvicorn",
        "httptools",
        "uvloop",
        "orjson",
        "prometheus-client",
        "grpcio",
        "protobuf",
        "model-signing",
        "pyopenssl",
    }
)
#: Any of these installed means a training install (the serving image has none of them).
TRAINING_MARKERS = ("tensorflow-cpu", "keras", "tf2onnx")
#: Distributions that provide the same modules as a requirement: TensorFlow's GPU/CPU builds.
ALTERNATIVES: dict[str, tuple[str, ...]] = {
    "tensorflow-cpu": ("tensorflow",),
    "onnxruntime": ("onnxruntime-gpu",),
}

#: ``name -> installed version`` (None when not installed); tests pass their own.
Installed = Callable[[str], "str | None"]


def installed_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def installed_requirements(distribution: str = DISTRIBUTION) -> tuple[str, list[str]]:
    """``(Requires-Python, Requires-Dist lines)`` of the installed ``distribution``.

    Raises:
        PackageNotFoundError: It is not installed (run from a source tree without install).
    """
    meta = metadata.metadata(distribution)
    requires_python = meta["Requires-Python"] if "Requires-Python" in meta else ""
    return requires_python, list(metadata.requires(distribution) or [])


@dataclass(frozen=True)
class Environment:
    """What :func:`check_environment` found.

    Attributes:
        role: ``training`` or ``serving``: the role the checks were made for.
        why: How the role was chosen (``--role``, or what ``auto`` saw).
        checks: Python first, then one row per base requirement, in ``pyproject.toml``'s order.
        ranges: Each base requirement's specifier, by canonical name (``kfp``'s is the range
            a KFP API server is checked against).
    """

    role: str
    why: str
    checks: list[Check]
    ranges: dict[str, SpecifierSet]


def shown_range(spec: SpecifierSet) -> str:
    """``>=2.17,<3`` (lower bound first, as pyproject.toml writes it; packaging sorts by text)."""
    order = {">=": 0, ">": 0, "~=": 0, "==": 0, "===": 0, "<": 1, "<=": 1, "!=": 2}
    parts = sorted(spec, key=lambda s: (order.get(s.operator, 3), str(s)))
    return ",".join(str(s) for s in parts) or "any"


def _base(lines: Sequence[str]) -> list[Requirement]:
    """The base requirements that apply here: extras (dev) and other platforms' lines dropped."""
    out = []
    for line in lines:
        try:
            req = Requirement(line)
        except InvalidRequirement as e:
            raise ValueError(f"{DISTRIBUTION}'s metadata: Requires-Dist {line!r}: {e}") from e
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            out.append(req)
    return out


def _role(chosen: str, installed: Installed) -> tuple[str, str]:
    if chosen != "auto":
        return chosen, f"--role {chosen}"
    present = [name for name in TRAINING_MARKERS if installed(name) is not None]
    if present:
        return "training", f"auto: {', '.join(present)} installed"
    return "serving", f"auto: none of {', '.join(TRAINING_MARKERS)} installed"


def _python(requires_python: str, version: str) -> Check:
    spec = SpecifierSet(requires_python)
    ok = Version(version) in spec
    return Check(
        section="python",
        name="python",
        status="ok" if ok else "fail",
        found=version,
        needed=shown_range(spec),
        role="serving",
        fix="" if ok else f"use a Python {shown_range(spec)} (this is {version})",
    )


def _package(req: Requirement, role: str, installed: Installed) -> Check:
    name = canonicalize_name(req.name)
    needed_by = "serving" if name in SERVING else "training"
    required = role == "training" or needed_by == "serving"
    wanted = shown_range(req.specifier)
    fix = f"pip install '{req.name}{wanted if wanted != 'any' else ''}'"
    found_name, version = req.name, installed(req.name)
    for other in ALTERNATIVES.get(name, ()):
        if version is None and (alt := installed(other)) is not None:
            found_name, version = other, alt
    label = str(version) if found_name == req.name else f"{found_name} {version}"

    def row(status: Status, found: str, why_fix: str = fix) -> Check:
        return Check("package", req.name, status, found, wanted, needed_by, why_fix)

    if version is None:
        if required:
            return row("fail", "missing")
        return row("absent", "not installed", f"needed for training: {fix}")
    try:
        inside = req.specifier.contains(Version(version), prereleases=True)
    except InvalidVersion:
        return row("fail" if required else "warn", f"{version} (not a version)")
    if inside:
        return row("ok", label, "")
    return row("fail" if required else "warn", label)


def check_environment(
    role: str = "auto",
    *,
    installed: Installed | None = None,
    requirements: Callable[[], tuple[str, list[str]]] | None = None,
    python: str = "",
) -> Environment:
    """Python and every base requirement of the installed mlrail, checked for ``role``.

    Args:
        role: ``auto``, ``training`` or ``serving`` (see the module doc).
        installed: The version lookup (default: ``importlib.metadata``).
        requirements: ``(Requires-Python, Requires-Dist lines)`` (default: the installed
            mlrail's metadata).
        python: This interpreter's version (default: the running one).

    Returns:
        The role checked, why, and the rows. mlrail not installed as a distribution is one
        failed row (there is nothing to check against), not an exception.
    """
    if role not in ROLES:
        raise ValueError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    installed = installed or installed_version
    chosen, why = _role(role, installed)
    try:
        requires_python, lines = (requirements or installed_requirements)()
    except metadata.PackageNotFoundError:
        missing = Check(
            "package",
            DISTRIBUTION,
            "fail",
            "not installed",
            "installed",
            "serving",
            "pip install mlrail (or pip install -e . in a checkout): its metadata holds the "
            "ranges checked",
        )
        return Environment(chosen, why, [missing], {})
    base = _base(lines)
    checks = [_python(requires_python or ">=0", python or platform.python_version())]
    checks += [_package(req, chosen, installed) for req in base]
    return Environment(chosen, why, checks, {canonicalize_name(r.name): r.specifier for r in base})
