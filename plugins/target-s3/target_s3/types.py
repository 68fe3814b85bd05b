"""JSON Schema (from a SCHEMA message) to Arrow types.

Every property maps to exactly one column whose type depends only on the schema, so
all files of one schema version have the same Arrow schema. Each mapped type has

* ``arrow``: the column type written to Parquet;
* ``read``: the type ``pyarrow.json`` reads the raw JSON value as (``None`` when the
  value needs Python, e.g. JSON-text columns);
* ``convert``: a per-value converter (from ``values``) used by the slow path (values
  as decoded by msgspec with exact ``Decimal`` numbers); it raises ``BadValueError``
  instead of losing data.

Mapping rules (documented in the README):

=========================================  ==========================================
JSON Schema                                Arrow
=========================================  ==========================================
integer                                    int64
integer, maximum/minimum beyond int64      decimal128(38, 0); string beyond 38 digits
number with multipleOf 10^-s / x-scale     decimal128(p, s), p from x-precision, else
                                           from maximum, else 38
number                                     float64
string, format date-time                   timestamp[us, tz=UTC] (offsets converted)
string, format date                        date32
string, format time                        string (ISO text; may carry an offset)
string (any other format), null            string
boolean                                    bool
object with properties                     struct (recursively)
array with items                           list (recursively)
free-form object/array, anyOf/oneOf with   string holding the value as compact JSON
different branches, several types, {}
=========================================  ==========================================
"""

from __future__ import annotations

import decimal
import typing as t
from dataclasses import dataclass

import pyarrow as pa

from target_s3.values import (
    INT64_MAX,
    MAX_DECIMAL_PRECISION,
    Converter,
    bigint_decimal,
    bigint_text,
    decimal_converter,
    json_text,
    list_converter,
    number_text,
    struct_converter,
    to_bool,
    to_date,
    to_float,
    to_int64,
    to_string,
    to_timestamp,
)

TIMESTAMP = pa.timestamp("us", tz="UTC")
#: The column a delete record sets (the tap's `_sdc_deleted_at`).
DELETED = "_sdc_deleted_at"


@dataclass(frozen=True)
class FieldType:
    """How one JSON Schema property is stored."""

    arrow: pa.DataType
    read: pa.DataType | None
    convert: Converter
    temporal: str | None = None  # "date" or "date-time": usable as partition field
    note: str = ""  # why a non-obvious type was chosen (logged at debug level)


JSON_FIELD = FieldType(pa.string(), None, json_text, note="stored as JSON text")
STRING_FIELD = FieldType(pa.string(), pa.string(), to_string)


def _declared_types(prop: dict) -> list[str]:
    declared = prop.get("type")
    if declared is None:
        return ["object"] if isinstance(prop.get("properties"), dict) else []
    if isinstance(declared, str):
        return [declared]
    if isinstance(declared, list):
        return [str(x) for x in declared]
    return []


def _decimal_of(value: t.Any) -> decimal.Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = decimal.Decimal(str(value))
    except (decimal.InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _hint(prop: dict, *names: str) -> int | None:
    for name in names:
        value = prop.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _bound(prop: dict) -> decimal.Decimal | None:
    """Largest absolute value the schema allows, if it says."""
    bounds = [
        _decimal_of(prop.get(key))
        for key in ("maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum")
    ]
    known = [abs(b) for b in bounds if b is not None]
    return max(known) if known else None


def _integer_type(prop: dict) -> FieldType:
    bound = _bound(prop)
    if bound is None or bound <= INT64_MAX:
        return FieldType(pa.int64(), pa.int64(), to_int64)
    if bound < decimal.Decimal(10) ** MAX_DECIMAL_PRECISION:
        arrow = pa.decimal128(MAX_DECIMAL_PRECISION, 0)
        return FieldType(arrow, arrow, bigint_decimal, note="integer beyond int64")
    return FieldType(pa.string(), None, bigint_text, note="integer beyond 38 digits")


def _number_type(prop: dict) -> FieldType:
    scale = _hint(prop, "x-scale", "scale")
    step = _decimal_of(prop.get("multipleOf"))
    if scale is None and step is not None and step > 0:
        scale = max(0, -step.normalize().as_tuple().exponent)  # type: ignore[operator]
    if scale is None:
        return FieldType(pa.float64(), pa.float64(), to_float)
    precision = _hint(prop, "x-precision", "precision")
    if precision is None:
        bound = _bound(prop)
        precision = MAX_DECIMAL_PRECISION
        if bound is not None:
            digits = len(str(int(bound))) if bound >= 1 else 1
            precision = min(MAX_DECIMAL_PRECISION, max(digits + scale, 1))
    if scale > MAX_DECIMAL_PRECISION - 1 or precision > MAX_DECIMAL_PRECISION:
        return FieldType(pa.string(), None, number_text, note="decimal beyond decimal128")
    precision = max(precision, scale, 1)
    arrow = pa.decimal128(precision, scale)
    return FieldType(arrow, arrow, decimal_converter(precision, scale))


def _string_type(prop: dict) -> FieldType:
    fmt = prop.get("format")
    if fmt == "date-time":
        return FieldType(TIMESTAMP, TIMESTAMP, to_timestamp, temporal="date-time")
    if fmt == "date":
        return FieldType(pa.date32(), pa.string(), to_date, temporal="date")
    if fmt in ("decimal", "number") and _hint(prop, "x-scale", "scale") is not None:
        number = _number_type(prop)
        if number.read is not None:
            return FieldType(number.arrow, pa.string(), number.convert)
    return STRING_FIELD


def _union_type(branches: t.Any) -> FieldType:
    if not isinstance(branches, list):
        return JSON_FIELD
    kept = [b for b in branches if isinstance(b, dict) and _declared_types(b) != ["null"]]
    distinct = {json_text(b) for b in kept}
    if len(distinct) == 1:
        return field_type(kept[0])
    if kept and all([x for x in _declared_types(b) if x != "null"] == ["string"] for b in kept):
        return STRING_FIELD
    return JSON_FIELD


def field_type(prop: t.Any) -> FieldType:
    """Map one JSON Schema property to its column type; never raises."""
    if not isinstance(prop, dict):
        return JSON_FIELD
    for key in ("anyOf", "oneOf"):
        if key in prop:
            return _union_type(prop[key])
    declared = _declared_types(prop)
    types = [x for x in declared if x != "null"]
    if not types:
        return STRING_FIELD if declared == ["null"] else JSON_FIELD
    if set(types) == {"integer", "number"}:
        types = ["number"]
    if len(types) > 1:
        return JSON_FIELD
    kind = types[0]
    if kind == "integer":
        return _integer_type(prop)
    if kind == "number":
        return _number_type(prop)
    if kind == "string":
        return _string_type(prop)
    if kind == "boolean":
        return FieldType(pa.bool_(), pa.bool_(), to_bool)
    if kind == "object":
        return _object_type(prop)
    if kind == "array":
        return _array_type(prop)
    return JSON_FIELD


def _object_type(prop: dict) -> FieldType:
    properties = prop.get("properties")
    if not isinstance(properties, dict) or not properties:
        return JSON_FIELD
    children = {str(name): field_type(child) for name, child in properties.items()}
    arrow = pa.struct([pa.field(name, c.arrow) for name, c in children.items()])
    reads = [c.read for c in children.values()]
    read = (
        pa.struct([pa.field(n, c.read) for n, c in children.items()])  # type: ignore[arg-type]
        if all(r is not None for r in reads)
        else None
    )
    return FieldType(arrow, read, struct_converter({n: c.convert for n, c in children.items()}))


def _array_type(prop: dict) -> FieldType:
    items = prop.get("items")
    if not isinstance(items, dict):
        return JSON_FIELD
    item = field_type(items)
    read = pa.list_(item.read) if item.read is not None else None
    return FieldType(pa.list_(item.arrow), read, list_converter(item.convert))


def arrow_field(arrow: pa.DataType) -> FieldType | None:
    """The column type that stores values as ``arrow`` (None for types not mapped here)."""
    if pa.types.is_int64(arrow):
        return FieldType(arrow, arrow, to_int64)
    if pa.types.is_decimal(arrow):
        return FieldType(arrow, arrow, decimal_converter(arrow.precision, arrow.scale))
    if pa.types.is_float64(arrow):
        return FieldType(arrow, arrow, to_float)
    if pa.types.is_string(arrow):
        return STRING_FIELD
    if pa.types.is_boolean(arrow):
        return FieldType(arrow, arrow, to_bool)
    if arrow.equals(TIMESTAMP):
        return FieldType(TIMESTAMP, TIMESTAMP, to_timestamp, temporal="date-time")
    if pa.types.is_date32(arrow):
        return FieldType(arrow, pa.string(), to_date, temporal="date")
    if pa.types.is_list(arrow):
        item = arrow_field(arrow.value_type)
        if item is None:
            return None
        read = pa.list_(item.read) if item.read is not None else None
        return FieldType(arrow, read, list_converter(item.convert))
    if pa.types.is_struct(arrow):
        children = {
            arrow.field(i).name: arrow_field(arrow.field(i).type) for i in range(arrow.num_fields)
        }
        if any(c is None for c in children.values()):
            return None
        known = t.cast(dict[str, FieldType], children)
        reads = [c.read for c in known.values()]
        read = (
            pa.struct([pa.field(n, c.read) for n, c in known.items()])  # type: ignore[arg-type]
            if all(r is not None for r in reads)
            else None
        )
        return FieldType(arrow, read, struct_converter({n: c.convert for n, c in known.items()}))
    return None


def declared_non_null(schema: dict) -> list[str]:
    """Top-level properties that may not be null (the ERP's metadata says so).

    A property is non-null when its type does not allow null and, where the schema
    lists ``required`` properties, it is one of them (the others may be absent).
    """
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict):
        return []
    required = schema.get("required")
    out = []
    for name, prop in properties.items():
        if isinstance(required, list) and name not in required:
            continue
        if not isinstance(prop, dict) or "anyOf" in prop or "oneOf" in prop:
            continue
        declared = _declared_types(prop)
        if declared and "null" not in declared:
            out.append(str(name))
    return out


def stream_fields(schema: dict) -> dict[str, FieldType]:
    """Column types of a stream schema, in property order."""
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict):
        return {}
    return {str(name): field_type(prop) for name, prop in properties.items()}
