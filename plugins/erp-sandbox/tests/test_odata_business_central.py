"""The Business Central API v2.0 dialect (tenant contoso) over real HTTP."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import defaultdict

import pytest
import requests
from erp_sandbox.testing import CREDENTIALS
from odata_client import parse_dto, read_all, without_etag

SCOPE = CREDENTIALS["contoso"]["scope"]
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"


@pytest.fixture
def bc(sb):
    """(company URL, auth headers) of contoso."""
    return sb.company_url("contoso"), sb.auth_headers("contoso")


def token_form(**extra):
    form = {
        "grant_type": "client_credentials",
        "client_id": "contoso-client",
        "client_secret": "contoso-secret",
        "scope": SCOPE,
    }
    form.update(extra)
    return {k: v for k, v in form.items() if v is not None}


@pytest.mark.parametrize(
    "service,entity_set,stream",
    [
        ("standard", "salesOrders", "sales_orders"),
        ("standard", "salesOrderLines", "sales_order_lines"),
        ("standard", "customers", "customers"),
        ("standard", "vendors", "vendors"),
        ("standard", "items", "products"),
        ("standard", "locations", None),
        ("custom", "inventoryByLocation", "inventory"),
    ],
)
def test_every_entity_set_reads_whole_in_key_order(sb, http, service, entity_set, stream):
    company = sb.company_url("contoso", service)
    url = f"{company}/{entity_set}"
    rows, bodies = read_all(http, url, sb.auth_headers("contoso"), page_size=700)
    records = sb.records("contoso", entity_set)
    assert without_etag(rows) == records
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    if stream is not None:
        assert len(rows) == sb.stats("contoso")["counts"][stream]
    assert len(bodies) == -(-len(rows) // 700)
    assert all(r["@odata.etag"].startswith('W/"') for r in rows)
    cid = company.rsplit("(", 1)[1].rstrip(")")
    root = sb.service_url("contoso", service)
    assert bodies[0]["@odata.context"] == f"{root}/$metadata#companies({cid})/{entity_set}"


def test_companies_and_service_document(sb, http):
    headers = sb.auth_headers("contoso")
    root = sb.service_url("contoso", "standard")
    companies = http.get(f"{root}/companies", headers=headers).json()["value"]
    assert len(companies) == 1 and re.fullmatch(r"[0-9a-f-]{36}", companies[0]["id"])
    one = http.get(f"{root}/companies({companies[0]['id']})", headers=headers).json()
    assert one["name"] == "CONTOSO" and one["@odata.context"].endswith(
        "$metadata#companies/$entity"
    )
    doc = http.get(f"{root}/", headers=headers).json()
    assert [s["name"] for s in doc["value"]] == ["companies"]
    # Entity sets live under a company only.
    r = http.get(f"{root}/salesOrders", headers=headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "BadRequest_NotFound"


@pytest.mark.parametrize(
    "form,status,error,aadsts",
    [
        (token_form(), 200, None, None),
        (token_form(scope=None), 400, "invalid_scope", 1002012),
        (token_form(scope="https://graph.microsoft.com/.default"), 400, "invalid_scope", 1002012),
        (token_form(client_secret="wrong"), 401, "invalid_client", 7000215),
        (token_form(client_id="someone-else"), 400, "unauthorized_client", 700016),
        (token_form(grant_type=None), 400, "invalid_request", 900144),
        (token_form(grant_type="password"), 400, "unsupported_grant_type", 70003),
    ],
)
def test_entra_token_endpoint(sb, http, form, status, error, aadsts):
    r = http.post(f"{sb.url}/contoso/oauth2/v2.0/token", data=form)
    assert r.status_code == status
    body = r.json()
    if error is None:
        assert body["token_type"] == "Bearer" and body["expires_in"] == 3599
        assert body["ext_expires_in"] == 3599 and body["access_token"]
    else:
        assert body["error"] == error and body["error_codes"] == [aadsts]
        assert body["error_description"].startswith(f"AADSTS{aadsts}:")


def test_data_requests_need_a_valid_bearer_token(sb, http, bc):
    company, headers = bc
    url = f"{company}/customers"
    assert http.get(url, headers=headers).status_code == 200
    for bad in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic eDp5"}):
        r = http.get(url, headers=bad)
        assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
        assert r.json()["error"]["code"] == "Authentication_InvalidCredentials"
    sb.revoke_tokens("contoso")
    assert http.get(url, headers=headers).status_code == 401
    # The sandbox's own REST routes do not exist for this tenant.
    assert http.get(f"{sb.url}/contoso/api/v1/customers", headers=headers).status_code == 404
    assert http.post(f"{sb.url}/contoso/oauth/token", data=token_form()).status_code == 404


@pytest.mark.parametrize(
    "service,type_name,custom",
    [
        (
            "standard",
            "item",
            {"contosoColor": ("Edm.String", None), "contosoWeightKg": ("Edm.Decimal", "3")},
        ),
        (
            "standard",
            "customer",
            {"contosoSegment": ("Edm.String", None), "contosoLoyaltyTier": ("Edm.Int32", None)},
        ),
        ("standard", "salesOrder", {}),
        ("custom", "inventoryByLocation", {}),
    ],
)
def test_metadata_is_csdl_xml_with_the_custom_fields(sb, http, service, type_name, custom):
    headers = sb.auth_headers("contoso")
    r = http.get(f"{sb.service_url('contoso', service)}/$metadata", headers=headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(r.content)
    assert root.tag == "{http://docs.oasis-open.org/odata/ns/edmx}Edmx"
    schema = root.find(f".//{EDM}Schema")
    assert schema is not None and schema.get("Namespace") == "Microsoft.NAV"
    et = schema.find(f"{EDM}EntityType[@Name='{type_name}']")
    assert et is not None
    assert [k.get("Name") for k in et.iterfind(f"{EDM}Key/{EDM}PropertyRef")] == ["id"]
    props = {p.get("Name"): p for p in et.iterfind(f"{EDM}Property")}
    assert props["id"].get("Type") == "Edm.Guid" and props["id"].get("Nullable") == "false"
    for name, (edm, scale) in custom.items():
        assert props[name].get("Type") == edm and props[name].get("Scale") == scale
    sets = {s.get("Name") for s in schema.iterfind(f"{EDM}EntityContainer/{EDM}EntitySet")}
    assert "companies" in sets
    # Every property of the metadata is on the rows, and nothing else.
    entity_set = {"item": "items", "customer": "customers", "salesOrder": "salesOrders"}
    name = entity_set.get(type_name, type_name)
    row = sb.records("contoso", name)[0]
    assert set(row) == set(props)


def test_lines_expand_under_their_orders_and_by_navigation(sb, http, bc):
    company, headers = bc
    params = {"$expand": "salesOrderLines", "$filter": "currencyCode eq 'EUR'"}
    orders, _ = read_all(http, f"{company}/salesOrders", headers, params, page_size=300)
    lines = sb.records("contoso", "salesOrderLines")
    by_order = defaultdict(list)
    for line in lines:
        by_order[line["documentId"]].append(line)
    assert orders and all(o["currencyCode"] == "EUR" for o in orders)
    for o in orders:
        assert without_etag(o["salesOrderLines"]) == by_order[o["id"]]
        assert [x["sequence"] for x in o["salesOrderLines"]] == list(
            range(10000, 10000 * len(o["salesOrderLines"]) + 1, 10000)
        )
    first = orders[0]
    r = http.get(f"{company}/salesOrders({first['id']})/salesOrderLines", headers=headers)
    assert without_etag(r.json()["value"]) == by_order[first["id"]]


def test_edited_line_restamps_its_order(sb, http, bc):
    company, headers = bc
    before = {o["id"]: o for o in sb.records("contoso", "salesOrders")}
    res = sb.advance("contoso", seconds=60, updated_lines=5)
    changed_lines = res["changed_sets"]["salesOrderLines"]
    assert len(changed_lines) == 5 and res["changed"]["sales_orders"]
    lines = {x["id"]: x for x in sb.records("contoso", "salesOrderLines")}
    owners = {lines[i]["documentId"] for i in changed_lines}
    assert set(res["changed_sets"]["salesOrders"]) == owners
    since = max((o["lastModifiedDateTime"] for o in before.values()), key=parse_dto)
    params = {"$filter": f"lastModifiedDateTime gt {since}", "$expand": "salesOrderLines"}
    got, _ = read_all(http, f"{company}/salesOrders", headers, params)
    assert {o["id"] for o in got} == owners
    for o in got:
        assert o["lastModifiedDateTime"] == "2026-01-01T00:01:00Z"
        # Only the timestamp moved: the header's values are those it had.
        assert {
            k: v
            for k, v in o.items()
            if k not in ("lastModifiedDateTime", "@odata.etag", "salesOrderLines")
        } == {k: v for k, v in before[o["id"]].items() if k != "lastModifiedDateTime"}
        for line in o["salesOrderLines"]:
            assert without_etag([line])[0] == lines[line["id"]]


def tie_timestamp(records):
    stamps = [r["lastModifiedDateTime"] for r in records]
    return max(set(stamps), key=stamps.count)


@pytest.mark.parametrize("op", ["gt", "ge", "lt", "le", "eq"])
def test_filter_on_the_replication_key_with_ties(sb, http, bc, op):
    company, headers = bc
    orders = sb.records("contoso", "salesOrders")
    tie = tie_timestamp(orders)
    assert sum(o["lastModifiedDateTime"] == tie for o in orders) > 100
    params = {
        "$filter": f"lastModifiedDateTime {op} {tie}",
        "$orderby": "lastModifiedDateTime asc,id asc",
    }
    got, _ = read_all(http, f"{company}/salesOrders", headers, params, page_size=97)
    t = parse_dto(tie)
    cmp = {"gt": t.__lt__, "ge": t.__le__, "lt": t.__gt__, "le": t.__ge__, "eq": t.__eq__}[op]
    want = [o for o in orders if cmp(parse_dto(o["lastModifiedDateTime"]))]
    assert sorted(o["id"] for o in got) == sorted(o["id"] for o in want)
    keys = [(parse_dto(o["lastModifiedDateTime"]), o["id"]) for o in got]
    assert keys == sorted(keys)
    # Lines have no timestamp to filter on.
    r = http.get(f"{company}/salesOrderLines", headers=headers, params=params)
    assert r.status_code == 400 and "lastModifiedDateTime" in r.json()["error"]["message"]


def test_timestamps_have_millisecond_precision(sb):
    for name in ("salesOrders", "customers", "vendors", "items"):
        for row in sb.records("contoso", name):
            assert re.fullmatch(
                r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z", row["lastModifiedDateTime"]
            )
            assert not re.search(r"\.\d*0Z$", row["lastModifiedDateTime"])  # trailing zeros trimmed


def test_server_driven_paging_honours_maxpagesize(sb, http, bc):
    company, headers = bc
    url = f"{company}/customers"
    params = {"$orderby": "lastModifiedDateTime asc,id asc", "$count": "true"}
    rows, bodies = read_all(http, url, headers, params, page_size=30)
    assert len(rows) == 200 and len(bodies) == 7 and bodies[0]["@odata.count"] == 200
    for body in bodies[:-1]:
        link = body["@odata.nextLink"]
        assert link.startswith(f"{sb.url}/contoso/api/v2.0/companies(") and "$skiptoken=" in link
        assert len(body["value"]) == 30
    assert "@odata.nextLink" not in bodies[-1]
    r = http.get(url, headers={**headers, "Prefer": "odata.maxpagesize=25"})
    assert r.headers["Preference-Applied"] == "odata.maxpagesize=25"
    assert len(r.json()["value"]) == 25
    r = http.get(url, headers={**headers, "Prefer": "odata.maxpagesize=50000"})
    assert r.headers["Preference-Applied"] == "odata.maxpagesize=20000"
    # Without a preference: up to 20,000 rows per page.
    r = http.get(f"{company}/salesOrderLines", headers=headers)
    assert "Preference-Applied" not in r.headers
    assert len(r.json()["value"]) == sb.stats("contoso")["counts"]["sales_order_lines"]


@pytest.mark.parametrize(
    "params,page_size,expected",
    [
        ({"$top": "25"}, 10, slice(0, 25)),
        ({"$top": "20"}, 10, slice(0, 20)),
        ({"$top": "5"}, 10, slice(0, 5)),
        ({"$skip": "190"}, 4, slice(190, None)),
        ({"$skip": "15", "$top": "12"}, 5, slice(15, 27)),
        ({"$top": "0"}, 10, slice(0, 0)),
    ],
)
def test_top_limits_the_whole_result_and_skip_skips(sb, http, bc, params, page_size, expected):
    company, headers = bc
    order = {"$orderby": "lastModifiedDateTime asc,id asc"}
    rows, bodies = read_all(http, f"{company}/customers", headers, {**params, **order}, page_size)
    every, _ = read_all(http, f"{company}/customers", headers, order)
    assert [r["id"] for r in rows] == [r["id"] for r in every[expected]]
    assert all(len(b["value"]) <= page_size for b in bodies)


def test_select_returns_only_the_selected_properties(sb, http, bc):
    company, headers = bc
    r = http.get(f"{company}/items", headers=headers, params={"$select": "number,contosoColor"})
    body = r.json()
    assert body["@odata.context"].endswith("/items(number,contosoColor)")
    assert all(set(row) == {"@odata.etag", "number", "contosoColor"} for row in body["value"])


def test_row_changed_mid_paging_is_not_skipped(sb, http, bc):
    company, headers = bc
    url = f"{company}/customers"
    prefer = {**headers, "Prefer": "odata.maxpagesize=50"}
    params = {"$orderby": "lastModifiedDateTime asc,id asc"}
    first = http.get(url, headers=prefer, params=params).json()
    seen = [r["id"] for r in first["value"]]
    # Rows of page 1 and of later pages change: they move to the end of the order.
    res = sb.advance("contoso", seconds=10, updated_customers=60, new_customers=3)
    rows, _ = read_all(http, first["@odata.nextLink"], headers, page_size=50)
    seen += [r["id"] for r in rows]
    everyone = {r["id"] for r in sb.records("contoso", "customers")}
    assert set(seen) == everyone and len(everyone) == 203
    changed = set(res["changed_sets"]["customers"])
    assert changed <= {r["id"] for r in rows}  # every changed row is served after the change
    assert len(seen) == len(set(seen)) + len(changed & {r["id"] for r in first["value"]})


def test_items_inventory_is_the_sum_over_locations(sb, http):
    stock = sb.records("contoso", "inventoryByLocation")
    locations = {x["id"]: x["code"] for x in sb.records("contoso", "locations")}
    total = defaultdict(float)
    for s in stock:
        assert locations[s["locationId"]] == s["locationCode"]
        total[s["itemId"]] += s["quantityOnHand"]
    for item in sb.records("contoso", "items"):
        assert item["inventory"] == pytest.approx(total[item["id"]], abs=1e-6)


@pytest.mark.parametrize(
    "path,params,status,code,needle",
    [
        ("salesOrders", {"$filter": "colour eq 'red'"}, 400, "BadRequest", "colour"),
        (
            "salesOrders",
            {"$filter": "lastModifiedDateTime gt yesterday"},
            400,
            "BadRequest",
            "yesterday",
        ),
        ("salesOrders", {"$orderby": "number desc"}, 400, "BadRequest", "ascending"),
        ("salesOrders", {"$select": "nope"}, 400, "BadRequest", "nope"),
        ("salesOrders", {"$skiptoken": "abc"}, 400, "BadRequest", "$skiptoken"),
        ("invoices", {}, 404, "BadRequest_NotFound", "invoices"),
        (
            "salesOrders(00000000-0000-0000-0000-000000000001)",
            {},
            404,
            "BadRequest_NotFound",
            "salesOrders",
        ),
    ],
)
def test_error_shapes(sb, http, bc, path, params, status, code, needle):
    company, headers = bc
    r = http.get(f"{company}/{path}", headers=headers, params=params)
    assert r.status_code == status
    err = r.json()["error"]
    assert set(err) == {"code", "message"} and err["code"] == code and needle in err["message"]


def test_unknown_company_and_service(sb, http, bc):
    _, headers = bc
    root = sb.service_url("contoso", "standard")
    r = http.get(f"{root}/companies(00000000-0000-0000-0000-000000000009)/items", headers=headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "BadRequest_NotFound"
    r = http.get(f"{sb.url}/contoso/api/v9.9/companies", headers=headers)
    assert r.status_code == 404


def test_ieee754_compatible_decimals_as_strings(sb, http, bc):
    company, headers = bc
    accept = {**headers, "Accept": "application/json;IEEE754Compatible=true"}
    r = http.get(
        f"{company}/salesOrderLines", headers=accept, params={"$top": "3", "$count": "true"}
    )
    assert "IEEE754Compatible=true" in r.headers["content-type"]
    body = r.json()
    assert body["@odata.count"] == str(sb.stats("contoso")["counts"]["sales_order_lines"])
    for row in body["value"]:
        assert re.fullmatch(r"-?\d+\.\d{3}", row["quantity"])
        assert re.fullmatch(r"-?\d+\.\d{4}", row["unitPrice"])
        assert re.fullmatch(r"-?\d+\.\d{2}", row["netAmount"])
        assert isinstance(row["sequence"], int)
    plain = http.get(f"{company}/salesOrderLines", headers=headers, params={"$top": "3"}).json()
    assert all(isinstance(row["quantity"], float) for row in plain["value"])


def test_faults_apply_to_odata_routes(sb, http, bc):
    company, headers = bc
    url = f"{company}/items"
    sb.set_faults("contoso", {"rate_limit": {"every": 2, "retry_after": 3}})
    assert http.get(url, headers=headers).status_code == 200
    r = http.get(url, headers=headers)
    assert r.status_code == 429 and r.headers["Retry-After"] == "3"
    assert r.json()["error"]["code"] == "Application_TooManyRequests"
    sb.set_faults("contoso", {"errors": {"every": 1, "statuses": [503]}})
    assert [http.get(url, headers=headers).status_code for _ in range(4)] == [200, 503, 200, 503]
    sb.set_faults("contoso", {"drop": {"every": 1}})
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        http.get(url, headers=headers)
    sb.set_faults("contoso", {"malformed": {"every": 1}})
    with pytest.raises(ValueError):
        http.get(url, headers=headers).json()
    sb.set_faults("contoso", {"token_ttl_seconds": 7})
    r = http.post(f"{sb.url}/contoso/oauth2/v2.0/token", data=token_form())
    assert r.json()["expires_in"] == 7


def test_rest_tenants_are_untouched_by_the_odata_routes(sb, http):
    acme = {"X-API-Key": "acme-key-123"}
    assert http.post(f"{sb.url}/acme/api/v1/customers", headers=acme).status_code == 405
    r = http.get(f"{sb.url}/acme/api/v2.0/companies", headers=acme)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = http.post(f"{sb.url}/contoso/api/v2.0/companies", headers=sb.auth_headers("contoso"))
    assert r.status_code == 405 and r.json()["error"]["code"] == "BadRequest_MethodNotAllowed"
    assert http.get(f"{sb.url}/nobody/api/v2.0/companies").status_code == 404
