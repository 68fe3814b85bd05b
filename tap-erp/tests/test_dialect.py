"""The dialect language: templates, selectors, timestamp formats, decoders, metadata
formats, and how a broken profile is reported (one line naming the key path)."""

from __future__ import annotations

import copy
import datetime as dt
import decimal

import pytest
import yaml
from tap_erp.dialect import timestamps
from tap_erp.dialect.decoders import DECODER_MAP
from tap_erp.dialect.metadata import METADATA_FORMATS
from tap_erp.dialect.selectors import NOTHING, Selector
from tap_erp.dialect.templates import ALL_NAMES, MISSING, compile_template
from tap_erp.errors import ProfileError
from tap_erp.profiles import PROFILES_DIR, available_profiles, load_profile
from tap_erp.tap import CONFIG_SCHEMA

SINCE = dt.datetime(2024, 3, 5, 9, 10, 11, 123456, tzinfo=dt.UTC)
BEFORE = dt.datetime(2024, 4, 1, tzinfo=dt.UTC)


def render(raw, **values):
    return compile_template(raw, "t", ALL_NAMES).render(values)


@pytest.mark.parametrize(
    ("template", "values", "expected"),
    [
        ("{since}", {"since": SINCE}, "2024-03-05T09:10:11.123456Z"),
        ("{since}", {}, MISSING),
        ("{offset}", {"offset": 40}, 40),  # one placeholder keeps its type
        ("p{page}", {"page": 3}, "p3"),
        ("{{literal}}", {}, "{literal}"),
        ("{config.company}", {"config": {"company": 7}}, 7),
        ("{config.company}", {"config": {}}, MISSING),
        ("{parent.id}", {"parent": {"id": "WH1"}}, "WH1"),
        ("{fields:csv}", {"fields": ["a", "b"]}, "a,b"),
        ("{since:iso_seconds}", {"since": SINCE}, "2024-03-05T09:10:11Z"),
        ("{since:naive_utc_seconds}", {"since": SINCE}, "2024-03-05 09:10:11"),
        ("{since:odata_v2}", {"since": SINCE}, "datetimeoffset'2024-03-05T09:10:11.123Z'"),
        ("{since:epoch_ms}", {"since": SINCE}, 1709629811123),
        (
            "{since:tryton}",
            {"since": SINCE},
            {
                "__class__": "datetime",
                "year": 2024,
                "month": 3,
                "day": 5,
                "hour": 9,
                "minute": 10,
                "second": 11,
                "microsecond": 123456,
            },
        ),
        # A clause with an absent value is left out; fixed clauses stay.
        (
            [["active", "=", True], ["write_date", ">=", "{since:iso}"]],
            {},
            [["active", "=", True]],
        ),
        (
            {"$join": ["ts ge {since}", "ts lt {before}"], "$sep": " and "},
            {"since": SINCE, "before": BEFORE},
            "ts ge 2024-03-05T09:10:11.123456Z and ts lt 2024-04-01T00:00:00.000000Z",
        ),
        ({"$join": ["ts ge {since}", "ts lt {before}"], "$sep": " and "}, {}, MISSING),
        (
            {"$join": ["ts ge {since}", "ts lt {before}"], "$sep": " and "},
            {"since": SINCE},
            "ts ge 2024-03-05T09:10:11.123456Z",
        ),
        (
            {"$json": [["modified", ">=", "{since:naive_utc}"]]},
            {"since": SINCE},
            '[["modified",">=","2024-03-05 09:10:11.123456"]]',
        ),
        ({"$base64url": {"company": 1}}, {}, "eyJjb21wYW55IjoxfQ=="),
        (
            {"context": {"company": "{config.company}", "x": 1}},
            {"config": {}},
            {"context": {"x": 1}},
        ),
    ],
)
def test_templates(template, values, expected):
    assert render(template, **values) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{sincee}", "unknown placeholder {sincee}"),
        ("{config}", "unknown placeholder {config}"),
        ("{since:rfc2822}", "unknown timestamp format 'rfc2822'"),
        ("{offset:hex}", "unknown format 'hex'"),
        ({"$gzip": "x"}, "unknown operator $gzip"),
        ({"$join": "x"}, "$join takes a list"),
    ],
)
def test_bad_templates_name_where_and_what(template, message):
    with pytest.raises(
        ProfileError,
        match="'t'.*" + message.replace("$", r"\$").replace("{", r"\{").replace("}", r"\}"),
    ):
        compile_template(template, "t", ALL_NAMES)


@pytest.mark.parametrize(
    ("selector", "body", "expected"),
    [
        ("$", [1, 2], [1, 2]),
        ("value", {"value": [1]}, [1]),
        ("d.results", {"d": {"results": [3]}}, [3]),
        ("result.records", {"result": {"records": []}}, []),
        ("@odata.nextLink", {"@odata.nextLink": "u"}, "u"),
        ("$['@odata.nextLink']", {"@odata.nextLink": "u"}, "u"),
        ("d.__next", {"d": {"__next": "n"}}, "n"),
        ("items[1].id", {"items": [{"id": 1}, {"id": 2}]}, 2),
        ("value", {"data": []}, NOTHING),
    ],
)
def test_selectors(selector, body, expected):
    assert Selector(selector).find(body) == expected or expected is NOTHING


def test_a_selector_that_matches_nothing_says_what_is_there():
    text = Selector("value").describe_miss({"data": [], "total": 3})
    assert text == "selector 'value' matched nothing; the response has keys: data, total"
    assert "use '$'" in Selector("value").describe_miss([])


SCHEMA = {
    "properties": {
        "id": {"type": ["integer"]},
        "partner": {"type": ["integer", "null"]},
        "amount": {"type": ["number", "null"]},
        "name": {"type": ["string", "null"]},
        "active": {"type": ["boolean"]},
        "changed": {"type": ["string"], "format": "date-time"},
        "day": {"type": ["string", "null"], "format": "date"},
    }
}


@pytest.mark.parametrize(
    ("decoder", "row", "expected"),
    [
        (
            "tryton",
            {
                "amount": {"__class__": "Decimal", "decimal": "89.00"},
                "changed": {
                    "__class__": "datetime",
                    "year": 2024,
                    "month": 1,
                    "day": 2,
                    "hour": 3,
                    "minute": 4,
                    "second": 5,
                    "microsecond": 6,
                },
                "day": {"__class__": "date", "year": 2024, "month": 1, "day": 2},
            },
            {
                "amount": decimal.Decimal("89.00"),
                "changed": "2024-01-02T03:04:05.000006Z",
                "day": "2024-01-02",
            },
        ),
        ("tryton", {"__name__": "party.party", "active": 1}, {"active": True}),
        ("false_as_null", {"name": False, "active": False}, {"name": None, "active": False}),
        ("pair_ids", {"partner": [7, "Acme"]}, {"partner": 7}),
        ("decimal_strings", {"amount": "12.3400"}, {"amount": decimal.Decimal("12.3400")}),
        ("odata", {"@odata.etag": "W/1", "amount": "1.5"}, {"amount": decimal.Decimal("1.5")}),
        (
            "naive_timestamps",
            {"changed": "2024-01-02 03:04:05"},
            {"changed": "2024-01-02T03:04:05.000000Z"},
        ),
        (
            "naive_timestamps",
            {"changed": "2024-01-02T03:04:05+02:00"},
            {"changed": "2024-01-02T03:04:05+02:00"},
        ),
        (
            "odata_v2_dates",
            {"changed": "/Date(1700000000000)/", "day": "/Date(1699920000000)/"},
            {"changed": "2023-11-14T22:13:20.000000Z", "day": "2023-11-14"},
        ),
        (
            "odata_v2_dates",
            {"changed": "/Date(1700000000000+0000)/"},
            {"changed": "2023-11-14T22:13:20.000000Z"},
        ),
    ],
)
def test_decoders(decoder, row, expected):
    assert DECODER_MAP[decoder].build(SCHEMA)([dict(row)]) == [expected]


def test_naive_timestamps_use_the_site_time_zone():
    timestamps.set_site_timezone("Europe/Berlin")
    try:
        rows = DECODER_MAP["naive_timestamps"].build(SCHEMA)([{"changed": "2024-07-01 12:00:00"}])
        assert rows == [{"changed": "2024-07-01T10:00:00.000000Z"}]
        assert render("{since:local}", since=SINCE) == "2024-03-05 10:10:11.123456"
    finally:
        timestamps.set_site_timezone("UTC")


CSDL = b"""<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
 <edmx:DataServices><Schema Namespace="NS" xmlns="http://docs.oasis-open.org/odata/ns/edm">
  <EntityType Name="item"><Key><PropertyRef Name="id"/></Key>
   <Property Name="id" Type="Edm.Guid" Nullable="false"/>
   <Property Name="unitPrice" Type="Edm.Decimal" Scale="2"/>
   <Property Name="YY1_Color" Type="Edm.String"/>
   <Property Name="address" Type="NS.postalAddress"/>
  </EntityType>
  <EntityContainer Name="c"><EntitySet Name="items" EntityType="NS.item"/></EntityContainer>
 </Schema></edmx:DataServices></edmx:Edmx>"""


def test_odata_csdl_fields_of_an_entity_set():
    fmt = METADATA_FORMATS["odata_csdl"]
    fields = fmt.fields(fmt.read(CSDL), "items", "items")
    assert [(f.name, f.type, f.nullable, f.scale) for f in fields] == [
        ("id", "Edm.Guid", False, None),
        ("unitPrice", "Edm.Decimal", True, 2),
        ("YY1_Color", "Edm.String", True, None),
        ("address", "NS.postalAddress", True, None),
    ]
    assert fmt.fields(fmt.read(CSDL), "orders", "orders") is None


def test_tryton_fields():
    fmt = METADATA_FORMATS["tryton_fields"]
    doc = {
        "price": {"type": "numeric", "digits": "[null, 4]"},
        "qty": {"type": "float", "digits": '"unit"'},
    }
    assert [(f.name, f.scale) for f in fmt.fields(doc, "m", "")] == [("price", 4), ("qty", None)]
    doc = {
        "total": {"type": "numeric", "digits": [16, 2], "string": "Total"},
        "name": {"type": "char", "required": True},
    }
    fields = fmt.fields(doc, "sale.sale", "")
    assert [(f.name, f.type, f.nullable, f.scale, f.label) for f in fields] == [
        ("total", "numeric", True, 2, "Total"),
        ("name", "char", False, None, None),
    ]


# Whole profiles


def sandbox_raw():
    return yaml.safe_load((PROFILES_DIR / "erp_sandbox.yaml").read_text())


def load_raw(tmp_path, raw):
    raw = copy.deepcopy(raw)
    raw.setdefault("schemas_dir", str(PROFILES_DIR.parent / "schemas" / "erp_sandbox"))
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_profile(str(path), known_settings=CONFIG_SCHEMA["properties"])


@pytest.mark.parametrize("name", available_profiles())
def test_shipped_profiles_load(name):
    profile = load_profile(name, known_settings=CONFIG_SCHEMA["properties"])
    assert len(profile.streams) == 6


def test_a_profile_of_ones_own(tmp_path):
    raw = sandbox_raw()
    raw["name"] = "other_erp"
    raw["default_paginator"] = "page"
    del raw["streams"]["vendors"]
    profile = load_raw(tmp_path, raw)
    assert profile.default_style == "page"
    assert "vendors" not in profile.streams


def edit(path, value):
    def mutate(raw):
        *head, last = path.split(".")
        node = raw
        for part in head:
            node = node[part]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value

    return mutate


DELETE = object()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            edit("streams.customers.request.methd", "GET"),
            "'streams.customers.request': unknown key 'methd'",
        ),
        (
            edit("streams.customers.request.method", "PUT"),
            "'streams.customers.request.method': invalid enum value 'PUT'",
        ),
        (
            edit("streams.customers.primary_keys", "CustomerKey"),
            "'streams.customers.primary_keys': expected `array`, got `str`",
        ),
        (
            edit("streams.customers.primary_keys", []),
            "'streams.customers.primary_keys' must list at least one field",
        ),
        (edit("page_size.default", "many"), "'page_size.default': expected `int`, got `str`"),
        (edit("page_size", DELETE), "'page_size' is required"),
        (
            edit("defaults.request.query", {"modified_since": "{sincee}"}),
            r"'defaults.request.query.modified_since': unknown placeholder \{sincee\}",
        ),
        (
            edit("streams.customers.request.query", {"since": "{sincee}"}),
            r"'streams.customers.request.query.since': unknown placeholder \{sincee\}",
        ),
        (
            edit("streams.customers.request.query", {"x": "{config.no_such_setting}"}),
            r"\{config.no_such_setting\} names no setting",
        ),
        (
            edit("streams.customers.records", "value..x"),
            "'streams.customers.records': cannot read selector",
        ),
        (
            edit("default_paginator", "graphql"),
            "'default_paginator': 'graphql' is not in paginators",
        ),
        (
            edit("paginators.offset.type", "graphql"),
            r"'paginators.offset.type': 'graphql' is not a known type "
            r"\(known: offset, page, next_link, cursor, single\)",
        ),
        (
            edit("paginators.offset.query", {"limit": "{limit}"}),
            r"paginator 'offset' needs \{offset\}",
        ),
        (
            edit("auth.methods.saml", {"type": "saml"}),
            "'auth.methods.saml.type': 'saml' is not a known type",
        ),
        (edit("auth.default", "saml"), "'auth.default': 'saml' is not in auth.methods"),
        (
            edit("defaults.request.query", {}),
            r"'streams\.\w+\.replication_key': 'ModifiedOn' needs a \{since\} filter",
        ),
        (
            edit("streams.customers.decoders", ["rot13"]),
            "'streams.customers.decoders': decoder .rot13. is not known",
        ),
        (edit("metadata.format", "wsdl"), "'metadata.format': format .wsdl. is not known"),
    ],
)
def test_broken_profiles_are_one_line_naming_the_key_path(tmp_path, mutate, message):
    raw = sandbox_raw()
    mutate(raw)
    with pytest.raises(ProfileError, match=message) as info:
        load_raw(tmp_path, raw)
    assert "\n" not in str(info.value)
    assert str(info.value).startswith("invalid ERP profile ")


def test_the_profile_reference_is_generated_from_the_declaration():
    from tap_erp.dialect.docs import reference

    text = (PROFILES_DIR.parent.parent / "PROFILES.md").read_text()
    assert text == reference(), "PROFILES.md is stale: run `python -m tap_erp.dialect.docs`"
