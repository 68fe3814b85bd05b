"""OData wire dialects: one module per ERP, all served by `erp_sandbox.odata`."""

from __future__ import annotations

from erp_sandbox.dialects import business_central, erpnext, netsuite, odoo, s4hana, s4hana_v2
from erp_sandbox.odata.handler import Dialect
from erp_sandbox.tenants import Tenant

DIALECTS: dict[str, Dialect] = {
    d.name: d
    for d in (
        business_central.DIALECT,
        s4hana.DIALECT,
        erpnext.DIALECT,
        odoo.DIALECT,
        s4hana_v2.DIALECT,
        netsuite.DIALECT,
    )
}


def dialect_of(tenant: Tenant) -> Dialect | None:
    """The OData dialect a tenant speaks, or None for the sandbox's own REST API."""
    return None if tenant.dialect is None else DIALECTS[tenant.dialect]
