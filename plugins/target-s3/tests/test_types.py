"""Schema → Arrow mapping and value conversion edge cases."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pyarrow as pa
import pytest
from singer_sdk.exceptions import MissingKeyPropertiesError
from target_s3.convert import StreamConverter
from target_s3.errors import DataError
from target_s3.types import TIMESTAMP, field_type

UTC = dt.UTC


def convert(schema_props: dict, records: list, keys=()) -> pa.Table:
    conv = StreamConverter("s", {"properties": schema_props}, list(keys))
    lines = [r if isinstance(r, bytes) else json.dumps(r).encode() for r in records]
    data = b"".join(b'{"type": "RECORD", "stream": "s", "record": ' + x + b"}\n" for x in lines)
    return conv.to_table(data, len(lines))


@pytest.mark.parametrize(
    ("prop", "expected"),
    [
        ({"type": "integer"}, pa.int64()),
        ({"type": ["null", "integer"], "maximum": 2**64}, pa.decimal128(38, 0)),
        ({"type": "integer", "minimum": -(10**40)}, pa.string()),
        ({"type": "number", "multipleOf": 0.01}, pa.decimal128(38, 2)),
        ({"type": "number", "multipleOf": 0.0001, "maximum": 1e6}, pa.decimal128(11, 4)),
        ({"type": "number", "x-precision": 18, "x-scale": 6}, pa.decimal128(18, 6)),
        ({"type": "number"}, pa.float64()),
        ({"type": ["integer", "number", "null"]}, pa.float64()),
        ({"type": "string", "format": "date-time"}, TIMESTAMP),
        ({"type": "string", "format": "date"}, pa.date32()),
        ({"type": "string", "format": "time"}, pa.string()),
        ({"type": "string", "format": "uuid"}, pa.string()),
        ({"type": "string", "format": "email"}, pa.string()),
        ({"type": "boolean"}, pa.bool_()),
        ({"type": "object"}, pa.string()),
        ({"type": "object", "properties": {}}, pa.string()),
        ({}, pa.string()),
        ({"type": "null"}, pa.string()),
        ({"type": ["string", "integer"]}, pa.string()),
        (
            {"anyOf": [{"type": "string", "format": "date-time"}, {"type": ["string", "null"]}]},
            pa.string(),
        ),
        ({"anyOf": [{"type": "integer"}, {"type": "null"}]}, pa.int64()),
        ({"oneOf": [{"type": "integer"}, {"type": "object"}]}, pa.string()),
        ({"type": "array"}, pa.string()),
        ({"type": "array", "items": {"type": "integer"}}, pa.list_(pa.int64())),
        (
            {"type": "object", "properties": {"a": {"type": "string", "format": "date"}}},
            pa.struct([("a", pa.date32())]),
        ),
        ({"$ref": "#/definitions/x"}, pa.string()),
        ("not a schema", pa.string()),
    ],
)
def test_mapping(prop, expected):
    assert field_type(prop).arrow == expected


def test_int64_limits_and_beyond():
    props = {"i": {"type": "integer"}}
    table = convert(props, [{"i": 2**63 - 1}, {"i": -(2**63)}, {"i": None}])
    assert table.column("i").to_pylist() == [2**63 - 1, -(2**63), None]
    with pytest.raises(DataError, match=r"column 'i'.*outside the int64 range.*maximum"):
        convert(props, [{"i": 1}, {"i": 2**63}])


def test_declared_big_integers():
    props = {
        "d": {"type": "integer", "maximum": 2**70},
        "s": {"type": "integer", "maximum": 10**50},
    }
    big = 123456789012345678901234567890123456789012345
    table = convert(props, [{"d": 2**64 + 1, "s": big}, {"d": -5, "s": -1}, {}])
    assert table.column("d").to_pylist() == [Decimal(2**64 + 1), Decimal(-5), None]
    assert table.column("s").to_pylist() == [str(big), "-1", None]


def test_timestamps_offsets_and_microseconds():
    props = {"t": {"type": "string", "format": "date-time"}}
    table = convert(
        props,
        [
            {"t": "2024-01-05T10:11:12.123456+02:00"},
            {"t": "2024-01-05T23:30:00-05:30"},
            {"t": "2024-01-05T10:11:12Z"},
            {"t": "2024-01-05T10:11:12"},
            {"t": "9999-12-31T23:59:59.999999Z"},
            {"t": None},
        ],
    )
    assert table.column("t").type == TIMESTAMP
    assert table.column("t").to_pylist() == [
        dt.datetime(2024, 1, 5, 8, 11, 12, 123456, tzinfo=UTC),
        dt.datetime(2024, 1, 6, 5, 0, tzinfo=UTC),
        dt.datetime(2024, 1, 5, 10, 11, 12, tzinfo=UTC),
        dt.datetime(2024, 1, 5, 10, 11, 12, tzinfo=UTC),
        dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        None,
    ]


def test_timestamp_with_nanoseconds_falls_back_and_keeps_microseconds():
    props = {"t": {"type": "string", "format": "date-time"}}
    table = convert(props, [{"t": "2024-01-05T10:11:12.1234567+01:00"}])
    assert table.column("t").to_pylist() == [dt.datetime(2024, 1, 5, 9, 11, 12, 123456, tzinfo=UTC)]


def test_invalid_timestamp_is_a_clear_error():
    with pytest.raises(DataError, match=r"stream 's', column 't'.*not an ISO 8601"):
        convert({"t": {"type": "string", "format": "date-time"}}, [{"t": "yesterday"}])


def test_decimals_are_exact():
    props = {"a": {"type": "number", "multipleOf": 0.0001}, "f": {"type": "number"}}
    raw = [
        b'{"a": 1234.5678, "f": 0.1}',
        b'{"a": 0.1}',
        b'{"a": 99999999999999.9999}',
        b'{"a": 1e2}',
        b'{"a": null}',
    ]
    table = convert(props, raw)
    assert table.column("a").to_pylist() == [
        Decimal("1234.5678"),
        Decimal("0.1"),
        Decimal("99999999999999.9999"),
        Decimal(100),
        None,
    ]
    assert table.column("f").to_pylist()[0] == 0.1


def test_decimal_with_more_places_than_declared_fails_clearly():
    with pytest.raises(DataError, match="more than 2 decimal places"):
        convert({"a": {"type": "number", "multipleOf": 0.01}}, [b'{"a": 1.005}'])


def test_dates_and_times():
    props = {"d": {"type": "string", "format": "date"}, "t": {"type": "string", "format": "time"}}
    table = convert(props, [{"d": "2024-02-29", "t": "10:11:12.5+02:00"}, {"d": None}])
    assert table.column("d").to_pylist() == [dt.date(2024, 2, 29), None]
    assert table.column("t").to_pylist() == ["10:11:12.5+02:00", None]
    table = convert(props, [{"d": "2024-02-29T00:00:00Z"}])
    assert table.column("d").to_pylist() == [dt.date(2024, 2, 29)]


def test_nested_structs_lists_and_json():
    props = {
        "addr": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "geo": {"type": "object", "properties": {"lat": {"type": "number"}}},
                "since": {"type": "string", "format": "date"},
            },
        },
        "tags": {"type": "array", "items": {"type": "string"}},
        "lines": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "qty": {"type": "number", "multipleOf": 0.001},
                    "extra": {"type": "object"},
                },
            },
        },
        "meta": {"type": "object"},
        "any": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
    }
    records = [
        {
            "addr": {"city": "Bonn", "geo": {"lat": 50.7}, "since": "2020-01-01"},
            "tags": ["a", "b"],
            "lines": [{"qty": 1.25, "extra": {"x": [1, 2.50]}}],
            "meta": {"k": {"n": 12345678901234567890123}},
            "any": 5,
        },
        {"addr": None, "tags": [], "lines": None, "meta": None, "any": "x"},
        {},
    ]
    table = convert(props, [json.dumps(r).encode().replace(b"2.5]", b"2.50]") for r in records])
    rows = table.to_pylist()
    assert rows[0]["addr"] == {"city": "Bonn", "geo": {"lat": 50.7}, "since": dt.date(2020, 1, 1)}
    assert rows[0]["tags"] == ["a", "b"]
    assert rows[0]["lines"] == [{"qty": Decimal("1.250"), "extra": '{"x":[1,2.50]}'}]
    assert json.loads(rows[0]["meta"]) == {"k": {"n": 12345678901234567890123}}
    assert rows[0]["any"] == "5" and rows[1]["any"] == '"x"'
    assert rows[1]["addr"] is None and rows[1]["tags"] == []
    assert all(v is None for v in rows[2].values())


def test_nulls_everywhere_and_missing_fields():
    props = {
        n: {"type": ["null", t]}
        for n, t in [("a", "integer"), ("b", "number"), ("c", "string"), ("d", "boolean")]
    }
    table = convert(props, [{}, {"a": None, "b": None, "c": None, "d": None}])
    assert table.num_rows == 2
    assert all(v is None for row in table.to_pylist() for v in row.values())


def test_mismatched_json_types_are_coerced_losslessly():
    props = {"s": {"type": "string"}, "i": {"type": "integer"}, "b": {"type": "boolean"}}
    table = convert(props, [{"s": 12, "i": "7", "b": "true"}, {"s": 1.50, "i": 3.0, "b": False}])
    assert table.to_pylist() == [
        {"s": "12", "i": 7, "b": True},
        {"s": "1.5", "i": 3, "b": False},
    ]
    with pytest.raises(DataError, match=r"column 'i': 3.5 is not an integer"):
        convert(props, [{"i": 3.5}])


def test_null_key_property_fails():
    with pytest.raises(MissingKeyPropertiesError):
        convert({"id": {"type": "integer"}}, [{"id": 1}, {}], keys=["id"])


def test_unknown_fields_are_reported(caplog):
    with caplog.at_level("WARNING", logger="target-s3"):
        table = convert({"a": {"type": "integer"}}, [{"a": 1, "zz": 2}])
    assert table.column_names == ["a"]
    assert "zz" in caplog.text
