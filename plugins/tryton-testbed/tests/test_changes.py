"""Changes made through JSON-RPC move the change timestamps an extractor follows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest
from tryton_testbed import TrytonServer, tryton_server, wire

ORDER = [["last_modified_at", "ASC"], ["id", "ASC"]]


@pytest.fixture(scope="module")
def live() -> Iterator[TrytonServer]:
    """A server of its own: these tests change data."""
    with tryton_server() as running:
        yield running


def _changed_since(server: TrytonServer, model: str, since: dt.datetime) -> list[dict]:
    response = server.rest_get(
        f"model/{model}",
        [
            ("d", wire.b64([["last_modified_at", ">=", since]])),
            ("o", wire.b64(ORDER)),
            ("f", "last_modified_at"),
            ("f", "write_date"),
            ("f", "create_date"),
        ],
    )
    assert response.status_code == 200, response.text
    return wire.loads(response.content)


def _latest(server: TrytonServer, model: str) -> dt.datetime:
    (row,) = server.search_read(
        model, [], ["last_modified_at"], order=[("last_modified_at", "DESC")], limit=1
    )
    return row["last_modified_at"]


def test_edit_sale_moves_write_date(live):
    before = live.write_dates("sale.sale", [1])[1]
    assert before is None  # never written since it was created
    since = _latest(live, "sale.sale")
    live.edit_sale(1, description="Rush order", reference="PO-9001")
    after = live.write_dates("sale.sale", [1])[1]
    assert after is not None
    assert after >= since
    (row,) = live.search_read("sale.sale", [("id", "=", 1)], ["description", "reference"])
    assert row == {"id": 1, "description": "Rush order", "reference": "PO-9001"}
    assert 1 in [r["id"] for r in _changed_since(live, "sale.sale", after)]


def test_edit_sale_line_quantity(live):
    (line,) = live.search_read("sale.line", [("sale", "=", 2)], ["quantity"], limit=1)
    sale_before = live.write_dates("sale.sale", [2])[2]
    live.edit_sale(2, line_quantity=(line["id"], line["quantity"] + 1))
    written = live.write_dates("sale.line", [line["id"]])[line["id"]]
    assert written is not None
    # A line written on its own does not touch its sale's timestamps.
    assert live.write_dates("sale.sale", [2])[2] == sale_before
    changed = _changed_since(live, "sale.line", written)
    assert line["id"] in [r["id"] for r in changed]


def test_reference_of_a_confirmed_sale_can_change(live):
    (sale,) = live.search_read("sale.sale", [("state", "=", "processing")], ["id"], limit=1)
    live.edit_sale(sale["id"], reference="CHANGED")
    assert live.write_dates("sale.sale", [sale["id"]])[sale["id"]] is not None


def test_new_sale_is_found_by_the_since_domain(live):
    since = _latest(live, "sale.sale")
    sale_id = live.new_sale(
        3,
        [(1, 2, Decimal("10.5000")), (2, 1, Decimal("7.2500"))],
        reference="NEW-1",
    )
    (row,) = live.search_read(
        "sale.sale",
        [("id", "=", sale_id)],
        ["state", "create_date", "write_date", "untaxed_amount", "lines"],
    )
    assert row["state"] == "draft"
    assert row["write_date"] is None  # created, never written
    assert row["untaxed_amount"] == Decimal("28.25")
    assert len(row["lines"]) == 2
    changed = [r["id"] for r in _changed_since(live, "sale.sale", since)]
    assert sale_id in changed
    # write_date alone misses records that were never written.
    only_written = live.search_read("sale.sale", [("write_date", ">=", since)], ["id"])
    assert sale_id not in [r["id"] for r in only_written]
    either = live.search_read(
        "sale.sale",
        [
            "OR",
            [("write_date", ">=", since)],
            [("write_date", "=", None), ("create_date", ">=", since)],
        ],
        ["id"],
    )
    assert sorted(r["id"] for r in either) == sorted(changed)


def test_confirmed_new_sale(live):
    sale_id = live.new_sale(
        4, [(5, 3, Decimal("12.0000"))], warehouse_id=live.warehouse_ids[1], confirm=True
    )
    (row,) = live.search_read(
        "sale.sale", [("id", "=", sale_id)], ["state", "number", "write_date"]
    )
    assert row["state"] == "processing"
    assert row["number"]
    assert row["write_date"] is not None


def test_edit_party_moves_write_date(live):
    since = _latest(live, "party.party") + dt.timedelta(microseconds=1)
    live.edit_party(3, name="Acme Hardware & Sons")
    written = live.write_dates("party.party", [3])[3]
    assert written is not None and written >= since
    changed = _changed_since(live, "party.party", since)
    assert [r["id"] for r in changed] == [3]


def test_since_order_is_change_time_then_id(live):
    rows = _changed_since(live, "sale.sale", dt.datetime(2000, 1, 1))
    keys = [(r["last_modified_at"], r["id"]) for r in rows]
    assert keys == sorted(keys)
    assert len(rows) == live.search_count("sale.sale", [])
    for row in rows:
        assert row["last_modified_at"] == (row["write_date"] or row["create_date"])


def test_keyset_pages_cover_everything_once(live):
    seen: list[int] = []
    last: tuple[dt.datetime, int] | None = None
    while True:
        domain: list = []
        if last is not None:
            stamp, last_id = last
            domain = [
                "OR",
                [["last_modified_at", ">", stamp]],
                [["last_modified_at", "=", stamp], ["id", ">", last_id]],
            ]
        response = live.rest_get(
            "model/sale.line",
            [
                ("d", wire.b64(domain)),
                ("o", wire.b64(ORDER)),
                ("s", "7"),
                ("f", "last_modified_at"),
            ],
        )
        rows = wire.loads(response.content)
        if not rows:
            break
        seen += [r["id"] for r in rows]
        last = (rows[-1]["last_modified_at"], rows[-1]["id"])
    assert len(seen) == len(set(seen)) == live.search_count("sale.line", [])
