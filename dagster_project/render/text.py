"""Text that reaches a terminal or a shell: data values with control characters made visible, and
the `kpi lineage` command line, shell-quoted. One home for both (docs/audit.md).

Data values (org unit names, file names, reasons, …) come from files nobody here controls. An ESC
or NUL in them would reach the terminal raw and could move the cursor, rewrite the screen or hide
text; every CLI rendering of data values goes through `printable` / `printable_tree`, which write
each C0/C1 control character except newline and tab as a visible `\\xNN` escape.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from pathlib import PurePath
from typing import Any, TypeVar

T = TypeVar("T")

# C0 except tab (09) and newline (0a), DEL, C1.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_C1 = re.compile(r"[\x80-\x9f]")


def printable(text: str) -> str:
    """`text` with every control character but newline and tab written as `\\xNN`."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def printable_tree(value: T) -> T:
    """`value` with `printable` applied to every string in it: in dicts (keys too), lists, tuples,
    dataclass instances and paths; other values unchanged."""
    return _tree(value)


def _tree(value: Any) -> Any:
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, PurePath):
        return type(value)(printable(str(value)))
    if isinstance(value, dict):
        return {_tree(k): _tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_tree(v) for v in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(_tree(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _tree(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
        return dataclasses.replace(value, **changes)
    return value


def json_for_terminal(text: str) -> str:
    """JSON text with the C1 control characters escaped too (json.dumps escapes C0 and DEL only
    with ensure_ascii=True; with False it leaves C1 raw, and inside JSON they occur only in strings)."""
    return _C1.sub(lambda m: f"\\u{ord(m.group()):04x}", text.replace("\x7f", "\\u007f"))


def kpi_lineage_command(kpi_id: str, period_label: str, grain: str, org_unit_id: str) -> str:
    """The `kpi lineage` command that explains one published value, each argument shell-quoted
    (an org unit id with a space, `;` or `$(…)` is passed as one word, never run)."""
    return shlex.join(
        ["kpi", "lineage", kpi_id, "--period", period_label, "--grain", grain, "--org", org_unit_id]
    )
