"""Rename-only stream maps take a fast path that gives exactly the SDK's records."""

from __future__ import annotations

import copy
import logging
from decimal import Decimal

import msgspec
import pytest
from singer_sdk.exceptions import MapExpressionError
from singer_sdk.mapper import PluginMapper
from tap_erp.fast_maps import compile_renames, encodable_transform, speed_up_rename_maps

SCHEMA = {
    "type": "object",
    "properties": {
        "DocEntry": {"type": "integer"},
        "CardName": {"type": ["string", "null"]},
        "DocTotal": {"type": "number"},
        "U_Color": {"type": ["string", "null"]},
        "Extra": {"type": ["string", "null"]},
    },
}
RECORDS = [
    {
        "DocEntry": 1,
        "CardName": "Acme",
        "DocTotal": Decimal("10.25"),
        "U_Color": "red",
        "Extra": "x",
    },
    {"DocEntry": 2, "CardName": None, "DocTotal": Decimal("0"), "U_Color": None, "Extra": None},
]
MAPS = [
    {
        "__key_properties__": ["order_id"],
        "order_id": "DocEntry",
        "name": "CardName",
        "__else__": "__NULL__",
    },
    {"order_id": "DocEntry", "CardName": "__NULL__", "spec_color": "U_Color"},
    {
        "__key_properties__": ["order_id"],
        "order_id": "DocEntry",
        "total": "DocTotal",
        "__else__": None,
    },
    {"DocEntry": "DocEntry", "Extra": None},
    {
        "__key_properties__": ["id"],
        "id": "DocEntry",
        'it\'s "odd"}': "CardName",
        "__else__": "__NULL__",
    },
]


def mapper_for(spec: dict, *, fast: bool) -> PluginMapper:
    mapper = PluginMapper(
        plugin_config={"stream_maps": {"orders": copy.deepcopy(spec)}},
        logger=logging.getLogger("test"),
    )
    mapper.register_raw_stream_schema("orders", SCHEMA, ["DocEntry"])
    if fast:
        assert speed_up_rename_maps(mapper, {"orders": spec}) == 1
    return mapper


@pytest.mark.parametrize("spec", MAPS)
def test_fast_path_gives_the_sdk_records(spec):
    slow, fast = mapper_for(spec, fast=False), mapper_for(spec, fast=True)
    for record in RECORDS:
        expected = [m.transform(copy.deepcopy(record)) for m in slow.stream_maps["orders"]]
        got = [m.transform(copy.deepcopy(record)) for m in fast.stream_maps["orders"]]
        assert got == expected
        assert [list(r) for r in got] == [list(r) for r in expected]  # column order too


@pytest.mark.parametrize("spec", MAPS)
def test_batch_file_records_encode_like_the_sdk_records(spec):
    """The transform for batch files (Structs where it can) gives the same JSON."""
    slow, fast = mapper_for(spec, fast=False), mapper_for(spec, fast=True)
    encode = msgspec.json.Encoder(decimal_format="number").encode
    for record in RECORDS:
        expected = slow.stream_maps["orders"][-1].transform(copy.deepcopy(record))
        got = encodable_transform(fast.stream_maps["orders"][-1])(copy.deepcopy(record))
        assert encode(got) == encode(expected)


@pytest.mark.parametrize(
    "spec",
    [
        {"total": "DocTotal * 2"},
        {"__filter__": "DocEntry > 1", "order_id": "DocEntry"},
        {"order_id": "record"},
        {"order_id": "DocEntry", "__alias__": "orders_v2"},
    ],
)
def test_anything_but_renames_keeps_the_sdk_path(spec):
    assert compile_renames(spec) is None


def test_a_missing_source_field_fails_like_the_sdk():
    mapper = mapper_for({"order_id": "DocEntry", "gone": "NoSuchField"}, fast=True)
    with pytest.raises(MapExpressionError):
        mapper.stream_maps["orders"][-1].transform({"DocEntry": 1})


@pytest.mark.parametrize(
    ("column", "source"), [("order_id", "DocEntry"), ("name", "CardName"), ("total", "DocTotal")]
)
def test_a_renamed_column_keeps_its_source_schema(column, source):
    """The SDK types a renamed column as nullable; the ERP's metadata decides instead."""
    spec = {"__key_properties__": ["order_id"], "order_id": "DocEntry", "name": "CardName"}
    spec.update({"total": "DocTotal", "__else__": None})
    mapper = mapper_for(spec, fast=True)
    mapped = mapper.stream_maps["orders"][-1].transformed_schema["properties"]
    assert mapped[column] == SCHEMA["properties"][source]
