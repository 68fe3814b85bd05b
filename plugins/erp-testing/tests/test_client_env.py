"""The clients' .env.example variables pointed at given endpoints."""

from __future__ import annotations

import pytest
from erp_testing.client_env import client_variables

ENDPOINTS = {"erp_url": "http://127.0.0.1:1", "s3_url": "http://127.0.0.1:2", "bucket": "b"}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ACME_ERP_BASE_URL", "http://127.0.0.1:1/acme"),
        ("ACME_ERP_API_KEY", "acme-key-123"),
        ("ACME_LAKE_BUCKET", "b"),
        ("ACME_S3_ENDPOINT_URL", "http://127.0.0.1:2"),
        ("GLOBEX_ERP_CLIENT_SECRET", "globex-secret"),
        ("AWS_ACCESS_KEY_ID", "local"),
    ],
)
def test_variables_point_at_the_endpoints(name, value):
    assert client_variables(["acme", "globex"], **ENDPOINTS)[name] == value


def test_only_the_named_clients():
    names = client_variables(["acme"], **ENDPOINTS)
    assert not [n for n in names if not n.startswith(("ACME_", "AWS_"))]
