"""Unit tests of the shared OData mechanics: `$filter`, query options, `$skiptoken`, CSDL."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from erp_sandbox.dialects import business_central, s4hana
from erp_sandbox.odata import wire
from erp_sandbox.odata.filter import FilterError, compile_filter, dto_to_ps
from erp_sandbox.odata.model import BY_KEY, BY_REPLICATION_KEY
from erp_sandbox.odata.query import (
    QueryError,
    encode_token,
    ieee754,
    max_page_size,
    parse_query,
)
from erp_sandbox.tenants import TENANTS

BC = {s.name: s for svc in business_central.services(TENANTS["contoso"]) for s in svc.sets.values()}
S4 = {s.name: s for svc in s4hana.services(TENANTS["bestrun"]) for s in svc.sets.values()}
ORDERS = BC["salesOrders"]
T0 = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z in microseconds


@pytest.mark.parametrize(
    "text,ps_after_t0",
    [
        ("2024-01-01T00:00:00Z", 0),
        ("2024-01-01T00:00Z", 0),
        ("2024-01-01T01:00:00+01:00", 0),
        ("2023-12-31T19:00:00-05:00", 0),
        ("2024-01-01T00:00:00.5Z", 500_000_000_000),
        ("2024-01-01T00:00:00.1234567Z", 123_456_700_000),
        ("2024-01-01T00:00:00.000001Z", 1_000_000),
        ("2024-01-01T00:00:00.000000000001Z", 1),
    ],
)
def test_datetimeoffset_literals_are_exact(text, ps_after_t0):
    assert dto_to_ps(text) == T0 * 1_000_000 + ps_after_t0


@pytest.mark.parametrize(
    "flt,since,before",
    [
        ("lastModifiedDateTime ge 2024-01-01T00:00:00Z", T0, None),
        ("lastModifiedDateTime gt 2024-01-01T00:00:00Z", T0 + 1, None),
        ("lastModifiedDateTime lt 2024-01-01T00:00:00Z", None, T0),
        ("lastModifiedDateTime le 2024-01-01T00:00:00Z", None, T0 + 1),
        ("lastModifiedDateTime eq 2024-01-01T00:00:00Z", T0, T0 + 1),
        # 100 ns precision: gt rounds up to the next microsecond, ge too.
        ("lastModifiedDateTime gt 2024-01-01T00:00:00.0000005Z", T0 + 1, None),
        ("lastModifiedDateTime ge 2024-01-01T00:00:00.0000005Z", T0 + 1, None),
        ("lastModifiedDateTime lt 2024-01-01T00:00:00.0000005Z", None, T0 + 1),
        (
            "lastModifiedDateTime ge 2024-01-01T00:00:00Z and "
            "lastModifiedDateTime lt 2024-01-01T00:00:01Z",
            T0,
            T0 + 1_000_000,
        ),
        ("2024-01-01T00:00:00Z le lastModifiedDateTime", T0, None),
        # An unescaped '+' in the query string arrives as a space.
        ("lastModifiedDateTime ge 2024-01-01T01:00:00 01:00", T0, None),
    ],
)
def test_replication_key_comparisons_become_store_bounds(flt, since, before):
    c = compile_filter(ORDERS, flt)
    assert (c.since, c.before, c.rest) == (since, before, None)


ROW = {
    "number": "S-ORD100001",
    "currencyCode": "EUR",
    "totalAmountIncludingTax": 120.5,
    "fullyShipped": False,
    "requestedDeliveryDate": "2024-02-01",
    "customerId": "0000002a-1111-4222-8333-444444444444",
}


@pytest.mark.parametrize(
    "flt,keep",
    [
        ("currencyCode eq 'EUR'", True),
        ("currencyCode ne 'EUR'", False),
        ("totalAmountIncludingTax gt 100", True),
        ("totalAmountIncludingTax le 120.4", False),
        ("fullyShipped eq false", True),
        ("requestedDeliveryDate ge 2024-02-01", True),
        ("customerId eq 0000002A-1111-4222-8333-444444444444", True),
        ("customerId eq '0000002a-1111-4222-8333-444444444444'", True),
        ("currencyCode eq 'EUR' and totalAmountIncludingTax lt 100", False),
        ("currencyCode eq 'USD' or totalAmountIncludingTax gt 100", True),
        ("not (currencyCode eq 'EUR')", False),
        ("number eq 'S-ORD''1'", False),
        ("currencyCode eq null", False),
        ("currencyCode ne null", True),
        ("lastModifiedDateTime gt 2024-01-01T00:00:00Z or currencyCode eq 'USD'", True),
    ],
)
def test_other_comparisons_filter_rows(flt, keep):
    c = compile_filter(ORDERS, flt)
    assert c.rest is not None
    assert c.rest(ROW, T0 + 5) is keep


@pytest.mark.parametrize(
    "flt,message",
    [
        ("colour eq 'red'", "could not find a property named 'colour'"),
        ("currencyCode eq 5", "Edm.String"),
        ("lastModifiedDateTime gt '2024-01-01'", "Edm.DateTimeOffset"),
        ("fullyShipped gt true", "only eq and ne"),
        ("currencyCode gt null", "null"),
        ("contains(number,'1')", "function 'contains'"),
        ("currencyCode eq", "ends too early"),
        ("currencyCode 'EUR'", "expected one of"),
        ("(currencyCode eq 'EUR'", "missing ')'"),
        ("number eq currencyCode", "one property and one literal"),
        ("lastModifiedDateTime gt 2024-13-01T00:00:00Z", "not a valid DateTimeOffset"),
        ("currencyCode eq 'EUR' #", "unexpected text"),
        ("", "empty"),
    ],
)
def test_bad_filters_are_rejected_with_a_reason(flt, message):
    with pytest.raises(FilterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        compile_filter(ORDERS, flt)


def test_alpha_numbers_compare_by_value():
    orders = S4["SalesOrder"]
    c = compile_filter(orders, "SalesOrder gt '9'")
    assert c.rest is not None
    assert c.rest({"SalesOrder": "10"}, 0) and not c.rest({"SalesOrder": "9"}, 0)


@pytest.mark.parametrize(
    "es,orderby,mode",
    [
        (ORDERS, None, BY_KEY),
        (ORDERS, "id", BY_KEY),
        (ORDERS, "id asc", BY_KEY),
        (ORDERS, "lastModifiedDateTime", BY_REPLICATION_KEY),
        (ORDERS, "lastModifiedDateTime asc,id asc", BY_REPLICATION_KEY),
        (S4["SalesOrderItem"], "SalesOrder,SalesOrderItem", BY_KEY),
        (S4["SalesOrderItem"], "SalesOrder", BY_KEY),
        (S4["A_BusinessPartner"], "LastChangeDateTime,BusinessPartner", BY_REPLICATION_KEY),
    ],
)
def test_supported_orders(es, orderby, mode):
    items = [] if orderby is None else [("$orderby", orderby)]
    assert parse_query(es, items).order == mode


@pytest.mark.parametrize(
    "items,message",
    [
        ([("$orderby", "number")], "not supported"),
        ([("$orderby", "lastModifiedDateTime desc")], "only ascending"),
        ([("$orderby", "nope")], "could not find"),
        ([("$select", "id,nope")], "could not find a property named 'nope'"),
        ([("$expand", "customer")], "no navigation property 'customer'"),
        ([("$top", "-1")], "non-negative"),
        ([("$skip", "x")], "non-negative"),
        ([("$count", "yes")], "true or false"),
        ([("$search", "bolt")], "not supported"),
        ([("$top", "1"), ("$top", "2")], "more than once"),
        ([("$skiptoken", "garbage!")], "malformed"),
        ([("$format", "xml")], "only json"),
    ],
)
def test_bad_query_options(items, message):
    with pytest.raises(QueryError, match=message):
        parse_query(ORDERS, items)


def test_skiptoken_is_a_keyset_position_bound_to_the_query():
    flt = ("$filter", "lastModifiedDateTime gt 2024-01-01T00:00:00Z")
    order = ("$orderby", "lastModifiedDateTime asc,id asc")
    q = parse_query(ORDERS, [flt, order])
    q.page_size = 50
    token = encode_token(q, ORDERS, (T0 + 7, 0, 41), 9)
    again = parse_query(ORDERS, [flt, order, ("$skiptoken", token)])
    assert (again.after, again.top, again.page_size) == ((T0 + 7, 0, 41), 9, 50)
    other = ("$filter", "lastModifiedDateTime gt 2025-01-01T00:00:00Z")
    with pytest.raises(QueryError, match="another query"):
        parse_query(ORDERS, [other, order, ("$skiptoken", token)])
    with pytest.raises(QueryError, match="cannot be combined"):
        parse_query(ORDERS, [flt, order, ("$skiptoken", token), ("$top", "5")])
    with pytest.raises(QueryError, match="another query"):
        parse_query(BC["customers"], [flt, order, ("$skiptoken", token)])


@pytest.mark.parametrize(
    "headers,size,ieee",
    [
        ({}, None, False),
        ({"prefer": "odata.maxpagesize=50"}, 50, False),
        ({"prefer": "return=minimal, odata.maxpagesize=7"}, 7, False),
        ({"prefer": "odata.maxpagesize=zero"}, None, False),
        ({"accept": "application/json;IEEE754Compatible=true"}, None, True),
        ({"content-type": "application/json; ieee754compatible=TRUE"}, None, True),
        ({"accept": "application/json;IEEE754Compatible=false"}, None, False),
    ],
)
def test_headers(headers, size, ieee):
    assert max_page_size(headers) == size
    assert ieee754(headers) is ieee


@pytest.mark.parametrize(
    "service,type_name,custom",
    [
        (business_central.services(TENANTS["contoso"])[0], "item", {"contosoColor"}),
        (business_central.services(TENANTS["contoso"])[0], "customer", {"contosoSegment"}),
        (s4hana.services(TENANTS["bestrun"])[1], "Product_Type", {"YY1_Color_PRD"}),
        (s4hana.services(TENANTS["bestrun"])[2], "A_BusinessPartnerType", set()),
    ],
)
def test_csdl_lists_entity_types_and_custom_fields(service, type_name, custom):
    root = ET.fromstring(wire.metadata_xml(service))
    ns = {"edmx": wire.EDMX, "edm": wire.EDM}
    types = {t.get("Name"): t for t in root.iterfind(".//edm:EntityType", ns)}
    props = {p.get("Name"): p for p in types[type_name].iterfind("edm:Property", ns)}
    assert custom <= set(props)
    sets = {s.get("Name") for s in root.iterfind(".//edm:EntitySet", ns)}
    assert sets == set(service.sets)
