"""Which column type changes are additive: the narrowest Arrow type holding both.

``join(old, new)`` is the type every value of both types fits in without loss, or
None when there is none (the change is incompatible):

* equal types join to themselves;
* int64 and decimal(p, s) join to decimal(max(19, p - s) + s, s) (int64 needs 19
  integer digits) when that is at most 38 digits;
* decimal(p1, s1) and decimal(p2, s2) join to the decimal with the larger number of
  integer digits and the larger scale, when that is at most 38 digits;
* structs join field by field (fields only in one side are added), lists by item;
* anything else (decimal and string, number and date, int64 and float64, ...) has no
  join: a column never holds two kinds of value.
"""

from __future__ import annotations

import pyarrow as pa

MAX_PRECISION = 38
INT64_DIGITS = 19


def _digits(kind: pa.DataType) -> tuple[int, int] | None:
    """(integer digits, scale) of an int64 or decimal type; None for other types."""
    if pa.types.is_int64(kind):
        return INT64_DIGITS, 0
    if pa.types.is_decimal(kind):
        return kind.precision - kind.scale, kind.scale
    return None


def join(old: pa.DataType, new: pa.DataType) -> pa.DataType | None:
    """The narrowest type holding every value of ``old`` and of ``new``; None if none."""
    if old.equals(new):
        return old
    numbers = _digits(old), _digits(new)
    if numbers[0] is not None and numbers[1] is not None:
        whole = max(numbers[0][0], numbers[1][0])
        scale = max(numbers[0][1], numbers[1][1])
        if whole + scale > MAX_PRECISION:
            return None
        return pa.decimal128(whole + scale, scale)
    if pa.types.is_struct(old) and pa.types.is_struct(new):
        return _join_structs(old, new)
    if pa.types.is_list(old) and pa.types.is_list(new):
        item = join(old.value_type, new.value_type)
        return None if item is None else pa.list_(item)
    return None


def _join_structs(old: pa.StructType, new: pa.StructType) -> pa.DataType | None:
    fields = {old.field(i).name: old.field(i).type for i in range(old.num_fields)}
    for i in range(new.num_fields):
        child = new.field(i)
        if child.name not in fields:
            fields[child.name] = child.type
            continue
        joined = join(fields[child.name], child.type)
        if joined is None:
            return None
        fields[child.name] = joined
    return pa.struct([pa.field(name, kind) for name, kind in fields.items()])


def holds(wide: pa.DataType, narrow: pa.DataType) -> bool:
    """Whether every value of ``narrow`` fits ``wide`` without loss."""
    joined = join(wide, narrow)
    return joined is not None and joined.equals(wide)
