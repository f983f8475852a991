"""Progress lines: how a step's progress reaches the terminal of ``mlrail run`` as it happens.

A step's core reports progress through the standard :mod:`logging` module, on a logger under
:data:`PROGRESS_LOGGER` (``mlrail.progress.train``, say) at level INFO, with one short message
per event worth a line: a step's rows read, each epoch's loss and metrics, the parity rows
checked. The cores import nothing for it (no component may import the runner), so a notebook
or a cluster sees these records as any other INFO record (a pod's log shows them).

In a local run each task runs through :mod:`mlrail.local.steps`, which sends that logger's
records, and only those, to the task's standard output as ``[mlrail:<step>] <message>`` lines
(:func:`report_to_stdout`), starting with ``[mlrail:<step>] started``. kfp.local's
SubprocessRunner (and DockerRunner) reads a task's output line by line as it is written and
prints it in the parent, where the run's log stream picks the progress lines out
(:func:`parse`) and shows them on the terminal at once, not after the step ended. Nothing else
of a step's output is shown (it is in the run's log).
"""

from __future__ import annotations

import logging
import re
import sys
from typing import IO

__all__ = ["PROGRESS_LOGGER", "STARTED", "format_line", "parse", "report_to_stdout"]

#: The logger family a step's core reports progress on (a child per step: ``.train``).
PROGRESS_LOGGER = "mlrail.progress"
#: The message of the line a step writes as it starts.
STARTED = "started"

# one line, as kfp.local prints it (indented by 4 spaces) or as a container's log holds it
# (a shard's run of a step is named with its iteration: ingest[2])
_LINE = re.compile(r"^\s*\[mlrail:([A-Za-z0-9_.-]+(?:\[\d+\])?)\] (.*?)\s*$")


def format_line(step: str, message: str) -> str:
    """A progress line as a step writes it: ``[mlrail:<step>] <message>`` (one line)."""
    return f"[mlrail:{step}] {' '.join(message.split())}"


def parse(line: str) -> tuple[str, str] | None:
    """The step and message of a progress line; None for any other line."""
    found = _LINE.match(line)
    return (found[1], found[2]) if found else None


class _OneLine(logging.Formatter):
    def __init__(self, step: str) -> None:
        super().__init__()
        self.step = step

    def format(self, record: logging.LogRecord) -> str:
        return format_line(self.step, record.getMessage())


def report_to_stdout(step: str, stream: IO[str] | None = None) -> logging.Handler:
    """Send :data:`PROGRESS_LOGGER`'s records to ``stream`` (standard output) as progress lines
    of ``step``, and write the :data:`STARTED` line.

    The records stop there (they do not reach the root logger's handlers too): the line is in
    the run's log already. A handler flushes after each record, so each line leaves at once.

    Returns:
        The handler, to remove when the step ends (a test in one process).
    """
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(_OneLine(step))
    logger = logging.getLogger(PROGRESS_LOGGER)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.info(STARTED)
    return handler
