"""Submit a compiled pipeline to a Kubeflow Pipelines cluster, once or on a schedule.

The functions behind ``mlrail submit`` and ``mlrail schedule`` (with its ``list``, ``pause``,
``resume`` and ``delete``). They talk to the KFP v2beta1 API through ``kfp.Client`` only, and
check everything they can before the first request, so a typo in a cron expression, a parameter
name or a date fails here with a message instead of half-way through (an experiment created, a
pipeline uploaded, no schedule).

A recurring run is known by its name in its experiment: :func:`schedule` leaves an identical one
unchanged and replaces a different one (KFP has no update), and :func:`list_schedules`,
:func:`pause_schedule`, :func:`resume_schedule` and :func:`delete_schedule` find it by name.

The modules, from the bottom up:

- :mod:`~mlrail.kfp.connection`: the client, a connect and a read timeout on every request
  (``kfp.Client`` sets none), the API's failures as :class:`KfpApiError`, UI links;
- :mod:`~mlrail.kfp.cron`: cron expressions in KFP's 6-field form (:func:`normalize_cron`);
- :mod:`~mlrail.kfp.checks`: what is checked before anything is sent (the package, the
  arguments and their size as the API server measures it, the trigger and its time window);
- :mod:`~mlrail.kfp.runs`: :func:`submit`, one run;
- :mod:`~mlrail.kfp.recurring`: recurring runs read back from the API and found by name (list,
  pause, resume, delete);
- :mod:`~mlrail.kfp.schedules`: :func:`schedule`, create, keep or replace a recurring run.

The package is named like the ``kfp`` SDK it wraps; imports are absolute, so ``import kfp``
inside it is the SDK, and this package is always ``mlrail.kfp``.
"""

from mlrail.kfp.checks import MAX_PARAMETER_BYTES
from mlrail.kfp.connection import CONNECT_TIMEOUT, DEFAULT_TIMEOUT, KfpApiError
from mlrail.kfp.cron import normalize_cron
from mlrail.kfp.recurring import (
    ScheduleInfo,
    ScheduleLookupError,
    delete_schedule,
    list_schedules,
    pause_schedule,
    resume_schedule,
)
from mlrail.kfp.runs import SubmitResult, submit
from mlrail.kfp.schedules import MAX_CONCURRENCY, ScheduleAction, ScheduleResult, schedule

__all__ = [
    "CONNECT_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "MAX_CONCURRENCY",
    "MAX_PARAMETER_BYTES",
    "KfpApiError",
    "ScheduleAction",
    "ScheduleInfo",
    "ScheduleLookupError",
    "ScheduleResult",
    "SubmitResult",
    "delete_schedule",
    "list_schedules",
    "normalize_cron",
    "pause_schedule",
    "resume_schedule",
    "schedule",
    "submit",
]
