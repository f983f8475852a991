"""The ``mlrail`` command: run, compile, submit, schedule, validate, evaluate, serve, releases,
rollback.

Heavy libraries (TensorFlow, kfp, ONNX Runtime) are imported inside the subcommands that need
them, so ``mlrail --help`` starts in well under a second.

Exit statuses, the same for every command:

====  =====================================================================================
0     done (a run succeeded, the data passed, the model is blessed)
1     the command found a problem: a failed or stopped run, anomalies, a model not blessed
2     a usage or input error, or a request the KFP API refused (one line on stderr)
3     the KFP API could not be reached (``submit``, ``schedule``: no connection, no answer
      in time; one line naming the host): a script may wait and try again
====  =====================================================================================

``mlrail`` and ``python -m mlrail`` are the same program.

Usage errors exit 2 with one line on stderr, ``mlrail <command>: error: <what>``, naming the
flag, file or field, before any step runs: values out of range (negative or NaN tolerances,
ratios outside (0, 1)), thresholds on metrics that do not exist, columns the data does not
have (its header is read first), an output path that cannot be written. Nothing the command
prints (errors, the run's lines, its summary and log) shows credentials from a URI.

The KFP API (``submit``, ``schedule``): ``--host URL``, else ``$KF_PIPELINES_ENDPOINT`` as
``kfp.Client`` reads it. ``--output json`` (``submit``, ``schedule``, ``schedule list``) prints
one JSON object (ids, names, experiment, trigger, UI link) instead of lines for people, and
``run --summary-json PATH`` writes the run's summary as JSON.

The KFP token (``submit``, ``schedule``): ``--token-file PATH`` (a projected service account
token, say) or ``--token`` (visible to other users in the process list: avoid it on shared
machines), else the ``MLRAIL_KFP_TOKEN`` environment variable. It is never printed.

``compile`` names the component image by digest with ``--image-digest``, else the
``MLRAIL_IMAGE_DIGEST`` environment variable, or ``--image-record`` (images/build.sh's record).

The modules: :mod:`~mlrail.cli.program` (the parser and :func:`main`), one module per group of
commands, each with its arguments and what it does (:mod:`~mlrail.cli.run`,
:mod:`~mlrail.cli.cluster` for compile, submit and schedule, :mod:`~mlrail.cli.schedules` for
schedule list|pause|resume|delete, :mod:`~mlrail.cli.data` for validate, evaluate and schema,
:mod:`~mlrail.cli.serve`, :mod:`~mlrail.cli.releases` for releases and rollback), and what they
share: :mod:`~mlrail.cli.options` (all) and :mod:`~mlrail.cli.kfp_access` (the KFP API's).
"""

from mlrail.cli.cluster import ENDPOINT_ENV, EXIT_UNREACHABLE, IMAGE_DIGEST_ENV, TOKEN_ENV
from mlrail.cli.program import build_parser, main, parse_args

__all__ = [
    "ENDPOINT_ENV",
    "EXIT_UNREACHABLE",
    "IMAGE_DIGEST_ENV",
    "TOKEN_ENV",
    "build_parser",
    "main",
    "parse_args",
]
