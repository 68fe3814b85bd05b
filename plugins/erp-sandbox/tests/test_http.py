"""End-to-end tests over real HTTP against a sandbox server subprocess."""

from __future__ import annotations

import base64
import time

import pytest
import requests
from erp_sandbox.testing import SandboxServer, sandbox_server

ACME = {"X-API-Key": "acme-key-123"}
INITECH = {"Authorization": "Basic " + base64.b64encode(b"initech:initech-pass").decode()}


def api(sb: SandboxServer, tenant: str, entity: str) -> str:
    return f"{sb.tenant_url(tenant)}/api/v1/{entity}"


def fetch_offset(http, sb, entity, limit=500, **params):
    rows = []
    for page in range(1000):
        r = http.get(
            api(sb, "acme", entity),
            headers=ACME,
            params={"offset": page * limit, "limit": limit, **params},
        )
        assert r.status_code == 200, r.text
        value = r.json()["value"]
        rows.extend(value)
        if len(value) < limit:
            return rows
    raise AssertionError("too many pages")


def fetch_cursor(http, sb, entity, limit=500, **params):
    headers = sb.auth_headers("globex")
    rows, url, p = [], api(sb, "globex", entity), {"limit": limit, **params}
    for _ in range(1000):
        r = http.get(url, headers=headers, params=p)
        assert r.status_code == 200, r.text
        body = r.json()
        rows.extend(body["value"])
        if body["next"] is None:
            return rows
        url, p = body["next"], None
    raise AssertionError("too many pages")


def fetch_pages(http, sb, entity, size=500):
    rows = []
    for page in range(1, 1000):
        r = http.get(
            api(sb, "initech", entity), headers=INITECH, params={"page": page, "page_size": size}
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["page"] == page
        rows.extend(body["value"])
        if not body["has_more"]:
            return rows
    raise AssertionError("too many pages")


def test_health_and_handle(sb):
    assert requests.get(f"{sb.url}/_health", timeout=5).json() == {"status": "ok"}
    assert sb.url.startswith("http://127.0.0.1:")
    assert sb.tenant_url("acme") == f"{sb.url}/acme"
    stats = sb.stats("acme")
    assert stats["counts"]["sales_orders"] == 2000
    assert stats["counts"]["customers"] == 200 and stats["counts"]["inventory"] == 750
    assert stats["clock"] == "2026-01-01T02:00:00.000000+02:00"


@pytest.mark.parametrize(
    "entity,stream,key",
    [
        ("sales-orders", "sales_orders", "DocEntry"),
        ("sales-order-lines", "sales_order_lines", "LineKey"),
        ("customers", "customers", "CustomerKey"),
        ("products", "products", "ItemKey"),
        ("inventory", "inventory", "ItemKey"),
    ],
)
def test_every_paging_style_returns_every_row(sb, http, entity, stream, key):
    for tenant, fetch in (
        ("acme", fetch_offset),
        ("globex", fetch_cursor),
        ("initech", fetch_pages),
    ):
        rows = fetch(http, sb, entity)
        records = sb.records(tenant, stream)
        assert len(rows) == len(records) == sb.stats(tenant)["counts"][stream]
        if stream == "inventory":
            assert [(r["ItemKey"], r["WhsCode"]) for r in rows] == [
                (r["ItemKey"], r["WhsCode"]) for r in records
            ]
        else:
            assert sorted(r[key] for r in rows) == [r[key] for r in records]
            mods = [(r["ModifiedOn"], r[key]) for r in rows]
            assert mods == sorted(mods)


def test_default_and_max_page_size(sb, http):
    r = http.get(api(sb, "acme", "sales-orders"), headers=ACME)
    assert len(r.json()["value"]) == 100
    r = http.get(api(sb, "acme", "sales-orders"), headers=ACME, params={"limit": 5000})
    assert len(r.json()["value"]) == 2000
    r = http.get(api(sb, "acme", "sales-orders"), headers=ACME, params={"limit": 5001})
    assert r.status_code == 400 and "limit" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    "tenant,params,style",
    [
        ("acme", {"page": 1}, "offset"),
        ("acme", {"cursor": "abc"}, "offset"),
        ("globex", {"offset": 0}, "cursor"),
        ("globex", {"page_size": 10}, "cursor"),
        ("initech", {"offset": 10}, "page"),
        ("initech", {"limit": 10}, "page"),
    ],
)
def test_wrong_paging_style_is_400(sb, http, tenant, params, style):
    headers = {"acme": ACME, "initech": INITECH}.get(tenant) or sb.auth_headers(tenant)
    r = http.get(api(sb, tenant, "customers"), headers=headers, params=params)
    assert r.status_code == 400
    msg = r.json()["error"]["message"]
    assert r.json()["error"]["code"] == "bad_request"
    assert style in msg and next(iter(params)) in msg


@pytest.mark.parametrize(
    "params,name",
    [
        ({"offset": -1}, "offset"),
        ({"limit": 0}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"modified_since": "yesterday"}, "modified_since"),
        ({"modified_since": "2025-01-01T00:00:00"}, "modified_since"),
        ({"modified_before": "2025-13-01T00:00:00Z"}, "modified_before"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_parameters_name_the_parameter(sb, http, params, name):
    r = http.get(api(sb, "acme", "sales-orders"), headers=ACME, params=params)
    assert r.status_code == 400
    assert name in r.json()["error"]["message"]


def test_inventory_rejects_filters_and_unknowns_404(sb, http):
    r = http.get(
        api(sb, "acme", "inventory"),
        headers=ACME,
        params={"modified_since": "2025-01-01T00:00:00Z"},
    )
    assert r.status_code == 400 and "modified_since" in r.json()["error"]["message"]
    assert http.get(api(sb, "acme", "invoices"), headers=ACME).status_code == 404
    assert http.get(api(sb, "nobody", "customers"), headers=ACME).status_code == 404


def test_filters_since_inclusive_before_exclusive_with_ties(sb, http):
    records = sb.records("acme", "sales_order_lines")
    mods = sorted(r["ModifiedOn"] for r in records)
    # The biggest tie group spans several pages of 1,000.
    tie = max(set(mods), key=mods.count)
    assert mods.count(tie) > 1000
    since = fetch_offset(http, sb, "sales-order-lines", limit=1000, modified_since=tie)
    assert len(since) == sum(1 for m in mods if m >= tie)
    assert all(r["ModifiedOn"] >= tie for r in since)
    before = fetch_offset(http, sb, "sales-order-lines", limit=1000, modified_before=tie)
    assert len(before) == sum(1 for m in mods if m < tie)
    assert len(since) + len(before) == len(records)
    # The same instant written in another offset (and with Z) selects the same rows.
    utc = fetch_offset(
        http,
        sb,
        "sales-order-lines",
        limit=5000,
        modified_since="2024-06-01T00:00:00Z",
        modified_before="2025-01-01T00:00:00+00:00",
    )
    local = fetch_offset(
        http,
        sb,
        "sales-order-lines",
        limit=5000,
        modified_since="2024-06-01T02:00:00+02:00",
        modified_before="2024-12-31T19:00:00-05:00",
    )
    assert utc == local and utc


def test_cursor_carries_filters(sb, http):
    headers = sb.auth_headers("globex")
    since = "2025-06-01T00:00:00-05:00"
    rows = fetch_cursor(http, sb, "sales-orders", limit=50, modified_since=since)
    assert rows and all(r["ModifiedOn"] >= since for r in rows)
    r = http.get(
        api(sb, "globex", "sales-orders"), headers=headers, params={"cursor": "not-a-cursor"}
    )
    assert r.status_code == 400 and "cursor" in r.json()["error"]["message"]


def test_offset_paging_shifts_under_updates_but_cursor_is_stable(sb, http):
    page1 = http.get(
        api(sb, "acme", "customers"), headers=ACME, params={"offset": 0, "limit": 50}
    ).json()["value"]
    # Update rows: the first rows of page 1 move to the end of the order.
    changed = sb.advance("acme", seconds=10, updated_customers=30)["changed"]["customers"]
    rest = fetch_offset(http, sb, "customers", limit=50)
    seen_offset = [r["CustomerKey"] for r in page1] + [r["CustomerKey"] for r in rest[50:]]
    everyone = [r["CustomerKey"] for r in sb.records("acme", "customers")]
    moved_early = [k for k in changed if k in {r["CustomerKey"] for r in page1}]
    assert moved_early
    # Rows behind the moved ones shifted forward: some were never seen.
    assert set(everyone) - set(seen_offset)
    # Cursor paging over the same kind of change never skips an unchanged row.
    sb.reset()
    headers = sb.auth_headers("globex")
    first = http.get(api(sb, "globex", "customers"), headers=headers, params={"limit": 50}).json()
    sb.advance("globex", seconds=10, updated_customers=30)
    rows = list(first["value"])
    url = first["next"]
    for _ in range(100):
        body = http.get(url, headers=headers).json()
        rows.extend(body["value"])
        url = body["next"]
        if url is None:
            break
    keys = {r["CustomerKey"] for r in rows}
    assert keys == set(range(1, 201))


def test_live_move_to_end(sb, http):
    before = fetch_offset(http, sb, "sales-orders", limit=5000)
    first_key = before[0]["DocEntry"]
    sb.advance("acme", seconds=1, updated_orders=2000)
    after = fetch_offset(http, sb, "sales-orders", limit=5000)
    assert len(after) == 2000
    assert after[-1]["ModifiedOn"] == sb.stats("acme")["clock"]
    assert {r["DocEntry"] for r in after} == {r["DocEntry"] for r in before}
    assert after[0]["DocEntry"] == first_key  # all share one timestamp -> key order


def test_advance_over_http(sb, http):
    res = sb.advance(
        "acme",
        seconds=3600,
        new_orders=2,
        updated_orders=3,
        updated_lines=4,
        new_customers=1,
        updated_products=2,
        updated_inventory=2,
    )
    assert res["clock"] == "2026-01-01T03:00:00.000000+02:00"
    ch = res["changed"]
    assert ch["sales_orders"][-2:] == [2001, 2002] and len(ch["sales_orders"]) == 5
    assert ch["customers"] == [201]
    assert len(ch["inventory"]) == 2 and isinstance(ch["inventory"][0], list)
    stats = sb.stats("acme")
    assert stats["counts"]["sales_orders"] == 2002
    new = fetch_offset(http, sb, "sales-orders", modified_since=res["clock"])
    assert sorted(r["DocEntry"] for r in new) == ch["sales_orders"]
    assert all(r["ModifiedOn"] == res["clock"] for r in new)
    lines = fetch_offset(http, sb, "sales-order-lines", modified_since=res["clock"])
    assert {r["DocEntry"] for r in lines} >= {2001, 2002}
    assert sorted(r["LineKey"] for r in lines) == ch["sales_order_lines"]
    r = http.post(f"{sb.url}/_admin/acme/advance", json={"seconds": -5})
    assert r.status_code == 400
    # Reset brings everything back.
    sb.reset()
    assert sb.stats("acme")["counts"]["sales_orders"] == 2000


def test_auth_kinds(sb, http):
    url = api(sb, "acme", "vendors")
    assert http.get(url, headers=ACME).status_code == 200
    assert http.get(url, headers={"Authorization": "Bearer acme-pat-123"}).status_code == 200
    for bad in ({}, {"X-API-Key": "nope"}, {"Authorization": "Bearer nope"}):
        r = http.get(url, headers=bad)
        assert r.status_code == 401 and "WWW-Authenticate" in r.headers
        assert r.json()["error"]["code"] == "unauthorized"
    url = api(sb, "initech", "vendors")
    assert http.get(url, headers=INITECH).status_code == 200
    assert http.get(url, auth=("initech", "wrong")).status_code == 401
    assert http.get(url, headers=ACME).status_code == 401
    r = http.get(api(sb, "globex", "vendors"))
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")


def test_oauth_token_flow_expiry_and_revoke(sb, http):
    tok = f"{sb.url}/globex/oauth/token"
    r = http.post(
        tok,
        data={
            "grant_type": "client_credentials",
            "client_id": "globex-client",
            "client_secret": "bad",
        },
    )
    assert r.status_code == 401 and r.json() == {"error": "invalid_client"}
    r = http.post(tok, data={"grant_type": "password"})
    assert r.status_code == 400
    r = http.post(
        tok, data={"grant_type": "client_credentials"}, auth=("globex-client", "globex-secret")
    )
    body = r.json()
    assert r.status_code == 200 and body["token_type"] == "Bearer" and body["expires_in"] == 300
    url = api(sb, "globex", "products")
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert http.get(url, headers=headers).status_code == 200
    sb.revoke_tokens("globex")
    assert http.get(url, headers=headers).status_code == 401
    sb.set_faults("globex", {"token_ttl_seconds": 1})
    headers = sb.auth_headers("globex")
    assert http.get(url, headers=headers).status_code == 200
    time.sleep(1.2)
    r = http.get(url, headers=headers)
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]
    assert sb.stats("globex")["requests"]["token"] == 4
    assert http.post(f"{sb.url}/acme/oauth/token", data={}).status_code == 404


def test_metadata(sb, http):
    acme = http.get(api(sb, "acme", "$metadata"), headers=ACME).json()
    globex = http.get(api(sb, "globex", "$metadata"), headers=sb.auth_headers("globex")).json()
    assert http.get(api(sb, "acme", "$metadata")).status_code == 401

    def custom(doc, stream):
        return {f["name"] for f in doc["entities"][stream]["fields"] if f["custom"]}

    assert custom(acme, "products") == {"U_Color", "U_WeightKg", "U_Voltage"}
    assert custom(globex, "products") == {
        "U_Material",
        "U_LengthMm",
        "U_Hazardous",
        "U_CertifiedOn",
    }
    assert custom(acme, "customers") != custom(globex, "customers")
    prods = acme["entities"]["products"]
    assert prods["primary_key"] == ["ItemKey"] and prods["replication_key"] == "ModifiedOn"
    price = next(f for f in prods["fields"] if f["name"] == "ListPrice")
    assert price["type"] == "decimal" and price["scale"] == 4
    assert acme["entities"]["inventory"]["replication_key"] is None
    # Every field named in the metadata is present on the rows, and nothing else.
    row = sb.records("acme", "products")[0]
    assert set(row) == {f["name"] for f in prods["fields"]}


def test_fault_rate_limit_and_errors(sb, http):
    url = api(sb, "acme", "customers")
    sb.set_faults("acme", {"rate_limit": {"every": 3, "retry_after": 2}})
    codes = [http.get(url, headers=ACME).status_code for _ in range(6)]
    assert codes == [200, 200, 429, 200, 200, 429]
    r = [http.get(url, headers=ACME) for _ in range(3)][-1]
    assert r.status_code == 429 and r.headers["Retry-After"] == "2"
    sb.set_faults("acme", {"errors": {"every": 2, "burst": 3, "statuses": [500, 502, 503]}})
    codes = [http.get(url, headers=ACME).status_code for _ in range(10)]
    assert codes == [200, 200, 500, 502, 503, 200, 200, 500, 502, 503]
    sb.set_faults("acme", {})
    assert http.get(url, headers=ACME).status_code == 200
    assert http.put(f"{sb.url}/_admin/acme/faults", json={"boom": 1}).status_code == 400


def test_fault_slow_drop_malformed(sb, http):
    url = api(sb, "acme", "sales-orders")
    sb.set_faults("acme", {"slow": {"every": 2, "seconds": 0.5}})
    t0 = time.monotonic()
    assert http.get(url, headers=ACME).status_code == 200
    assert time.monotonic() - t0 < 0.45
    t0 = time.monotonic()
    assert http.get(url, headers=ACME).status_code == 200
    assert time.monotonic() - t0 >= 0.5
    sb.set_faults("acme", {"drop": {"every": 2}})
    assert http.get(url, headers=ACME).status_code == 200
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        http.get(url, headers=ACME, params={"limit": 1000})
    assert http.get(url, headers=ACME).status_code == 200
    sb.set_faults("acme", {"malformed": {"every": 1}})
    r = http.get(url, headers=ACME)
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()


def test_fault_mutate_after_requests(sb, http):
    sb.set_faults(
        "acme",
        {"mutate_after_requests": {"after": 2, "change": {"updated_orders": 50, "new_orders": 5}}},
    )
    url = api(sb, "acme", "sales-orders")
    for _ in range(2):
        http.get(url, headers=ACME)
    assert sb.stats("acme")["counts"]["sales_orders"] == 2000
    http.get(url, headers=ACME)
    stats = sb.stats("acme")
    assert stats["counts"]["sales_orders"] == 2005
    assert stats["clock"] == "2026-01-01T02:00:01.000000+02:00"
    for _ in range(3):
        http.get(url, headers=ACME)
    assert sb.stats("acme")["counts"]["sales_orders"] == 2005


def test_stats_count_data_requests(sb, http):
    before = sb.stats("initech")["requests"]["data"]
    http.get(api(sb, "initech", "products"), headers=INITECH)
    http.get(api(sb, "initech", "products"))
    assert sb.stats("initech")["requests"]["data"] == before + 2


def test_records_admin_and_unknown_entity(sb, http):
    rows = sb.records("initech", "inventory")
    assert len(rows) == 750 and rows[0]["WhsCode"] == "WH01"
    assert http.get(f"{sb.url}/_admin/initech/records/nope").status_code == 404


def test_sandbox_server_seeds_and_tenants():
    with sandbox_server(orders=80, seed=7, tenants=["initech"]) as other:
        stats = other.stats("initech")
        assert stats["counts"]["sales_orders"] == 80 and stats["counts"]["customers"] == 8
        assert requests.get(f"{other.url}/_admin/acme/stats", timeout=5).status_code == 404
        proc = other.process
    assert proc.poll() is not None


@pytest.mark.parametrize(
    ("drift", "status", "needle"),
    [
        ({"nowhere": {}}, 400, "unknown stream"),
        ({"products": {"types": {"ListPrice": "string"}}}, 400, "not a custom field"),
        ({"products": {"types": {"U_WeightKg": "money"}}}, 400, "must be one of"),
        ({"products": {"keys": 3}}, 400, "list of primary keys"),
    ],
)
def test_bad_drift_is_400(sb, drift, status, needle):
    r = requests.put(f"{sb.url}/_admin/acme/drift", json=drift, timeout=10)
    assert r.status_code == status and needle in r.text


def test_drift_serves_nulls_values_and_changed_types(sb, http):
    sb.set_drift(
        "acme",
        {
            "products": {
                "set": {"ListPrice": None, "CreatedOn": "0001-01-01T00:00:00+02:00"},
                "keys": [1, 2],
                "types": {"U_WeightKg": "string"},
            }
        },
    )
    rows = http.get(api(sb, "acme", "products"), headers=ACME, params={"limit": 5}).json()["value"]
    assert [r["ListPrice"] is None for r in rows] == [True, True, False, False, False]
    assert rows[0]["CreatedOn"] == "0001-01-01T00:00:00+02:00"
    assert all(isinstance(r["U_WeightKg"], str) for r in rows if r["U_WeightKg"] is not None)
    meta = http.get(api(sb, "acme", "$metadata"), headers=ACME).json()
    weight = next(f for f in meta["entities"]["products"]["fields"] if f["name"] == "U_WeightKg")
    assert weight["type"] == "string" and "scale" not in weight
    sb.set_drift("acme", {})
    rows = http.get(api(sb, "acme", "products"), headers=ACME, params={"limit": 2}).json()["value"]
    assert rows[0]["ListPrice"] is not None
