"""JSON schemas: static core schemas merged with fields from the ERP's metadata."""

from __future__ import annotations

import copy
import decimal
import logging
import re
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from tap_erp.dialect.metadata import Field

LOGGER = logging.getLogger("tap-erp.schema")


def _multiple_of(scale: int) -> float | int:
    """``10**-scale`` as the shortest float (0.01, 0.0001, ...)."""
    if scale <= 0:
        return 1
    return float(decimal.Decimal(1).scaleb(-scale))


def field_schema(field: Field, type_map: Mapping[str, str]) -> dict[str, t.Any] | None:
    """JSON schema of one described field; None when its type is not mapped."""
    mapped = type_map.get(field.type)
    if mapped is None:
        return None
    schema: dict[str, t.Any]
    if mapped in {"date", "date-time"}:
        schema = {"type": ["string"], "format": mapped}
    elif mapped == "number":
        schema = {"type": ["number"]}
        if field.scale is not None:
            schema["multipleOf"] = _multiple_of(int(field.scale))
    elif mapped == "object":
        schema = {"type": ["object"], "properties": fields_schema(field.fields, type_map)}
    elif mapped == "array":
        items = field_schema(field.items, type_map) if field.items else None
        schema = {"type": ["array"], "items": items or {}}
    else:
        schema = {"type": [mapped]}
    if field.nullable:
        schema["type"].append("null")
    if field.label:
        schema["description"] = str(field.label)
    return schema


def fields_schema(fields: Iterable[Field], type_map: Mapping[str, str]) -> dict[str, t.Any]:
    """Properties of described fields (fields of unmapped types are left out)."""
    out = {}
    for field in fields:
        schema = field_schema(field, type_map)
        if schema is not None:
            out[field.name] = schema
    return out


def merge_schema(
    core: dict[str, t.Any],
    fields: list[Field] | None,
    type_map: Mapping[str, str],
    custom_fields: str | None = None,
) -> dict[str, t.Any]:
    """The core schema plus the described fields it lacks (the custom fields).

    Core properties win: they are typed by hand. With `custom_fields` (a regular
    expression) only matching names are added. Field order follows the metadata.
    """
    merged = copy.deepcopy(core)
    if not fields:
        return merged
    pattern = re.compile(custom_fields) if custom_fields else None
    properties = merged.setdefault("properties", {})
    skipped = []
    for field in fields:
        if field.name in properties or (pattern and not pattern.search(field.name)):
            continue
        schema = field_schema(field, type_map)
        if schema is None:
            skipped.append(f"{field.name} ({field.type})")
            continue
        properties[field.name] = schema
    if skipped:
        LOGGER.info("Described fields of unmapped types left out: %s", ", ".join(skipped))
    return merged
