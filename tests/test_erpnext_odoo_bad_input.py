"""Bad input for the ERPNext and Odoo clients (`meltano --environment=<client> run
tap-erp target-s3`): a wrong secret or key, a refused login, a wrong database, an
expired key, a field the ERP refuses in the query. Each is one line with the ERP's own
message, exit != 0, no traceback, nothing landed, and the secret never printed."""

from __future__ import annotations

import dataclasses
import json

import pytest
from test_erpnext_odoo_clients import CLIENTS, client_env


def extra_field(stream: str, name: str) -> dict[str, str]:
    """A field the client's ERP does not have, added to a stream's catalog (Meltano's
    `schema` extra): the tap asks the ERP for it, and the ERP refuses the query."""
    return {"TAP_ERP__SCHEMA": json.dumps({stream: {name: {"type": ["string", "null"]}}})}


@dataclasses.dataclass(frozen=True)
class BadInput:
    client: str
    env: dict[str, str]
    #: the ERP's own words, in the one error line
    message: str
    #: a secret of the run that must not appear anywhere in the output
    secret: str


BAD_INPUT = {
    "erpnext wrong secret": BadInput(
        "kestrel",
        {"KESTREL_ERP_API_TOKEN": "kestrel-api-key:not-the-secret-7f3a"},
        "Invalid API key or secret",
        "not-the-secret-7f3a",
    ),
    "erpnext rejected query": BadInput(
        "kestrel",
        extra_field("customers", "custom_tier"),
        "Field not permitted in query: custom_tier",
        "kestrel-api-secret",
    ),
    "odoo json-rpc wrong key": BadInput(
        "pelican",
        {"PELICAN_ERP_API_KEY": "not-the-key-51c2"},
        "the login was refused",
        "not-the-key-51c2",
    ),
    "odoo json-rpc wrong database": BadInput(
        "pelican",
        {"PELICAN_ODOO_DATABASE": "pelican_old"},
        'database "pelican_old" does not exist',
        "pelican-api-key",
    ),
    "odoo json-rpc rejected query": BadInput(
        "pelican",
        extra_field("customers", "x_tier"),
        "Invalid field 'x_tier' on model 'res.partner'",
        "pelican-api-key",
    ),
    # An expired API key (Odoo 19 keys last at most three months) is refused like any
    # key the server does not know.
    "odoo json-2 expired key": BadInput(
        "pelican-json2",
        {"PELICAN_ERP_API_KEY": "expired-key-0b9e"},
        "Invalid apikey",
        "expired-key-0b9e",
    ),
    "odoo json-2 rejected query": BadInput(
        "pelican-json2",
        extra_field("customers", "x_tier"),
        "Invalid field 'x_tier' on model 'res.partner'",
        "pelican-api-key",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_is_one_line_with_the_erps_message_and_nothing_lands(project, erp, case):
    bad = BAD_INPUT[case]
    client_env(project, erp, bad.client, **bad.env)
    result = project.run("--environment=" + bad.client, "run", "tap-erp", "target-s3", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if bad.message in line]
    assert errors, f"no line says {bad.message!r}:\n{output[-3000:]}"
    assert bad.secret not in output
    tenant = CLIENTS[bad.client].tenant
    listing = project.s3_client().list_objects_v2(
        Bucket=project.endpoints.bucket, Prefix=f"clients/{tenant}/"
    )
    data = [o["Key"] for o in listing.get("Contents", []) if "/_audit/" not in o["Key"]]
    assert data == []
