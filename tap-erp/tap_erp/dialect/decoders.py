"""Value decoders: ERP wire values turned into plain JSON values, per page, before the
incremental reader sees the rows (so replication keys are timestamps it can read).

A decoder is built once per stream from its schema and rewrites rows in place.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import re
import typing as t

from tap_erp.dialect import timestamps

if t.TYPE_CHECKING:
    from collections.abc import Callable

Rows = list[dict[str, t.Any]]
RowsDecoder = t.Callable[[Rows], Rows]

UTC = datetime.UTC


def _iso_utc(value: datetime.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _fields(schema: dict, test: Callable[[dict], bool]) -> tuple[str, ...]:
    return tuple(
        name
        for name, prop in schema.get("properties", {}).items()
        if isinstance(prop, dict) and test(prop)
    )


def _types(prop: dict) -> set[str]:
    kind = prop.get("type", [])
    return {kind} if isinstance(kind, str) else set(kind)


def _is_datetime(prop: dict) -> bool:
    return prop.get("format") == "date-time"


def _is_number(prop: dict) -> bool:
    return bool(_types(prop) & {"number", "integer"})


# Tryton's JSON encodes typed values as {"__class__": ..., ...}.


def _tryton_value(value: dict) -> t.Any:
    kind = value.get("__class__")
    if kind == "Decimal":
        return decimal.Decimal(value["decimal"])
    if kind == "datetime":
        return _iso_utc(
            datetime.datetime(
                value["year"],
                value["month"],
                value["day"],
                value.get("hour", 0),
                value.get("minute", 0),
                value.get("second", 0),
                value.get("microsecond", 0),
            )
        )
    if kind == "date":
        return datetime.date(value["year"], value["month"], value["day"]).isoformat()
    if kind == "time":
        return datetime.time(
            value.get("hour", 0),
            value.get("minute", 0),
            value.get("second", 0),
            value.get("microsecond", 0),
        ).isoformat()
    if kind == "timedelta":
        return value.get("seconds", 0)
    if kind == "bytes":
        return value.get("base64", "")
    if kind is None:
        return {k: _tryton_any(v) for k, v in value.items()}
    return value


def _tryton_any(value: t.Any) -> t.Any:
    if type(value) is dict:
        return _tryton_value(value)
    if type(value) is list:
        return [_tryton_any(v) for v in value]
    return value


def tryton(schema: dict) -> RowsDecoder:
    """Tryton's typed objects (Decimal, datetime, date, time, timedelta, bytes), 1/0 in
    boolean fields (SQLite), the `__name__` of each row left out."""
    booleans = _fields(schema, lambda p: "boolean" in _types(p))

    def decode(rows: Rows) -> Rows:
        for row in rows:
            row.pop("__name__", None)
            for name, value in row.items():
                if type(value) is dict or type(value) is list:
                    row[name] = _tryton_any(value)
            for name in booleans:
                value = row.get(name)
                if type(value) is int:
                    row[name] = bool(value)
        return rows

    return decode


def false_as_null(schema: dict) -> RowsDecoder:
    """`false` in a field that is not boolean means null (Odoo)."""
    names = _fields(schema, lambda p: "boolean" not in _types(p))

    def decode(rows: Rows) -> Rows:
        for row in rows:
            for name in names:
                if row.get(name) is False:
                    row[name] = None
        return rows

    return decode


def int_booleans(schema: dict) -> RowsDecoder:
    """1/0 in boolean fields become true/false (Frappe's Check fields)."""
    names = _fields(schema, lambda p: "boolean" in _types(p))

    def decode(rows: Rows) -> Rows:
        for row in rows:
            for name in names:
                value = row.get(name)
                if type(value) is int:
                    row[name] = bool(value)
        return rows

    return decode


def absent_as_null(schema: dict) -> RowsDecoder:
    """Fields of the schema a row leaves out are null (NetSuite omits null columns)."""
    names = tuple(schema.get("properties", {}))

    def decode(rows: Rows) -> Rows:
        for row in rows:
            for name in names:
                if name not in row:
                    row[name] = None
        return rows

    return decode


def t_f_booleans(schema: dict) -> RowsDecoder:
    """'T'/'F' in boolean fields become true/false (NetSuite's checkboxes in SuiteQL)."""
    names = _fields(schema, lambda p: "boolean" in _types(p))
    values = {"T": True, "F": False}

    def decode(rows: Rows) -> Rows:
        for row in rows:
            for name in names:
                value = row.get(name)
                if type(value) is str and value in values:
                    row[name] = values[value]
        return rows

    return decode


def naive_timestamps(schema: dict) -> RowsDecoder:
    """Date-time fields without a zone are in the site's zone (`site_timezone`)."""
    names = _fields(schema, _is_datetime)

    def decode(rows: Rows) -> Rows:
        zone = timestamps.site_timezone()
        for row in rows:
            for name in names:
                value = row.get(name)
                if type(value) is str:
                    parsed = datetime.datetime.fromisoformat(value)
                    if parsed.tzinfo is None:
                        row[name] = _iso_utc(parsed.replace(tzinfo=zone))
        return rows

    return decode


def decimal_strings(schema: dict) -> RowsDecoder:
    """Numbers sent as JSON text (OData `IEEE754Compatible=true`) become exact numbers."""
    names = _fields(schema, _is_number)

    def decode(rows: Rows) -> Rows:
        for row in rows:
            for name in names:
                value = row.get(name)
                if type(value) is str:
                    row[name] = decimal.Decimal(value)
        return rows

    return decode


def odata(schema: dict) -> RowsDecoder:
    """OData rows: `@odata.*` annotations dropped, decimals sent as text made exact."""
    numbers = decimal_strings(schema)

    def decode(rows: Rows) -> Rows:
        for row in rows:
            for name in [k for k in row if k.startswith("@")]:
                del row[name]
        return numbers(rows)

    return decode


_MS_DATE = re.compile(r"/Date\((-?\d+)([+-]\d{4})?\)/")


def odata_v2_dates(schema: dict) -> RowsDecoder:
    """`/Date(1700000000000)/` and `/Date(…+0000)/` values become ISO timestamps/dates."""
    datetimes = _fields(schema, _is_datetime)
    dates = _fields(schema, lambda p: p.get("format") == "date")

    def convert(value: t.Any) -> datetime.datetime | None:
        match = _MS_DATE.fullmatch(value) if type(value) is str else None
        if match is None:
            return None
        epoch = datetime.datetime(1970, 1, 1, tzinfo=UTC)
        return epoch + datetime.timedelta(milliseconds=int(match.group(1)))

    def decode(rows: Rows) -> Rows:
        for row in rows:
            for name in datetimes:
                instant = convert(row.get(name))
                if instant is not None:
                    row[name] = _iso_utc(instant)
            for name in dates:
                instant = convert(row.get(name))
                if instant is not None:
                    row[name] = instant.date().isoformat()
        return rows

    return decode


def odata_v2(schema: dict) -> RowsDecoder:
    """OData v2 rows: `__metadata`, `__deferred` links dropped; `/Date()/`, decimal text read."""
    dates = odata_v2_dates(schema)
    numbers = decimal_strings(schema)

    def decode(rows: Rows) -> Rows:
        for row in rows:
            row.pop("__metadata", None)
            for name in [k for k, v in row.items() if type(v) is dict and "__deferred" in v]:
                del row[name]
        return numbers(dates(rows))

    return decode


def pair_ids(schema: dict) -> RowsDecoder:
    """References sent as `[id, name]` pairs keep the id (integer fields; Odoo)."""
    names = _fields(schema, lambda p: "integer" in _types(p))

    def decode(rows: Rows) -> Rows:
        for row in rows:
            for name in names:
                value = row.get(name)
                if type(value) is list and len(value) == 2:
                    row[name] = value[0]
        return rows

    return decode


@dataclasses.dataclass(frozen=True)
class Decoder:
    """A named decoder and what it does."""

    build: Callable[[dict], RowsDecoder]
    description: str


DECODER_MAP: dict[str, Decoder] = {
    name: Decoder(fn, (fn.__doc__ or "").strip())
    for name, fn in {
        "tryton": tryton,
        "odata": odata,
        "odata_v2": odata_v2,
        "odata_v2_dates": odata_v2_dates,
        "decimal_strings": decimal_strings,
        "naive_timestamps": naive_timestamps,
        "false_as_null": false_as_null,
        "pair_ids": pair_ids,
        "int_booleans": int_booleans,
        "t_f_booleans": t_f_booleans,
        "absent_as_null": absent_as_null,
    }.items()
}


def chain(names: t.Sequence[str], schema: dict) -> RowsDecoder | None:
    """The decoders `names` applied in order, or None when there are none."""
    steps = [DECODER_MAP[name].build(schema) for name in names]
    if not steps:
        return None
    if len(steps) == 1:
        return steps[0]

    def decode(rows: Rows) -> Rows:
        for step in steps:
            rows = step(rows)
        return rows

    return decode
