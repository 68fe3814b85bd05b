"""The client environments' variables (`.env.example`) pointed at a given sandbox and S3.

`.env.example` points every client at the sandbox on 127.0.0.1:8765 and the local S3 on
127.0.0.1:5555; tests run both on free ports and land in a bucket of their own.
"""

from __future__ import annotations

from erp_testing.project import ROOT

EXAMPLE_ERP = "http://127.0.0.1:8765"
EXAMPLE_S3 = "http://127.0.0.1:5555"
EXAMPLE_BUCKET = "erp-lake"


def example_variables() -> dict[str, str]:
    """Every `NAME=value` line of `.env.example` (empty values left out)."""
    out = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#") and value:
            out[name.strip()] = value.strip()
    return out


def client_variables(
    clients: list[str], *, erp_url: str, s3_url: str, bucket: str
) -> dict[str, str]:
    """The variables of the given clients (ACME_…) and S3's, for these endpoints."""
    prefixes = (*(f"{c.upper()}_" for c in clients), "AWS_")
    out = {}
    for name, example in example_variables().items():
        if not name.startswith(prefixes):
            continue
        value = example.replace(EXAMPLE_ERP, erp_url).replace(EXAMPLE_S3, s3_url)
        out[name] = bucket if name.endswith("_LAKE_BUCKET") else value
    return out
