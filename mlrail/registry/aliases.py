"""Deployment state as registry aliases, and fetching a version by ``models:/`` reference.

- ``challenger``: the version a running canary serves a share of the traffic with;
- ``champion``: the version that serves all of it.

deploy calls :func:`start_canary` when a canary starts, :func:`promote` when a version takes all
the traffic (a promoted canary or a full rollout), :func:`abort_canary` when a canary is rolled
back (the champion never moved), and :func:`rollback` when serving goes back to an earlier
version. evaluate's default baseline is :func:`fetch` of ``models:/<name>@champion``.
"""

from __future__ import annotations

import re
from pathlib import Path

from mlrail.registry import CHALLENGER, CHAMPION, ModelVersion, Registry, RegistryError

__all__ = ["abort_canary", "fetch", "parse_ref", "promote", "rollback", "start_canary"]

#: ``models:/<name>/<version>`` or ``models:/<name>@<alias>`` (MLflow's own model URIs).
_REF = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[\w-]+))$")


def start_canary(registry: Registry, name: str, version: str) -> None:
    """``challenger`` -> ``version`` (``champion`` stays where it is)."""
    registry.set_alias(name, CHALLENGER, version)


def promote(registry: Registry, name: str, version: str) -> str | None:
    """``champion`` -> ``version``; ``challenger`` removed. Returns the champion before (None
    for the first)."""
    before = registry.by_alias(name, CHAMPION)
    registry.set_alias(name, CHAMPION, version)
    registry.delete_alias(name, CHALLENGER)
    return before.version if before else None


def abort_canary(registry: Registry, name: str) -> None:
    """``challenger`` removed: the canary was rolled back, the champion serves everything."""
    registry.delete_alias(name, CHALLENGER)


def rollback(registry: Registry, name: str, to_version: str) -> str | None:
    """``champion`` back to ``to_version`` (which must exist); ``challenger`` removed. Returns
    the champion before."""
    registry.get(name, to_version)  # a clear error for a version that is not there
    return promote(registry, name, to_version)


def parse_ref(ref: str) -> tuple[str, str, str] | None:
    """``(name, version, alias)`` of a ``models:/`` reference (one of version/alias is "");
    None for anything else (a path or another URI)."""
    m = _REF.match(ref.strip())
    if not m:
        return None
    return m["name"], m["version"] or "", m["alias"] or ""


def fetch(registry: Registry, ref: str, dst: Path) -> tuple[ModelVersion, Path] | None:
    """The version ``ref`` names and a local copy of its model folder under ``dst``; None when
    the alias points nowhere or the model is not registered yet (a first run).

    Raises:
        RegistryError: ``ref`` is not a ``models:/`` reference, the version does not exist, or
            the registry cannot be reached.
    """
    parsed = parse_ref(ref)
    if parsed is None:
        raise RegistryError(f"not a registry reference: {ref!r} (models:/NAME@ALIAS or /VERSION)")
    name, version, alias = parsed
    found = registry.by_alias(name, alias) if alias else registry.get(name, version)
    if found is None:
        return None
    return found, registry.download(name, found.version, dst)
