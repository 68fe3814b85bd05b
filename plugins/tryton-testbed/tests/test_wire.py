"""What the REST API of the real server does, as WIRE.md documents it."""

from __future__ import annotations

import base64
import json

import requests
from tryton_testbed import wire

ASC = wire.b64([["id", "ASC"]])


def _unpadded(obj: object) -> str:
    return wire.b64(obj).rstrip("=")


def test_domain_needs_base64_padding(server):
    domain = [["id", "<", 3]]
    assert wire.b64(domain).endswith("=")
    ok = server.rest_get("model/sale.sale", [("d", wire.b64(domain)), ("f", "id")])
    assert ok.status_code == 200
    assert sorted(r["id"] for r in ok.json()) == [1, 2]
    bad = server.rest_get("model/sale.sale", [("d", _unpadded(domain)), ("f", "id")])
    assert bad.status_code == 500
    assert "Incorrect padding" in bad.text


def test_size_and_page_params(server):
    first = server.rest_get("model/sale.sale", [("o", ASC), ("s", "3")]).json()
    second = server.rest_get("model/sale.sale", [("o", ASC), ("s", "3"), ("p", "3")]).json()
    assert [r["id"] for r in first] == [1, 2, 3]
    assert [r["id"] for r in second] == [4, 5, 6]
    assert set(first[0]) == {"__name__", "id", "rec_name"}  # the fields without f=
    response = server.rest_get("model/sale.sale", [("o", ASC), ("s", "3")])
    assert "Content-Range" not in response.headers


def test_range_header_end_is_exclusive(server):
    def ranged(value: str) -> requests.Response:
        return server.rest_get("model/sale.sale", [("o", ASC), ("f", "id")], {"Range": value})

    response = ranged("records=0-3")
    assert [r["id"] for r in response.json()] == [1, 2, 3]
    assert response.headers["Content-Range"] == "records 0-3/25"
    assert response.headers["Accept-Ranges"] == "records"
    tail = ranged("records=23-")
    assert [r["id"] for r in tail.json()] == [24, 25]
    assert tail.headers["Content-Range"] == "records 23-25/25"
    assert ranged("records=30-40").status_code == 416
    # The total is only counted up to 10 x (offset + limit); past that it is "*".
    assert ranged("records=0-1").headers["Content-Range"] == "records 0-1/*"
    # Several ranges are ignored: the whole result comes back, without Content-Range.
    several = ranged("records=0-1,3-4")
    assert len(several.json()) == 25
    assert "Content-Range" not in several.headers


def test_value_encodings(server):
    fields = [
        "number",
        "state",
        "reference",
        "sale_date",
        "create_date",
        "write_date",
        "total_amount",
        "party",
        "warehouse.name",
        "lines",
        "origin",
    ]
    response = server.rest_get(
        "model/sale.sale/1", [("f", f) for f in fields], context={"company": server.company_id}
    )
    assert response.status_code == 200
    row = response.json()
    assert row["state"] == "draft"
    assert row["number"] is None
    assert row["sale_date"] == {"__class__": "date", "year": 2025, "month": 1, "day": 6}
    assert row["create_date"]["__class__"] == "datetime"
    assert set(row["create_date"]) == {
        "__class__",
        "year",
        "month",
        "day",
        "hour",
        "minute",
        "second",
        "microsecond",
    }
    assert row["write_date"] is None
    assert row["total_amount"]["__class__"] == "Decimal"
    assert isinstance(row["total_amount"]["decimal"], str)
    assert isinstance(row["party"], int)
    assert row["warehouse"] == {
        "__name__": "stock.location",
        "id": server.warehouse_ids[0],
        "name": "Main Warehouse",
    }
    assert all(isinstance(i, int) for i in row["lines"])
    assert row["origin"] is None


def test_booleans_of_stored_columns_come_back_as_integers_on_sqlite(server):
    response = server.rest_get(
        "model/product.product/1", [("f", "active"), ("f", "salable"), ("f", "template.salable")]
    )
    row = response.json()
    assert row["active"] == 1 and row["active"] is not True
    assert row["salable"] is True  # a computed field
    assert row["template"]["salable"] == 1


def test_company_context_for_company_values(server):
    params = [("f", "cost_price"), ("f", "list_price"), ("f", "list_price_used")]
    plain = server.rest_get("model/product.product/1", params).json()
    assert plain["cost_price"] is None
    assert plain["list_price_used"] is None
    with_company = server.rest_get(
        "model/product.product/1", params, context={"company": server.company_id}
    ).json()
    assert with_company["cost_price"]["__class__"] == "Decimal"
    assert with_company["list_price"] is None  # no price of the variant's own
    assert with_company["list_price_used"]["__class__"] == "Decimal"


def test_context_header_needs_padding_too(server):
    header = base64.urlsafe_b64encode(json.dumps({"company": 1}).encode()).decode()
    assert header.endswith("=")
    response = server.rest_get(
        "model/product.product", [("s", "1")], {"X-Tryton-Context": header.rstrip("=")}
    )
    assert response.status_code == 500


def test_fields_get_over_rest(server):
    response = requests.post(
        f"{server.rest_base}/model/sale.line/fields_get",
        data=json.dumps({"fields_names": ["quantity", "unit_price", "product", "type"]}),
        headers={**server.rest_headers(), "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 200
    meta = response.json()
    assert meta["unit_price"]["type"] == "numeric"
    assert json.loads(meta["unit_price"]["digits"]) == [None, 4]
    assert meta["quantity"]["type"] == "float"
    assert meta["product"]["relation"] == "product.product"
    assert ["line", "Line"] in meta["type"]["selection"]


def test_error_statuses(server):
    def status(path: str, params: list | None = None) -> tuple[int, str]:
        response = server.rest_get(path, params)
        return response.status_code, response.headers["Content-Type"]

    html = "text/html; charset=utf-8"
    assert status("model/sale.sale", [("f", "nope")]) == (500, html)
    assert status("model/sale.sale", [("d", wire.b64([["nope", "=", 1]]))]) == (500, html)
    assert status("model/sale.sale", [("d", wire.b64([["id", "~", 1]]))]) == (500, html)
    assert status("model/sale.sale", [("o", wire.b64([["nope", "ASC"]]))]) == (500, html)
    assert status("model/sale.sale", [("s", "x")]) == (500, html)
    assert status("model/no.such.model") == (500, html)
    assert status("model/sale.sale/9999") == (404, html)
    forbidden = requests.post(
        f"{server.rest_base}/model/sale.sale/nope", headers=server.rest_headers(), timeout=10
    )
    assert forbidden.status_code == 403


def test_user_error_is_a_json_400(server):
    response = requests.put(
        f"{server.rest_base}/model/sale.sale/20",
        data=json.dumps({"description": "x"}),
        headers={**server.rest_headers(), "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == 400
    assert "not allowed to modify" in body["message"]
