"""The lifecycle event types: one prefix, ``io.mlrail.``, and ``<noun>.<verb>`` names.

Every event's ``data`` is a JSON object. The fields each type must carry are checked when the
event is built (:func:`mlrail.events.make_event`); a type may carry more. Any type may carry
the :data:`COMMON` fields: the pipeline and run, and ``links``, names to URIs of what the event
is about (artifacts, the release record, the run's page), so a receiver can fetch the evidence
instead of trusting a summary.

:data:`TYPES` is the one table of types, their meaning and their data fields;
:func:`markdown_table` renders it for the docs (the README's "Lifecycle events").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from mlrail.errors import MlrailError

__all__ = ["COMMON", "PREFIX", "TYPES", "EventType", "event_type", "markdown_table"]

#: Every mlrail event type starts with this (reverse DNS, as CloudEvents recommends).
PREFIX = "io.mlrail."


@dataclass(frozen=True)
class EventType:
    """One event type: its full name, what it means, and its data fields with their meaning.

    Attributes:
        name: The CloudEvents ``type``: :data:`PREFIX` + ``<noun>.<verb>``.
        meaning: When it is sent.
        required: Fields every event of this type carries in ``data``.
        optional: Fields it carries when they are known.
    """

    name: str
    meaning: str
    required: Mapping[str, str]
    optional: Mapping[str, str] = field(default_factory=dict)

    @property
    def short(self) -> str:
        """The name without :data:`PREFIX` (``run.failed``)."""
        return self.name.removeprefix(PREFIX)


#: Optional fields of every type: where the event comes from, and links to the evidence.
COMMON = {
    "pipeline": "the pipeline's name",
    "run_id": "the run's id (KFP's pipeline job id)",
    "run_name": "the run's name (KFP's pipeline job name)",
    "links": "names to URIs: the artifacts, the release record, the run",
}


def _t(
    short: str, meaning: str, required: dict[str, str], optional: dict[str, str] | None = None
) -> EventType:
    return EventType(PREFIX + short, meaning, required, {**(optional or {}), **COMMON})


#: The event types by full name.
TYPES: dict[str, EventType] = {
    t.name: t
    for t in (
        _t(
            "run.succeeded",
            "the run ended and its steps succeeded (a closed gate is a success)",
            {"state": "KFP's final state: SUCCEEDED"},
        ),
        _t(
            "run.failed",
            "the run failed or was cancelled",
            {
                "state": "KFP's final state: FAILED or CANCELLED",
                "failed_task": "the task KFP's final status names: the exit handler's group "
                "(KFP names no step in it, on a cluster or in kfp.local)",
            },
            {
                "failed_step": "the step that failed (its KFP task name, e.g. train), when "
                "known: in a local run, from the steps' records; not on a cluster",
                "step_error": "that step's error, one line (credentials masked)",
                "error": "the error message KFP's final status gives (kfp.local: "
                "'Task <group> failed.'; KFP's backend gives none)",
                "error_code": "its code",
            },
        ),
        _t(
            "data.anomalies_found",
            "validate found anomalies: the gate in front of training closed",
            {
                "num_anomalies": "how many",
                "anomalies": "the first few, one line each ([split] description)",
            },
        ),
        _t(
            "data.drift_detected",
            "validate found drift against the baseline statistics",
            {
                "drifted": "each drifted feature: feature, split, value, threshold",
                "baseline": "the baseline statistics' URI",
            },
        ),
        _t(
            "model.not_blessed",
            "evaluate did not bless the model: the gate in front of deploy closed",
            {
                "failed_checks": "each failed check: metric, value, bound, verdict (and "
                "op, kind, scope, slice, baseline_value, change, reason)"
            },
            {
                "baseline": "the baseline model compared with (null: none)",
                "decided_on": "what the blessing rested on, in words",
            },
        ),
        _t(
            "model.registered",
            "a new version was added to the model registry (a model already registered "
            "under its identity sends nothing)",
            {"version": "the registry version"},
            {
                "created": "true: a new version",
                "identity": "the model identity the version is registered under",
                "model_uri": "the version's models:/ URI",
                "registry": "the registry's URI (credentials removed)",
                "release_record": "the release record's URI",
            },
        ),
        _t(
            "model.deployed",
            "a version serves all traffic after a deploy (also when it already did: unchanged)",
            {"version": "the registry version", "target": "local or kserve"},
            {"decision": "pushed, applied or unchanged", "endpoint": "where it answers"},
        ),
        _t(
            "model.canary_started",
            "a version serves a share of traffic next to the one before",
            {"version": "the canary's version", "traffic_percent": "its share, 0-100"},
            {"previous_version": "the version serving the rest"},
        ),
        _t(
            "model.promoted",
            "the canary now serves all traffic",
            {"version": "the promoted version"},
            {"previous_version": "the version it replaced"},
        ),
        _t(
            "serving.skew_detected",
            "monitor found serving data unlike the training data of the version that answered",
            {
                "version": "the version that answered",
                "skewed": "each skewed feature: feature, measure, value, threshold, test",
                "window": "the window's start and end (RFC 3339) and its record count",
            },
            {
                "identity": "the model identity that answered",
                "anomalies": "the first few schema anomalies of the window, one line each",
            },
        ),
        _t(
            "serving.drift_detected",
            "monitor found the served predictions unlike the same model's on its eval split",
            {
                "version": "the version that answered",
                "drifted": "each drifted output: feature, measure, value, threshold, test",
                "window": "the window's start and end (RFC 3339) and its record count",
            },
            {"identity": "the model identity that answered"},
        ),
        _t(
            "serving.performance_dropped",
            "monitor estimated (or, with labels, measured) the served model's performance "
            "below its eval performance by more than the allowed drop",
            {
                "version": "the version that answered",
                "metric": "the metric (accuracy)",
                "value": "the window's value",
                "reference": "the value on the eval split",
                "kind": "estimated (confidence-based, no labels) or realized (labels)",
            },
            {"identity": "the model identity that answered", "max_drop": "the allowed drop"},
        ),
        _t(
            "model.rolled_back",
            "serving went back to an earlier version",
            {"version": "the version serving now", "from_version": "the version taken out"},
            {"reason": "why"},
        ),
    )
}


def event_type(name: str) -> EventType:
    """The type named ``name``, given in full (``io.mlrail.run.failed``) or short (``run.failed``).

    Raises:
        MlrailError: no such type (the message lists the known ones).
    """
    found = TYPES.get(name) or TYPES.get(PREFIX + name)
    if found is None:
        known = ", ".join(t.short for t in TYPES.values())
        raise MlrailError(f"event type {name!r} is not one of mlrail's: {known}")
    return found


def markdown_table() -> str:
    """:data:`TYPES` as a Markdown table: type, meaning, data fields (optional ones in brackets;
    the :data:`COMMON` ones, which every type may carry, in a line below)."""
    rows = ["| type | meaning | data |", "|---|---|---|"]
    for t in TYPES.values():
        optional = [k for k in t.optional if k not in COMMON]
        fields = [f"`{k}`" for k in t.required] + [f"[`{k}`]" for k in optional]
        rows.append(f"| `{t.name}` | {t.meaning} | {', '.join(fields)} |")
    common = ", ".join(f"`{k}`" for k in COMMON)
    return "\n".join(rows) + f"\n\nEvery type may also carry {common}."
