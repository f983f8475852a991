"""What changed between two releases of a model: the model, metrics, data, schema and code."""

from __future__ import annotations

from mlrail.artifacts.release.record import (
    Change,
    Changes,
    CodeChanges,
    DataChanges,
    FeatureTypeChange,
    MetricChange,
    ModelChanges,
    Record,
    SchemaChanges,
)

__all__ = ["diff"]


def _change(old: str | None, new: str | None) -> Change:
    return Change(old, new, old != new)


def _numbers(old: dict[str, float | None], new: dict[str, float | None]) -> list[MetricChange]:
    """Every name in either, in the new record's order then the old's; change = new - old."""
    names = list(new) + [n for n in old if n not in new]
    out = []
    for name in names:
        a, b = old.get(name), new.get(name)
        out.append(MetricChange(name, a, b, None if a is None or b is None else b - a))
    return out


def diff(previous: Record, current: Record) -> Changes:
    """The changes from ``previous`` to ``current``.

    Schema features are compared only when both records list them (``schema.compared``); the
    schema hash is compared whenever either has one.
    """
    pd, cd = previous.data, current.data
    added: list[str] = []
    removed: list[str] = []
    retyped: list[FeatureTypeChange] = []
    compared = pd.features is not None and cd.features is not None
    if pd.features is not None and cd.features is not None:
        old = {f.name: f.type for f in pd.features}
        new = {f.name: f.type for f in cd.features}
        added = [n for n in new if n not in old]
        removed = [n for n in old if n not in new]
        retyped = [
            FeatureTypeChange(n, old[n], t) for n, t in new.items() if n in old and old[n] != t
        ]
    pb, cb = previous.build, current.build
    return Changes(
        model=ModelChanges(
            sha256=_change(previous.model.sha256, current.model.sha256),
            identity=_change(previous.model.identity, current.model.identity),
            registry_version=_change(previous.version, current.version),
        ),
        metrics=_numbers(previous.evidence.metrics, current.evidence.metrics),
        data=DataChanges(
            fingerprint=_change(pd.fingerprint, cd.fingerprint),
            rows=_numbers(
                {k: float(v) for k, v in pd.rows.items()},
                {k: float(v) for k, v in cd.rows.items()},
            ),
            sources_added=[s for s in cd.sources if s not in pd.sources],
            sources_removed=[s for s in pd.sources if s not in cd.sources],
        ),
        schema=SchemaChanges(
            hash=_change(pd.schema_hash, cd.schema_hash),
            compared=compared,
            added=added,
            removed=removed,
            changed_type=retyped,
        ),
        code=CodeChanges(
            mlrail_version=_change(pb.mlrail_version, cb.mlrail_version),
            pipeline_version=_change(pb.pipeline_version, cb.pipeline_version),
            image=_change(_image(pb.image, pb.image_digest), _image(cb.image, cb.image_digest)),
        ),
    )


def _image(image: str | None, digest: str | None) -> str | None:
    """The image by digest where known (a tag can move; a digest cannot)."""
    if digest:
        return f"{(image or '').split('@')[0]}@{digest}" if image else digest
    return image
