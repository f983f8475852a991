"""Golden files of the compiled pipelines.

Regenerate (after an intended change to a pipeline or a component):

    python -m tests.pipelines.golden

Only what legitimately varies is normalised: the KFP SDK version and the image tag. Every module
of :mod:`mlrail.pipelines` is a pipeline (module and pipeline share the name) and has a golden:
``tests/pipelines/test_goldens.py`` compares each one.
"""

from __future__ import annotations

import functools
import pkgutil
import re
import sys
import tempfile
from pathlib import Path

import mlrail.pipelines
from mlrail import __version__
from mlrail.compiler import compile_pipeline

GOLDEN_DIR = Path(__file__).parent / "golden"
#: Every pipeline of mlrail.pipelines, by module name (what ``mlrail compile`` takes); a private
#: module (``_name``) holds shared pieces, not a pipeline.
PIPELINES = sorted(
    m.name for m in pkgutil.iter_modules(mlrail.pipelines.__path__) if not m.name.startswith("_")
)


def normalise(text: str) -> str:
    text = re.sub(r"sdkVersion: kfp-[\w.]+", "sdkVersion: kfp-<version>", text)
    return re.sub(rf"(image: \S+):{re.escape(__version__)}\b", r"\1:<tag>", text)


def compiled(name: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        return compile_pipeline(name, Path(tmp) / f"{name}.yaml").read_text(encoding="utf-8")


@functools.cache
def compiled_once(name: str) -> str:
    """:func:`compiled`, once per test session: the tests only read the text."""
    return compiled(name)


def main() -> int:
    for name in PIPELINES:
        path = GOLDEN_DIR / f"{name}.yaml"
        path.write_text(normalise(compiled(name)), encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
