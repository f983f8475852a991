"""What the commands share: the parser class, value types, output checks and evaluate's flags.

A value that is out of range is refused by argparse, as a usage error naming the flag (exit 2),
before any work: a negative tolerance would let every difference through, and NaN passes every
comparison. An output that cannot be written is refused before any step runs, not after them.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeAlias

from mlrail.errors import MlrailError
from mlrail.redact import redact

__all__ = [
    "DEFAULT_WORKDIR",
    "Parser",
    "Subcommands",
    "evaluation_args",
    "fraction",
    "integer",
    "json_object",
    "names",
    "non_negative",
    "number",
    "output_file",
    "seconds",
    "sha256_hex",
    "writable_folder",
]

#: Where ``mlrail run`` works and ``mlrail serve`` finds its models, by default.
DEFAULT_WORKDIR = "mlrail-local"


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error on one line (the usage is one ``--help`` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {redact(message)}\n")


#: What ``add_subparsers()`` returns: each command module adds its parser to it.
Subcommands: TypeAlias = "argparse._SubParsersAction[Parser]"


def number(text: str) -> float:
    """A finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def non_negative(text: str) -> float:
    """A tolerance: a negative bound would let every difference through (0 is allowed)."""
    value = number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def fraction(text: str) -> float:
    """A share of rows held out: 0 would leave nothing to evaluate on, 1 nothing to train on."""
    value = number(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (both excluded), got {text}")
    return value


def seconds(text: str) -> float:
    """A positive number of seconds."""
    value = number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def integer(low: int) -> Callable[[str], int]:
    """A parser of whole numbers of at least ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be {low} or more, got {text}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def sha256_hex(text: str) -> str:
    """A SHA-256 as 64 hexadecimal digits, in lower case."""
    if not re.fullmatch(r"[0-9a-fA-F]{64}", text.strip()):
        raise argparse.ArgumentTypeError(f"not a SHA-256 (64 hexadecimal digits): {text!r}")
    return text.strip().lower()


def json_object(text: str) -> dict[str, Any]:
    """A JSON object (``--hparams``, ``--thresholds``), as a dict."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not valid JSON ({e.msg}): {text}") from e
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object such as '{{\"a\": 1}}': {text}")
    return value


def names(text: str) -> list[str]:
    """``a,b`` as ``["a", "b"]``."""
    return [n.strip() for n in text.split(",") if n.strip()]


def output_file(flag: str, path: str) -> None:
    """Refuse an output file that cannot be written, before any work: a folder, a parent
    that is a file or cannot be created or written (checked by writing there: root ignores
    file modes, not a read-only file system)."""
    target = Path(path)
    if target.is_dir():
        raise MlrailError(f"{flag} {path}: is a folder; give a file name in it")
    writable_folder(flag, target.parent, shown=path)


def writable_folder(flag: str, folder: Path, *, shown: str | None = None) -> None:
    """Create ``folder`` if needed and check a file can be created in it."""
    shown = shown or str(folder)
    existing = next((p for p in [folder, *folder.parents] if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise MlrailError(f"{flag} {shown}: {existing} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        where = e.filename or folder
        raise MlrailError(f"{flag} {shown}: cannot write in {where}: {e.strerror or e}") from e


def evaluation_args(p: argparse.ArgumentParser) -> None:
    """What evaluate checks: for ``run`` and ``evaluate``."""
    p.add_argument("--thresholds", type=json_object, help='JSON, e.g. \'{"accuracy": ">= 0.9"}\'')
    p.add_argument("--slices", type=names, default=[], help="columns to slice metrics by: a,b")
    p.add_argument(
        "--sensitive-columns", type=names, default=[], help="columns for fairness metrics: a,b"
    )
    p.add_argument(
        "--fairness-thresholds",
        type=json_object,
        help='JSON, e.g. \'{"demographic_parity_difference": "<= 0.1"}\'',
    )
