"""The ``mlrail`` command: run, compile, submit, schedule, validate, evaluate, serve, releases,
rollback.

Heavy libraries (TensorFlow, kfp, ONNX Runtime) are imported inside the subcommands that need
them, so ``mlrail --help`` starts in well under a second.

Usage errors exit 2 with one line on stderr, ``mlrail <command>: error: <what>``, naming the
flag, file or field, before any step runs: values out of range (negative or NaN tolerances,
ratios outside (0, 1)), thresholds on metrics that do not exist, columns the data does not
have (its header is read first), an output path that cannot be written. Nothing the command
prints (errors, the run's lines, its summary and log) shows credentials from a URI.

The KFP token (``submit``, ``schedule``): ``--token-file PATH`` (a projected service account
token, say) or ``--token`` (visible to other users in the process list: avoid it on shared
machines), else the ``MLRAIL_KFP_TOKEN`` environment variable. It is never printed.

``compile`` names the component image by digest with ``--image-digest``, else the
``MLRAIL_IMAGE_DIGEST`` environment variable, or ``--image-record`` (images/build.sh's record).

The modules: :mod:`~mlrail.cli.program` (the parser and :func:`main`), one module per group of
commands, each with its arguments and what it does (:mod:`~mlrail.cli.run`,
:mod:`~mlrail.cli.cluster` for compile, submit and schedule, :mod:`~mlrail.cli.data` for
validate, evaluate and schema, :mod:`~mlrail.cli.serve`, :mod:`~mlrail.cli.releases` for
releases and rollback), and :mod:`~mlrail.cli.options`, what they share.
"""

from mlrail.cli.cluster import IMAGE_DIGEST_ENV, TOKEN_ENV
from mlrail.cli.program import build_parser, main, parse_args

__all__ = ["IMAGE_DIGEST_ENV", "TOKEN_ENV", "build_parser", "main", "parse_args"]
