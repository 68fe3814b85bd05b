"""The server starts with the demo data, the REST API answers, and it stops cleanly."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal

import pytest
import requests
from tryton_testbed import tryton_server, wire
from tryton_testbed.server import port_in_use

EXTRACTED_MODELS = [
    "sale.sale",
    "sale.line",
    "party.party",
    "party.category",
    "product.product",
    "product.template",
    "stock.location",
]


def test_server_answers_json_rpc(server):
    assert server.url.startswith("http://127.0.0.1:")
    assert server.rest_base == f"{server.url}/{server.database}/rest"
    assert server.server_rpc("common.server.version").startswith("8.2")


@pytest.mark.parametrize("model", EXTRACTED_MODELS)
def test_rest_answers_with_bearer_key(server, model):
    response = server.rest_get(f"model/{model}", [("f", "id"), ("s", "5")])
    assert response.status_code == 200, response.text
    rows = response.json()
    assert isinstance(rows, list)
    assert rows
    assert {row["__name__"] for row in rows} == {model}


def test_rest_refuses_bad_key(server):
    response = requests.get(
        f"{server.rest_base}/model/sale.sale", headers={"Authorization": "Bearer nope"}, timeout=10
    )
    assert response.status_code == 401
    assert requests.get(f"{server.rest_base}/model/sale.sale", timeout=10).status_code == 401


def test_counts_match_the_demo_data(server):
    counts = server.counts()
    created = server.summary["counts"]
    assert counts["sales"] == created["sales"] == 25
    assert counts["sale_lines"] == created["sale_lines"]
    assert 25 <= counts["sale_lines"] <= 100
    assert counts["customers"] == created["customers"] == 27
    assert counts["vendors"] == created["vendors"] == 16
    assert counts["products"] == created["products"] == 30
    assert counts["stock_levels"] == 30 * len(server.warehouse_ids) == 60
    # Every fifth product is stocked in the main warehouse only.
    assert counts["stock_levels_nonzero"] == 54


def test_sales_are_in_several_states(server):
    rows = server.search_read("sale.sale", [], ["state"])
    states = {}
    for row in rows:
        states[row["state"]] = states.get(row["state"], 0) + 1
    assert states == {"draft": 4, "quotation": 8, "processing": 13}


def test_two_warehouses_hold_stock(server):
    assert len(server.warehouse_ids) == 2
    levels = server.stock_levels()
    for warehouse_id in server.warehouse_ids:
        in_stock = [k for k, v in levels.items() if k[1] == warehouse_id and v["quantity"] > 0]
        assert len(in_stock) >= 24


def test_rest_stock_quantity_per_warehouse(server):
    levels = server.stock_levels()
    for warehouse_id in server.warehouse_ids:
        response = server.rest_get(
            "model/product.product",
            [("f", "quantity"), ("f", "forecast_quantity")],
            context={"locations": [warehouse_id]},
        )
        assert response.status_code == 200
        for row in response.json():
            level = levels[(row["id"], warehouse_id)]
            assert row["quantity"] == level["quantity"]
            assert row["forecast_quantity"] == level["forecast_quantity"]


def test_money_is_exact(server):
    rows = server.search_read(
        "product.template", [], ["list_price", "cost_price"], context={"company": 1}
    )
    assert len(rows) == 30
    for row in rows:
        assert isinstance(row["list_price"], Decimal)
        assert row["list_price"].as_tuple().exponent == -4
        assert row["cost_price"] > 0
    response = server.rest_get("model/sale.line", [("f", "unit_price"), ("s", "1")])
    value = response.json()[0]["unit_price"]
    assert value["__class__"] == "Decimal"
    assert wire.loads(response.content)[0]["unit_price"] == Decimal(value["decimal"])


def test_template_build_is_shared_between_processes():
    code = "from tryton_testbed import ensure_template; print(ensure_template().database_file)"
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = {p.communicate(timeout=600)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(outputs) == 1


def test_server_is_stopped_and_cleaned_up(tmp_path):
    with tryton_server() as running:
        port, pid, workdir = running.port, running.pid, running.workdir
        assert port_in_use(port)
        assert running.search_count("sale.sale", []) == 25
    assert not port_in_use(port)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not workdir.exists()

    kept = tmp_path / "kept"
    with tryton_server(kept) as running:
        port = running.port
    assert not port_in_use(port)
    assert (kept / "trytond.log").exists()
