"""The SAP S/4HANA OData v2 dialect (tenant bluepeak) over real HTTP: SAP Gateway's JSON
(`d.results`, `d.__next`, `d.__count`, `/Date()/`, decimals as strings), EDMX v2
`$metadata` and the v2 error envelope."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest

EDM = "{http://schemas.microsoft.com/ado/2008/09/edm}"
SAP = "{http://www.sap.com/Protocols/SAPData}"
AUTH = ("BLUEPEAK_COMM", "bluepeak-pass")
DATE = re.compile(r"/Date\(\d+\)/")
DATETIMEOFFSET = re.compile(r"/Date\(\d+\+0000\)/")
ORDERS = "A_SalesOrder"


def url(sb, service: str, entity_set: str = "") -> str:
    return f"{sb.service_url('bluepeak', service)}/{entity_set}".rstrip("/")


def read_v2(http, first: str, page_size: int, params=None) -> tuple[list[dict], list[dict]]:
    """Every row of a collection by following `d.__next`, and the page bodies."""
    rows, bodies, link = [], [], first
    headers = {"Prefer": f"odata.maxpagesize={page_size}"}
    while link:
        r = http.get(link, auth=AUTH, headers=headers, params=params, timeout=60)
        assert r.status_code == 200, r.text
        assert r.headers["DataServiceVersion"] == "2.0"
        body = r.json()["d"]
        bodies.append(body)
        rows.extend(body["results"])
        link, params = body.get("__next"), None
    return rows, bodies


def as_stored(row: dict, stored: dict) -> dict:
    """A served row without `__metadata`, its decimal strings as the stored numbers."""
    out = {k: v for k, v in row.items() if k != "__metadata"}
    for name, value in stored.items():
        if isinstance(value, float | int) and not isinstance(value, bool):
            assert Decimal(out[name]) == Decimal(str(value)), name
            out[name] = value
    return out


SETS = [
    ("sales_order", ORDERS, ("SalesOrder",), "sales_orders"),
    ("sales_order", "A_SalesOrderItem", ("SalesOrder", "SalesOrderItem"), "sales_order_lines"),
    ("business_partner", "A_Customer", ("Customer",), "customers"),
    ("business_partner", "A_Supplier", ("Supplier",), "vendors"),
    ("product", "A_Product", ("Product",), "products"),
    ("material_stock", "A_MatlStkInAcctMod", ("Material", "Plant"), "inventory"),
]


@pytest.mark.parametrize("service,entity_set,key,stream", SETS)
def test_every_entity_set_reads_whole_through_next_links(
    sb, http, service, entity_set, key, stream
):
    rows, bodies = read_v2(http, url(sb, service, entity_set), 900)
    stored = sb.records("bluepeak", entity_set)
    assert len(rows) == len(stored)
    assert [as_stored(r, s) for r, s in zip(rows, stored, strict=True)] == stored
    keys = [tuple((len(r[k]), r[k]) for k in key) for r in rows]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert len(rows) == sb.stats("bluepeak")["counts"][stream]
    for body in bodies[:-1]:  # absolute, with an opaque keyset token
        assert body["__next"].startswith(f"{url(sb, service, entity_set)}?$skiptoken=")
    meta = rows[0]["__metadata"]
    assert meta["uri"].startswith(f"{url(sb, service, entity_set)}(")
    assert meta["uri"].endswith("')")
    assert meta["type"].endswith(f".{entity_set}Type")


def test_values_are_sap_gateway_json(sb, http):
    (order,), _ = read_v2(http, url(sb, "sales_order", ORDERS) + "?$top=1", 1)
    assert DATETIMEOFFSET.fullmatch(order["LastChangeDateTime"])
    assert DATE.fullmatch(order["CreationDate"])
    assert isinstance(order["TotalNetAmount"], str)
    assert re.fullmatch(r"-?\d+\.\d{2}", order["TotalNetAmount"])


def test_inlinecount_filter_literals_and_count(sb, http):
    target = url(sb, "sales_order", ORDERS)
    since = "datetimeoffset'2025-06-01T00:00:00Z'"
    params = {"$inlinecount": "allpages", "$filter": f"LastChangeDateTime ge {since}"}
    rows, bodies = read_v2(http, target, 500, params)
    assert bodies[0]["__count"] == str(len(rows)) and "__count" in bodies[-1]
    same = read_v2(
        http, target, 500, {"$filter": "LastChangeDateTime ge datetime'2025-06-01T00:00:00'"}
    )
    assert same[0] == rows
    count = http.get(f"{target}/$count", auth=AUTH, params={"$filter": params["$filter"]})
    assert count.text == str(len(rows))
    everything = http.get(f"{target}/$count", auth=AUTH).text
    assert 0 < len(rows) < int(everything)


@pytest.mark.parametrize(
    "params,message",
    [
        ({"$filter": "LastChangedAt ge datetimeoffset'2025-01-01T00:00:00Z'"}, "LastChangedAt"),
        ({"$count": "true"}, "'$count' is not supported"),  # a path segment in v2
        ({"$inlinecount": "some"}, "allpages or none"),
    ],
)
def test_a_rejected_query_answers_the_v2_error_envelope(sb, http, params, message):
    r = http.get(url(sb, "sales_order", ORDERS), auth=AUTH, params=params)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["message"]["lang"] == "en"
    assert message in error["message"]["value"]
    assert set(error) == {"code", "message"}


def test_basic_auth_without_csrf(sb, http):
    target = url(sb, "sales_order", ORDERS)
    assert http.get(target, auth=AUTH, params={"$top": "1"}).status_code == 200
    r = http.get(target, auth=("BLUEPEAK_COMM", "wrong"))
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Basic")
    assert r.json()["error"]["message"]["value"] == "invalid user name or password"


def test_metadata_is_edmx_v2_with_sap_annotations(sb, http):
    r = http.get(url(sb, "product", "$metadata"), auth=AUTH)
    root = ET.fromstring(r.content)
    assert root.get("Version") == "1.0"
    (entity_type,) = root.iter(f"{EDM}EntityType")
    props = {p.get("Name"): p for p in entity_type.iter(f"{EDM}Property")}
    assert props["CreationDate"].get("Type") == "Edm.DateTime"
    assert props["CreationDate"].get(f"{SAP}display-format") == "Date"
    assert props["LastChangeDateTime"].get("Type") == "Edm.DateTimeOffset"
    assert props["YY1_WeightKg_PRD"].get(f"{SAP}label") == "Weight (kg)"
    assert props["YY1_WeightKg_PRD"].get("Scale") == "3"
    (entity_set,) = root.iter(f"{EDM}EntitySet")
    assert entity_set.get("Name") == "A_Product"
