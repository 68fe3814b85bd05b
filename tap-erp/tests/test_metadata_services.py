"""Metadata of an ERP whose entities sit in services of their own (fake HTTP): a stream
may name its own metadata request, each document is read once, and a run with a
catalog asks the ERP for the custom fields the catalog has (`{fields}`)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlparse

import pytest
from tap_erp import http as http_mod
from tap_erp.errors import ProfileError
from tap_erp.profiles import SCHEMAS_DIR, load_profile
from tap_erp.tap import TapERP

from .conftest import select_only
from .fake_erp import FakeResponse

PROFILE = """
name: services
schemas_dir: {schemas}
page_size: {{default: 10, max: 10}}
defaults:
  records: value
  request: {{query: {{$select: "{{fields:csv}}"}}}}
default_paginator: single
paginators: {{single: {{type: single}}}}
auth: {{default: basic, methods: {{basic: {{type: basic}}}}}}
metadata:
  format: odata_csdl
  request: {{path: a/$metadata}}
  custom_fields: "^U_"
streams:
  customers:
    request: {{path: a/Customers}}
    metadata_entity: Customers
    primary_keys: [CustomerKey]
  vendors:
    request: {{path: a/Vendors}}
    metadata_entity: Vendors
    primary_keys: [VendorKey]
  products:
    request: {{path: b/Products}}
    metadata_entity: Products
    metadata_request: {{path: b/$metadata}}
    primary_keys: [ItemKey]
"""

#: service -> entity set -> custom fields (name, CSDL type, scale)
SERVICES = {
    "a": {
        "Customers": [("U_Segment", "Edm.String", None)],
        "Vendors": [("U_Rating", "Edm.Int32", None)],
        "Products": [("U_Wrong", "Edm.String", None)],
    },
    "b": {
        "Products": [("U_Color", "Edm.String", None), ("U_WeightKg", "Edm.Decimal", "3")],
        "Customers": [("U_Wrong", "Edm.String", None)],
    },
}


def csdl(service: str) -> bytes:
    """The service's `$metadata`: an entity type and set per entity set."""
    types, sets = [], []
    for name, fields in SERVICES[service].items():
        props = [
            f'<Property Name="{field}" Type="{kind}"{f" Scale={scale!r}" if scale else ""}/>'
            for field, kind, scale in fields
        ]
        types.append(f'<EntityType Name="{name}_Type">{"".join(props)}</EntityType>')
        sets.append(f'<EntitySet Name="{name}" EntityType="ns.{name}_Type"/>')
    container = f'<EntityContainer Name="c">{"".join(sets)}</EntityContainer>'
    return (
        '<edmx:Edmx xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:DataServices>'
        '<Schema Namespace="ns" xmlns="http://docs.oasis-open.org/odata/ns/edm">'
        f"{''.join(types)}{container}</Schema></edmx:DataServices></edmx:Edmx>"
    ).encode()


class Services:
    """A fake ERP transport: `$metadata` per service; one row per entity set with exactly the
    fields `$select` names."""

    def __init__(self):
        self.log: list[tuple[str, dict]] = []

    def close(self):
        pass

    def request(self, method, url, params=None, **_):
        path = urlparse(url).path.strip("/")
        self.log.append((path, dict(params or {})))
        service, _, resource = path.partition("/")
        if resource == "$metadata":
            return FakeResponse(200, content=csdl(service))
        fields = (params or {})["$select"].split(",")
        return FakeResponse(200, {"value": [dict.fromkeys(fields, 1)]})

    def asked(self, path: str) -> list[dict]:
        return [params for logged, params in self.log if logged == path]


@pytest.fixture
def services(monkeypatch, tmp_path):
    fake = Services()
    monkeypatch.setattr(http_mod.requests, "Session", lambda: fake)
    path = tmp_path / "services.yaml"
    path.write_text(PROFILE.format(schemas=json.dumps(str(SCHEMAS_DIR / "erp_sandbox"))))
    config = {"base_url": "http://erp.test", "profile": str(path), "username": "u", "password": "p"}
    return fake, config


def custom_fields(catalog: dict, stream: str) -> dict:
    (entry,) = [e for e in catalog["streams"] if e["tap_stream_id"] == stream]
    return {k: v for k, v in entry["schema"]["properties"].items() if k.startswith("U_")}


CUSTOM = [
    # (stream, custom fields in its schema): whence
    ("customers", {"U_Segment": {"type": ["string", "null"]}}),  # the profile's document
    ("vendors", {"U_Rating": {"type": ["integer", "null"]}}),  # the same document
    (
        "products",  # its own document
        {
            "U_Color": {"type": ["string", "null"]},
            "U_WeightKg": {"type": ["number", "null"], "multipleOf": 0.001},
        },
    ),
]


@pytest.mark.parametrize(("stream", "expected"), CUSTOM)
def test_a_stream_reads_its_custom_fields_from_its_own_service(services, stream, expected):
    _, config = services
    assert custom_fields(TapERP(config=config).catalog_dict, stream) == expected


def test_each_metadata_document_is_read_once(services):
    fake, config = services
    assert TapERP(config=config).catalog_dict["streams"]
    assert len(fake.asked("a/$metadata")) == 1
    assert len(fake.asked("b/$metadata")) == 1


@pytest.mark.parametrize(("stream", "path", "field"), [("customers", "a/Customers", "U_Segment")])
def test_a_run_with_a_catalog_asks_for_its_custom_fields(services, stream, path, field):
    fake, config = services
    run = select_only(config, fake, {stream})
    (params,) = fake.asked(path)
    assert field in params["$select"].split(",")
    assert run.records(stream)[0][field] == 1


def test_a_stream_metadata_request_needs_the_profile_metadata(services, tmp_path):
    _, config = services
    text = Path(config["profile"]).read_text()
    start, end = text.index("metadata:\n"), text.index("streams:")
    path = tmp_path / "without.yaml"
    path.write_text(text[:start] + text[end:])
    with pytest.raises(
        ProfileError, match=r"'streams\.products\.metadata_request': the profile has no 'metadata'"
    ):
        load_profile(str(path))
