"""JSON schemas: static core schemas merged with fields from the ERP's metadata."""

from __future__ import annotations

import copy
import decimal
import typing as t

from tap_erp.errors import TapERPError

if t.TYPE_CHECKING:
    from tap_erp.profiles import MetadataSpec, StreamSpec


def _multiple_of(scale: int) -> float | int:
    """``10**-scale`` as the shortest float (0.01, 0.0001, ...)."""
    if scale <= 0:
        return 1
    return float(decimal.Decimal(1).scaleb(-scale))


def field_schema(field: t.Mapping[str, t.Any], spec: MetadataSpec) -> dict[str, t.Any]:
    """JSON schema of one metadata field entry."""
    kind = field.get("type")
    mapped = spec.type_map.get(str(kind))
    if mapped is None:
        msg = f"metadata field {field.get('name')!r} has unknown type {kind!r}"
        raise TapERPError(msg)
    nullable = bool(field.get("nullable", True))
    schema: dict[str, t.Any]
    if mapped in {"date", "date-time"}:
        schema = {"type": ["string"], "format": mapped}
    elif mapped == "number":
        schema = {"type": ["number"]}
        if field.get("scale") is not None:
            schema["multipleOf"] = _multiple_of(int(field["scale"]))
    elif mapped == "object":
        schema = {
            "type": ["object"],
            "properties": fields_schema(field.get(spec.fields_field) or [], spec),
        }
    elif mapped == "array":
        items = field.get("items")
        schema = {"type": ["array"], "items": field_schema(items, spec) if items else {}}
    else:
        schema = {"type": [mapped]}
    if nullable:
        schema["type"].append("null")
    if field.get("label"):
        schema["description"] = str(field["label"])
    return schema


def fields_schema(
    fields: t.Iterable[t.Mapping[str, t.Any]], spec: MetadataSpec
) -> dict[str, dict[str, t.Any]]:
    """Properties of a list of metadata field entries."""
    return {str(f["name"]): field_schema(f, spec) for f in fields}


def find_entity(
    metadata: t.Any,
    stream: StreamSpec,
    spec: MetadataSpec,
) -> t.Mapping[str, t.Any] | None:
    """The metadata entry of a stream: by entity name, else by its path."""
    entities = metadata.get(spec.entities_field) if isinstance(metadata, dict) else None
    if not isinstance(entities, dict):
        return None
    if stream.metadata_entity in entities:
        return t.cast("t.Mapping[str, t.Any]", entities[stream.metadata_entity])
    last_segment = stream.path.rstrip("/").rsplit("/", 1)[-1]
    for entry in entities.values():
        if isinstance(entry, dict) and entry.get("path") in {stream.path, last_segment}:
            return t.cast("t.Mapping[str, t.Any]", entry)
    return None


def merge_schema(
    core: dict[str, t.Any],
    entity: t.Mapping[str, t.Any] | None,
    spec: MetadataSpec,
) -> dict[str, t.Any]:
    """The core schema plus every metadata field it lacks (the custom fields).

    Core properties win: they are typed by hand. Field order follows the metadata.
    """
    merged = copy.deepcopy(core)
    if not entity:
        return merged
    properties = merged.setdefault("properties", {})
    for field in entity.get(spec.fields_field) or []:
        name = str(field["name"])
        if name not in properties:
            properties[name] = field_schema(field, spec)
    return merged
