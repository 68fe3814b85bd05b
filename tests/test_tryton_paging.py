"""tap-erp against a real Tryton 8.2 server, in process: tie groups across pages (the
demo data creates every record in one transaction, so they share one timestamp) and
records changing while the tap pages lose nothing."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest
from singer_sdk.singerlib.encoding.base import GenericSingerWriter
from tap_erp import http as http_mod
from tap_erp.tap import TapERP
from tryton_testbed import tryton_server


class Collect(GenericSingerWriter):
    """Singer messages as dicts."""

    def __init__(self) -> None:
        self.messages: list[dict] = []

    def serialize_message(self, message):
        return message.to_dict()

    def write_message(self, message) -> None:
        self.messages.append(copy.deepcopy(message.to_dict()))


@pytest.fixture(scope="module")
def tryton() -> Iterator:
    with tryton_server() as server:
        yield server


def sync(tryton, stream: str, state: dict | None = None, **settings) -> tuple[list[dict], dict]:
    config = {
        "profile": "tryton",
        "base_url": tryton.rest_base,
        "bearer_token": tryton.api_key,
        "company_id": tryton.company_id,
        **settings,
    }
    catalog = TapERP(config=config).catalog_dict
    for entry in catalog["streams"]:
        for md in entry["metadata"]:
            if md["breadcrumb"] == []:
                md["metadata"]["selected"] = entry["tap_stream_id"] == stream
    writer = Collect()
    tap = TapERP(config=config, catalog=catalog, state=state, message_writer=writer)
    tap.sync_all()
    records = [m["record"] for m in writer.messages if m["type"] == "RECORD"]
    states = [m["value"] for m in writer.messages if m["type"] == "STATE"]
    return records, states[-1] if states else {}


@pytest.mark.parametrize("page_size", [2, 3, 7])
def test_tie_groups_across_pages(tryton, page_size):
    records, state = sync(tryton, "sales_order_lines", page_size=page_size)
    assert sorted(r["id"] for r in records) == sorted(
        ln["id"] for ln in tryton.search_read("sale.line", [], ["id"])
    )
    again, _ = sync(tryton, "sales_order_lines", state=state, page_size=page_size)
    assert again == []


@pytest.mark.parametrize("after", [2, 5])
def test_records_changing_while_paging_are_not_skipped(tryton, monkeypatch, after):
    original = http_mod.HttpClient.send
    calls = []
    parties = [
        p["id"]
        for p in tryton.search_read(
            "party.party", [("categories", "=", tryton.customer_category_id)], ["id"]
        )
    ]

    def send(self, method, url, **kwargs):
        if "party.party" in url:
            calls.append(url)
            if len(calls) == after:  # rows of the group move to its end while paging
                for party in parties[1:6]:
                    tryton.edit_party(party, name=f"moved while paging {party}")
        return original(self, method, url, **kwargs)

    monkeypatch.setattr(http_mod.HttpClient, "send", send)
    records, _ = sync(tryton, "customers", page_size=3)
    latest = {r["id"]: r["name"] for r in records}
    now = {
        p["id"]: p["name"]
        for p in tryton.search_read("party.party", [("id", "in", parties)], ["name"])
    }
    assert latest == now
