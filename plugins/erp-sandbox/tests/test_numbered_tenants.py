"""--tenants N: N numbered tenants, each with its own key and data."""

from __future__ import annotations

import pytest
import requests
from erp_sandbox.tenants import tenant_names
from erp_sandbox.testing import sandbox_server


@pytest.mark.parametrize(
    ("spec", "names"),
    [
        ("3", ["tenant001", "tenant002", "tenant003"]),
        ("acme, globex", ["acme", "globex"]),
    ],
)
def test_tenant_names(spec, names):
    assert tenant_names(spec) == names


@pytest.mark.parametrize("spec", ["0", "1000"])
def test_a_count_out_of_range_is_refused(spec):
    with pytest.raises(ValueError, match="--tenants: a count must be 1 to 999"):
        tenant_names(spec)


CASES = [  # (tenant, API key, status)
    ("tenant001", "tenant001-key", 200),
    ("tenant003", "tenant003-key", 200),
    ("tenant002", "tenant001-key", 401),  # another tenant's key
    ("tenant004", "tenant004-key", 404),  # beyond the count
]


def test_numbered_tenants_serve_their_own_data_to_their_own_key():
    with sandbox_server(orders=20, tenants="3") as sb:
        answers = {}
        for tenant, key, status in CASES:
            url = f"{sb.tenant_url(tenant)}/api/v1/customers?limit=5"
            resp = requests.get(url, headers={"X-API-Key": key}, timeout=30)
            assert resp.status_code == status, (tenant, resp.text)
            if status == 200:
                answers[tenant] = resp.text
        assert sb.stats("tenant002")["counts"]["sales_orders"] == 20
    assert answers["tenant001"] != answers["tenant003"]
