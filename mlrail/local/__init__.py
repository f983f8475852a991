"""The embedded default: run a pipeline on this machine through ``kfp.local``, no cluster.

- :mod:`.runner`: the run (``mlrail run``) and its progress lines.
- :mod:`.report`: the summary a run ends with, and its facts as JSON.
- :mod:`.ir`: the compiled pipeline: its steps in order, and its adaptation to a laptop.
- :mod:`.steps`: the record each step writes about itself (start, end, status, error).
- :mod:`.summary`: each step's headline figures, from its outputs' metadata.
"""

from mlrail.local.report import format_summary, summary_record, write_summary_json
from mlrail.local.runner import (
    LocalRun,
    StepResult,
    check_columns,
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
    "summary_record",
    "write_summary_json",
]
