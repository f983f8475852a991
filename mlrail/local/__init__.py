"""The embedded default: run a pipeline on this machine through ``kfp.local``, no cluster.

- :mod:`.runner`: the run (``mlrail run``), its progress lines and summary.
- :mod:`.ir`: the compiled pipeline: its steps in order, and its adaptation to a laptop.
- :mod:`.steps`: the record each step writes about itself (start, end, status, error).
- :mod:`.summary`: each step's headline figures, from its outputs' metadata.
"""

from mlrail.local.runner import (
    LocalRun,
    StepResult,
    check_columns,
    format_summary,
    model_name_for,
    new_run_id,
    pipeline_steps,
    run_training,
    summary_record,
    write_summary_json,
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
    "summary_record",
    "write_summary_json",
]
