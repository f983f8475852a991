"""What the CLI prints for a usage or input error: its exit code and its one line."""

from __future__ import annotations

import pytest

from mlrail.cli import main


def error_line(
    argv: list[str], capsys: pytest.CaptureFixture[str], *, one_line: bool = True
) -> tuple[int, str]:
    """The exit code of ``mlrail ARGV`` and the (last) line it printed on stderr, asserted to be
    the only one unless ``one_line`` is False (kfp.Client's own link printouts go to stderr
    before it)."""
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own usage errors
        code = e.code if isinstance(e.code, int) else 1
    err = capsys.readouterr().err
    assert err.endswith("\n"), err
    if one_line:
        assert err.count("\n") == 1, err
    return code, err.splitlines()[-1]
