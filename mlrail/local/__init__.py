"""The embedded default: run a pipeline on this machine through ``kfp.local``, no cluster.

- :mod:`.runner`: the run (``mlrail run``), its progress lines and summary.
- :mod:`.ir`: the compiled pipeline: its steps in order, and its adaptation to a laptop.
- :mod:`.steps`: the record each step writes about itself (start, end, status, error).
- :mod:`.summary`: each step's headline figures, from its outputs' metadata.
"""

from typing import Any

from mlrail.local.runner import (
    LocalRun,
    StepResult,
    check_columns,
    format_summary,
    model_name_for,
    new_run_id,
    pipeline_steps,
    run_training,
)

__all__ = [
    "LocalRun",
    "StepResult",
    "check_columns",
    "format_summary",
    "model_name_for",
    "new_run_id",
    "pipeline_steps",
    "run_training",
]


def __getattr__(name: str) -> Any:
    if name == "STEPS":
        # The old constant, for its callers (not in __all__: it is computed, and compiling
        # costs a second, so only when asked): the training pipeline's steps and their task
        # folders, read from its compiled IR. New code: pipeline_steps, StepResult.task.
        from mlrail.pipelines.training import training

        return {s.name: s.task for s in pipeline_steps(training)}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
