"""Release records kept with registry versions: read back by deploy's rollback, ``mlrail
releases`` and monitor (the training evidence of the version that answered)."""

from __future__ import annotations

import json

from mlrail.artifacts import release
from mlrail.errors import DataError
from mlrail.registry import Registry

__all__ = ["kept_record", "kept_records"]


def kept_record(registry: Registry, name: str, version: str) -> release.Record | None:
    """The release record kept with ``version`` in the registry (its newest release), or None.

    Raises:
        RegistryError: the version does not exist or the registry cannot be reached.
        DataError: the kept record cannot be read (naming it).
    """
    if release.JSON_FILE not in registry.attachments(name, version):
        return None
    data = registry.read_attachment(name, version, release.JSON_FILE)
    where = f"{registry.uri} {name}/{version}/{release.JSON_FILE}"
    try:
        doc = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{where}: not valid JSON: {e}") from e
    return release.from_json(release.Record, doc, where=where)


def kept_records(registry: Registry, name: str) -> list[release.Record]:
    """The records kept with every version of ``name``, oldest first ([] for none): each
    version's newest release, as the registry keeps them."""
    found = [kept_record(registry, name, v.version) for v in registry.versions(name)]
    return sorted((r for r in found if r is not None), key=lambda r: (r.created, r.number or 0))
