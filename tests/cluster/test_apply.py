"""Every overlay applies to the real API server (server-side apply); a second apply is a no-op.

Each overlay goes into a namespace of its own (``mlrail-apply-<overlay>``), through a wrapping
kustomization (:func:`.kube.wrap_in_namespace`), so the ``installed`` fixture's namespace
``mlrail``, which other tests share, is never touched. Overlays render from a copy of manifests/
beside a digest record (``pinned_copy`` of tests/manifests/kustomize.py): prod renders only so.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from tests.manifests.kustomize import OVERLAYS, pinned_copy

from .control_plane import ControlPlane
from .kube import FIELD_MANAGER, Obj, apply, identity, kubectl, reapply, render, report, state
from .kube import wrap_in_namespace as wrap

NAMESPACE = "mlrail"


@pytest.fixture(scope="module")
def pinned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """manifests/ as a release build leaves it: beside a digest record."""
    return pinned_copy(tmp_path_factory.mktemp("release"))


def _moved(objs: list[Obj], namespace: str) -> list[Obj]:
    """``objs`` as they would be in ``namespace``: what the wrapper must render, nothing else."""
    moved = copy.deepcopy(objs)
    for obj in moved:
        meta = obj["metadata"]
        if obj["kind"] == "Namespace":
            assert meta["name"] == NAMESPACE
            meta["name"] = namespace
        elif "namespace" in meta:
            assert meta["namespace"] == NAMESPACE
            meta["namespace"] = namespace
        for subject in obj.get("subjects") or []:
            if subject.get("kind") == "ServiceAccount":
                subject["namespace"] = namespace
    return moved


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_wrapper_moves_the_overlay_and_changes_nothing_else(
    pinned: Path, tmp_path: Path, overlay: str
) -> None:
    namespace = f"mlrail-apply-{overlay}"
    original = render(pinned / "overlays" / overlay)
    wrapped = render(wrap(pinned / "overlays" / overlay, tmp_path / "wrap", namespace))
    assert [o["kind"] for o in original].count("Namespace") == 1
    assert [o["kind"] for o in original].count("RoleBinding") >= 1
    assert wrapped == _moved(original, namespace)
    # what would tie the copy to the shared namespace: a subject or an object left behind
    assert not [identity(o) for o in wrapped if identity(o)[2] == NAMESPACE]
    subjects = [s for o in wrapped for s in o.get("subjects") or []]
    assert subjects and all(s["namespace"] == namespace for s in subjects)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_applies_and_a_second_apply_changes_nothing(
    control_plane: ControlPlane,
    pinned: Path,
    tmp_path: Path,
    overlay: str,
    request: pytest.FixtureRequest,
) -> None:
    namespace = f"mlrail-apply-{overlay}"
    wrapper = wrap(pinned / "overlays" / overlay, tmp_path / "wrap", namespace)
    rendered = sorted(map(identity, render(wrapper)))

    first = apply(control_plane, wrapper)
    # nothing refused, nothing left out: the server returned every rendered object
    assert sorted(map(identity, first)) == rendered
    assert all(o["metadata"]["uid"] for o in first)

    stored = reapply(control_plane, wrapper, first)
    changed = sum(state(stored)[key] != value for key, value in state(first).items())

    # the same question asked the way a user would: kubectl diff exits 0 when nothing differs
    diff = kubectl(
        control_plane,
        "diff",
        "--server-side",
        f"--field-manager={FIELD_MANAGER}",
        "-k",
        str(wrapper),
    )
    assert diff.returncode == 0, diff.stdout + diff.stderr

    report(
        request.config,
        f"apply {overlay}: {len(first)} objects applied server-side of {len(rendered)} rendered, "
        f"{len(rendered) - len(first)} rejected; second apply: {changed} changed",
    )
