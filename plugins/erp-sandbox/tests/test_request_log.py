"""--request-log: one JSON line per request, with its tenant, path, status and times."""

from __future__ import annotations

from pathlib import Path

import requests
from erp_sandbox.request_log import read_request_log
from erp_sandbox.testing import sandbox_server

REQUESTS = [  # (tenant, path below the tenant, headers, status)
    ("acme", "api/v1/customers?limit=1", {"X-API-Key": "acme-key-123"}, 200),
    ("acme", "api/v1/customers?limit=1", {"X-API-Key": "wrong"}, 401),
    ("globex", "api/v1/customers?limit=1", {}, 401),
]


def test_every_request_is_logged_in_order(tmp_path: Path):
    log = tmp_path / "requests.jsonl"
    with sandbox_server(orders=10, tenants=("acme", "globex"), request_log=log) as sb:
        for tenant, path, headers, _ in REQUESTS:
            requests.get(f"{sb.tenant_url(tenant)}/{path}", headers=headers, timeout=30)
        lines = [x for x in read_request_log(log) if x["tenant"] != "_health"]
    assert [(x["tenant"], x["method"], x["status"]) for x in lines] == [
        (tenant, "GET", status) for tenant, _, _, status in REQUESTS
    ]
    assert all(x["path"] == "/acme/api/v1/customers" for x in lines[:2])
    assert all(x["start"] <= x["end"] for x in lines)
    assert [x["start"] for x in lines] == sorted(x["start"] for x in lines)
