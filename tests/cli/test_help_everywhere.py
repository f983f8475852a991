"""Every option and argument of every command says what it is for in ``--help``.

The parser is walked as argparse holds it: ``mlrail``'s commands, their own sub-commands
(``releases list|show``) and the parsers of ``schedule list|pause|resume|delete``.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from mlrail.cli import build_parser
from mlrail.cli.cluster import SCHEDULE_ACTIONS, schedule_action_parser


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def _all_parsers() -> list[argparse.ArgumentParser]:
    found = list(_parsers(build_parser()))
    found += [schedule_action_parser(action) for action in SCHEDULE_ACTIONS]
    return found


def _undocumented(parser: argparse.ArgumentParser) -> list[str]:
    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            # each command is listed with its own help line
            helped = {a.dest for a in action._choices_actions if (a.help or "").strip()}
            missing += [f"{name} (command)" for name in action.choices if name not in helped]
        elif not (action.help or "").strip() or action.help == argparse.SUPPRESS:
            missing.append("/".join(action.option_strings) or action.dest)
    return missing


def test_the_walk_finds_every_command_and_its_sub_commands() -> None:
    progs = {p.prog for p in _all_parsers()}
    for prog in ("mlrail run", "mlrail serve", "mlrail releases list", "mlrail schedule list"):
        assert prog in progs


@pytest.mark.parametrize("parser", _all_parsers(), ids=lambda p: p.prog)
def test_every_flag_has_help(parser: argparse.ArgumentParser) -> None:
    assert _undocumented(parser) == [], f"{parser.prog}: no help text"


def test_an_undocumented_flag_is_caught() -> None:
    p = argparse.ArgumentParser(prog="x")
    p.add_argument("--documented", help="says what it does")
    p.add_argument("--bare")
    sub = p.add_subparsers()
    sub.add_parser("quiet")
    assert _undocumented(p) == ["--bare", "quiet (command)"]
