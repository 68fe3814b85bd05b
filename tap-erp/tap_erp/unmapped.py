"""Custom fields the stream maps would drop: reported, or passed through.

A custom field is a property of a stream's catalog schema that the profile's core
schema lacks (the ERP's metadata described it). A stream map with
`__else__: __NULL__` drops every property it does not name, so a field a client adds
in its ERP would vanish without a word. Each such field is reported once per run,
naming stream, field and how to map it; with `unmapped_custom_fields: pass` it lands
under a derived column name instead (`spec_<name>` for products and inventory,
`custom_<name>` elsewhere). A property mapped to `__NULL__` by name is dropped on
purpose and never reported.
"""

from __future__ import annotations

import ast
import os
import re
import typing as t
from dataclasses import dataclass

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from tap_erp.sdk_internals import TapInternals

#: Streams whose custom fields are specifications of an item (`spec_` columns).
SPEC_STREAMS = frozenset({"products", "inventory"})

#: Name parts that only say "custom" in an ERP (SAP Business One, S/4HANA, Odoo, …).
_MARKER = re.compile(r"^(U_|YY1_|ZZ1_|x_|custom_)", re.IGNORECASE)
_WORD_BREAK = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NULL = (None, "__NULL__")


@dataclass(frozen=True)
class UnmappedField:
    """One custom field a stream's maps do not name."""

    stream: str
    field: str
    column: str  # the column it lands as with `unmapped_custom_fields: pass`
    passed: bool = False
    column_taken: bool = False  # the map already has a column of that name

    def message(self) -> str:
        """The one warning line of this field."""
        where = f"'{self.stream}': custom field '{self.field}'"
        if self.column_taken:
            return (
                f"{where} is dropped by the stream maps: its column name '{self.column}' "
                f"is taken; map it under another name in the client's map file "
                f"(`<column>: {self.field}` under `{self.stream}:`)"
            )
        if self.passed:
            return (
                f"{where} is not in the stream maps; landed as column '{self.column}' "
                "(unmapped_custom_fields: pass)"
            )
        return (
            f"{where} is dropped by the stream maps (__else__: __NULL__); map it in the "
            f"client's map file (`{self.column}: {self.field}` under `{self.stream}:`), "
            "or set unmapped_custom_fields to 'pass' to land it as "
            f"'{self.column}'"
        )


def column_name(stream: str, field: str) -> str:
    """The standard column of a custom field: `spec_`/`custom_` + its name in snake_case."""
    prefix = "spec_" if stream in SPEC_STREAMS else "custom_"
    base = _WORD_BREAK.sub("_", _MARKER.sub("", field)).lower()
    base = re.sub(r"[^a-z0-9]+", "_", base).strip("_") or "field"
    return prefix + base


def referenced_names(expression: t.Any) -> set[str]:
    """The record properties a stream map expression reads (a rename reads one)."""
    if not isinstance(expression, str) or expression in _NULL:
        return set()
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        return {expression}
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def dropped_fields(stream_map: Mapping[str, t.Any], properties: Iterable[str]) -> list[str]:
    """Properties that `stream_map` drops without naming them (its `__else__`)."""
    if "__else__" not in stream_map or stream_map["__else__"] not in _NULL:
        return []
    named = set(stream_map)
    for expression in stream_map.values():
        named |= referenced_names(expression)
    return [p for p in properties if p not in named]


def unmapped_custom_fields(
    stream_maps: Mapping[str, t.Any],
    catalog_properties: Mapping[str, list[str]],
    core_properties: Callable[[str], set[str] | None],
) -> list[UnmappedField]:
    """Every custom field of a selected stream that its map drops, in catalog order."""
    found = []
    for stream, properties in catalog_properties.items():
        stream_map = stream_maps.get(stream)
        core = core_properties(stream)
        if not isinstance(stream_map, dict) or core is None:
            continue
        custom = [p for p in properties if p not in core]
        for field in dropped_fields(stream_map, custom):
            found.append(UnmappedField(stream, field, column_name(stream, field)))
    return found


def pass_through(
    stream_maps: Mapping[str, t.Any], fields: list[UnmappedField]
) -> tuple[dict[str, t.Any], list[UnmappedField]]:
    """Stream maps that also rename each field to its column; a column name the map
    already uses keeps the field dropped (reported so)."""
    maps = {stream: dict(m) if isinstance(m, dict) else m for stream, m in stream_maps.items()}
    result = []
    for field in fields:
        stream_map = maps[field.stream]
        if field.column in stream_map:
            result.append(UnmappedField(field.stream, field.field, field.column, column_taken=True))
            continue
        stream_map[field.column] = field.field
        result.append(UnmappedField(field.stream, field.field, field.column, passed=True))
    return maps, result


def new_columns(bookmark: dict[str, t.Any], columns: list[str]) -> list[str]:
    """Columns a stream lands now that it did not when `bookmark` was written.

    Records the current columns in the bookmark (`columns`). A bookmark without a
    position, or from before columns were recorded, has no new columns.
    """
    before = bookmark.get("columns")
    bookmark["columns"] = sorted(columns)
    landed = bookmark.get("replication_key_value") is not None or bookmark.get("partitions")
    if not isinstance(before, list) or not landed:
        return []
    return [c for c in columns if c not in set(before)]


def history_warning(stream: str, column: str, environment: str | None) -> str:
    """The warning that rows landed before `column` existed lack it."""
    env = f" --environment {environment}" if environment else " --environment <client>"
    return (
        f"'{stream}': column '{column}' is new since the last run; rows landed before "
        f"lack it: re-extract the stream with `scripts/backfill.py{env} --stream "
        f"{stream}` (add --from YYYY-MM-DD for rows changed since a date)"
    )


def report(tap: TapInternals) -> None:
    """Before a sync: a warning per custom field the maps drop (or pass through), and
    per column an incremental stream lands for the first time over earlier rows."""
    for field in tap.unmapped_fields:
        tap.logger.warning("%s", field.message())
    environment = os.environ.get("MELTANO_ENVIRONMENT")
    for stream in tap.streams.values():
        stream_maps = tap.mapper.stream_maps.get(stream.name)
        if not stream.selected or stream.replication_key is None or not stream_maps:
            continue
        columns = list(stream_maps[0].transformed_schema.get("properties", {}))
        for column in new_columns(stream.get_context_state(None), columns):
            tap.logger.warning("%s", history_warning(stream.name, column, environment))
