"""The ERP's rows as the standard model names them: what every loader should hold.

The stream maps of `transforms/erp_sandbox/` (the standard model, then the client's
custom fields) rename native fields or pick a key of an object (`BillTo["City"]`);
`standard_rows` does the same to the sandbox's own rows.
"""

from __future__ import annotations

import re
import typing as t

import yaml

from erp_testing.project import ROOT

MAPS = ROOT / "transforms" / "erp_sandbox"
_FIELD = re.compile(r'^(\w+)(?:\["(\w+)"\])?$')


def stream_map(stream: str, client: str) -> dict[str, str]:
    """Standard column → native expression, the client's custom fields included."""
    merged: dict[str, str] = {}
    for path in (MAPS / "standard_model.yml", MAPS / "clients" / f"{client}.yml"):
        if path.exists():
            merged.update((yaml.safe_load(path.read_text()) or {}).get(stream) or {})
    return {k: v for k, v in merged.items() if not k.startswith("__") and v != "__NULL__"}


def _pick(row: dict[str, t.Any], expression: str) -> t.Any:
    match = _FIELD.match(expression)
    if not match:
        raise ValueError(f"not a rename or an object key: {expression!r}")
    value = row.get(match.group(1))
    if match.group(2) is not None:
        value = (value or {}).get(match.group(2))
    return value


def standard_rows(rows: list[dict[str, t.Any]], stream: str, client: str) -> list[dict]:
    """The native rows of one stream with standard columns."""
    columns = stream_map(stream, client)
    return [{name: _pick(row, expr) for name, expr in columns.items()} for row in rows]
