"""One row of ``mlrail doctor``'s answer (:class:`Check`), and the table and JSON it prints."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

__all__ = ["Check", "Status", "exit_status", "render_json", "render_table"]

#: ``ok``: as tested; ``absent``: not installed and not needed for the role checked;
#: ``warn``: worth knowing, not a failure; ``fail``: mlrail's jobs need it fixed (exit 1).
Status = Literal["ok", "absent", "warn", "fail"]

#: The widest FOUND or NEEDED cell of the table (JSON has every finding in full).
_WIDEST = 60
_SHOWN: dict[str, str] = {"ok": "ok", "absent": "absent", "warn": "warn", "fail": "FAIL"}


@dataclass(frozen=True)
class Check:
    """What one check found.

    Attributes:
        section: Where it belongs: ``python``, ``package``, ``kfp``, ``cluster``.
        name: What was checked: a distribution's name, ``KServe CRDs``, ``Pod Security``.
        status: See :data:`Status`.
        found: What is there: an installed version, ``missing``, a label's value, an error.
        needed: What mlrail is tested with: a version range, a label, a permission.
        role: Which jobs need it: ``serving`` (``mlrail serve`` and the serving image, and so
            everything), ``training`` (run, pipelines, components), or empty for the cluster.
        fix: One line that fixes a ``fail`` (or ``warn``): a command where there is one.
    """

    section: str
    name: str
    status: Status
    found: str
    needed: str
    role: str = ""
    fix: str = ""


def exit_status(checks: Sequence[Check]) -> int:
    """0 when nothing failed, 1 when a check did."""
    return 1 if any(c.status == "fail" for c in checks) else 0


def render_json(checks: Sequence[Check], header: dict[str, str]) -> str:
    """The answer as one JSON document: ``header``'s keys, ``ok`` and every check."""
    document = {**header, "ok": exit_status(checks) == 0, "checks": [asdict(c) for c in checks]}
    return json.dumps(document, indent=2)


def _cell(text: str) -> str:
    return text if len(text) <= _WIDEST else text[: _WIDEST - 1] + "…"


def render_table(checks: Sequence[Check], title: str) -> str:
    """The answer as a table, then one line per failure (and warning) with its fix; a finding
    too long for its cell is cut there and written in full beside its fix."""
    rows = [("CHECK", "STATUS", "FOUND", "NEEDED", "ROLE")]
    rows += [(c.name, _SHOWN[c.status], _cell(c.found), _cell(c.needed), c.role) for c in checks]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = [title, ""]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    to_fix = [c for c in checks if c.fix and c.status in ("fail", "warn")]
    if to_fix:
        lines.append("")
    for c in to_fix:
        lines.append(f"{_SHOWN[c.status]} {c.name}: {c.fix}")
        if len(c.found) > _WIDEST:
            lines.append(f"  found: {c.found}")
    failed = sum(c.status == "fail" for c in checks)
    counted = f"{len(checks)} check{'' if len(checks) == 1 else 's'}"
    lines += ["", f"{counted}, {failed} failed" if failed else f"{counted}, all passed"]
    return "\n".join(lines)
