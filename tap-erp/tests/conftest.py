"""Shared helpers: run the tap in-process against a fake ERP session."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
from singer_sdk.singerlib.encoding.base import GenericSingerWriter
from tap_erp import http as http_mod
from tap_erp.tap import TapERP

from .fake_erp import FakeERP


class ListWriter(GenericSingerWriter):
    """Collects Singer messages as dicts (state deep-copied at write time)."""

    def __init__(self):
        self.messages: list[dict] = []

    def serialize_message(self, message):
        return message.to_dict()

    def write_message(self, message):
        self.messages.append(copy.deepcopy(message.to_dict()))


class Run:
    def __init__(self, messages):
        self.messages = messages

    def records(self, stream):
        return [
            m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream
        ]

    @property
    def states(self):
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def final_state(self):
        return self.states[-1] if self.states else {}


def select_only(tap_config, fake, streams, state=None, catalog_streams=None):
    """Run the tap with only ``streams`` selected."""
    tap = TapERP(config=tap_config, state=copy.deepcopy(state) if state else None)
    catalog = tap.catalog_dict
    for entry in catalog["streams"]:
        selected = entry["tap_stream_id"] in streams
        for md in entry["metadata"]:
            if md["breadcrumb"] == []:
                md["metadata"]["selected"] = selected
    writer = ListWriter()
    tap = TapERP(
        config=tap_config,
        state=copy.deepcopy(state) if state else None,
        catalog=catalog,
        message_writer=writer,
    )
    tap.sync_all()
    return Run(writer.messages)


@pytest.fixture
def fake(monkeypatch):
    """A FakeERP answering every request the tap sends (no real sleeping)."""
    erp = FakeERP()
    monkeypatch.setattr(http_mod.requests, "Session", lambda: erp)
    monkeypatch.setattr(http_mod.time, "sleep", lambda seconds: None)
    return erp


@pytest.fixture
def run_tap(fake):
    def run(streams=("customers",), state=None, **settings):
        config = {
            "base_url": FakeERP.BASE,
            "api_key": "secret-key-1",
            "page_size": 10,
            "backoff_base_seconds": 0,
            **settings,
        }
        return select_only(config, fake, set(streams), state=state)

    return run


BASE_TS = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
