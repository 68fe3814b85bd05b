"""RECORD messages written as bytes by the tap's writer are the SDK's messages."""

from __future__ import annotations

import copy
import datetime as dt

import orjson
import pytest
from singer_sdk.streams import Stream
from tap_erp.client import ERPStream
from tap_erp.tap import TapERP
from tap_erp.writer import BufferedMsgSpecWriter

from .fake_erp import FakeERP

BASE_TS = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
MAPS = {
    "sales_order_lines": {
        "__key_properties__": ["order_line_id"],
        "order_line_id": "LineKey",
        "sku": "ItemCode",
        "quantity": "Quantity",
        "updated_at": "ModifiedOn",
        "__else__": "__NULL__",
    }
}


def sync_to_stdout(fake, capsysbinary, **settings) -> list[dict]:
    config = {"base_url": FakeERP.BASE, "api_key": "secret-key-1", "page_size": 7, **settings}
    catalog = TapERP(config=config).catalog_dict
    for entry in catalog["streams"]:
        for md in entry["metadata"]:
            if md["breadcrumb"] == []:
                md["metadata"]["selected"] = entry["tap_stream_id"] == "sales_order_lines"
    writer = BufferedMsgSpecWriter()
    capsysbinary.readouterr()
    TapERP(config=config, catalog=copy.deepcopy(catalog), message_writer=writer).sync_all()
    writer.flush()
    out = capsysbinary.readouterr().out
    return [orjson.loads(line) for line in out.splitlines() if b'"RECORD"' in line[:20]]


@pytest.mark.parametrize("maps", [MAPS, None])
def test_record_lines_match_the_sdk_messages(fake, capsysbinary, monkeypatch, maps):
    for key in range(1, 40):
        when = BASE_TS + dt.timedelta(minutes=key // 3)  # tie groups across pages
        fake.add("sales_order_lines", key, when, ItemCode=f"SKU-{key}", Quantity=key / 4)
    settings = {"stream_maps": maps} if maps else {}
    written = []
    original = BufferedMsgSpecWriter.write_record
    monkeypatch.setattr(
        BufferedMsgSpecWriter,
        "write_record",
        lambda self, *args: written.append(1) or original(self, *args),
    )
    fast = sync_to_stdout(fake, capsysbinary, **settings)
    assert len(written) == 39  # the records went the byte path
    # the SDK's own path
    monkeypatch.setattr(ERPStream, "_write_record_message", Stream._write_record_message)
    sdk = sync_to_stdout(fake, capsysbinary, **settings)
    assert len(fast) == len(sdk) == 39
    for ours, theirs in zip(fast, sdk, strict=True):
        assert list(ours) == list(theirs)  # the same members in the same order
        assert dt.datetime.fromisoformat(ours.pop("time_extracted")).tzinfo is not None
        theirs.pop("time_extracted")
        assert ours == theirs
        assert list(ours["record"]) == list(theirs["record"])
