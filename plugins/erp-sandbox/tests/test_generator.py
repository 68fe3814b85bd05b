"""Unit tests of the generator and the store (no HTTP)."""

from __future__ import annotations

import numpy as np
import pytest
from erp_sandbox.app import parse_clock
from erp_sandbox.generator import Timeline, line_counts_np, line_of_index_np, sizes_for
from erp_sandbox.hashing import h, h_np
from erp_sandbox.store import ChangeError, TenantStore
from erp_sandbox.tenants import TENANTS

CLOCK = parse_clock("2026-01-01T00:00:00Z")


def store(tenant: str = "acme", orders: int = 2000, seed: int = 42) -> TenantStore:
    return TenantStore(seed, TENANTS[tenant], orders, CLOCK)


def all_rows(s: TenantStore, stream: str) -> list[dict]:
    return [r for chunk in s.iter_all(stream, chunk=777) for r in chunk]


def test_hash_python_and_numpy_agree():
    idx = np.arange(0, 5000, 7, dtype=np.int64)
    ver = idx % 3
    got = h_np(123456789, idx, ver).tolist()
    assert got == [h(123456789, int(i), int(v)) for i, v in zip(idx, ver, strict=True)]


def test_same_seed_same_data_and_tenants_differ():
    a, b = store("acme"), store("acme")
    for stream in a.entities:
        assert all_rows(a, stream) == all_rows(b, stream)
    assert all_rows(store("acme", seed=7), "customers") != all_rows(a, "customers")
    acme = all_rows(a, "sales_orders")
    globex = all_rows(store("globex"), "sales_orders")
    assert len(acme) == len(globex)
    assert [r["SubTotal"] for r in acme] != [r["SubTotal"] for r in globex]


def test_record_is_pure_function_of_index():
    s = store(orders=5000)
    full = all_rows(s, "sales_order_lines")
    some = s.render("sales_order_lines", np.array([4321, 17, 9999], dtype=np.int64))
    assert some == [full[4321], full[17], full[9999]]


@pytest.mark.parametrize("orders", [1, 7, 2000, 300_000, 3_000_000])
def test_sizes_per_scale(orders):
    sizes = sizes_for(orders)
    assert sizes["sales_orders"] == orders
    assert sizes["customers"] == max(1, orders // 10)
    assert sizes["vendors"] == max(1, orders // 40)
    assert sizes["products"] == max(1, orders // 8)
    assert sizes["inventory"] == 3 * sizes["products"]
    assert orders <= sizes["sales_order_lines"] <= 6 * orders
    if orders >= 2000:
        assert 3.3 * orders < sizes["sales_order_lines"] < 3.7 * orders
    # Lines per order sum up to the line count, 1..6 each.
    counts = line_counts_np(np.arange(orders, dtype=np.int64)) if orders < 10_000 else None
    if counts is not None:
        assert counts.min() >= 1 and counts.max() <= 6
        assert counts.sum() == sizes["sales_order_lines"]


def test_line_index_mapping_matches_order_line_counts():
    orders = np.arange(0, 1000, dtype=np.int64)
    counts = line_counts_np(orders)
    order, ln = line_of_index_np(np.arange(counts.sum(), dtype=np.int64))
    expected_order = np.repeat(orders, counts)
    assert (order == expected_order).all()
    assert (ln[counts[0] :] >= 0).all() and ln[0] == 0


@pytest.mark.parametrize("n", [3, 200, 1001, 7000, 1_050_000])
def test_timeline_monotone_with_tie_groups(n):
    start, end = parse_clock("2023-01-01T00:00:00Z"), CLOCK - 3_600_000_000
    tl = Timeline(99, n, start, end)
    idx = np.arange(n, dtype=np.int64) if n < 100_000 else np.arange(370_000, 400_000)
    ts = tl.ts_np(idx)
    assert (np.diff(ts) >= 0).all()
    assert ts.min() >= start and ts.max() < end
    assert [tl.ts(int(i)) for i in idx[::97]] == ts[::97].tolist()
    _, sizes = np.unique(ts, return_counts=True)
    if n > 1000:
        assert sizes.max() > 1000
    if n >= 7000:
        assert sizes.max() > 2500
    for t in ts[:: max(1, len(ts) // 50)].tolist():
        first = tl.first_ge(t)
        assert tl.ts(first) >= t and (first == 0 or tl.ts(first - 1) < t)


def test_orders_consistent():
    s = store(orders=3000)
    orders = all_rows(s, "sales_orders")
    lines = all_rows(s, "sales_order_lines")
    customers = {r["CustomerKey"] for r in all_rows(s, "customers")}
    products = {r["ItemKey"]: r for r in all_rows(s, "products")}
    by_order: dict[int, list[dict]] = {}
    for ln in lines:
        by_order.setdefault(ln["DocEntry"], []).append(ln)
        assert ln["ItemKey"] in products
        assert ln["ItemCode"] == products[ln["ItemKey"]]["ItemCode"]
        assert ln["UoMCode"] == products[ln["ItemKey"]]["InventoryUoM"]
        assert ln["WhsCode"] in {"WH01", "WH02", "WH03"}
    for o in orders:
        assert o["CustomerKey"] in customers
        assert round(o["SubTotal"] + o["TaxTotal"], 2) == o["DocTotal"]
        mine = by_order[o["DocEntry"]]
        assert [ln["LineNum"] for ln in mine] == list(range(len(mine)))
        assert 1 <= len(mine) <= 6
        assert abs(sum(ln["LineTotal"] for ln in mine) - o["SubTotal"]) < 0.01 * len(mine)
        assert o["CreatedOn"] <= o["ModifiedOn"]
        assert o["DocStatus"] in {"Open", "Released", "Shipped", "Invoiced", "Cancelled"}


def test_value_formats():
    s = store("globex")
    row = all_rows(s, "sales_orders")[10]
    assert row["ModifiedOn"].endswith("-05:00") and len(row["ModifiedOn"]) == 32
    assert set(row["ShipTo"]) == {"Street", "City", "PostalCode", "CountryCode"}
    assert isinstance(row["Tags"], list)
    for r in all_rows(s, "sales_order_lines")[:500]:
        assert round(r["UnitPrice"], 4) == r["UnitPrice"]
        assert round(r["Quantity"], 3) == r["Quantity"]
        assert round(r["LineTotal"], 2) == r["LineTotal"]
    inv = all_rows(s, "inventory")[:300]
    for r in inv:
        assert round(r["OnHand"] - r["Committed"], 3) == r["Available"]
        assert "U_StorageClass" in r
    custs = all_rows(s, "customers")
    assert any(c["EmailAddress"] is None for c in custs)
    assert any(c["EmailAddress"] for c in custs)


def _model(s: TenantStore, stream: str) -> list[tuple[int, int]]:
    """(ModifiedOn us, index) of every current row, sorted: the brute-force order."""
    n = s.entities[stream].n_total
    rs, _ = s.rowset(stream, np.arange(n, dtype=np.int64))
    return sorted(zip(rs.modified.tolist(), range(n), strict=True))


@pytest.mark.parametrize("stream", ["sales_orders", "sales_order_lines", "customers"])
def test_queries_match_brute_force_with_overlays(stream):
    s = store(orders=1500)
    s.advance(
        {
            "seconds": 60,
            "new_orders": 7,
            "updated_orders": 40,
            "updated_lines": 60,
            "new_customers": 3,
            "updated_customers": 20,
        }
    )
    s.advance({"seconds": 0, "updated_orders": 25, "updated_lines": 30, "updated_customers": 5})
    s.advance({"seconds": 5, "new_orders": 2, "updated_orders": 10, "updated_lines": 10})
    model = _model(s, stream)
    mods = [m for m, _ in model]
    bounds = [None, mods[0], mods[len(mods) // 3], mods[len(mods) // 2] + 1, mods[-1]]
    for since in bounds:
        for before in [None, mods[-1], mods[(2 * len(mods)) // 3]]:
            want = [
                i
                for m, i in model
                if (since is None or m >= since) and (before is None or m < before)
            ]
            # offset paging
            got: list[int] = []
            for page in range(200):
                p = s.select(
                    stream, since=since, before=before, offset=page * 97, after=None, limit=97
                )
                got.extend(_keys(p.rows, stream))
                if not p.has_more:
                    break
            assert got == want
            # keyset paging
            got, after = [], None
            for _ in range(200):
                p = s.select(
                    stream, since=since, before=before, offset=None, after=after, limit=113
                )
                got.extend(_keys(p.rows, stream))
                after = p.last
                if not p.has_more:
                    break
            assert got == want


def _keys(rows: list[dict], stream: str) -> list[int]:
    key = {"sales_orders": "DocEntry", "sales_order_lines": "LineKey", "customers": "CustomerKey"}
    return [r[key[stream]] - 1 for r in rows]


def test_advance_shares_timestamp_and_is_deterministic():
    a, b = store(), store()
    ra = a.advance(
        {
            "seconds": 3600,
            "new_orders": 3,
            "updated_orders": 4,
            "updated_lines": 5,
            "new_products": 1,
            "updated_inventory": 2,
        }
    )
    rb = b.advance(
        {
            "seconds": 3600,
            "new_orders": 3,
            "updated_orders": 4,
            "updated_lines": 5,
            "new_products": 1,
            "updated_inventory": 2,
        }
    )
    assert ra == rb
    assert ra["clock"] == "2026-01-01T03:00:00.000000+02:00"
    assert len(ra["changed"]["sales_orders"]) == 7
    assert len(ra["changed"]["inventory"]) == 3 + 2
    orders = {r["DocEntry"]: r for r in all_rows(a, "sales_orders")}
    for key in ra["changed"]["sales_orders"]:
        assert orders[key]["ModifiedOn"] == ra["clock"]
    new_keys = ra["changed"]["sales_orders"][-3:]
    assert new_keys == [2001, 2002, 2003]
    lines = [r for r in all_rows(a, "sales_order_lines") if r["DocEntry"] in new_keys]
    assert lines and all(r["ModifiedOn"] == ra["clock"] for r in lines)
    assert a.counts()["sales_order_lines"] == 7000 + len(lines)
    assert all_rows(a, "sales_orders") == all_rows(b, "sales_orders")


def test_advance_rejects_bad_input():
    s = store()
    for bad in ({"seconds": -1}, {"new_orders": -2}, {"nope": 1}, {"new_orders": 1.5}, []):
        with pytest.raises(ChangeError):
            s.advance(bad)
