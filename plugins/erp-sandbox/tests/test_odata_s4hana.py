"""The SAP S/4HANA OData v4 dialect (tenant bestrun) over real HTTP."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
import requests
from odata_client import parse_dto, read_all, without_etag

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
AUTH = {"bestrun": ("BESTRUN_COMM", "bestrun-pass")}
IEEE = {"Accept": "application/json;IEEE754Compatible=true"}


@pytest.fixture
def s4(sb):
    """URL of an entity set of bestrun by service name and set name, and auth headers."""

    def url(service: str, entity_set: str) -> str:
        return f"{sb.service_url('bestrun', service)}/{entity_set}"

    return url, sb.auth_headers("bestrun")


def alpha(text):
    return (len(text), text)


SETS = [
    ("sales_order", "SalesOrder", ("SalesOrder",), "sales_orders"),
    ("sales_order", "SalesOrderItem", ("SalesOrder", "SalesOrderItem"), "sales_order_lines"),
    ("product", "Product", ("Product",), "products"),
    ("product", "ProductDescription", ("Product", "Language"), "products"),
    ("business_partner", "A_BusinessPartner", ("BusinessPartner",), None),
    ("material_stock", "A_MatlStkInAcctMod", ("Material", "Plant"), "inventory"),
]


@pytest.mark.parametrize("service,entity_set,key,stream", SETS)
def test_every_entity_set_reads_whole_in_key_order(sb, http, s4, service, entity_set, key, stream):
    url, headers = s4
    rows, bodies = read_all(http, url(service, entity_set), headers, page_size=600)
    assert without_etag(rows) == sb.records("bestrun", entity_set)
    keys = [tuple(alpha(r[k]) for k in key) for r in rows]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    counts = sb.stats("bestrun")["counts"]
    want = counts[stream] if stream else counts["customers"] + counts["vendors"]
    assert len(rows) == want == sb.stats("bestrun")["entity_sets"][entity_set]
    assert bodies[0]["@odata.context"] == f"$metadata#{entity_set}"
    for body in bodies[:-1]:
        # Relative to the service root, with an opaque keyset token.
        assert body["@odata.nextLink"].startswith(f"{entity_set}?$skiptoken=")


def test_service_documents_and_basic_auth(sb, http, s4):
    url, headers = s4
    doc = http.get(url("sales_order", ""), headers=headers).json()
    assert doc["@odata.context"] == "$metadata"
    assert {s["name"] for s in doc["value"]} == {"SalesOrder", "SalesOrderItem"}
    target = url("sales_order", "SalesOrder")
    assert http.get(target, auth=AUTH["bestrun"], params={"$top": "1"}).status_code == 200
    for auth in (("BESTRUN_COMM", "wrong"), ("someone", "bestrun-pass")):
        r = http.get(target, auth=auth)
        assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Basic")
        assert r.json()["error"]["code"] == "unauthorized"
    assert http.get(target).status_code == 401
    assert http.get(target, headers={"Authorization": "Bearer x"}).status_code == 401


@pytest.mark.parametrize(
    "service,type_name,custom",
    [
        (
            "product",
            "Product_Type",
            {
                "YY1_Color_PRD": ("Edm.String", None),
                "YY1_WeightKg_PRD": ("Edm.Decimal", "3"),
                "YY1_Hazardous_PRD": ("Edm.Boolean", None),
            },
        ),
        (
            "business_partner",
            "A_BusinessPartnerType",
            {"YY1_AccountManager_bus": ("Edm.String", None)},
        ),
        ("sales_order", "SalesOrder_Type", {}),
        ("material_stock", "A_MatlStkInAcctModType", {}),
    ],
)
def test_metadata_is_csdl_xml_with_the_custom_fields(sb, http, s4, service, type_name, custom):
    url, headers = s4
    r = http.get(url(service, "$metadata"), headers=headers)
    root = ET.fromstring(r.content)
    schema = root.find(f".//{EDM}Schema")
    assert schema is not None and schema.get("Namespace").startswith("com.sap.gateway.srvd_a2x.")
    et = schema.find(f"{EDM}EntityType[@Name='{type_name}']")
    assert et is not None
    props = {p.get("Name"): p for p in et.iterfind(f"{EDM}Property")}
    for name, (edm, scale) in custom.items():
        assert props[name].get("Type") == edm and props[name].get("Scale") == scale
    changed = props.get("LastChangeDateTime")
    if changed is not None:
        assert changed.get("Type") == "Edm.DateTimeOffset"


@pytest.mark.parametrize(
    "service,entity_set,pattern",
    [
        ("sales_order", "SalesOrder", r"\.\d{7}Z"),
        ("product", "Product", r"\.\d{7}Z"),
        ("business_partner", "A_BusinessPartner", r"Z"),
    ],
)
def test_datetimeoffset_fractional_digits(sb, http, s4, service, entity_set, pattern):
    url, headers = s4
    r = http.get(f"{url(service, '$metadata')}", headers=headers)
    precision = "7" if "7" in pattern else "0"
    assert f'Name="LastChangeDateTime" Type="Edm.DateTimeOffset" Precision="{precision}"' in r.text
    for row in sb.records("bestrun", entity_set):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d" + pattern, row["LastChangeDateTime"])


@pytest.mark.parametrize(
    "service,entity_set,field,digits",
    [
        ("sales_order", "SalesOrder", "TotalNetAmount", 2),
        ("sales_order", "SalesOrderItem", "RequestedQuantity", 3),
        ("sales_order", "SalesOrderItem", "NetAmount", 2),
        ("product", "Product", "YY1_WeightKg_PRD", 3),
        ("material_stock", "A_MatlStkInAcctMod", "MatlWrhsStkQtyInMatlBaseUnit", 3),
    ],
)
def test_ieee754_compatible_sends_decimals_as_strings(
    sb, http, s4, service, entity_set, field, digits
):
    url, headers = s4
    params = {"$top": "50", "$count": "true"}
    r = http.get(url(service, entity_set), headers={**headers, **IEEE}, params=params)
    assert r.headers["content-type"].startswith("application/json")
    assert "IEEE754Compatible=true" in r.headers["content-type"]
    body = r.json()
    assert isinstance(body["@odata.count"], str)
    values = [row[field] for row in body["value"] if row[field] is not None]
    assert values and all(re.fullmatch(rf"-?\d+\.\d{{{digits}}}", v) for v in values)
    plain = http.get(url(service, entity_set), headers=headers, params=params).json()
    assert isinstance(plain["@odata.count"], int)
    numbers = [row[field] for row in plain["value"] if row[field] is not None]
    assert all(isinstance(v, int | float) for v in numbers)
    assert [float(v) for v in values] == pytest.approx(numbers)


def test_item_edits_do_not_touch_the_order(sb, http, s4):
    url, headers = s4
    orders_before = sb.records("bestrun", "SalesOrder")
    items_before = {
        (i["SalesOrder"], i["SalesOrderItem"]): i for i in sb.records("bestrun", "SalesOrderItem")
    }
    res = sb.advance("bestrun", seconds=30, updated_lines=6)
    assert res["changed_sets"]["SalesOrder"] == []
    changed = [tuple(k) for k in res["changed_sets"]["SalesOrderItem"]]
    assert len(changed) == 6
    assert sb.records("bestrun", "SalesOrder") == orders_before
    items_after = {
        (i["SalesOrder"], i["SalesOrderItem"]): i for i in sb.records("bestrun", "SalesOrderItem")
    }
    assert any(items_after[k] != items_before[k] for k in changed)
    assert all(items_after[k] == items_before[k] for k in items_before if k not in changed)
    # An extractor sees the edits only by reading the items again (keyset order by key).
    rows, _ = read_all(http, url("sales_order", "SalesOrderItem"), headers, page_size=2000)
    assert {
        (r["SalesOrder"], r["SalesOrderItem"]): without_etag([r])[0] for r in rows
    } == items_after


def test_expand_items_and_entity_by_key(sb, http, s4):
    url, headers = s4
    order_url = url("sales_order", "SalesOrder")
    r = http.get(order_url, headers=headers, params={"$expand": "_Item", "$top": "3"})
    orders = r.json()["value"]
    items = sb.records("bestrun", "SalesOrderItem")
    for o in orders:
        mine = [i for i in items if i["SalesOrder"] == o["SalesOrder"]]
        assert without_etag(o["_Item"]) == mine and mine
    one = http.get(f"{order_url}('0000000002')", headers=headers).json()
    assert one["SalesOrder"] == "2" and one["@odata.context"] == "$metadata#SalesOrder/$entity"
    item_url = url("sales_order", "SalesOrderItem(SalesOrder='2',SalesOrderItem='10')")
    item = http.get(item_url, headers=headers).json()
    assert (item["SalesOrder"], item["SalesOrderItem"]) == ("2", "10")
    kids = http.get(f"{order_url}('2')/_Item", headers=headers).json()["value"]
    assert [k["SalesOrderItem"] for k in kids] == [str(10 * (n + 1)) for n in range(len(kids))]
    assert http.get(f"{order_url}('999999')", headers=headers).status_code == 404


def test_business_partners_merge_customers_and_suppliers_in_keyset_order(sb, http, s4):
    url, headers = s4
    target = url("business_partner", "A_BusinessPartner")
    params = {"$orderby": "LastChangeDateTime,BusinessPartner"}
    rows, bodies = read_all(http, target, headers, params, page_size=7)
    keys = [(parse_dto(r["LastChangeDateTime"]), alpha(r["BusinessPartner"])) for r in rows]
    assert keys == sorted(keys) and len(rows) == 250 and len(bodies) == 36
    customers = [r for r in rows if r["Customer"]]
    suppliers = [r for r in rows if r["Supplier"]]
    assert len(customers) == 200 and len(suppliers) == 50
    assert all(r["YY1_AccountManager_bus"] is None for r in suppliers)
    assert all(r["Customer"] == r["BusinessPartner"] for r in customers)


@pytest.mark.parametrize(
    "flt,check",
    [
        ("Supplier ne ''", lambda r: r["Supplier"] != ""),
        ("BusinessPartner ge '17300010'", lambda r: int(r["BusinessPartner"]) >= 17300010),
        ("BusinessPartner lt '1000010'", lambda r: int(r["BusinessPartner"]) < 1000010),
        (
            "LastChangeDateTime ge 2025-01-01T00:00:00Z and BusinessPartnerIsBlocked eq false",
            lambda r: (
                r["LastChangeDateTime"] >= "2025-01-01T00:00:00Z"
                and not r["BusinessPartnerIsBlocked"]
            ),
        ),
        (
            "LastChangeDateTime lt 2024-01-01T00:00:00Z or Customer eq '1000003'",
            lambda r: (
                r["LastChangeDateTime"] < "2024-01-01T00:00:00Z" or r["Customer"] == "1000003"
            ),
        ),
    ],
)
def test_filters_on_business_partners(sb, http, s4, flt, check):
    url, headers = s4
    params = {"$filter": flt, "$orderby": "LastChangeDateTime,BusinessPartner", "$count": "true"}
    rows, bodies = read_all(http, url("business_partner", "A_BusinessPartner"), headers, params, 9)
    want = [r for r in sb.records("bestrun", "A_BusinessPartner") if check(r)]
    assert want and sorted(r["BusinessPartner"] for r in rows) == sorted(
        r["BusinessPartner"] for r in want
    )
    assert all(b["@odata.count"] == len(want) for b in bodies)


@pytest.mark.parametrize(
    "service,entity_set,orderby,change",
    [
        (
            "business_partner",
            "A_BusinessPartner",
            "LastChangeDateTime,BusinessPartner",
            {"updated_customers": 40, "updated_vendors": 10, "new_vendors": 2},
        ),
        (
            "sales_order",
            "SalesOrder",
            "LastChangeDateTime,SalesOrder",
            {"updated_orders": 300, "new_orders": 4},
        ),
        (
            "material_stock",
            "A_MatlStkInAcctMod",
            None,
            {"updated_inventory": 100, "new_products": 2},
        ),
    ],
)
def test_rows_changed_mid_paging_are_not_skipped(
    sb, http, s4, service, entity_set, orderby, change
):
    url, headers = s4
    params = {"$orderby": orderby} if orderby else {}
    prefer = {**headers, "Prefer": "odata.maxpagesize=40"}
    first = http.get(url(service, entity_set), headers=prefer, params=params).json()
    sb.advance("bestrun", seconds=5, **change)
    link = f"{url(service, '')}{first['@odata.nextLink']}"
    rest, _ = read_all(http, link, headers, page_size=40)
    key = {"A_BusinessPartner": ("BusinessPartner",), "SalesOrder": ("SalesOrder",)}.get(
        entity_set, ("Material", "Plant")
    )
    seen = {tuple(r[k] for k in key) for r in first["value"] + rest}
    assert seen == {tuple(r[k] for k in key) for r in sb.records("bestrun", entity_set)}


def test_relative_next_links_keep_the_query(sb, http, s4):
    url, headers = s4
    params = {
        "$filter": "TransactionCurrency eq 'EUR'",
        "$select": "SalesOrder,TransactionCurrency",
    }
    r = http.get(
        url("sales_order", "SalesOrder"),
        headers={**headers, "Prefer": "odata.maxpagesize=100"},
        params=params,
    )
    body = r.json()
    assert r.headers["Preference-Applied"] == "odata.maxpagesize=100"
    assert body["@odata.context"] == "$metadata#SalesOrder(SalesOrder,TransactionCurrency)"
    link = body["@odata.nextLink"]
    assert not link.startswith(("http", "/")) and "$filter=" in link and "$skiptoken=" in link
    nxt = http.get(url("sales_order", link), headers=headers).json()  # no Prefer: size kept
    eur = [o for o in sb.records("bestrun", "SalesOrder") if o["TransactionCurrency"] == "EUR"]
    assert len(nxt["value"]) == min(100, len(eur) - 100)
    r = http.get(url("sales_order", "SalesOrder/$count"), headers=headers, params=params)
    assert r.headers["content-type"].startswith("text/plain") and r.text == str(len(eur))
    assert all(
        set(row) == {"@odata.etag", "SalesOrder", "TransactionCurrency"} for row in nxt["value"]
    )
    assert all(row["TransactionCurrency"] == "EUR" for row in nxt["value"])
    # Default and largest page: 5,000 rows.
    r = http.get(
        url("sales_order", "SalesOrderItem"),
        headers={**headers, "Prefer": "odata.maxpagesize=9000"},
    )
    assert (
        r.headers["Preference-Applied"] == "odata.maxpagesize=5000"
        and len(r.json()["value"]) == 5000
    )
    assert (
        len(http.get(url("sales_order", "SalesOrderItem"), headers=headers).json()["value"]) == 5000
    )


@pytest.mark.parametrize(
    "path,params,status,needle",
    [
        ("sales_order/SalesOrder", {"$filter": "Colour eq 'red'"}, 400, "Colour"),
        (
            "sales_order/SalesOrder",
            {"$filter": "LastChangeDateTime gt '2024'"},
            400,
            "DateTimeOffset",
        ),
        ("sales_order/SalesOrder", {"$orderby": "TotalNetAmount"}, 400, "not supported"),
        (
            "sales_order/SalesOrderItem",
            {"$filter": "LastChangeDateTime gt 2024-01-01T00:00:00Z"},
            400,
            "LastChangeDateTime",
        ),
        ("sales_order/SalesOrderHeader", {}, 404, "SalesOrderHeader"),
        ("product/A_Product", {}, 404, "A_Product"),
    ],
)
def test_error_shapes(sb, http, s4, path, params, status, needle):
    url, headers = s4
    service, entity_set = path.split("/")
    r = http.get(url(service, entity_set), headers=headers, params=params)
    assert r.status_code == status
    err = r.json()["error"]
    assert set(err) == {"code", "message"} and needle in err["message"]
    assert err["code"] == ("bad_request" if status == 400 else "not_found")
    assert (
        http.get(
            f"{sb.url}/bestrun/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder", headers=headers
        ).status_code
        == 404
    )


def test_faults_and_mutation_apply(sb, http, s4):
    url, headers = s4
    target = url("sales_order", "SalesOrder")
    sb.set_faults("bestrun", {"errors": {"every": 2, "burst": 2, "statuses": [500, 502]}})
    codes = [http.get(target, headers=headers, params={"$top": "1"}).status_code for _ in range(6)]
    assert codes == [200, 200, 500, 502, 200, 200]
    sb.set_faults("bestrun", {"slow": {"every": 1, "seconds": 0.2}, "drop": {"every": 2}})
    assert http.get(target, headers=headers).status_code == 200
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        http.get(target, headers=headers)
    sb.set_faults("bestrun", {"mutate_after_requests": {"after": 1, "change": {"new_orders": 3}}})
    http.get(target, headers=headers, params={"$top": "1"})
    assert sb.stats("bestrun")["entity_sets"]["SalesOrder"] == 2000
    http.get(target, headers=headers, params={"$top": "1"})
    assert sb.stats("bestrun")["entity_sets"]["SalesOrder"] == 2003
    assert sb.stats("bestrun")["requests"]["data"] == 10
